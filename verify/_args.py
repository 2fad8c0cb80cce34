"""Argument types and checks shared by every ``verify`` subcommand (docs/DESIGN.md §6.6).

Every value is checked when it is parsed or, for checks that need several values, before anything
is built or written: a bad value is a :class:`UsageError` (exit 2, one line), never a default used in
its place. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
from collections.abc import Callable

from ._entry import UsageError

__all__ = [
    "MAX_INT",
    "Parser",
    "count",
    "int_list",
    "json_arg",
    "finite_json",
    "writable_target",
    "readable_file",
    "check_finite",
]

MAX_INT = 10**15  # no size, count or seed on the command line is larger (beyond it: "too large")
MAX_JSON_CHARS = 1 << 20
MAX_JSON_DEPTH = 32


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line :class:`UsageError` (no usage dump, exit 2)."""

    def __init__(self, *a, **kw):
        kw.setdefault("allow_abbrev", False)  # `--n` must not silently match `--num-keys`
        super().__init__(*a, **kw)

    def error(self, message):
        raise UsageError(message)


def _int(text: str, name: str) -> int:
    text = text.strip()
    if len(text.lstrip("+-")) > 18:
        raise argparse.ArgumentTypeError(f"{name} {text[:20]}...: too large (at most {MAX_INT:.0e})")
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value for {name}: {text!r}") from None
    return v


def count(lo: int = 0, hi: int = MAX_INT, name: str = "value", need: str | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[lo, hi]`` (``need``: how the message words the lower limit)."""

    def parse(text: str) -> int:
        v = _int(text, name)
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name} must be {need or f'at least {lo}'}, got {v}")
        if v > hi:
            raise argparse.ArgumentTypeError(f"{name} must be at most {hi}, got {v}: too large")
        return v

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def int_list(lo: int = 1, hi: int = MAX_INT, name: str = "list", need: str | None = None) -> Callable[[str], list[int]]:
    """An argparse type: a non-empty comma-separated list of integers in ``[lo, hi]``."""
    one = count(lo, hi, name, need)

    def parse(text: str) -> list[int]:
        items = [t for t in text.split(",")]
        if not text.strip() or any(not t.strip() for t in items):
            raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list of integers, got {text!r}")
        return [one(t) for t in items]

    parse.__name__ = name
    return parse


def check_finite(value, name: str):
    """``value`` if every number in it (nested lists/dicts) is finite and not too deep; else UsageError."""

    def walk(v, depth):
        if depth > MAX_JSON_DEPTH:
            raise UsageError(f"{name}: nested deeper than {MAX_JSON_DEPTH}")
        if isinstance(v, float) and not math.isfinite(v):
            raise UsageError(f"{name}: {v} is not a finite number")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
            raise UsageError(f"{name}: {v} is too large (at most {MAX_INT:.0e})")
        if isinstance(v, list):
            for x in v:
                walk(x, depth + 1)
        if isinstance(v, dict):
            for x in v.values():
                walk(x, depth + 1)

    walk(value, 0)
    return value


def finite_json(text: str, name: str):
    """Parse ``text`` as JSON: finite numbers only, bounded size and depth."""
    if len(text) > MAX_JSON_CHARS:
        raise UsageError(f"{name}: longer than {MAX_JSON_CHARS} characters")
    try:
        value = json.loads(text, parse_constant=lambda c: float(c))
    except RecursionError:
        raise UsageError(f"{name}: nested too deep") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{name}: not JSON ({e.msg} at character {e.pos})") from None
    return check_finite(value, name)


def json_arg(name: str) -> Callable[[str], object]:
    """An argparse type: finite JSON (``--index-sets``, ``--truth-tables``)."""

    def parse(text: str):
        try:
            return finite_json(text, name)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = name
    return parse


def writable_target(path: str | None, flag: str, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before anything runs, a ``flag`` target that cannot be written: what
    ``fileio.check_writable`` refuses (empty name, a folder or special file, a missing or read-only
    folder), and an existing read-only file (``suffixes``: the files actually written, e.g. ``.png``
    and ``.svg`` for a plot)."""
    if path is None:
        return
    if not path.strip():  # before a suffix is added: "" + ".png" would name a hidden file
        raise UsageError(f"{flag}: empty file name")
    import fileio

    for target in [path] if not suffixes else [os.path.splitext(path)[0] + s for s in suffixes]:
        try:
            fileio.check_writable(target)
        except fileio.WriteTargetError as e:
            raise UsageError(f"{flag}: {e}") from None
        if os.path.exists(target) and not os.access(target, os.W_OK):
            raise UsageError(f"{flag} {target}: file is not writable")


def readable_file(path: str, flag: str) -> None:
    """Refuse a ``flag`` path that is not a readable regular file (a named pipe would block)."""
    if not path.strip():
        raise UsageError(f"{flag} needs a file name, got an empty string")
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise UsageError(f"{flag} {path}: no such file ({e.strerror})") from None
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "bad path"
        raise UsageError(f"{flag} {path}: {reason}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{flag} {path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{flag} {path}: not readable")


class ReadmeBlock:
    """One generated block of a Markdown file, between ``start`` and ``end`` markers: checked
    (readable, writable, both markers present) when made, before any work, and replaced by
    :meth:`write` atomically (fileio.atomic_write: the file is whole before and after)."""

    def __init__(self, path: str, start: str, end: str, flag: str = "--readme"):
        readable_file(path, flag)
        writable_target(path, flag)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{flag} {path}: cannot read it ({type(e).__name__})") from None
        if start not in text or end not in text:
            raise UsageError(f"{path} has no {start} ... {end} block")
        self.path, self.start, self.end = path, start, end
        self.head, rest = text.split(start, 1)
        self.tail = rest.split(end, 1)[1]

    def write(self, body: str) -> None:
        """Replace what is between the markers by ``body`` (a newline is kept after each marker)."""
        import fileio

        text = self.head + self.start + "\n" + body.rstrip("\n") + "\n" + self.end + self.tail
        fileio.atomic_write(self.path, lambda fh: fh.write(text), text=True)
