"""Set disjointness (paper §4.2; docs/PAPER.md §3.5)."""

from __future__ import annotations

import numpy as np

from ._bits import BitStringTask, check_even_n


class Disjointness(BitStringTask):
    """Are the two halves of the bit string disjoint (as indicator vectors)?

    Parameters:
      n: even string length, >= 2.

    Inputs: int64 ``[B, n]`` bits.  Output: 1 iff there is NO ``i < n/2`` with
    ``x[i] == x[i + n/2] == 1``.  Note: the paper's DISJ (Fact 1) is the complement, 1 when the
    sets intersect.

    Enumeration: all ``2^n`` strings in lexicographic order.  ``num_inputs = 2^n``.

    Sampling (uniform strings are almost never disjoint): each example independently is, with
    probability
      1/2  disjoint: every pair ``(x[i], x[i+n/2])`` uniform over {(0,0), (0,1), (1,0)};
      1/4  a near miss: such a disjoint string with exactly one pair set to (1,1) (label 0);
      1/4  a uniform random string.

    Default prefix split: cut at n/2.
    """

    name = "disjointness"

    def __init__(self, *, n: int):
        self.n = check_even_n(self.name, n)
        self._params = {"n": self.n}

    def _solve(self, x):
        half = self.n // 2
        return ~np.any((x[:, :half] == 1) & (x[:, half:] == 1), axis=1)

    def _sample(self, rng, batch):
        half = self.n // 2
        kind = rng.random(batch)
        pattern = rng.integers(0, 3, size=(batch, half))  # 0 -> (0,0), 1 -> (1,0), 2 -> (0,1)
        out = np.concatenate([pattern == 1, pattern == 2], axis=1).astype(np.int64)
        near = np.flatnonzero((kind >= 0.5) & (kind < 0.75))
        pos = rng.integers(0, half, size=near.size)
        out[near, pos] = 1
        out[near, pos + half] = 1
        uniform = kind >= 0.75
        out[uniform] = rng.integers(0, 2, size=(int(uniform.sum()), self.n))
        return out
