"""The separation report: constructions' sizes beside every lower bound, and the crossover lengths.

Pure computation on two callables, so that this package never imports ``constructions``:

* ``sizes(task, arch, params) -> dict | str``: the built construction's ``size()`` (plus
  ``"status": "built"``), or a string saying why there is none (not registered, too large to build);
* the closed forms of :mod:`bounds._closed_forms` for the lower bounds.

Crossover. For a construction of architecture X and the lower bound of another architecture Y on
the same task, the crossover is the smallest n (on the task's valid lengths) at which the
smallest width Y's bound allows exceeds the construction's width: from there on, the construction
is smaller than *every* model of architecture Y. Widths are compared at the same ``b`` (the
construction's own precision needs are listed separately). A Transformer's width is
``max(D, head_dim)`` (paper §2). The construction is sized at every probed n by the caller's ``sizes``
(a build, or an exact closed form of the construction; widths are never extrapolated); :func:`crossover` says how few probes it needs and what it assumes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import tasks
from fileio import atomic_write

from ._barrier import barrier, barrier_text
from ._closed_forms import BoundError, lower_bounds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Sizes = Callable[[str, str, dict], dict | str]  # (task, arch, params) -> the construction's size(), or why none

__all__ = [
    "EVEN_N_TASKS",
    "BOUND_TASKS",
    "model_width",
    "crossover",
    "report",
    "format_report",
    "plot_report",
    "save_png_svg",
]

EVEN_N_TASKS = ("equality", "disjointness", "dyck", "split_equality")
BOUND_TASKS = (
    "index_lookup",
    "associative_recall",
    "equality",
    "disjointness",
    "nearest_neighbor",
    "dyck",
    "split_equality",
)
# the key of lower_bounds()'s tf1 entry holding the min width for each of Theorem 4's constants
WIDTH_KEYS = {"airtight": "min_width", "paper": "min_width_paper", "protocol": "min_width_protocol"}
ARCHS = ("tf1", "tf2", "rnn")
_COLOURS = {"tf1": "tab:orange", "tf2": "tab:red", "rnn": "tab:blue"}


def model_width(size: dict) -> int:
    """Width in the paper's sense: ``max(D, head_dim)`` for a Transformer, hidden units for an RNN."""
    return max(int(size["width"]), int(size.get("head_dim") or 0))


def _valid(task: str, n: int) -> int:
    """The smallest valid length >= n (even where the task needs halves or balance)."""
    return n + (n % 2) if task in EVEN_N_TASKS else n


class _NoBound(Exception):
    """The bound's hypotheses fail at some n the search needs (``args``: n, reason)."""


def _bound_width(task, params, n, bound_arch, bits, heads, constant="airtight") -> int:
    """The bound's minimum width at n (``constant``: Theorem 4's, for tf1); :class:`_NoBound`
    where no bound is known there."""
    lb = lower_bounds(task, {**params, "n": n}, bits, heads)[bound_arch]
    if lb["min_width"] is None:
        raise _NoBound(n, lb["reason"])
    return lb[WIDTH_KEYS[constant]] if bound_arch == "tf1" else lb["min_width"]


