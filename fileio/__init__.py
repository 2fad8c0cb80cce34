"""Writing files without losing the old one: :func:`atomic_write` and :func:`check_writable`.

A package of its own (the standard library only, nothing of the project), so that every package —
``constructions``, ``bounds``, ``verify``, ``experiments``, ``benchmarks`` — writes through the same
function without importing another's internals or breaking the dependency order.

Every file the project writes (models, README blocks, plots, JSON and CSV results) goes through
:func:`atomic_write`: the new contents go to a temporary file in the target's folder, are flushed
to disk (``fsync``) and renamed over the target in one step, so the target is either the old file
or the new one, never a truncated mix. The target's permission bits are kept (a new file gets the
usual ``0o666`` less the umask); the temporary file is removed when writing fails, on Ctrl-C
(SIGINT) and on SIGTERM. :func:`check_writable` checks a target before any work is done, so a
request that cannot be written is refused before it costs anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["atomic_write", "check_writable", "WriteTargetError"]

PathLike = str | os.PathLike


class WriteTargetError(ValueError):
    """A target path that cannot be written (empty, a folder, a missing or read-only folder, a
    special file); raised before anything is written."""


def check_writable(path: PathLike) -> str:
    """The absolute path of the file ``path`` names (a symbolic link followed), after checking that
    it can be written: a non-empty name no longer than the file system allows, not a folder and not
    a special file (pipe, device), in an existing folder where this process can create a file (tried:
    a temporary file is created and removed, since permission bits say nothing for root or for
    file systems such as /sys). Raises :class:`WriteTargetError` (one line)."""
    target = _named_target(path)
    folder = os.path.dirname(target)
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=folder)
    except OSError as e:
        raise WriteTargetError(
            f"{os.fsdecode(os.fspath(path))}: cannot create a file in {folder} ({e.strerror})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return target


def _named_target(path: PathLike) -> str:
    """:func:`check_writable` without its trial file: what the name and the folder's entry say."""
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if not raw or not raw.strip():
        raise WriteTargetError("empty file name")
    if "\0" in raw:
        raise WriteTargetError(f"{raw!r}: file name contains a NUL byte")
    target = os.path.realpath(raw)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise WriteTargetError(f"{raw}: is a folder")
    if os.path.lexists(target) and not stat.S_ISREG(os.stat(target).st_mode):
        raise WriteTargetError(f"{raw}: not a regular file")
    if not os.path.isdir(folder):
        raise WriteTargetError(f"{raw}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WriteTargetError(f"{raw}: folder {folder} is not writable")
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(os.fsencode(os.path.basename(target))) > name_max:
        raise WriteTargetError(f"{raw[:60]}...: file name longer than {name_max} bytes")
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IN_FLIGHT: set[str] = set()  # temporary files of the writes in progress


def remove_temporaries() -> None:
    """Remove the temporary files of the writes still in progress: for a signal handler that ends
    the process at once (``os._exit``), where :func:`atomic_write` cannot unwind. Best effort."""
    for tmp in list(_IN_FLIGHT):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While writing, SIGTERM unwinds like Ctrl-C (so the temporary file is removed); a handler
    installed before runs first. Only the main thread can set handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def atomic_write(path: PathLike, write: Callable[[IO[Any]], object], *, text: bool = False) -> str:
    """Write a file all at once: ``write(fh)`` fills a temporary file in ``path``'s folder (binary,
    or text in UTF-8 with ``text=True``), which is flushed, ``fsync``-ed and renamed over ``path``.

    The existing file at ``path`` (followed if a symbolic link) is untouched until the rename; its
    permission bits carry over. On any exception, Ctrl-C or SIGTERM the temporary file is removed
    and the exception propagates (SIGTERM as ``SystemExit(143)``). Returns the path written."""
    target = _named_target(path)  # its own temporary file below is the trial check_writable makes
    folder = os.path.dirname(target)
    old = os.stat(target) if os.path.exists(target) else None
    mode = stat.S_IMODE(old.st_mode) if old else 0o666 & ~_umask()
    tmp = None
    with _sigterm_unwinds():
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(target)[:64], dir=folder)
            _IN_FLIGHT.add(tmp)
            fh: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")
            with fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
            _IN_FLIGHT.discard(tmp)
            tmp = None
        finally:
            if tmp is not None:
                _IN_FLIGHT.discard(tmp)
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    with contextlib.suppress(OSError):  # the rename itself reaches the disk
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return target
