"""``python -m experiments run|report|plot`` (see docs/EXPERIMENTS.md).  Bad input: one line on
stderr, exit code 2."""

from __future__ import annotations

import argparse
import os
import sys

from fileio import atomic_write

# One XLA thread per process: on a shared, oversubscribed CPU the default two-thread Eigen pool
# spends its time waiting for descheduled threads.  Set before JAX is imported.
if os.environ.get("EXPERIMENTS_XLA_THREADS", "1") == "1":
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a protocol (resumes: finished cells are skipped)")
    r.add_argument("--protocol", required=True)
    r.add_argument("--out", default=None, help="results folder (default experiments/results/<protocol>)")
    r.add_argument("--jobs", type=int, default=1, help="cells trained at once, one process each (default 1)")
    rep = sub.add_parser("report", help="write RESULTS.md from a results folder")
    rep.add_argument("--results", default="experiments/results/cpu")
    rep.add_argument("--protocol", default="cpu")
    rep.add_argument("--write", default=None, help="file to write (default: print)")
    rep.add_argument("--command", default=None, help="the command that produced the results, for the report")
    pl = sub.add_parser("plot", help="redraw the figures of a results folder")
    pl.add_argument("--results", default="experiments/results/cpu")
    args = p.parse_args(argv)
    from . import protocols, runner  # after XLA_FLAGS

    try:
        if args.cmd == "run":
            protocols.cells(args.protocol)  # validates the name
            out = args.out or os.path.join("experiments", "results", args.protocol)
            if args.jobs < 1:
                raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
            import signal

            # `kill` (SIGTERM) unwinds like Ctrl-C, so the runner stops its worker processes
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
            runner.run_protocol(args.protocol, out, log=runner.stderr_log, jobs=args.jobs)
        elif args.cmd == "report":
            from . import report

            protocols.cells(args.protocol)
            if not os.path.isdir(os.path.join(args.results, "cells")):
                raise ValueError(f"no results under {args.results!r} (expected a cells/ folder)")
            text = report.render(args.results, args.protocol, command=args.command)
            if args.write:
                atomic_write(args.write, lambda fh: fh.write(text), text=True)
            else:
                print(text)
        else:
            from . import plots

            rows = runner.collect(args.results)
            if not rows:
                raise ValueError(f"no results under {args.results!r}")
            for f in plots.make_all(args.results, rows):
                print(f)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
