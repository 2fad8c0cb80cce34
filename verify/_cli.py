"""The ``verify`` command (docs/DESIGN.md §6).

    verify                                   every registered construction at default sizes
    verify --task T --arch A --n N [task options] [--precision P] [--samples K | --exhaustive | --certify]
           [--seed S] [--model-seed S] [--param KEY=VALUE ...] [--save PATH] [--json]
    verify --load m.npz [--precision P] [--samples K | --exhaustive | --certify] [--json]
    verify --load m.onnx [--task T [task options]] [--samples K | --exhaustive] [--json]
    verify check ...                         the same as ``verify ...`` (the checks above)
    verify SUBCOMMAND ...                    report, precision, bounds: see ``verify --help``

Exit status (verify/_entry.py, README "Exit status"): 0 every row passed, 1 a row failed, 2 bad
input or a refused request (one line on stderr), 3 internal error, 130 interrupted, 141 closed pipe.
Every argument is checked, and the request's memory and time estimated (verify/_budget.py), before
anything is built or written.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable

import constructions
import tasks

from . import _budget
from ._args import Parser, count, json_arg, readable_file, writable_target
from ._defaults import DEFAULT_CHECKS
from ._engine import _total, check, terminal_progress
from ._entry import UsageError, guarded
from ._json import dumps
from ._params import extra_params

__all__ = ["main", "run", "SUBCOMMANDS", "UsageError", "format_table", "add_budget_options"]

# name -> "module:function"; each takes argv (list of str) and returns an exit code
SUBCOMMANDS: dict[str, str] = {
    "report": "verify._report:run",
    "precision": "verify._precision_cli:run",
    "bounds": "verify._bounds_cli:run",
}


def _json_or_text(value: str) -> object:
    """A task option that is a JSON value (a list of positions) or plain text (a layout name)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


# task options: flag -> (parameter name, type)
TASK_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--n": ("n", count(1, name="n")),
    "--alphabet-size": ("alphabet_size", count(0, name="alphabet_size")),
    "--types": ("types", count(0, name="types")),
    "--depth": ("depth", count(0, name="depth")),
    "--dim": ("dim", count(0, name="dim")),
    "--margin": ("margin", lambda t: _finite_float(t, "margin")),
    "--num-labels": ("num_labels", count(0, name="num_labels")),
    "--num-keys": ("num_keys", count(0, name="num_keys")),
    "--num-values": ("num_values", count(0, name="num_values")),
    "--index-sets": ("index_sets", json_arg("index_sets")),
    "--truth-tables": ("truth_tables", json_arg("truth_tables")),
    "--c": ("c", count(0, name="c")),
    "--alice": ("alice", _json_or_text),
}


def _finite_float(text: str, name: str, minimum: float | None = None) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
    if minimum is not None and v < minimum:
        raise argparse.ArgumentTypeError(f"{name} must be at least {minimum:g}, got {text!r}")
    return v


def add_budget_options(p) -> None:
    """``--max-memory`` and ``--max-time`` (verify/_budget.py)."""
    p.add_argument(
        "--max-memory",
        type=_budget.parse_bytes,
        default=None,
        metavar="SIZE",
        help="refuse requests estimated above SIZE (e.g. 8G, or none); default "
        f"{int(100 * _budget.MEMORY_FRACTION)}%% of the memory available now",
    )
    p.add_argument(
        "--max-time",
        type=lambda t: _finite_float(t, "--max-time", minimum=0),
        default=_budget.DEFAULT_MAX_TIME,
        metavar="SECONDS",
        help="refuse requests estimated to run longer (default one day; 0: no limit)",
    )


def max_memory(args) -> int:
    return _budget.default_max_memory() if args.max_memory is None else args.max_memory


def _parser() -> Parser:
    p = Parser(
        prog="verify",
        description="Check the paper's hand-built models against reference solvers.",
        epilog="subcommands: " + (", ".join(sorted(SUBCOMMANDS)) or "none") + ". --debug: print the traceback "
        "of an internal error (exit 3). Exit status: 0 pass, 1 a check failed, 2 bad input or refused, 3 internal "
        "error, 130 interrupted.",
    )
    p.add_argument("--task", help="task name: " + ", ".join(tasks.available()))
    p.add_argument("--arch", help="tf1, tf2 or rnn")
    p.add_argument(
        "--load",
        metavar="PATH",
        help="check a saved model (.npz, .safetensors) against its task, or any ONNX model (.onnx; with --task for one from elsewhere)",
    )
    for flag, (name, typ) in TASK_OPTIONS.items():
        p.add_argument(flag, dest=name, type=typ, default=None, metavar=name.upper(), help=f"task parameter {name}")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--samples", type=count(1, name="--samples"), default=None, help="check K sampled inputs (default 10000)"
    )
    mode.add_argument("--exhaustive", action="store_true", help="check every input")
    mode.add_argument(
        "--certify",
        action="store_true",
        help="prove every input correct (index lookup, equality, disjointness, split equality, associative recall, "
        "Dyck, threshold; float64 or fixed:I.F), mode 'certified'",
    )
    p.add_argument("--precision", default="float64", help="float64, float32, bfloat16, float16 or fixed:I.F")
    p.add_argument("--seed", type=count(0, name="--seed"), default=0, help="seed of the input sampler (default 0)")
    p.add_argument(
        "--model-seed", type=count(0, name="--model-seed"), default=None, help="seed of the construction (default 0)"
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra construction parameter, VALUE parsed as JSON if it can be",
    )
    p.add_argument("--save", metavar="PATH", help="save the built model to PATH (.npz, .onnx or .safetensors)")
    p.add_argument("--json", action="store_true", help="print a JSON list of rows")
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (it shows on stderr for runs over a second, only on a terminal, never with --json)",
    )
    add_budget_options(p)
    return p


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
        if k == "inputs_checked" and r.get("queries_checked") is not None:  # a multi-query row
            return f"{v} ({r['queries_checked']} queries)"
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


