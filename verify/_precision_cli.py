"""``verify precision``: the smallest precision at which each construction stays exact, against n.

    verify precision [--task T] [--arch A] [--n 16 32 ... | --ns 16,32,...] [--alphabet-size S]
                     [--addresses random,quadratic,rs] [--samples K] [--seed S] [--plot PATH] [--json]
                     [--readme README.md]
    verify precision --sweep noise|beta|length [--task T] [--n N] [...]

For every construction (index lookup: one row per address scheme) and every n it builds the model,
forms the check set (every input at small n, else K seeded samples plus adversarial inputs) and
searches the fewest fixed-point bits ``I + F + 1`` and float significand bits at which the model is
exact on it, plus the float32 / bfloat16 / float16 pass-fail matrix.  Where the task has a
certificate (``verify.certify.CERTIFIABLE``) it also searches the fewest fixed-point bits at
which ``certify`` proves the model right on *every* input ("certified"); formats so proved are not
re-run on the check set.  It then fits ``bits = a·log2 n + c`` (least squares, R²) per
construction; ``width*bits`` (bits per position) uses the certified bits where there are some.
``--plot`` draws bits per number and bits per position against n. ``--sweep`` runs a robustness
sweep (verify/_robustness.py) instead. Exit status 0; 2 for bad input.
"""

from __future__ import annotations

import sys
import time

import bounds
import constructions
import tasks

from . import _budget
from ._args import Parser, ReadmeBlock, count, int_list, writable_target
from ._cli import add_budget_options, max_memory
from ._entry import UsageError, guarded
from ._json import dumps
from ._precision_search import fit_log, search
from ._robustness import SWEEPS, sweep

__all__ = ["main", "run", "run_rows", "fits", "plot"]

README_START, README_END = "<!-- precision:start -->", "<!-- precision:end -->"
DEFAULT_NS = {"index_lookup": [2**k for k in range(4, 15)]}
# the quadratic scheme is cheap to search at any n (width 8) and is run further by default: its
# products outgrow one int64 from n = 8,192 on, where the emulation splits its accumulators
EXTRA_NS = {("index_lookup", "quadratic"): [2**15, 2**16]}
PAIR_NS = [2**k for k in range(4, 13)]


def _parser():
    p = Parser(prog="verify precision", description="Smallest exact precision per construction and n.")
    p.add_argument("--task", default="index_lookup")
    p.add_argument("--arch", default=None, help="default: the registered architecture (tf1 for index lookup)")
    p.add_argument(
        "--ns",
        type=int_list(1, name="--ns"),
        default=None,
        help="comma-separated n values (default 2^4..2^14, quadratic addresses to 2^16; 2^4..2^12 for others)",
    )
    p.add_argument(
        "--n",
        dest="n_list",
        type=count(1, name="--n"),
        nargs="+",
        default=None,
        help="n values, as everywhere in verify (--ns takes them comma-separated); with --sweep one n (default 64)",
    )
    p.add_argument("--alphabet-size", type=count(2, name="--alphabet-size"), default=2)
    p.add_argument(
        "--addresses", default=None, help="comma-separated address schemes (index lookup default: random,quadratic,rs)"
    )
    p.add_argument("--samples", type=count(1, name="--samples"), default=1000)
    p.add_argument("--no-certify", action="store_true", help="skip the certified search (sampled only)")
    p.add_argument("--seed", type=count(0, name="--seed"), default=0)
    p.add_argument("--model-seed", type=count(0, name="--model-seed"), default=0)
    p.add_argument("--plot", default=None, metavar="PATH")
    p.add_argument("--sweep", choices=SWEEPS, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--readme",
        default=None,
        metavar="PATH",
        help="write the table and fits between <!-- precision:start --> and <!-- precision:end --> in PATH",
    )
    add_budget_options(p)
    return p


def _variants(args):
    """``[(label, build kwargs)]`` for the task."""
    if args.task not in tasks.available():
        raise UsageError(f"unknown task {args.task!r}; tasks are {', '.join(tasks.available())}")
    arch = args.arch or next((a for t, a in constructions.available() if t == args.task and a != "rnn"), None)
    if arch is None:
        raise UsageError(f"no Transformer construction registered for task {args.task!r}")
    base = {"arch": arch, "seed": args.model_seed}
    if args.task == "index_lookup":
        base["alphabet_size"] = args.alphabet_size
    if args.addresses is not None and (
        not args.addresses.strip() or any(not a.strip() for a in args.addresses.split(","))
    ):
        raise UsageError(f"--addresses must be a comma-separated list of schemes, got {args.addresses!r}")
    schemes = (args.addresses or ("random,quadratic,rs" if args.task == "index_lookup" else "random")).split(",")
    return [(f"{args.task}/{arch} ({a})", {**base, "addresses": a}) for a in schemes]


