"""Exact small-n certificates for the communication lower bounds (docs/PAPER.md §4, §12).

Each producer returns a frozen dataclass that says what it proves and carries everything needed
to re-check it; :mod:`bounds._check` re-checks it by another route (it rebuilds the inputs from
the parts and asks the reference solver, and never calls the code here).

:class:`OneWayCertificate`
    Deterministic one-way communication (Alice -> Bob) of a task under a split. A one-way protocol
    is a message ``m(a)`` per Alice part and an answer ``g(m, b)``; its cost is ``⌈log2 #messages⌉``.
    *Upper bound*: a protocol — ``classes`` (the message of every Alice part) and ``table`` (Bob's
    answer for every message and Bob part) — right on every valid input. *Lower bound*: a clique of
    ``witnesses`` (Alice parts) and ``distinguishing`` Bob parts on which every witness pair is
    defined and differs somewhere, so no two witnesses may share a message. For a total matrix
    both are the number of distinct rows. For a partial matrix (associative recall with more keys
    than pairs: entries with the query outside Alice's keys are undefined) distinct rows are *not*
    a lower bound — rows that differ only where one is undefined can share a message — so the
    clique is taken inside the columns where one row is defined, and the protocol is a greedy
    colouring of the conflict graph; the two bounds are reported separately and ``exact`` says
    whether they meet.
:class:`FoolingSetCertificate`
    A fooling set (Fact 4): pairs ``(x_i, y_i)`` with ``f = value`` such that for ``i != j`` at least one
    of ``f(x_i, y_j)``, ``f(x_j, y_i)`` differs from ``value``. Any (two-way) deterministic protocol
    needs ``⌈log2 |S|⌉`` bits. :func:`dyck_fooling_set` builds Lemma 1's set for Dyck-(K,d) under
    the odd/even split by construction (the prime decomposition of the proof), not by search.

A certificate is a statement about the one task it names (``task``, ``params``) at its n: its
domain is that point, and the checker re-derives everything from that task's reference solver.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

import tasks

from ._closed_forms import BoundError
from ._graphs import colour_with, conflicts, dsatur, max_clique
from ._matrix import SplitLike, matrix, resolve_split

__all__ = ["OneWayCertificate", "FoolingSetCertificate", "one_way_certificate", "dyck_fooling_set", "ceil_log2"]


def ceil_log2(k: int) -> int:
    """``⌈log2 k⌉`` for an integer k >= 1, exactly (0 for k = 1)."""
    k = int(k)
    if k < 1:
        raise BoundError(f"log2 of a count needs a count >= 1, got {k}")
    return (k - 1).bit_length()


@dataclasses.dataclass(frozen=True, eq=False)
class OneWayCertificate:
    """One-way deterministic communication of ``task`` (Alice -> Bob) under a split.

    Attributes:
        task, params: the task, as ``tasks.get(task, **params)`` takes it.
        alice, bob: the positions each party holds (0-based, a partition of the input).
        alice_parts: int64 ``[NA, |alice|]``, every Alice part of a valid input (distinct).
        bob_parts: int64 ``[NB, |bob|]``, every Bob part of a valid input (distinct).
        valid: bool ``[NA, NB]``, which combinations are inputs of the task (None: all).
        classes: int64 ``[NA]``, the message Alice sends for each part, in ``[0, R)``.
        table: int64 ``[R, NB]``, Bob's answer for (message, Bob part); -1 where no input exists.
        witnesses: int64 ``[k]``, Alice-part indices no two of which may share a message.
        distinguishing: int64 ``[c]``, Bob-part indices on which the witnesses' answers are all
            defined and pairwise different (as rows).
        lower_bits: ``⌈log2 k⌉``; upper_bits: ``⌈log2 R⌉``.
    """

    task: str
    params: dict
    alice: tuple
    bob: tuple
    alice_parts: np.ndarray
    bob_parts: np.ndarray
    valid: np.ndarray | None
    classes: np.ndarray
    table: np.ndarray
    witnesses: np.ndarray
    distinguishing: np.ndarray
    lower_bits: int
    upper_bits: int

    @property
    def exact(self) -> bool:
        return self.lower_bits == self.upper_bits

    @property
    def bits(self) -> int | None:
        """The one-way communication in bits when the bounds meet, else None."""
        return self.lower_bits if self.exact else None

    def summary(self) -> dict:
        return {
            "certificate": "one-way",
            "task": self.task,
            "params": self.params,
            "alice": len(self.alice),
            "bob": len(self.bob),
            "messages": int(self.table.shape[0]),
            "witnesses": int(self.witnesses.size),
            "lower_bits": self.lower_bits,
            "upper_bits": self.upper_bits,
            "exact": self.exact,
        }


@dataclasses.dataclass(frozen=True, eq=False)
class FoolingSetCertificate:
    """A fooling set for ``task`` under the split ``(alice, bob)`` (Fact 4).

    Attributes:
        alice_parts, bob_parts: int64 ``[N, |alice|]``, ``[N, |bob|]``: pair i is
            ``(alice_parts[i], bob_parts[i])``.
        value: the common value of f on the pairs.
        bits: ``⌈log2 N⌉``, the lower bound on any deterministic protocol.
    """

    task: str
    params: dict
    alice: tuple
    bob: tuple
    alice_parts: np.ndarray
    bob_parts: np.ndarray
    value: int
    bits: int

    def summary(self) -> dict:
        return {
            "certificate": "fooling set",
            "task": self.task,
            "params": self.params,
            "size": int(self.alice_parts.shape[0]),
            "value": self.value,
            "bits": self.bits,
        }


# --- one-way ----------------------------------------------------------------------------------


def _partial_protocol(values: np.ndarray):
    """Messages and a clique for a partial matrix ``values [R0, C]`` (-1 = undefined).

    Identical rows share a message; on the distinct rows, the conflict graph gets a largest
    clique (the lower bound) and a colouring: DSatur, improved by an exact search for
    ``2^⌈log2 clique⌉`` colours when DSatur needs more bits than the clique forces.
    Returns ``(classes [R0], table [k, C], witnesses)``, witnesses as row indices.
    """
    uniq, first, inverse = np.unique(values, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    adj = conflicts(uniq)
    clique, _ = max_clique(adj)
    colour = dsatur(adj)
    target = 1 << ceil_log2(len(clique))
    if ceil_log2(int(colour.max()) + 1) > ceil_log2(len(clique)):
        better, _ = colour_with(adj, target)
        if better is not None:
            colour = better
    k = int(colour.max()) + 1
    table = np.full((k, values.shape[1]), -1, dtype=np.int64)
    for c in range(k):
        rows = uniq[colour == c]
        for row in rows:  # pairwise compatible: the merge is well defined
            table[c] = np.where(row >= 0, row, table[c])
    return colour[inverse].astype(np.int64), table, np.sort(first[clique]).astype(np.int64)


def _refine(sub: np.ndarray) -> np.ndarray:
    """Columns that split the (pairwise distinct, fully defined) rows of ``sub [k, C]`` into
    singletons: partition refinement, keeping a column whenever it splits some block."""
    labels = np.zeros(sub.shape[0], dtype=np.int64)
    keep, parts = [], 1
    span = int(sub.max()) + 2 if sub.size else 1
    for j in range(sub.shape[1]):
        if parts == sub.shape[0]:
            break
        _, new = np.unique(labels * span + sub[:, j] + 1, return_inverse=True)
        if int(new.max()) + 1 > parts:
            labels, parts = new.reshape(-1).astype(np.int64), int(new.max()) + 1
            keep.append(j)
    return np.asarray(keep, dtype=np.int64)


def _separating_columns(sub: np.ndarray) -> np.ndarray:
    """A few columns such that every pair of rows of ``sub [k, C]`` (-1 = undefined) is defined and
    different in one of them: greedy set cover of the pairs (small partial cliques only)."""
    k = sub.shape[0]
    both = (sub[:, None, :] >= 0) & (sub[None, :, :] >= 0) & (sub[:, None, :] != sub[None, :, :])
    todo = np.triu(np.ones((k, k), dtype=bool), 1)
    keep = []
    while todo.any():
        gain = (both & todo[:, :, None]).sum(axis=(0, 1))
        j = int(np.argmax(gain))
        if gain[j] == 0:
            raise BoundError("witness rows that no column separates: not a clique")
        keep.append(j)
        todo &= ~both[:, :, j]
    return np.asarray(keep, dtype=np.int64)


def one_way_certificate(task: tasks.Task | str, split: SplitLike = "prefix") -> OneWayCertificate:
    """Certify the deterministic one-way communication of ``task`` (a Task or its name with
    defaults) under ``split`` by enumeration from the reference solver."""
    if isinstance(task, str):
        task = tasks.get(task)
    split = resolve_split(task, split)
    cm = matrix(task, split)
    values = cm.values
    defined = values >= 0
    if cm.total:  # messages = distinct rows, and the distinct rows themselves are the clique
        uniq, first, classes = np.unique(values, axis=0, return_index=True, return_inverse=True)
        classes = classes.reshape(-1).astype(np.int64)
        table, witnesses = uniq, np.sort(first).astype(np.int64)
        distinguishing = _refine(values[witnesses])
    else:
        classes, table, witnesses = _partial_protocol(values)
        distinguishing = _separating_columns(values[witnesses])
    return OneWayCertificate(
        task=task.name,
        params=task.params,
        alice=tuple(split.alice),
        bob=tuple(split.bob),
        alice_parts=cm.rows,
        bob_parts=cm.cols,
        valid=None if cm.total else defined,
        classes=classes,
        table=table,
        witnesses=witnesses,
        distinguishing=distinguishing,
        lower_bits=ceil_log2(witnesses.size),
        upper_bits=ceil_log2(int(np.unique(classes).size)),
    )


# --- Dyck fooling set (Lemma 1) ---------------------------------------------------------------


def _prime(k: int, code: np.ndarray) -> np.ndarray:
    """The depth-<=2 primes of length 2k, one per code ``code [M, k]`` of bracket types -> tokens ``[M, 2k]``.

    k = 1: a pair of type ``code[:, 0]``. k >= 2: an outer bracket of type ``code[:, 0]`` around the
    depth-1 string of pairs with types ``code[:, 1:]``. With K types each length has K^k primes.
    """
    M = code.shape[0]
    if k == 1:
        return np.stack([2 * code[:, 0], 2 * code[:, 0] + 1], axis=1)
    inner = np.empty((M, 2 * (k - 1)), dtype=np.int64)
    inner[:, 0::2] = 2 * code[:, 1:]
    inner[:, 1::2] = 2 * code[:, 1:] + 1
    return np.concatenate([2 * code[:, :1], inner, 2 * code[:, :1] + 1], axis=1)


def dyck_fooling_set(n: int, types: int = 2, depth: int = 2) -> FoolingSetCertificate:
    """Lemma 1's fooling set for Dyck-(types, depth) at even length n under the odd/even split.

    The set is every string of Dyck-(types, min(depth, 2)), by construction: a string is a
    sequence of primes (minimal balanced factors); the cut points between primes are any subset of
    the n/2 - 1 even positions (depth 1: every one is a cut), and a prime of length 2k is one of
    K^k strings (:func:`_prime`). So ``|S| = K^(n/2)·2^(n/2-1)`` (depth >= 2; ``2^(n-1)`` for
    Dyck-(2,2)) or ``K^(n/2)`` (depth 1). Alice holds the paper's odd positions (0-based even).
    Why it fools Dyck-(K, d) for every depth d >= 2 as well: docs/BOUNDS.md §2.
    """
    t = tasks.get("dyck", n=n, types=types, depth=depth)
    assert isinstance(t, tasks.Dyck)
    if n % 2:
        raise BoundError(f"Lemma 1 needs an even n (odd-length strings are never balanced), got n={n}")
    half = n // 2
    strings = []
    digits = np.arange(half - 1, -1, -1)[None, :]
    codes = ((np.arange(t.types**half)[:, None] // t.types**digits) % t.types).astype(np.int64)
    patterns = itertools.product((0, 1), repeat=half - 1) if t.depth >= 2 else [(1,) * (half - 1)]
    for cuts in patterns:
        sizes, k = [], 1
        for c in cuts:
            if c:
                sizes.append(k)
                k = 1
            else:
                k += 1
        sizes.append(k)
        pieces, offset = [], 0
        for k in sizes:
            pieces.append(_prime(k, codes[:, offset : offset + k]))
            offset += k
        strings.append(np.concatenate(pieces, axis=1))
    s = np.concatenate(strings, axis=0)
    split = t.split("odd_even")
    return FoolingSetCertificate(
        task="dyck",
        params=t.params,
        alice=tuple(split.alice),
        bob=tuple(split.bob),
        alice_parts=s[:, list(split.alice)],
        bob_parts=s[:, list(split.bob)],
        value=1,
        bits=ceil_log2(s.shape[0]),
    )
