"""``verify bounds``: the lower bounds beside the constructions' sizes, and the crossover lengths.

    verify bounds [--task T ...] [--n N ...] [--bits B] [--heads H] [task options] [--json]
                  [--plot PATH] [--crossover] [--crossover-max-n N] [--build-max-n N] [--model-seed S]

Task options (``--alphabet-size``, ``--num-keys``, ...) go to the tasks that take them. Every
registered construction is built at each n up to ``--build-max-n`` (default 1024) and its sizes are
read from its arrays; beyond, they come from the closed forms of verify/_sizes.py (tested equal to
the built sizes where both exist; row status "closed form"), and a construction without one is not
built there. ``--crossover`` also finds, for each separation, the length from which the
construction is smaller than any model the bound allows, up to ``--crossover-max-n`` (default 2^24).
Exit status: verify/_entry.py (0; bad input: one line on stderr, exit 2). See docs/BOUNDS.md.
"""

from __future__ import annotations

import functools

import bounds
import constructions
import tasks
from bounds import BOUND_TASKS, format_report, plot_report, report

from . import _budget
from ._args import Parser, count, writable_target
from ._cli import TASK_OPTIONS, add_budget_options, max_memory
from ._entry import UsageError, guarded
from ._json import dumps
from ._sizes import closed_form_size

BUILD_MAX_N = 1024
CROSSOVER_MAX_N = 1 << 24

__all__ = ["main", "run"]


def _parser():
    p = Parser(prog="verify bounds", description="Lower bounds beside the constructions (docs/BOUNDS.md).")
    p.add_argument("--task", action="append", default=None, help="task (repeatable); default: every task with a bound")
    p.add_argument("--n", dest="ns", type=count(1, name="--n"), nargs="+", default=[64, 256, 1024], help="lengths")
    p.add_argument(
        "--bits",
        type=count(1, 1 << 20, name="--bits", need="positive"),
        default=32,
        help="bits of precision b (default 32)",
    )
    p.add_argument(
        "--heads",
        type=count(1, 1 << 20, name="--heads", need="positive"),
        default=1,
        help="heads h for the one-layer bounds (default 1)",
    )
    for flag, (name, typ) in TASK_OPTIONS.items():
        if flag != "--n":
            p.add_argument(flag, dest=name, type=typ, default=None, metavar=name.upper(), help=f"task parameter {name}")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="PATH", help="write PATH.png and PATH.svg")
    p.add_argument(
        "--crossover",
        action="store_true",
        help="find where each construction becomes smaller than the bound (closed-form sizes where known, else builds)",
    )
    p.add_argument(
        "--crossover-max-n", type=count(2, name="--crossover-max-n"), default=CROSSOVER_MAX_N, help="largest n searched"
    )
    p.add_argument(
        "--build-max-n",
        type=count(1, name="--build-max-n"),
        default=BUILD_MAX_N,
        help=f"build constructions up to this n (default {BUILD_MAX_N}); beyond, sizes come from the closed forms",
    )
    p.add_argument("--model-seed", type=count(0, name="--model-seed"), default=0, help="seed of the constructions")
    add_budget_options(p)
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


def _sizes(args, registered):
    """``sizes(task, arch, params)`` for :func:`bounds.report`: built and read from the arrays up to
    ``--build-max-n`` (or where no closed form is known, within the memory limit), else the closed
    form of verify/_sizes.py (tested equal to the built sizes where both exist)."""
    limit = max_memory(args)

    @functools.cache
    def build(task, arch, frozen):
        params = dict(frozen)
        if (task, arch) not in registered:
            return "not registered"
        closed = closed_form_size(task, arch, params)
        if closed is not None and params["n"] > args.build_max_n:
            return {**closed, "status": "closed form"}
        if params["n"] > args.build_max_n and closed is None:
            return f"not built (n > --build-max-n {args.build_max_n}, no closed form)"
        est = _budget.estimate(task, arch, params, mode="sampled", inputs=0, seq_len=1)
        if est is not None and limit and est["bytes"] > limit:
            return f"not built (about {_budget.human(est['bytes'])}, over --max-memory)"
        try:
            return constructions.build(task, arch=arch, seed=args.model_seed, **params).size(bits=args.bits)
        except constructions.ConstructionError as e:  # a construction that cannot take these parameters
            return f"not built: {str(e).splitlines()[0]}"

    def sizes(task, arch, params):
        return build(task, arch, tuple(sorted(params.items())))

    return sizes


def run(argv) -> int:
    """``verify bounds`` on ``argv``; errors are raised for the entry wrapper (verify/_entry.py)."""
    args = _parser().parse_args(list(argv))
    writable_target(args.plot, "--plot", (".png", ".svg"))
    task_params = _task_params(args)
    for t, p in task_params.items():  # validate every (task, n) up front: one clear line
        for n in args.ns:
            bounds.lower_bounds(t, {**p, "n": n}, args.bits, args.heads)
    registered = set(constructions.available())
    rep = report(
        task_params,
        args.ns,
        _sizes(args, registered),
        registered,
        bits=args.bits,
        heads=args.heads,
        crossovers=args.crossover,
        crossover_max_n=args.crossover_max_n,
    )
    rep["model_seed"] = args.model_seed
    if args.plot:
        rep["plot"] = plot_report(rep, args.plot)
    print(dumps(rep) if args.json else format_report(rep))
    return 0


def main(argv) -> int:
    """``verify bounds`` in-process, under the error contract."""
    return guarded(run, argv)
