"""Cliques and colourings of a conflict graph, for one-way protocols on partial matrices.

Rows of a partial communication matrix *conflict* when some column is defined in both and the
values differ. A one-way protocol is a colouring of the conflict graph (a colour = a message:
pairwise compatible partial rows have a common extension, so Bob can answer), so the one-way
cost is ``⌈log2 χ⌉``; a clique of size k forces ``⌈log2 k⌉``. Graphs here are small (tens to a few
hundred rows): exact branch and bound where it fits a node budget, greedy otherwise.

Graphs are boolean adjacency matrices ``adj [N, N]`` with a False diagonal.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conflicts", "max_clique", "dsatur", "colour_with"]


def conflicts(values: np.ndarray) -> np.ndarray:
    """``adj[i, j]``: rows i and j of ``values [N, C]`` (-1 = undefined) are both defined and differ somewhere."""
    v = np.asarray(values)
    both = (v[:, None, :] >= 0) & (v[None, :, :] >= 0)
    adj = (both & (v[:, None, :] != v[None, :, :])).any(axis=2)
    np.fill_diagonal(adj, False)
    return adj


def max_clique(adj: np.ndarray, budget: int = 200_000) -> tuple[list[int], bool]:
    """A largest clique by Bron–Kerbosch with pivoting; ``(clique, proven_maximum)``.

    Stops after ``budget`` recursive calls and returns the best clique found (not proven maximum).
    """
    nbrs = [set(np.flatnonzero(row).tolist()) for row in adj]
    best: list[int] = []
    calls = 0
    complete = True

    def expand(r, p, x):
        nonlocal best, calls, complete
        calls += 1
        if calls > budget:
            complete = False
            return
        if not p and not x:
            if len(r) > len(best):
                best = list(r)
            return
        if len(r) + len(p) <= len(best):
            return
        pivot = max(p | x, key=lambda u: len(nbrs[u] & p))
        for v in list(p - nbrs[pivot]):
            expand(r + [v], p & nbrs[v], x & nbrs[v])
            p = p - {v}
            x = x | {v}

    expand([], set(range(adj.shape[0])), set())
    return sorted(best), complete


def dsatur(adj: np.ndarray) -> np.ndarray:
    """Greedy DSatur colouring: colours ``[N]`` in ``[0, k)``."""
    n = adj.shape[0]
    colour = np.full(n, -1, dtype=np.int64)
    degree = adj.sum(axis=1)
    for _ in range(n):
        sat = np.array([len(set(colour[adj[v] & (colour >= 0)].tolist())) if colour[v] < 0 else -1 for v in range(n)])
        v = int(np.lexsort((-degree, -sat))[0])
        used = set(colour[adj[v] & (colour >= 0)].tolist())
        c = 0
        while c in used:
            c += 1
        colour[v] = c
    return colour


def colour_with(adj: np.ndarray, k: int, budget: int = 200_000) -> tuple[np.ndarray | None, bool]:
    """A colouring with at most ``k`` colours by backtracking (most constrained vertex first).

    Returns ``(colouring or None, complete)``: ``complete`` is False when the budget of search nodes
    ran out, so a None with ``complete=True`` proves that no k-colouring exists.
    """
    n = adj.shape[0]
    colour = np.full(n, -1, dtype=np.int64)
    nodes = 0

    def pick():
        best, best_sat = -1, -1
        for v in range(n):
            if colour[v] < 0:
                sat = len(set(colour[adj[v] & (colour >= 0)].tolist()))
                if sat > best_sat:
                    best, best_sat = v, sat
        return best

    def search(done):
        nonlocal nodes
        nodes += 1
        if nodes > budget:
            return False
        if done == n:
            return True
        v = pick()
        used = set(colour[adj[v] & (colour >= 0)].tolist())
        top = int(colour.max()) + 1
        for c in range(min(k, top + 1)):  # a fresh colour only once: colours are symmetric
            if c not in used:
                colour[v] = c
                if search(done + 1):
                    return True
                colour[v] = -1
        return False

    found = search(0)
    return (colour.copy() if found else None), nodes <= budget
