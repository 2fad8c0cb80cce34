"""``verify report``: the README's results tables, generated (never typed by hand).

    verify report                         print the tables (markdown)
    verify report --readme README.md      replace the block between the README's markers
    verify report --json                  the same numbers as JSON
    verify report --plot PATH             also draw the separation plot (PATH.png, PATH.svg) with
                                          ``verify bounds --n 16 64 256 1024 --plot PATH``

Two tables:

* **checks**: the default ``verify`` run (every registered construction at its default sizes), one
  row per check, with the status;
* **sizes**: every registered construction built at n = 64, 1024, 16384 (where its builder and
  memory allow; ``REPORT_MAX_N`` caps a few), its width/heads/layers/params from the arrays, beside
  the lower bound for the other architecture at b = 32 bits per number.
"""

from __future__ import annotations

import bounds
import constructions

from ._args import Parser, ReadmeBlock, UsageError, count, int_list, writable_target
from ._defaults import DEFAULT_CHECKS
from ._engine import check
from ._entry import guarded
from ._json import dumps

__all__ = ["main", "run", "size_rows", "check_rows", "markdown"]

START, END = "<!-- results:start -->", "<!-- results:end -->"
SIZES = (64, 1024, 16384)
PLOT_NS = (16, 64, 256, 1024)
REPORT_BITS = 32
# constructions whose build at large n is too slow or too large for a laptop-sized report: the
# linear-size RNNs hold a dense [w, w] recurrence (w ~ n), so at n = 16384 one matrix is gigabytes.
# THRES is left out of the sizes table: its default parameters are a random DNF over 12 features,
# which says nothing at other n; its instance disjointness has its own rows.
REPORT_MAX_N: dict[tuple[str, str], int] = {
    ("index_lookup", "rnn"): 1024,
    ("equality", "rnn"): 1024,
    ("disjointness", "rnn"): 1024,
    ("associative_recall", "rnn"): 1024,
    ("threshold", "tf2"): 0,
}


def _template(task: str, arch: str) -> dict:
    for t, a, params, _, _ in DEFAULT_CHECKS:
        if (t, a) == (task, arch):
            return dict(params)
    raise KeyError(f"no default parameters for {task}/{arch}")


def _params_at(template: dict, n: int) -> dict:
    p = dict(template, n=n)
    if "num_keys" in p:
        p["num_keys"] = max(p["num_keys"], n)
    return p


def size_rows(sizes=SIZES, bits: int = REPORT_BITS) -> list[dict]:
    rows = []
    seen = []
    for task, arch, _, _, _ in DEFAULT_CHECKS:
        if (task, arch) in seen:
            continue
        seen.append((task, arch))
        for n in sizes:
            if n > REPORT_MAX_N.get((task, arch), 1 << 62):
                continue
            params = _params_at(_template(task, arch), n)
            try:
                model = constructions.build(task, arch=arch, seed=0, **params)
            except (ValueError, MemoryError) as e:
                rows.append({"task": task, "arch": arch, "n": n, "error": str(e).splitlines()[0]})
                continue
            s = model.size()
            lb = bounds.lower_bounds(task, model.task_params, bits)
            rows.append(
                {
                    "task": task,
                    "arch": arch,
                    "n": n,
                    "width": s["width"],
                    "heads": s["heads"],
                    "layers": s["layers"],
                    "params": s["params"],
                    "params_no_embed": s["params_no_embed"],
                    "lower_bounds": lb,
                }
            )
    return rows


def check_rows() -> list[dict]:
    rows = []
    for task, arch, params, mode, samples in DEFAULT_CHECKS:
        model = constructions.build(task, arch=arch, seed=0, **params)
        rows.append(check(model, mode=mode, samples=samples or 0, seed=0))
    return rows


