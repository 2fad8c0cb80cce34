"""Threads for the certifiers' chunked passes: numpy releases the interpreter lock inside its array
operations, so independent chunks run on several cores at once. Results come back in the chunks'
order, so what a pass computes does not depend on the number of threads."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")


def cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity masks (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def ordered_map(f: Callable[[A], B], items: Iterable[A], workers: int) -> Iterator[tuple[A, B]]:
    """``(item, f(item))`` in the items' order, up to ``workers`` calls at once, at most
    ``2·workers`` results held (bounded memory). ``f`` must not write shared state."""
    if workers <= 1:
        for item in items:
            yield item, f(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for item in items:
            pending.append((item, pool.submit(f, item)))
            if len(pending) >= 2 * workers:
                a, fut = pending.pop(0)
                yield a, fut.result()
        for a, fut in pending:
            yield a, fut.result()