def _mode(args) -> str:
    return "certified" if args.certify else "exhaustive" if args.exhaustive else "sampled"


def _precision(text: str) -> str:
    """The precision string, refused up front (one line) if it names no format."""
    try:
        constructions.parse_precision(text)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return text


def _plan(args, task_params: dict) -> tuple[dict, tasks.Task]:
    """Check everything about a ``--task/--arch`` request before anything is built: the task and its
    parameters, the extra construction parameters, the exhaustive input count, and the memory and
    time estimate. Returns the construction parameters and the task."""
    if not args.task or not args.arch:
        raise UsageError("give both --task and --arch (or neither, for the default run)")
    if args.task not in tasks.available():
        raise UsageError(f"unknown task {args.task!r}; tasks are {', '.join(tasks.available())}")
    constructions.builder_for(args.task, args.arch)  # ConstructionError for an unregistered pair
    task = tasks.get(args.task, **task_params)  # validates the task parameters with a clear message
    extra = _extra(args, task_params)
    mode = _mode(args)
    samples = args.samples if args.samples is not None else 10_000
    if mode == "exhaustive":
        _total(task, mode, samples)  # the exhaustive limit, before building
    inputs = None if mode == "certified" else (task.num_inputs if mode == "exhaustive" else samples)
    params = {**task.params, **extra}  # the task's defaults filled in: the builder gets every parameter
    est = _budget.estimate(
        args.task, args.arch, params, mode=mode, inputs=inputs, seq_len=task.seq_len, precision=args.precision
    )
    _budget.refuse(
        est,
        what=f"{args.task}/{args.arch} n={task_params.get('n')} ({mode})",
        max_memory=max_memory(args),
        max_time=args.max_time,
    )
    return params, task


def _extra(args, task_params: dict) -> dict:
    extra = extra_params(args.param, args.task, args.arch)
    clash = sorted(set(extra) & (set(task_params) | {"seed"}))
    if clash:
        flag = "--model-seed" if clash[0] == "seed" else "--" + clash[0].replace("_", "-")
        raise UsageError(f"--param {clash[0]} repeats an option; give it once ({flag})")
    return extra


def _run_rows(args) -> list[dict]:
    mode = _mode(args)
    samples = args.samples if args.samples is not None else 10_000
    _precision(args.precision)
    bar = args.progress and not args.json  # a TTY bar on stderr (terminal_progress checks the TTY)
    task_params = {
        name: getattr(args, name) for _, (name, _) in TASK_OPTIONS.items() if getattr(args, name) is not None
    }
    if args.load is not None and args.load.lower().endswith(".onnx"):  # any ONNX sequence model (verify/_onnx.py)
        from ._onnx import open_for_check

        if args.save is not None or args.model_seed is not None:
            raise UsageError("--load takes the model from the file; drop --save/--model-seed")
        readable_file(args.load, "--load")
        onnx_model = open_for_check(
            args.load, args.task, task_params, arch=args.arch, param=args.param, certify=args.certify
        )
        return [_check(onnx_model, mode=mode, samples=samples, seed=args.seed, precision=args.precision, progress=bar)]
    if args.load is not None:
        if args.task or args.arch or task_params or args.param or args.save is not None or args.model_seed is not None:
            raise UsageError(
                "--load takes the task and its parameters from the file; drop --task/--arch/--save/--model-seed/"
                "task options"
            )
        readable_file(args.load, "--load")
        model = constructions.load(args.load)
        return [_check(model, mode=mode, samples=samples, seed=args.seed, precision=args.precision, progress=bar)]
    if args.task is None and args.arch is None and not task_params:
        if args.param or args.save is not None:
            raise UsageError("--param and --save need --task and --arch")
        if args.samples is not None or args.exhaustive:
            raise UsageError(
                "--samples and --exhaustive choose the mode of one --task; the default run uses each check's own "
                "mode (or --certify for all)"
            )
        rows = []
        for task, arch, params, dmode, dsamples in DEFAULT_CHECKS:
            if args.certify and task not in _certifiable():
                continue
            model = constructions.build(task, arch=arch, seed=args.model_seed or 0, **params)
            # skipped: e.g. the two-layer Dyck Transformer, or a multi-query readout
            if args.certify and not _can_certify(model):
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
    writable_target(args.save, "--save")  # '' or an unwritable target: bad input, before any work
    params, _ = _plan(args, task_params)
    model = constructions.build(args.task, arch=args.arch, seed=args.model_seed or 0, **params)
    constructions.check_precision(model, args.precision)
    row = _check(model, mode=mode, samples=samples, seed=args.seed, precision=args.precision, progress=bar)
    if args.save is not None:  # after the check: every argument was accepted before the file is replaced
        model.save(args.save)
    return [row]


def run(argv: list[str]) -> int:
    """The ``verify`` command on ``argv``: exit status, or an exception for :func:`guarded`."""
    argv = list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        mod, fn = SUBCOMMANDS[argv[0]].split(":")
        return int(getattr(importlib.import_module(mod), fn)(argv[1:]))
    if argv and argv[0] == "check":  # ``verify check ...`` is ``verify ...``: the checks, named like the others
        argv = argv[1:]
    args = _parser().parse_args(argv)
    rows = _run_rows(args)
    print(dumps(rows) if args.json else format_table(rows))
    return 0 if rows and all(r["status"] == "pass" for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    """``verify`` in-process: the exit status under the error contract (verify/_entry.py)."""
    return guarded(run, sys.argv[1:] if argv is None else argv)
