"""Index lookup (paper §3, App. C; docs/PAPER.md §3.1)."""

from __future__ import annotations

import numpy as np

from ._base import TokenTask, check_int, fail_at


class IndexLookup(TokenTask):
    """Index lookup: read n symbols, then an index token; output the symbol at that index.

    Parameters:
      n:             number of symbols (>= 1).
      alphabet_size: s, number of symbols (>= 2; default 4).

    Inputs: int64 ``[B, n+1]``.  Positions ``0..n-1`` hold symbols in ``[0, s)``; position ``n``
    holds the index token ``s + t`` with ``t`` in ``[0, n)`` (0-based).  So ``vocab_size = s + n``:
    the index tokens are their own symbols, as in the paper.

    Output: ``x[t]``, in ``[0, s)``; ``num_classes = s``.

    Enumeration order: ``t`` outermost (``t = 0, ..., n-1``), then the ``s^n`` symbol strings in
    lexicographic order (first symbol most significant).  ``num_inputs = s^n * n``.

    Sampling: symbols i.i.d. uniform, ``t`` uniform (uniform over all inputs).

    Default prefix split: cut at n, so Alice holds the symbols and Bob the index token.
    """

    name = "index_lookup"

    def __init__(self, *, n: int, alphabet_size: int = 4):
        self.n = check_int("n", n, 1)
        self.alphabet_size = check_int("alphabet_size", alphabet_size, 2)
        self._params = {"n": self.n, "alphabet_size": self.alphabet_size}

    @property
    def seq_len(self) -> int:
        return self.n + 1

    @property
    def vocab_size(self) -> int:
        return self.alphabet_size + self.n

    @property
    def num_classes(self) -> int:
        return self.alphabet_size

    def _radices(self):
        return [self.n] + [self.alphabet_size] * self.n

    def _from_digits(self, digits):
        out = np.empty_like(digits)
        out[:, : self.n] = digits[:, 1:]
        out[:, self.n] = self.alphabet_size + digits[:, 0]
        return out

    def _check_constraints(self, x):
        s, n = self.alphabet_size, self.n
        fail_at(x[:, :n] >= s, x, f"index_lookup positions 0..{n - 1} must hold symbols in [0, {s})")
        bad = np.zeros(x.shape, dtype=bool)
        bad[:, n] = x[:, n] < s
        fail_at(bad, x, f"index_lookup position {n} must hold an index token in [{s}, {s + n})")

    def _solve(self, x):
        t = x[:, self.n] - self.alphabet_size
        return x[np.arange(x.shape[0]), t]

    def _sample(self, rng, batch):
        out = np.empty((batch, self.n + 1), dtype=np.int64)
        out[:, : self.n] = rng.integers(0, self.alphabet_size, size=(batch, self.n))
        out[:, self.n] = self.alphabet_size + rng.integers(0, self.n, size=batch)
        return out

    def _default_cut(self):
        return self.n
