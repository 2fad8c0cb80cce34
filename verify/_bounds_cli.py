"""``verify bounds``: the lower bounds beside the constructions' sizes, and the crossover lengths.

    verify bounds [--task T ...] [--n N ...] [--bits B] [--heads H] [task options] [--json]
                  [--plot PATH] [--crossover] [--crossover-max-n N] [--build-max-n N] [--model-seed S]

Task options (``--alphabet-size``, ``--num-keys``, ...) go to the tasks that take them. Every
registered construction is built at each n (up to ``--build-max-n``) and its sizes are read from
its arrays. ``--crossover`` also finds, for each separation, the length from which the construction
is smaller than any model the bound allows; that builds constructions near the crossover (at b = 32
up to n ≈ 12,000, about a minute per construction on a laptop). Exit status 0; bad input: one line
on stderr, exit 2. See docs/BOUNDS.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

import bounds
import constructions
import tasks
from bounds import BOUND_TASKS, format_report, plot_report, report

from ._cli import TASK_OPTIONS, UsageError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parser():
    p = _Parser(prog="verify bounds", description="Lower bounds beside the constructions (docs/BOUNDS.md).")
    p.add_argument("--task", action="append", default=None, help="task (repeatable); default: every task with a bound")
    p.add_argument("--n", dest="ns", type=int, nargs="+", default=[64, 256, 1024], help="lengths")
    p.add_argument("--bits", type=int, default=32, help="bits of precision b (default 32)")
    p.add_argument("--heads", type=int, default=1, help="heads h for the one-layer Transformer bounds (default 1)")
    for flag, (name, typ) in TASK_OPTIONS.items():
        if flag != "--n":
            p.add_argument(flag, dest=name, type=typ, default=None, metavar=name.upper(), help=f"task parameter {name}")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="PATH", help="write PATH.png and PATH.svg")
    p.add_argument(
        "--crossover",
        action="store_true",
        help="find where each construction becomes smaller than the bound (builds near it: slow)",
    )
    p.add_argument("--crossover-max-n", type=int, default=16384, help="largest n the crossover search builds")
    p.add_argument("--build-max-n", type=int, default=16384, help="build constructions only up to this n")
    p.add_argument("--model-seed", type=int, default=0, help="seed of the constructions (default 0)")
    return p


def _task_params(args) -> dict:
    names = args.task or list(BOUND_TASKS)
    for t in names:
        if t not in tasks.available():
            raise UsageError(f"unknown task {t!r}; tasks are {', '.join(tasks.available())}")
        if t not in BOUND_TASKS:
            raise UsageError(f"{t} has no closed-form lower bound; tasks with one: {', '.join(BOUND_TASKS)}")
    given = {
        name: getattr(args, name)
        for flag, (name, _) in TASK_OPTIONS.items()
        if flag != "--n" and getattr(args, name) is not None
    }
    out, used = {}, set()
    for t in names:
        takes = set(tasks.get(t, n=2).params)
        out[t] = {k: v for k, v in given.items() if k in takes}
        used |= set(out[t])
    unused = sorted(set(given) - used)
    if unused:
        raise UsageError(f"no selected task takes {', '.join(unused)}")
    return out


def main(argv) -> int:
    try:
        args = _parser().parse_args(list(argv))
        if args.bits <= 0:
            raise UsageError(f"--bits must be positive, got {args.bits}")
        if args.heads <= 0:
            raise UsageError(f"--heads must be positive, got {args.heads}")
        if any(n < 1 for n in args.ns):
            raise UsageError(f"--n must be at least 1, got {min(args.ns)}")
        if args.crossover_max_n < 2 or args.build_max_n < 1:
            raise UsageError("--crossover-max-n must be at least 2 and --build-max-n at least 1")
        task_params = _task_params(args)
        for t, p in task_params.items():  # validate every (task, n) up front: one clear line
            for n in args.ns:
                bounds.lower_bounds(t, {**p, "n": n}, args.bits, args.heads)
        registered = set(constructions.available())

        @functools.cache
        def build(task, arch, frozen):
            params = dict(frozen)
            if (task, arch) not in registered:
                return "not registered"
            if params["n"] > args.build_max_n:
                return f"not built (n > --build-max-n {args.build_max_n})"
            try:
                return constructions.build(task, arch=arch, seed=args.model_seed, **params).size(bits=args.bits)
            except (ValueError, TypeError) as e:  # a construction that cannot take these parameters
                return f"not built: {str(e).splitlines()[0]}"

        def sizes(task, arch, params):
            return build(task, arch, tuple(sorted(params.items())))

        rep = report(
            task_params,
            args.ns,
            sizes,
            registered,
            bits=args.bits,
            heads=args.heads,
            crossovers=args.crossover,
            crossover_max_n=args.crossover_max_n,
        )
        rep["model_seed"] = args.model_seed
        if args.plot:
            rep["plot"] = plot_report(rep, args.plot)
    except (UsageError, ValueError, KeyError, TypeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"verify: error: {msg}", file=sys.stderr)
        return 2
    print(json.dumps(rep, indent=1) if args.json else format_report(rep))
    return 0
