"""The console script ``verify`` (and ``python -m verify``): the SIGINT handler first, then the
command under the error contract of verify/_entry.py. Standard library only until the command runs:
Ctrl-C during the JAX import exits 130 too."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ._entry import EXIT_INTERRUPT, EXIT_PIPE, guarded, install_sigint

__all__ = ["entry"]


def _run_cli(argv: list[str]) -> int:
    """The command: JAX's persistent compilation cache on (verify/_cache.py; ``--no-cache`` anywhere
    on the line or ``SEPARATIONS_NO_CACHE=1`` leaves it off), then the heavy CLI (JAX), imported
    under the guard, after the SIGINT handler."""
    if "--no-cache" in argv:
        argv = [a for a in argv if a != "--no-cache"]
    else:
        from ._cache import enable_compilation_cache

        enable_compilation_cache()
    from . import _cli

    return _cli.run(argv)


def _exit(code: int) -> None:
    """Flush and leave without the interpreter's teardown: JAX's exit hooks (clearing its backends
    and caches) and the freeing of every module cost a tenth of a second or more of a short run,
    and nothing is left to do: every file the command writes is closed by then (fileio.atomic_write),
    the only worker thread is a daemon that has been joined, log handlers are flushed here."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)


def entry(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``verify``, ``python -m verify``). A reader that closes the pipe
    early (``verify --json | head``) ends the run quietly with 141, the status a shell reports for
    SIGPIPE: not 1 (a check failed), and no traceback."""
    install_sigint()
    try:
        code = guarded(_run_cli, sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would fail again
        os._exit(EXIT_PIPE)
    except KeyboardInterrupt:  # between the guard and here
        print("verify: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPT
    _exit(code)
