"""``python -m experiments run|report|plot`` (see docs/EXPERIMENTS.md).  Bad input: one line on
stderr, exit code 2."""

from __future__ import annotations

import argparse
import os
import sys

from fileio import atomic_write, check_writable

# One XLA thread per process: on a shared, oversubscribed CPU the default two-thread Eigen pool
# spends its time waiting for descheduled threads.  Set before JAX is imported.
if os.environ.get("EXPERIMENTS_XLA_THREADS", "1") == "1":
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``error: ...``, exit 2, as every other bad input here)
    instead of the usage dump; its subcommand parsers are of the same class."""

    def error(self, message: str):  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _folder(out: str) -> None:
    """Create the results folder ``out`` (with its parents) if it is missing; a place where no folder
    can be made is bad input."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {out}: cannot create the folder ({e.strerror})") from None


def main(argv=None) -> int:
    p = _Parser(prog="python -m experiments", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a protocol (resumes: finished cells are skipped)")
    r.add_argument("--protocol", required=True)
    r.add_argument("--out", default=None, help="results folder (default experiments/results/<protocol>)")
    r.add_argument("--jobs", type=int, default=1, help="cells trained at once, one process each (default 1)")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="every distinct configuration once at its smallest length, 4 steps (probe 2), 64 validation/test examples, "
        "and a compile check at its largest length (default DIR experiments/results/<protocol>_dry)",
    )
    r.add_argument("--only", default=None, help="regular expression a group's name must match (re.search)")
    r.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use JAX's persistent compilation cache (default: on, in the folder verify uses: "
        "$SEPARATIONS_CACHE_DIR, else $XDG_CACHE_HOME/separations/jax or ~/.cache/separations/jax; "
        "SEPARATIONS_NO_CACHE=1 also turns it off)",
    )
    r.add_argument(
        "--report", default=None, help="write the results section to this file at the end (dry run: DIR/RESULTS.md)"
    )
    rep = sub.add_parser("report", help="write RESULTS.md from a results folder")
    rep.add_argument("--results", default="experiments/results/cpu")
    rep.add_argument("--protocol", default="cpu")
    rep.add_argument("--write", default=None, help="file to write (default: print)")
    rep.add_argument("--command", default=None, help="the command that produced the results, for the report")
    rep.add_argument("--dry-run", action="store_true", help="report a dry run (see run --dry-run)")
    rep.add_argument("--only", default=None, help="as for run")
    pl = sub.add_parser("plot", help="redraw the figures of a results folder")
    pl.add_argument("--results", default="experiments/results/cpu")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # a one-line error (exit 2) or --help (0)
        return int(e.code or 0)
    from verify import usable_cache_dir

    from . import protocols, runner  # after XLA_FLAGS

    try:
        if args.cmd == "run":
            protocols.groups(args.protocol, dry_run=args.dry_run, only=args.only)  # validates name and filter
            out = args.out or os.path.join("experiments", "results", args.protocol + ("_dry" if args.dry_run else ""))
            if args.jobs < 1:
                raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
            if os.path.lexists(out) and not os.path.isdir(out):
                raise ValueError(f"--out {out}: exists and is not a folder")
            target = (
                args.report if args.report is not None else (os.path.join(out, "RESULTS.md") if args.dry_run else None)
            )
            if target is not None:  # checked before any cell trains
                if os.path.dirname(os.path.abspath(target)) == os.path.abspath(out):
                    _folder(out)  # the report goes into the results folder: make it first
                check_writable(target)  # elsewhere: before the results folder is made
                _folder(out)
            import signal

            # `kill` (SIGTERM) unwinds like Ctrl-C, so the runner stops its worker processes
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
            kw = dict(dry_run=args.dry_run, only=args.only)
            cache = None if args.no_cache else usable_cache_dir()  # verify's folder (verify/_cache.py)
            runner.run_protocol(args.protocol, out, log=runner.stderr_log, jobs=args.jobs, cache=cache, **kw)
            if target is not None:
                from . import report

                text = report.render(out, args.protocol, **kw)
                atomic_write(target, lambda fh: fh.write(text), text=True)
                runner.stderr_log(f"report: {target}")
        elif args.cmd == "report":
            from . import report

            protocols.groups(args.protocol, dry_run=args.dry_run, only=args.only)
            if args.write is not None:
                check_writable(args.write)  # before the report is rendered
            if not os.path.isdir(os.path.join(args.results, "cells")):
                raise ValueError(f"no results under {args.results!r} (expected a cells/ folder)")
            text = report.render(
                args.results, args.protocol, command=args.command, dry_run=args.dry_run, only=args.only
            )
            if args.write is not None:
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
