"""String equality (paper §4.2, App. F; docs/PAPER.md §3.4)."""

from __future__ import annotations

import numpy as np

from ._bits import BitStringTask, check_even_n, flip_one_bit


class Equality(BitStringTask):
    """EQ: is the first half of the bit string equal to the second half?

    Parameters:
      n: even string length, >= 2.

    Inputs: int64 ``[B, n]`` bits.  Output: 1 iff ``x[:n/2] == x[n/2:]`` (the paper's EQ; INEQ is
    ``1 - EQ``).

    Enumeration: all ``2^n`` strings in lexicographic order.  ``num_inputs = 2^n``.

    Sampling (so that both labels are well represented; uniform strings are almost never equal):
    each example independently is, with probability
      1/2  a positive: a uniform half, copied;
      1/4  a near miss: a positive with one uniformly chosen bit flipped (label 0);
      1/4  a uniform random string (label 0 except with probability 2^(-n/2)).

    Default prefix split: cut at n/2 (Alice the first half, Bob the second).
    """

    name = "equality"

    def __init__(self, *, n: int):
        self.n = check_even_n(self.name, n)
        self._params = {"n": self.n}

    def _solve(self, x):
        half = self.n // 2
        return np.all(x[:, :half] == x[:, half:], axis=1)

    def _sample(self, rng, batch):
        half = self.n // 2
        kind = rng.random(batch)
        first = rng.integers(0, 2, size=(batch, half))
        out = np.concatenate([first, first], axis=1)
        near = (kind >= 0.5) & (kind < 0.75)
        out[near] = flip_one_bit(rng, out[near])
        uniform = kind >= 0.75
        out[uniform] = rng.integers(0, 2, size=(int(uniform.sum()), self.n))
        return out.astype(np.int64)
