"""Common base of the tasks whose input is a plain bit string of length n."""

from __future__ import annotations

import numpy as np

from ._base import TaskError, TokenTask, check_int


class BitStringTask(TokenTask):
    """Inputs: int64 ``[B, n]`` bits; ``vocab_size = 2``; binary output.

    Enumeration: all ``2^n`` strings in lexicographic order (position 0 most significant), i.e.
    the i-th string is the n-bit big-endian binary expansion of i.

    Default prefix split: cut at ``n // 2``; the ``halves`` split exists when n is even.
    """

    n: int

    @property
    def seq_len(self) -> int:
        return self.n

    @property
    def vocab_size(self) -> int:
        return 2

    @property
    def num_classes(self) -> int:
        return 2

    def _radices(self):
        return [2] * self.n

    def _default_cut(self):
        return self.n // 2

    def _has_halves(self):
        return True


def check_even_n(task_name: str, n) -> int:
    n = check_int("n", n, 2)
    if n % 2:
        raise TaskError(f"{task_name} needs an even n (the input is two halves of n/2 bits), got n={n}")
    return n


def flip_one_bit(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Flip one uniformly chosen bit in every row of ``x`` (in place); returns ``x``."""
    if x.shape[0]:
        pos = rng.integers(0, x.shape[1], size=x.shape[0])
        x[np.arange(x.shape[0]), pos] ^= 1
    return x
