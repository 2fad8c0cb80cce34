"""The ``verify`` entry point and its error contract (README "Exit status", docs/DESIGN.md §6.6).

    0    every check passed
    1    a check failed (the report says which)
    2    bad input or a refused request: exactly one line on stderr
    3    internal error (a bug): one line saying so and where the traceback was written
         (``--debug`` prints the traceback instead)
    130  interrupted (Ctrl-C): one line
    141  the reader closed the pipe (``verify --json | head``)

Only the documented input-error classes exit 2 (:data:`INPUT_ERRORS`, looked up by name so that
this module imports nothing heavy); any other exception, ``KeyError`` and ``TypeError`` included,
is a bug and exits 3. This module imports only the standard library: the console script installs
the SIGINT handler before JAX is imported, so Ctrl-C during the first seconds exits 130 too. In
process (``verify.main([...])``) no handler is installed: a KeyboardInterrupt is caught by
:func:`guarded` and gives 130.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence

__all__ = [
    "UsageError",
    "INPUT_ERRORS",
    "EXIT_OK",
    "EXIT_FAIL",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPT",
    "EXIT_PIPE",
    "guarded",
    "is_input_error",
    "install_sigint",
]

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPT, EXIT_PIPE = 0, 1, 2, 3, 130, 141

# (module, class): the documented "bad input or refused request" errors. A class whose module was
# never imported cannot have been raised, so nothing is imported to test against it.
INPUT_ERRORS: tuple[tuple[str, str], ...] = (
    ("verify._entry", "UsageError"),
    ("verify._engine", "VerifyError"),
    ("tasks", "TaskError"),
    ("constructions", "ConstructionError"),
    ("constructions", "ModelFormatError"),
    ("constructions", "ModelInputError"),
    ("bounds", "BoundError"),
)


class UsageError(Exception):
    """Bad command-line input, or a request refused (too large, unwritable target): one line, exit 2."""


_interrupted = False


def _on_sigint(signum, frame):
    """Ctrl-C: remove the temporary files of writes in progress, write one line, exit 130 at once.

    The handler never raises: a KeyboardInterrupt raised at an arbitrary point lands inside JAX's
    C++ callbacks (the process aborts), in gc callbacks or import locks (swallowed, and the run
    would go on to exit 0), or prints a traceback. Nothing a run holds needs more: reports go to
    stdout, and every file is written by ``fileio.atomic_write`` (a temporary file, then a rename),
    whose temporaries ``fileio.remove_temporaries`` knows. (``fileio`` is looked up, not imported:
    if no module imported it, nothing is being written.)
    """
    global _interrupted
    _interrupted = True
    fileio = sys.modules.get("fileio")
    if fileio is not None:
        try:
            fileio.remove_temporaries()
        except BaseException:  # noqa: BLE001, S110 - best effort, the process is ending
            pass
    os.write(2, b"verify: interrupted\n")
    os._exit(EXIT_INTERRUPT)


def install_sigint() -> None:
    """Route SIGINT to :func:`_on_sigint` (main thread only; a no-op elsewhere)."""
    try:
        signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread (e.g. called from a worker in a test)
        pass


def is_input_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one of the documented input errors (:data:`INPUT_ERRORS`)."""
    for mod, name in INPUT_ERRORS:
        cls = getattr(sys.modules.get(mod), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 400:
        text = text[:400] + "..."
    return text or type(exc).__name__


def _write_traceback(exc: BaseException) -> str:
    """Write the traceback of ``exc`` to a fresh file in the temp dir; return its path."""
    import tempfile
    import time
    import traceback

    fd, path = tempfile.mkstemp(prefix=f"verify-traceback-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("verify " + " ".join(sys.argv[1:]) + "\n\n")
        fh.write("".join(traceback.format_exception(exc)))
    return path


def _debug(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("VERIFY_DEBUG", "") not in ("", "0")


def guarded(run: Callable[[list[str]], int], argv: Sequence[str], prog: str = "verify") -> int:
    """Run ``run(argv)`` under the error contract; return the exit status (never raises, except
    SystemExit from ``--help`` and BrokenPipeError, which :func:`entry` handles)."""
    argv = list(argv)
    debug = _debug(argv)
    argv = [a for a in argv if a != "--debug"]
    try:
        code = int(run(argv))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    except (SystemExit, BrokenPipeError):
        raise
    except Exception as e:  # noqa: BLE001 - the contract: documented classes exit 2, the rest exit 3
        if is_input_error(e):
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            return EXIT_INPUT
        if debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
            print(f"{prog}: internal error (a bug): {type(e).__name__}", file=sys.stderr)
            return EXIT_INTERNAL
        try:
            where = f"traceback in {_write_traceback(e)}"
        except OSError:
            where = "the traceback could not be written; rerun with --debug"
        print(f"{prog}: internal error (a bug): {type(e).__name__}: {_one_line(e)[:200]}; {where}", file=sys.stderr)
        return EXIT_INTERNAL
    if _interrupted:  # a KeyboardInterrupt that some library swallowed: still not a success
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    return code
