"""The ``verify`` command (docs/DESIGN.md §6).

    verify                                   every registered construction at default sizes
    verify --task T --arch A --n N [task options] [--precision P] [--samples K | --exhaustive | --certify]
           [--seed S] [--model-seed S] [--param KEY=VALUE ...] [--save PATH] [--json]
    verify --load m.npz [--precision P] [--samples K | --exhaustive | --certify] [--json]
    verify SUBCOMMAND ...                    see ``verify --help``

Exit status: 0 if every row passed, 1 if any failed, 2 for bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable

import constructions
import fileio
import tasks

from ._defaults import DEFAULT_CHECKS
from ._engine import check, terminal_progress

__all__ = ["main", "SUBCOMMANDS", "UsageError", "format_table"]

# name -> "module:function"; each takes argv (list of str) and returns an exit code
SUBCOMMANDS: dict[str, str] = {
    "report": "verify._report:main",
    "precision": "verify._precision_cli:main",
    "bounds": "verify._bounds_cli:main",
}

# task options: flag -> (parameter name, type)
TASK_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--n": ("n", int),
    "--alphabet-size": ("alphabet_size", int),
    "--types": ("types", int),
    "--depth": ("depth", int),
    "--dim": ("dim", int),
    "--margin": ("margin", float),
    "--num-labels": ("num_labels", int),
    "--num-keys": ("num_keys", int),
    "--num-values": ("num_values", int),
    "--index-sets": ("index_sets", json.loads),
    "--truth-tables": ("truth_tables", json.loads),
    "--c": ("c", int),
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="verify",
        description="Check the paper's hand-built models against reference solvers.",
        epilog="subcommands: " + (", ".join(sorted(SUBCOMMANDS)) or "none"),
    )
    p.add_argument("--task", help="task name: " + ", ".join(tasks.available()))
    p.add_argument("--arch", help="tf1, tf2 or rnn")
    p.add_argument("--load", metavar="PATH", help="check a saved model (.npz) against its task")
    for flag, (name, typ) in TASK_OPTIONS.items():
        p.add_argument(flag, dest=name, type=typ, default=None, metavar=name.upper(), help=f"task parameter {name}")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--samples", type=int, default=None, help="check K sampled inputs (default 10000)")
    mode.add_argument("--exhaustive", action="store_true", help="check every input")
    mode.add_argument(
        "--certify",
        action="store_true",
        help="prove every input correct (index lookup, equality, disjointness; float64 or fixed:I.F), mode 'certified'",
    )
    p.add_argument("--precision", default="float64", help="float64, float32, bfloat16, float16 or fixed:I.F")
    p.add_argument("--seed", type=int, default=0, help="seed of the input sampler (default 0)")
    p.add_argument("--model-seed", type=int, default=0, help="seed of the construction (default 0)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra construction parameter, VALUE parsed as JSON if it can be",
    )
    p.add_argument("--save", metavar="PATH", help="save the built model to PATH (.npz)")
    p.add_argument("--json", action="store_true", help="print a JSON list of rows")
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it shows on stderr for runs over a second, only on a terminal, never with --json)",
    )
    return p


def _extra_params(items):
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def format_table(rows: list[dict]) -> str:
    cols = [
        ("task", "task"),
        ("arch", "arch"),
        ("n", "n"),
        ("width", "width"),
        ("heads", "heads"),
        ("layers", "layers"),
        ("params", "params"),
        ("precision", "precision"),
        ("mode", "mode"),
        ("inputs_checked", "checked"),
        ("failures", "failures"),
        ("min_margin", "min_margin"),
        ("rnn_min_width", "rnn_min_w"),
        ("status", "status"),
    ]

    def cell(r, k):
        if k == "rnn_min_width":
            lb = r.get("lower_bounds", {}).get("rnn")
            return "-" if lb is None else "no bound known" if lb["min_width"] is None else str(lb["min_width"])
        v = r.get(k)
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    table = [[h for _, h in cols]] + [[cell(r, k) for k, _ in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(row, widths)).rstrip() for row in table]
    for r in rows:
        cert = r.get("certificate") or {}
        if cert.get("proved_for") == "every length":  # the finite-state RNN proof (verify/certify/_rnn_states.py)
            lines.append(
                f"certified {r['task']}/{r['arch']}: right on every input of every length "
                f"({cert['reachable_states']} reachable hidden states, {cert['reference_states']} "
                f"states of the task's minimal automaton)"
            )
        if r["status"] != "pass" and r.get("counterexample"):
            ce = r["counterexample"]
            text = json.dumps(ce["input"])
            text = text if len(text) < 200 else text[:200] + "..."
            lines.append(
                f"FAIL {r['task']}/{r['arch']} n={r['n']} (seed {r.get('seed')}): input {text} "
                f"expected {ce['expected']} got {ce['got']} (margin {ce['margin']:.4g})"
            )
    return "\n".join(lines)


def _check(model, *, mode, progress=False, **kw) -> dict:
    if mode == "certified":  # verify/certify/: a proof for every input
        from .certify import certify

        return certify(model, precision=kw["precision"])
    bar = terminal_progress(f"{model.task}/{model.variant} n={model.task_params.get('n')}", progress)
    return check(model, mode=mode, progress=bar, **kw)


def _certifiable():
    from .certify import CERTIFIABLE

    return CERTIFIABLE


def _can_certify(model) -> bool:
    from .certify import can_certify

    return can_certify(model)


def _run_rows(args) -> list[dict]:
    mode = "certified" if args.certify else "exhaustive" if args.exhaustive else "sampled"
    samples = args.samples if args.samples is not None else 10_000
    bar = args.progress and not args.json  # a TTY bar on stderr (terminal_progress checks the TTY)
    task_params = {
        name: getattr(args, name) for _, (name, _) in TASK_OPTIONS.items() if getattr(args, name) is not None
    }
    if args.load:
        if args.task or args.arch or task_params or args.param:
            raise UsageError("--load takes the task and its parameters from the file; drop --task/--arch/task options")
        model = constructions.load(args.load)
        return [_check(model, mode=mode, samples=samples, seed=args.seed, precision=args.precision, progress=bar)]
    if args.task is None and args.arch is None and not task_params:
        rows = []
        for task, arch, params, dmode, dsamples in DEFAULT_CHECKS:
            if args.certify and task not in _certifiable():
                continue
            model = constructions.build(task, arch=arch, seed=args.model_seed, **params)
            if args.certify and not _can_certify(model):  # e.g. the index-lookup RNN: no plan for RNNs
                continue
            rows.append(
                _check(
                    model,
                    mode=mode if args.certify else dmode,
                    samples=dsamples or 0,
                    seed=args.seed,
                    precision=args.precision,
                    progress=bar,
                )
            )
        return rows
    if not args.task or not args.arch:
        raise UsageError("give both --task and --arch (or neither, for the default run)")
    tasks.get(args.task, **task_params)  # validates the task parameters with a clear message
    extra = _extra_params(args.param)
    if args.save is not None:
        fileio.check_writable(args.save)  # '' or an unwritable target: bad input, before any work
    model = constructions.build(args.task, arch=args.arch, seed=args.model_seed, **task_params, **extra)
    row = _check(model, mode=mode, samples=samples, seed=args.seed, precision=args.precision, progress=bar)
    if args.save is not None:  # after the check: every argument was accepted before the file is replaced
        model.save(args.save)
    return [row]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            mod, fn = SUBCOMMANDS[argv[0]].split(":")
            return int(getattr(importlib.import_module(mod), fn)(argv[1:]))
        args = _parser().parse_args(argv)
        rows = _run_rows(args)
    except (UsageError, ValueError, KeyError, TypeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"verify: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verify: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(format_table(rows))
    return 0 if all(r["status"] == "pass" for r in rows) else 1


def entry() -> None:
    """Console-script entry point. A reader that closes the pipe early (``verify --json | head``) ends
    the run quietly with 141, the status a shell reports for SIGPIPE: not 1 (a check failed), and
    no traceback."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would fail again
        sys.exit(141)
    sys.exit(code)
