"""Equality across an arbitrary balanced split (Lemma 5, App. F.4; docs/PAPER.md §9.2).

The paper's barrier for two-layer lower bounds: for *every* balanced split ``(S_A, S_B)`` of the n
positions, comparing the bits at ``S_A`` with the bits at ``S_B`` needs ``n/2`` bits of
communication across that split, and a two-layer Transformer of width O(log n) computes it.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._base import Split, TaskError
from ._bits import BitStringTask, check_even_n, flip_one_bit

# named layouts of Alice's positions, as functions of n (n even)
LAYOUTS = ("halves", "interleaved", "random:SEED")


def alice_positions(n: int, alice) -> tuple[int, ...]:
    """Alice's positions ``S_A`` (sorted) for ``n`` and the ``alice`` parameter.

    ``alice`` is ``"halves"`` (``0 … n/2 − 1``: the task is then ``equality``), ``"interleaved"``
    (the even positions ``0, 2, 4, …``), ``"random:SEED"`` (n/2 positions drawn without replacement
    by ``numpy.random.default_rng(SEED)``), or a sequence of n/2 distinct positions in ``[0, n)``.
    """
    half = n // 2
    if isinstance(alice, str):
        if alice == "halves":
            return tuple(range(half))
        if alice == "interleaved":
            return tuple(range(0, n, 2))
        if alice.startswith("random:") and alice[7:].isascii() and alice[7:].isdigit():
            if len(alice[7:]) > 15:  # seeds up to 10^15, as everywhere on the command line
                raise TaskError(f"alice random:SEED takes a seed of at most 15 digits, got {len(alice[7:])}")
            rng = np.random.default_rng(int(alice[7:]))
            return tuple(sorted(int(p) for p in rng.choice(n, size=half, replace=False)))
        raise TaskError(f"alice must be one of {', '.join(LAYOUTS)} or a list of n/2 positions, got {alice!r}")
    try:
        items = list(alice)
    except TypeError:
        raise TaskError(f"alice must be a layout name or a list of n/2 positions, got {alice!r}") from None
    for p in items:
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Integral):
            raise TaskError(f"alice must hold integer positions, got {p!r}")
    pos = sorted(int(p) for p in items)
    if len(pos) != half or len(set(pos)) != half or (pos and not (0 <= pos[0] and pos[-1] < n)):
        raise TaskError(f"alice must list n/2 = {half} distinct positions in [0, {n}), got {items!r}")
    return tuple(pos)


class SplitEquality(BitStringTask):
    """Do the bits at Alice's positions equal the bits at Bob's, each read in increasing order?

    Parameters:
      n: even string length, >= 2.
      alice: Alice's n/2 positions ``S_A`` (Bob's ``S_B`` are the rest): a layout name,
        ``"halves"`` (the default: the first half, so the task is ``equality``), ``"interleaved"``
        (the even positions) or ``"random:SEED"``, or an explicit sequence of positions
        (:func:`alice_positions`). ``params`` keep the name (it works at every n); an explicit
        sequence is kept as a sorted tuple.

    Inputs: int64 ``[B, n]`` bits. With ``S_A = (a_0 < … < a_{h−1})`` and ``S_B = (b_0 < … <
    b_{h−1})``, ``h = n/2``: output 1 iff ``x[a_i] == x[b_i]`` for every i (``task.pairs``).

    Enumeration: all ``2^n`` strings in lexicographic order.  ``num_inputs = 2^n``.

    Sampling, as ``equality``'s: with probability 1/2 a positive (uniform bits at ``S_A``, copied to
    ``S_B``), 1/4 a positive with one uniformly chosen bit flipped (label 0), 1/4 a uniform string.

    Splits: besides ``prefix`` (cut n/2), ``halves`` and ``odd_even``, the kind ``"alice"`` is the
    task's own split ``(S_A, S_B)``, the one its lower bound is about.
    """

    name = "split_equality"

    def __init__(self, *, n: int, alice="halves"):
        self.n = check_even_n(self.name, n)
        self.alice = alice_positions(self.n, alice)
        chosen = set(self.alice)
        self.bob = tuple(p for p in range(self.n) if p not in chosen)
        self._params = {"n": self.n, "alice": alice if isinstance(alice, str) else self.alice}
        self._a, self._b = np.array(self.alice, dtype=np.int64), np.array(self.bob, dtype=np.int64)

    @property
    def pairs(self) -> np.ndarray:
        """int64 ``[n/2, 2]``: row i is ``(a_i, b_i)``, the two positions compared."""
        return np.stack([self._a, self._b], axis=1)

    def split(self, kind: str = "prefix", cut: int | None = None) -> Split:
        if kind == "alice":
            if cut is not None:
                raise TaskError("cut is only accepted by the 'prefix' split")
            return Split(self.alice, self.bob, "alice")
        return super().split(kind, cut)

    def _key(self):  # the same positions are the same task, however they were named
        return (self.name, self.n, self.alice)

    def _solve(self, x):
        return np.all(x[:, self._a] == x[:, self._b], axis=1)

    def _sample(self, rng, batch):
        kind = rng.random(batch)
        out = np.empty((batch, self.n), dtype=np.int64)
        first = rng.integers(0, 2, size=(batch, self.n // 2))
        out[:, self._a], out[:, self._b] = first, first
        near = (kind >= 0.5) & (kind < 0.75)
        out[near] = flip_one_bit(rng, out[near])
        uniform = kind >= 0.75
        out[uniform] = rng.integers(0, 2, size=(int(uniform.sum()), self.n))
        return out