def _bound_cell(lb: dict, own_arch: str, same: bool = False) -> str:
    parts = []
    for arch, b in sorted(lb.items()):
        if (arch == own_arch) != same:
            continue
        what = "w" if arch == "rnn" else "w·h"
        if b["min_width"] is None:
            parts.append(f"{arch}: no bound known ({b['reason']})")
            continue
        parts.append(f"{arch}: {what} ≥ {b['min_width']} ({b['theorem'].split(' (')[0]})")
    return "; ".join(parts) or "—"


def markdown(checks: list[dict], sizes: list[dict], bits: int = REPORT_BITS) -> str:
    out = [
        "Default `verify` run (float64):",
        "",
        "| construction | n | width | heads | layers | params | mode | inputs checked | failures | min margin | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in checks:
        every = " (every query)" if r.get("task_params", {}).get("queries") == "all" else ""
        checked = f"{r['inputs_checked']:,}" + (f" ({r['queries_checked']:,} queries)" if every else "")
        out.append(
            f"| {r['task']} / {r['arch']}{every} | {r['n']} | {r['width']} | {r['heads']} | {r['layers']} | "
            f"{r['params']:,} | {r['mode']} | {checked} | {r['failures']} | "
            f"{r['min_margin']:.3g} | {r['status']} |"
        )
    out += [
        "",
        f"Sizes from the arrays, beside the lower bounds at b = {bits} bits: the other architecture's (the "
        "separation) and the construction's own (how tight it is; an RNN at or just above its bound is optimal):",
        "",
        "| construction | n | width | heads | layers | params | params w/o embeddings | lower bound (other arch) "
        "| lower bound (same arch) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sizes:
        if "error" in r:
            out.append(f"| {r['task']} / {r['arch']} | {r['n']} | — | — | — | — | — | not built: {r['error']} | — |")
            continue
        out.append(
            f"| {r['task']} / {r['arch']} | {r['n']:,} | {r['width']} | {r['heads']} | {r['layers']} | "
            f"{r['params']:,} | {r['params_no_embed']:,} | {_bound_cell(r['lower_bounds'], r['arch'])} | "
            f"{_bound_cell(r['lower_bounds'], r['arch'], same=True)} |"
        )
    return "\n".join(out)


def run(argv: list[str]) -> int:
    """``verify report`` on ``argv``; errors are raised for the entry wrapper (verify/_entry.py)."""
    p = Parser(prog="verify report")
    p.add_argument("--readme", metavar="PATH", help="rewrite the block between the markers in this file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", metavar="PATH", help="also write the separation plot PATH.png and PATH.svg")
    p.add_argument(
        "--sizes",
        "--ns",
        type=int_list(1, 1 << 20, name="--sizes", need="positive"),
        default=None,
        help="comma-separated n for the sizes table",
    )
    p.add_argument("--n", dest="n_list", type=count(1, 1 << 20, name="--n"), nargs="+", help="the same as --sizes")
    args = p.parse_args(argv)
    if args.sizes is not None and args.n_list is not None:
        raise UsageError("give the n values once: --n 64 1024 or --sizes 64,1024")
    sizes = tuple(args.n_list or args.sizes or SIZES)
    writable_target(args.plot, "--plot", (".png", ".svg"))
    readme = ReadmeBlock(args.readme, START, END) if args.readme is not None else None
    checks, size = check_rows(), size_rows(sizes)
    if args.plot:  # the same plot `verify bounds --plot` draws; its table is not wanted here
        import contextlib
        import io

        from ._bounds_cli import run as bounds_run

        with contextlib.redirect_stdout(io.StringIO()):
            code = bounds_run(["--n", *map(str, PLOT_NS), "--plot", args.plot])
        if code:
            return code
    if args.json:
        print(dumps({"checks": checks, "sizes": size}))
    md = markdown(checks, size)
    if readme is not None:
        readme.write(md)
    elif not args.json:
        print(md)
    return 0 if all(r["status"] == "pass" for r in checks) else 1


def main(argv: list[str]) -> int:
    """``verify report`` in-process, under the error contract."""
    return guarded(run, argv)
