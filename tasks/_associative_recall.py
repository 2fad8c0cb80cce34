"""Associative recall: one final query (paper App. C.1; docs/PAPER.md §3.2) or every query of
the multi-query form MQAR (paper §5.2, App. G; docs/PAPER.md §3.7, docs/MULTI_QUERY.md)."""

from __future__ import annotations

import math

import numpy as np

from ._base import TaskError, TokenTask, check_int, fail_at

QUERY_MODES = ("last", "all")


def check_queries(value) -> str:
    """``queries`` must be ``"last"`` (one final query) or ``"all"`` (every query of the second half)."""
    if value not in QUERY_MODES:
        raise TaskError(f"queries must be 'last' or 'all', got {value!r}")
    return str(value)


class AssociativeRecall(TokenTask):
    """Associative recall: n distinct keys with values, then a query key; output its value.

    Parameters:
      n:          number of key/value pairs, >= 1.
      num_keys:   K >= n (default n, so the keys are a permutation of ``[0, n)``).
      num_values: V >= 1 (default 2).

    Inputs: int64 ``[B, 2n+1]`` laid out ``key value key value ... key value query``: key ``i`` at
    position ``2i`` in ``[0, K)`` (all n keys distinct), value ``i`` at position ``2i+1`` encoded as
    ``K + v`` with ``v`` in ``[0, V)``, and the query at position ``2n``, equal to one of the keys.
    ``vocab_size = K + V``.

    Output: ``v`` (in ``[0, V)``) of the pair whose key equals the query; ``num_classes = V``.

    Enumeration order (a mixed-radix counter, most significant first):
      1. the key tuple ``(k_0, ..., k_{n-1})``, over all ordered choices of n distinct keys in
         lexicographic order;
      2. the value tuple ``(v_0, ..., v_{n-1})`` in lexicographic order;
      3. the index ``q`` in ``[0, n)`` of the queried pair (query token ``k_q``), innermost.
    ``num_inputs = K!/(K-n)! * V^n * n``.

    Sampling: uniform over all inputs (keys a uniform ordered choice without replacement, values
    i.i.d. uniform, queried pair uniform).

    Default prefix split: cut at 2n, so Bob holds only the query.

    Multi-query form (``queries="all"``, MQAR; the paper's Theorem 7/8 setting). Inputs: int64
    ``[B, 4n-1]``, ``k_0 v_0 … k_{n-1} v_{n-1}`` as above, then the same n pairs again in the order
    of a permutation π, the last value left out: position ``2n + 2j`` holds ``k_{π(j)}`` (query j)
    and position ``2n + 2j + 1`` (``j < n − 1``) its value token ``K + v_{π(j)}``. So the second
    half is a permutation of the first, as in the paper's MQAR. Output: ``[B, n]``, entry j the
    value ``v_{π(j)}`` asked at position ``2n + 2j`` (a causal model reads it there, having seen
    only the prefix). Enumeration: keys, values, then π (Lehmer digits, innermost);
    ``num_inputs = K!/(K-n)! * V^n * n!``. Sampling: uniform. Default prefix split: cut at 2n
    (Alice the stored pairs, Bob the queries).
    """

    name = "associative_recall"

    def __init__(self, *, n: int, num_keys: int | None = None, num_values: int = 2, queries: str = "last"):
        self.n = check_int("n", n, 1)
        if num_keys is None:
            num_keys = self.n
        self.num_keys = check_int("num_keys", num_keys, 1)
        if self.num_keys < self.n:
            raise TaskError(f"num_keys must be >= n={self.n} (the n keys are distinct), got {self.num_keys}")
        self.num_values = check_int("num_values", num_values, 1)
        self.queries: str = check_queries(queries)
        self._params = {"n": self.n, "num_keys": self.num_keys, "num_values": self.num_values}
        if self.queries != "last":
            self._params["queries"] = self.queries

    @property
    def seq_len(self) -> int:
        return 4 * self.n - 1 if self.queries == "all" else 2 * self.n + 1

    @property
    def query_positions(self) -> tuple[int, ...]:
        """The positions at which an output is required (0-based, increasing)."""
        if self.queries == "all":
            return tuple(range(2 * self.n, 4 * self.n - 1, 2))
        return (2 * self.n,)

    @property
    def vocab_size(self) -> int:
        return self.num_keys + self.num_values

    @property
    def num_classes(self) -> int:
        return self.num_values

    @property
    def num_inputs(self) -> int:
        last = math.factorial(self.n) if self.queries == "all" else self.n
        return math.perm(self.num_keys, self.n) * self.num_values**self.n * last

    def _radices(self):
        keys = [self.num_keys - i for i in range(self.n)]
        if self.queries == "all":
            return keys + [self.num_values] * self.n + [self.n - i for i in range(self.n)]
        return keys + [self.num_values] * self.n + [self.n]

    def _from_digits(self, digits):
        n, K = self.n, self.num_keys
        b = digits.shape[0]
        keys = np.empty((b, n), dtype=np.int64)
        for i in range(n):
            # key i is the digits[:, i]-th smallest key not used yet (Lehmer decoding): start
            # from the rank and step over every used key that is <= the running candidate,
            # visiting the used keys in increasing order.
            key = digits[:, i].copy()
            used = np.sort(keys[:, :i], axis=1)
            for j in range(i):
                key += key >= used[:, j]
            keys[:, i] = key
        out = np.empty((b, 2 * n + 1), dtype=np.int64)
        out[:, 0 : 2 * n : 2] = keys
        out[:, 1 : 2 * n : 2] = K + digits[:, n : 2 * n]
        if self.queries == "all":
            return self._with_queries(out, _lehmer(digits[:, 2 * n :]))
        out[:, 2 * n] = keys[np.arange(b), digits[:, 2 * n]]
        return out

    def _with_queries(self, stored: np.ndarray, order: np.ndarray) -> np.ndarray:
        """``[b, 4n-1]``: the stored pairs ``stored[:, :2n]``, then pair ``order[:, j]`` again at
        ``2n + 2j`` (its value too, except after the last query)."""
        n = self.n
        rows = np.arange(stored.shape[0])[:, None]
        out = np.empty((stored.shape[0], 4 * n - 1), dtype=np.int64)
        out[:, : 2 * n] = stored[:, : 2 * n]
        out[:, 2 * n :: 2] = stored[rows, 2 * order]
        out[:, 2 * n + 1 :: 2] = stored[rows, 2 * order[:, :-1] + 1]
        return out

    def _check_constraints(self, x):
        if self.queries == "all":
            self._check_all(x)
            return
        n, K = self.n, self.num_keys
        bad = np.zeros(x.shape, dtype=bool)
        bad[:, 0 : 2 * n : 2] = x[:, 0 : 2 * n : 2] >= K
        bad[:, 2 * n] = x[:, 2 * n] >= K
        fail_at(bad, x, f"associative_recall keys and the query (even positions) must lie in [0, {K})")
        bad[:] = False
        bad[:, 1 : 2 * n : 2] = x[:, 1 : 2 * n : 2] < K
        fail_at(bad, x, f"associative_recall values (odd positions) must be tokens in [{K}, {K + self.num_values})")
        keys = np.sort(x[:, 0 : 2 * n : 2], axis=1)
        fail_at(np.any(keys[:, 1:] == keys[:, :-1], axis=1), x, "associative_recall inputs have repeated keys")
        found = np.any(x[:, 0 : 2 * n : 2] == x[:, 2 * n, None], axis=1)
        fail_at(~found, x, "associative_recall query is not one of the keys")

    def _check_all(self, x):
        n, K = self.n, self.num_keys
        is_key = np.zeros(x.shape[1], dtype=bool)
        is_key[0 : 2 * n : 2] = True
        is_key[2 * n :: 2] = True
        bad = np.zeros(x.shape, dtype=bool)
        bad[:, is_key] = x[:, is_key] >= K
        fail_at(bad, x, f"associative_recall keys and queries (even positions) must lie in [0, {K})")
        bad[:] = False
        bad[:, ~is_key] = x[:, ~is_key] < K
        fail_at(bad, x, f"associative_recall values (odd positions) must be tokens in [{K}, {K + self.num_values})")
        keys = np.sort(x[:, 0 : 2 * n : 2], axis=1)
        fail_at(np.any(keys[:, 1:] == keys[:, :-1], axis=1), x, "associative_recall inputs have repeated keys")
        asked = np.sort(x[:, 2 * n :: 2], axis=1)
        fail_at(
            np.any(asked != keys, axis=1),
            x,
            "associative_recall queries='all': the queries must be a permutation of the keys",
        )
        pair = self._pair_of_queries(x)
        stored = x[np.arange(x.shape[0])[:, None], 2 * pair[:, :-1] + 1]
        fail_at(
            np.any(x[:, 2 * n + 1 :: 2] != stored, axis=1),
            x,
            "associative_recall queries='all': a repeated pair's value differs from the stored one",
        )

    def _pair_of_queries(self, x):
        """``[B, n]``: the stored pair each query asks for."""
        n = self.n
        return np.argmax(x[:, 2 * n :: 2, None] == x[:, None, 0 : 2 * n : 2], axis=2)

    def _solve(self, x):
        n = self.n
        if self.queries == "all":
            return x[np.arange(x.shape[0])[:, None], 2 * self._pair_of_queries(x) + 1] - self.num_keys
        pair = np.argmax(x[:, 0 : 2 * n : 2] == x[:, 2 * n, None], axis=1)
        return x[np.arange(x.shape[0]), 2 * pair + 1] - self.num_keys

    def _sample(self, rng, batch):
        n, K, V = self.n, self.num_keys, self.num_values
        if batch * K <= 2**24:
            keys = np.argsort(rng.random((batch, K)), axis=1)[:, :n]
        else:
            keys = np.empty((batch, n), dtype=np.int64)
            for row in range(batch):
                keys[row] = rng.choice(K, size=n, replace=False)
        out = np.empty((batch, 2 * n + 1), dtype=np.int64)
        out[:, 0 : 2 * n : 2] = keys
        out[:, 1 : 2 * n : 2] = K + rng.integers(0, V, size=(batch, n))
        if self.queries == "all":
            return self._with_queries(out, np.argsort(rng.random((batch, n)), axis=1))
        out[:, 2 * n] = keys[np.arange(batch), rng.integers(0, n, size=batch)]
        return out

    def _default_cut(self):
        return 2 * self.n


def _lehmer(digits: np.ndarray) -> np.ndarray:
    """Permutations from Lehmer digits ``[b, n]`` (digit i in ``[0, n-i)``): entry i is the
    digit-th smallest index not used yet; lexicographic order of digits = of permutations."""
    b, n = digits.shape
    out = np.empty((b, n), dtype=np.int64)
    for i in range(n):
        value = digits[:, i].copy()
        used = np.sort(out[:, :i], axis=1)
        for j in range(i):
            value += value >= used[:, j]
        out[:, i] = value
    return out