def _ns(args, kw: dict) -> list[int]:
    """The n of a search: ``--n``/``--ns`` as given, else the task's default list and, for the
    quadratic scheme, the sizes only the wide fixed-point arithmetic reaches (EXTRA_NS)."""
    if args.ns is not None:
        return list(args.ns)
    return DEFAULT_NS.get(args.task, PAIR_NS) + EXTRA_NS.get((args.task, str(kw.get("addresses"))), [])


def run_rows(args, progress: bool = False) -> tuple[list[dict], dict]:
    """Rows (one per construction and n) and fits per construction label; ``progress`` prints a
    line per finished row on stderr."""
    rows = []
    for label, kw in _variants(args):
        for n in _ns(args, kw):
            start = time.perf_counter()
            model = constructions.build(args.task, n=n, **kw)
            task = tasks.get(args.task, **model.task_params)
            built = time.perf_counter()
            row = search(model, task, samples=args.samples, seed=args.seed, certified=not args.no_certify)
            row["construction"] = label
            bits = row["certified_bits"] if row["certified_bits"] is not None else row["fixed_bits"]
            row["state_bits"] = None if bits is None else row["width"] * bits
            row["seconds"] = {"build": round(built - start, 2), "search": round(time.perf_counter() - built, 2)}
            rows.append(row)
            if progress:  # one line per finished row: a sweep to 2^14 runs for many minutes
                c, f = (("-" if b is None else b) for b in (row["certified_bits"], row["fixed_bits"]))
                print(
                    f"verify precision: {label} n={n}: certified {c} bits, sampled {f} bits (build "
                    f"{row['seconds']['build']} s, search {row['seconds']['search']} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return rows, fits(rows)


def fits(rows) -> dict:
    out = {}
    for label in dict.fromkeys(r["construction"] for r in rows):
        rs = [r for r in rows if r["construction"] == label]
        ns = [r["n"] for r in rs]
        out[label] = {
            "certified_bits": fit_log(ns, [r["certified_bits"] for r in rs]),
            "fixed_bits": fit_log(ns, [r["fixed_bits"] for r in rs]),
            "mantissa_bits": fit_log(
                ns, [None if r["mantissa"] is None else r["mantissa"]["mantissa_bits"] for r in rs]
            ),
            "width": fit_log(ns, [r["width"] for r in rs]),
            "state_bits": fit_log(ns, [r["state_bits"] for r in rs]),
        }
    return out


def _table(rows, fitted) -> str:
    head = [
        "construction",
        "n",
        "width",
        "certified",
        "bits",
        "sampled",
        "bits",
        "mantissa",
        "float32",
        "bfloat16",
        "float16",
        "width*bits",
        "check set",
    ]
    body = []
    for r in rows:
        f, m, c = r["fixed"], r["mantissa"], r.get("certified")
        body.append(
            [
                r["construction"],
                str(r["n"]),
                str(r["width"]),
                "-" if c is None else c["precision"],
                "-" if c is None else str(c["bits"]),
                "-" if f is None else f["precision"],
                "-" if f is None else str(f["bits"]),
                "-" if m is None else str(m["mantissa_bits"]),
                *("pass" if r["floats"][k] else "FAIL" for k in ("float32", "bfloat16", "float16")),
                "-" if r["state_bits"] is None else str(r["state_bits"]),
                r["check_set"],
            ]
        )
    table = [head] + body
    w = [max(len(x[i]) for x in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(x)).rstrip() for x in table]
    lines.append("")
    lines.append("certified: smallest fixed:I.F proved right on every input (verify --certify); sampled: smallest")
    lines.append("exact on the check set; mantissa: float significand bits on the check set; bits = I + F + 1.")
    for r in rows:
        if r["fixed"] is None:
            lines.append(
                f"- {r['construction']} n={r['n']}: no fixed format up to {r['grid_max_bits']} bits is exact: the "
                f"widest the exact emulation holds ((I+F) + ⌈log2 {r['grid_terms']}⌉ ≤ 60, split accumulators)"
            )
    lines.append("fit bits = a·log2(n) + c (least squares over the rows with a result):")
    for label, fit in fitted.items():
        for what in ("certified_bits", "fixed_bits", "mantissa_bits", "width", "state_bits"):
            g = fit[what]
            if g is not None:
                lines.append(
                    f"  {label:38s} {what:14s} a = {g['a']:6.3f}  c = {g['c']:7.2f}  R² = {g['r2']:.3f}"
                    f"  ({g['points']} points)"
                )
    return "\n".join(lines)


def plot(rows, path: str) -> list[str]:
    """Write ``PATH.png`` and ``PATH.svg`` (a ``.png``/``.svg`` suffix on PATH is dropped first);
    return the two paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for label in dict.fromkeys(r["construction"] for r in rows):
        rs = [r for r in rows if r["construction"] == label]
        line = None
        nc = [r["n"] for r in rs if r.get("certified_bits") is not None]
        if nc:
            (line,) = ax1.plot(
                nc,
                [r["certified_bits"] for r in rs if r.get("certified_bits") is not None],
                "o-",
                label=f"{label} fixed, certified",
            )
        n = [r["n"] for r in rs if r["fixed_bits"] is not None]
        ax1.plot(
            n,
            [r["fixed_bits"] for r in rs if r["fixed_bits"] is not None],
            "^:",
            color=None if line is None else line.get_color(),
            label=f"{label} fixed, sampled",
        )
        nm = [r["n"] for r in rs if r["mantissa"] is not None]
        ax1.plot(
            nm,
            [r["mantissa"]["mantissa_bits"] for r in rs if r["mantissa"] is not None],
            "s--",
            color=None if line is None else line.get_color(),
            label=f"{label} float significand",
        )
        ax2.plot(
            [r["n"] for r in rs if r["state_bits"] is not None],
            [r["state_bits"] for r in rs if r["state_bits"] is not None],
            "o-",
            label=label,
        )
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("n")
        ax.grid(alpha=0.3)
    ax1.set_ylabel("bits per number (smallest exact)")
    ax2.set_ylabel("bits per position = width × fixed bits\n(certified where available)")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return bounds.save_png_svg(fig, path)


def run(argv: list[str]) -> int:
    """``verify precision`` on ``argv``; errors are raised for the entry wrapper (verify/_entry.py)."""
    args = _parser().parse_args(argv)
    if args.n_list is not None and args.ns is not None:
        raise UsageError("give the n values once: --n 16 32 64 or --ns 16,32,64")
    if args.n_list is not None:
        args.ns = args.n_list
    if args.sweep and args.ns is not None and len(args.ns) != 1:
        raise UsageError(f"--sweep takes one n, got {len(args.ns)}")
    if args.sweep and (args.plot is not None or args.readme is not None):
        raise UsageError("--plot and --readme draw and write the precision table; --sweep has neither")
    args.n = args.ns[0] if args.sweep and args.ns else 64
    writable_target(args.plot, "--plot", (".png", ".svg"))
    variants = _variants(args)  # the task, architecture and schemes, checked before anything runs
    for label, kw in variants:
        constructions.builder_for(args.task, kw["arch"])
        for n in [args.n] if args.sweep else _ns(args, kw):  # refuse before building (verify/_budget.py)
            params = {k: v for k, v in kw.items() if k != "arch"}
            task = tasks.get(args.task, n=n, **({"alphabet_size": args.alphabet_size} if "alphabet_size" in kw else {}))
            est = _budget.estimate(
                args.task, kw["arch"], {**params, "n": n}, mode="sampled", inputs=args.samples, seq_len=task.seq_len
            )
            _budget.refuse(est, what=f"{label} n={n}", max_memory=max_memory(args), max_time=args.max_time)
    if args.sweep:
        out = []
        for label, kw in variants:
            model = constructions.build(args.task, n=args.n, **kw)
            row = sweep(model, args.sweep, samples=args.samples, seed=args.seed)
            row["construction"] = label
            out.append(row)
        if args.json:
            print(dumps(out))
        else:
            for r in out:
                key = {"noise": "sigma", "beta": "scale", "length": "n"}[r["sweep"]]
                if not r["applicable"]:
                    print(f"{r['construction']} n={r['n']} {r['sweep']}: not applicable (builder takes no beta)")
                    continue
                ladder = " ".join(f"{x[key]}:{'ok' if x['pass'] else 'FAIL'}" for x in r["rungs"])
                print(
                    f"{r['construction']} n={r['n']} {r['sweep']} sweep ({key}): {ladder}; "
                    f"first failure at {key} = {r['first_failure']}"
                )
        return 0
    readme = ReadmeBlock(args.readme, README_START, README_END) if args.readme is not None else None
    rows, fitted = run_rows(args, progress=not args.json)
    if args.plot:
        plot(rows, args.plot)
    if readme is not None:
        cmd = "verify precision " + " ".join(argv)
        readme.write(f"Generated by `{cmd}`:\n\n```\n{_table(rows, fitted)}\n```\n")
    if args.json:
        print(dumps({"rows": rows, "fits": fitted}))
    else:
        print(_table(rows, fitted))
    return 0


def main(argv: list[str]) -> int:
    """``verify precision`` in-process, under the error contract."""
    return guarded(run, argv, "verify precision")