def _first_exceeding(task, params, bound_arch, bits, heads, width, start, max_n, constant="airtight"):
    """Smallest valid n in ``[start, max_n]`` whose bound's minimum width exceeds ``width``
    (doubling, then bisection on the closed form), or None."""

    def above(n):
        return _bound_width(task, params, n, bound_arch, bits, heads, constant) > width

    lo, hi = start, start
    while not above(hi):
        if hi >= max_n:
            return None
        lo, hi = hi, min(max_n, _valid(task, 2 * hi))
    while hi - lo > (2 if task in EVEN_N_TASKS else 1):
        mid = _valid(task, (lo + hi) // 2)
        if mid >= hi:
            break
        lo, hi = (lo, mid) if above(mid) else (mid, hi)
    return lo if above(lo) else hi


def crossover(
    task: str,
    params: dict,
    arch: str,
    bound_arch: str,
    sizes: Sizes,
    *,
    bits: int,
    heads: int,
    max_n: int,
    constant: str = "airtight",
) -> dict:
    """Smallest n at which ``bound_arch``'s minimum width exceeds the ``arch`` construction's width.

    Fixed-point search: build at n, read the width w, jump to the first n whose bound exceeds w
    (the closed form is cheap), build there, and repeat until the bound exceeds the width at the
    n built. Only a few builds near the crossover are needed. If the construction's width does not
    decrease as n grows, no smaller n can cross: for n between two probes the bound is at most
    the earlier width, which is at most the width at n. That monotonicity is the one assumption;
    the probed widths are reported. Where the bound's hypotheses fail at an n the search needs,
    it stops with ``"n": None`` and a note "no bound known (reason)". ``constant``: which of
    Theorem 4's constants a one-layer Transformer bound uses (``"constant"`` in the result; ``"rnn"``
    for an RNN bound).
    """
    result: dict[str, Any] = {
        "task": task,
        "construction": arch,
        "bound": bound_arch,
        "b": bits,
        "heads": heads,
        "n": None,
        "max_n": max_n,
        "probed": [],
        "assumes": "the construction's width does not decrease with n between probes",
        "constant": constant if bound_arch == "tf1" else "rnn",
    }
    n = _valid(task, 2)
    try:
        while True:
            s = sizes(task, arch, {**params, "n": n})
            if isinstance(s, str):
                result["note"] = f"stopped at n={n}: {s}"
                break
            w = model_width(s)
            mw = _bound_width(task, params, n, bound_arch, bits, heads, constant)
            result["probed"].append([n, w, mw])
            if mw > w:
                result.update(n=n, construction_width=w, bound_min_width=mw)
                break
            nxt = _first_exceeding(task, params, bound_arch, bits, heads, w, _valid(task, n + 1), max_n, constant)
            if nxt is None:
                result["note"] = f"the bound stays at most the construction's width {w} up to n={max_n}"
                break
            n = nxt
    except _NoBound as e:
        result["note"] = f"no bound known at n={e.args[0]} ({e.args[1]})"
    return result


def report(
    task_params: dict,
    ns: list,
    sizes: Sizes,
    registered: Collection[tuple[str, str]],
    *,
    bits: int,
    heads: int = 1,
    crossovers: bool = False,
    crossover_max_n: int = 16384,
) -> dict:
    """The whole report: ``{"b", "heads", "task_options", "rows": [...], "crossovers": [...]}``.

    ``task_params``: task -> its parameters other than n; ``registered``: the (task, arch) pairs
    with a construction. One row per (task, n) with the lower bounds of every architecture and
    every construction's sizes (or why it is missing). With ``crossovers``, one crossover per
    separation: a construction of an architecture that has no lower bound on the task, against
    the bound of each other architecture (Transformers vs any RNN; the Dyck RNN vs any one-layer
    Transformer; two layers vs one). A one-layer Transformer bound's crossover uses the airtight
    constant; its ``"constants"`` entry holds the crossovers with the paper's and the protocol's.
    Rows of ``split_equality`` carry ``"barrier"`` (Corollary 13.1, :func:`bounds.barrier`) for
    its two-layer construction.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0:
        raise BoundError(f"bits must be a positive integer, got {bits!r}")
    rows, cross = [], []
    for task, params in task_params.items():
        for n in ns:
            p = tasks.get(task, **params, n=n).params  # with the task's defaults filled in
            lbs = lower_bounds(task, p, bits, heads)
            cons: list[dict[str, Any]] = []
            for arch in ARCHS:
                s = sizes(task, arch, p)
                if isinstance(s, str):
                    cons.append({"arch": arch, "status": s})
                else:
                    entry = {
                        k: s.get(k)
                        for k in ("width", "heads", "layers", "head_dim", "params", "params_no_embed", "precision_bits")
                    }
                    entry.update(
                        arch=arch,
                        status=s.get("status", "built"),
                        paper_width=model_width(s),
                        state_bits=model_width(s) * bits,
                    )
                    cons.append(entry)
            row = {
                "task": task,
                "n": n,
                "task_params": p,
                "b": bits,
                "heads": heads,
                "lower_bounds": lbs,
                "constructions": cons,
            }
            two = next((c for c in cons if c["arch"] == "tf2" and c["status"] == "built"), None)
            if task == "split_equality" and two is not None:
                row["barrier"] = barrier(two, n, bits, vocab=2)
            rows.append(row)
        if crossovers:
            probe_n = _valid(task, 2)
            lbs = lower_bounds(task, {**params, "n": probe_n}, bits, heads)
            # the task's defaults that do not depend on n (e.g. alphabet_size), so the builders get them
            small, large = (tasks.get(task, **params, n=_valid(task, m)).params for m in (probe_n, 4096))
            fixed = {k: v for k, v in small.items() if k != "n" and large.get(k) == v}
            for arch in ARCHS:
                if (task, arch) not in registered or arch in lbs:
                    continue
                for bound_arch in lbs:
                    found = {
                        constant: crossover(
                            task,
                            {**fixed, **params},
                            arch,
                            bound_arch,
                            sizes,
                            bits=bits,
                            heads=heads,
                            max_n=crossover_max_n,
                            constant=constant,
                        )
                        for constant in (WIDTH_KEYS if bound_arch == "tf1" else ["airtight"])
                    }
                    main = found.pop("airtight")
                    if found:
                        main["constants"] = found
                    cross.append(main)
    return {"b": bits, "heads": heads, "task_options": task_params, "rows": rows, "crossovers": cross}


def _lb_text(lbs: dict) -> str:
    parts = []
    for arch, lb in lbs.items():
        if lb["min_width"] is None:
            parts.append(f"{arch} no bound known ({lb['reason']})")
        elif arch == "tf1":
            parts.append(
                f"tf1 w>={lb['min_width']} (airtight; paper {lb['min_width_paper']}; protocol "
                f"{lb['min_width_protocol']}) [{lb['theorem'].split(' (')[0]}]"
            )
        else:
            parts.append(f"{arch} w>={lb['min_width']} [{lb['theorem'].split(' (')[0]}]")
    return "; ".join(parts) or "no bound"


def format_report(rep: dict) -> str:
    """A plain-text table of the report."""
    head = ["task", "n", "arch", "width", "heads", "layers", "params", "prec_bits", "lower bounds (min width at b)"]
    table = [head]
    for r in rep["rows"]:
        lb = _lb_text(r["lower_bounds"])
        for c in r["constructions"]:
            if "paper_width" in c:  # built, or sized by a closed form
                cells = [
                    str(c["paper_width"]),
                    str(c["heads"]),
                    str(c["layers"]),
                    str(c["params"]),
                    "-" if c["precision_bits"] is None else str(c["precision_bits"]),
                ]
            else:
                cells = [c["status"], "", "", "", ""]
            table.append([r["task"], str(r["n"]), c["arch"]] + cells + [lb])
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(len(head) - 1)]
    lines = [f"lower bounds at b={rep['b']} bits, h={rep['heads']} head(s); Transformer width = max(D, head_dim)"]
    for row in table:
        lines.append("  ".join(c.ljust(wd) for c, wd in zip(row[:-1], widths)) + "  " + row[-1])
    for r in rep["rows"]:
        if "barrier" in r:
            lines.append(barrier_text(r["barrier"]))
    for main in rep["crossovers"]:
        for c in [main, *main.get("constants", {}).values()]:
            which = f", {c['constant']} constant" if c["bound"] == "tf1" else ""
            if c["n"] is not None:
                lines.append(
                    f"crossover {c['task']}: the {c['construction']} construction (width {c['construction_width']}) "
                    f"is smaller than any {c['bound']} (width >= {c['bound_min_width']}{which}) from n = {c['n']} "
                    f"(b={c['b']}; probed n: {', '.join(str(p[0]) for p in c['probed'])})"
                )
            else:
                lines.append(
                    f"crossover {c['task']}: {c['construction']} vs {c['bound']} bound{which}: {c.get('note')}"
                )
    return "\n".join(lines)


def plot_report(rep: dict, path: str) -> list[str]:
    """Width against n on log axes, one panel per task: constructions as points (every n built,
    crossover probes included), lower bounds as curves, crossovers as dotted lines. Writes PNG and
    SVG next to each other; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks_ = list(dict.fromkeys(r["task"] for r in rep["rows"]))
    cols = min(3, max(1, len(tasks_)))
    rows_ = math.ceil(len(tasks_) / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(5.2 * cols, 4.0 * rows_), squeeze=False)
    for ax, task in zip(axes.flat, tasks_):
        trs = [r for r in rep["rows"] if r["task"] == task]
        crs = [c for c in rep["crossovers"] if c["task"] == task]
        n_max = max([r["n"] for r in trs] + [c["n"] or 0 for c in crs] + [p[0] for c in crs for p in c["probed"]])
        params = rep["task_options"][task]  # the options given, not the defaults filled in at one n
        grid = sorted({_valid(task, int(v)) for v in np.geomspace(2, max(4, 2 * n_max), 80)})
        for arch in trs[0]["lower_bounds"]:
            for key, style in (("min_width", "-"), ("min_width_paper", "--"), ("min_width_protocol", "-.")):
                if key != "min_width" and arch != "tf1":
                    continue
                ys = [lower_bounds(task, {**params, "n": n}, rep["b"], rep["heads"])[arch][key] for n in grid]
                ys = [np.nan if y is None else y for y in ys]  # no bound known there: no point
                label = f"{arch} lower bound" + (
                    " (paper constant)"
                    if key.endswith("paper")
                    else " (protocol constant)"
                    if key.endswith("protocol")
                    else " (airtight)"
                    if arch == "tf1"
                    else ""
                )
                y = np.asarray(ys, dtype=float)
                y = np.where(y > 0, y, np.nan)  # width 0 (no constraint) is off the log axis
                ax.plot(grid, y, style, color=_COLOURS[arch], label=label)
        for arch in ARCHS:
            pts = {
                r["n"]: c["paper_width"]
                for r in trs
                for c in r["constructions"]
                if c["arch"] == arch and c["status"] == "built"
            }
            for c in crs:
                if c["construction"] == arch:
                    pts.update({p[0]: p[1] for p in c["probed"]})
            if pts:
                xs = sorted(pts)
                ax.plot(
                    xs,
                    [pts[x] for x in xs],
                    "o",
                    color=_COLOURS[arch],
                    markeredgecolor="black",
                    label=f"{arch} construction",
                )
        for c in crs:
            if c["n"] is not None:
                ax.axvline(c["n"], color="grey", linestyle=":", linewidth=1)
                ax.annotate(f"n={c['n']}", (c["n"], 1), fontsize=7, rotation=90, va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{task} (b={rep['b']})")
        ax.set_xlabel("n")
        ax.set_ylabel("width (Transformer: max(D, head dim))")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(tasks_) :]:
        ax.axis("off")
    fig.tight_layout()
    return save_png_svg(fig, path)


def save_png_svg(fig: Figure, path: str) -> list[str]:
    """Write ``fig`` as ``PATH.png`` and ``PATH.svg`` (a ``.png``/``.svg`` suffix on PATH is dropped
    first; the SVG carries no date, so reruns are byte-identical), close it, return the paths."""
    import matplotlib.pyplot as plt

    base = path[:-4] if path.lower().endswith((".png", ".svg")) else path
    out = [base + ".png", base + ".svg"]
    for p in out:
        fmt = "png" if p.endswith(".png") else "svg"
        kw: dict[str, Any] = {"dpi": 120} if fmt == "png" else {"metadata": {"Date": None}}
        atomic_write(p, functools.partial(fig.savefig, format=fmt, **kw))
    plt.close(fig)
    return out
