"""Explicit, seed-free address vectors: Reed–Solomon codewords concatenated with Hadamard rows.

Outer code
    For a prime q and k >= 1, the Reed–Solomon code RS[q, k] holds one codeword per polynomial
    f of degree < k over GF(q) = Z/q: ``(f(0), f(1), …, f(q−1))``. Two distinct polynomials of
    degree < k agree on at most k − 1 points, so distinct codewords differ in at least
    ``q − k + 1`` of their q symbols. Address i is the polynomial whose coefficients are the
    base-q digits of i (``i < q^k``).

Inner code
    Symbol ``a ∈ GF(q)`` becomes row a of the Sylvester–Hadamard matrix of order
    ``m = 2^⌈log2 q⌉`` (±1 entries, rows pairwise orthogonal).

Coherence, exactly, without the Gram matrix
    The ±1 vector of address i has length ``r = q·m``; its inner product with itself is ``q·m``,
    and with address j ≠ i it is ``m·#{x : f_i(x) = f_j(x)}`` (distinct Hadamard rows are
    orthogonal), never negative. So ``μ = max_{i≠j<M} #agreements / q``, and the agreements of
    f_i and f_j are the roots in GF(q) of ``f_i − f_j ≠ 0``, of degree < k: at most k − 1. The
    bound is attained: k is the least with ``q^k >= M``, so ``M > q^(k−1)`` and both
    ``i = q^(k−1)`` (the polynomial ``x^(k−1)``) and ``j < q^(k−1)`` whose digits are the negated
    lower coefficients of ``P(x) = ∏_{t=1}^{k−1} (x − t)`` are addresses; ``f_i − f_j = P`` has
    the k − 1 distinct roots ``1 … k−1`` (``k − 1 < q``). Hence ``μ = (k − 1)/q`` exactly (0 for
    k = 1, where distinct constants never agree). The witness pair's agreements are counted from
    its codewords (:func:`witness_pair`), so the claim is checked at every build; the n² Gram
    matrix is never formed (tests/constructions/test_precision_addresses.py compares with it at
    small M).

Choice of (q, k): among primes q and k with ``q^k >= M`` and ``(k − 1)/q <= ε``, the smallest r.
For M = 65,536 and ε = 1/2 that is q = 11, k = 5: r = 176 and μ = 4/11 (the random code of
:mod:`constructions._addresses` needs r = 100 at μ = 1/2). Width is
``r = O((log M / log log M)²)``: polylogarithmic, not the O(log M) of Lemma 2, but explicit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ._addresses import AddressCode
from ._errors import ConstructionError

__all__ = ["rs_addresses", "rs_parameters", "witness_pair"]


def _primes(limit: int) -> list[int]:
    sieve = np.ones(limit + 1, dtype=bool)
    sieve[:2] = False
    for p in range(2, int(limit**0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = False
    return np.flatnonzero(sieve).tolist()


def _hadamard(m: int) -> np.ndarray:
    h = np.ones((1, 1), dtype=np.int8)
    while h.shape[0] < m:
        h = np.block([[h, h], [h, -h]]).astype(np.int8)
    return h


def rs_parameters(num: int, coherence: float = 0.5) -> tuple[int, int]:
    """``(q, k)``: prime q, ``q^k >= num``, ``(k − 1)/q <= coherence``, smallest ``q·2^⌈log2 q⌉``."""
    if num < 1:
        raise ConstructionError(f"need at least one address vector, got {num}")
    if not 0 < coherence < 1:
        raise ConstructionError(f"coherence target must lie in (0, 1), got {coherence}")
    best: tuple[int, int, int] | None = None
    for q in _primes(max(3, num) + 1):
        k = 1
        while q**k < num:
            k += 1
        if (k - 1) / q > coherence:
            continue
        r = q * (1 << math.ceil(math.log2(q)))
        if best is None or r < best[0]:
            best = (r, q, k)
        if q * q > 4 * best[0]:  # r grows at least like q²: nothing larger can win
            break
    if best is None:  # every prime up to max(3, num) + 1 is too coherent: the next prime, k = 1 (coherence 0)
        m = max(3, num) + 1
        return next(p for p in _primes(2 * m) if p > m), 1  # a prime in (m, 2m) (Bertrand)
    return best[1], best[2]


def _codewords(idx: np.ndarray, q: int, k: int) -> np.ndarray:
    """``[len(idx), q]``: ``f_i(x)`` for ``x = 0 … q−1``, f_i's coefficients the base-q digits of i."""
    digits = (idx[:, None] // q ** np.arange(k)[None, :]) % q  # [M, k] coefficients
    powers = (np.arange(q)[None, :] ** np.arange(k)[:, None]) % q  # [k, q]: x^j mod q
    return (digits @ powers) % q  # exact in int64 (k·q² < 2^63)


def witness_pair(q: int, k: int) -> tuple[int, int]:
    """Addresses ``(i, j)``, both ``< q^(k−1) + 1``, whose polynomials differ by ``∏_{t=1}^{k−1}(x − t)``
    (module docstring): they agree at exactly k − 1 points. Needs ``k >= 2``."""
    P = np.array([1], dtype=np.int64)  # coefficients, lowest first
    for t in range(1, k):
        P = (np.concatenate([[0], P]) - t * np.concatenate([P, [0]])) % q  # P·(x − t)
    lower = (-P[: k - 1]) % q  # f_j's coefficients: f_i − f_j = x^(k−1) + P's lower part = P
    return q ** (k - 1), int(sum(int(c) * q**e for e, c in enumerate(lower)))


def rs_addresses(num: int, coherence: float = 0.5) -> AddressCode:
    """``num`` explicit address vectors with exact coherence ``(k − 1)/q <= coherence`` (module
    docstring: the bound of the code's distance, attained by :func:`witness_pair`)."""
    q, k = rs_parameters(num, coherence)
    values = _codewords(np.arange(num), q, k)  # [M, q]
    H = _hadamard(1 << math.ceil(math.log2(q)))
    signs = H[values].reshape(num, -1)  # [M, q·m]
    r = signs.shape[1]
    worst = 0
    if num > 1 and k > 1:
        i, j = witness_pair(q, k)
        assert max(i, j) < num and i != j  # q^(k−1) < num: k is the least with q^k >= num
        worst = int(signs[i].astype(np.int64) @ signs[j].astype(np.int64))
        agree = int((values[i] == values[j]).sum())
        assert worst == agree * (r // q) and agree == k - 1, "Reed–Solomon witness pair"  # a theorem
    return AddressCode(
        signs.astype(np.int8), Fraction(worst, r), f"rs(q={q},k={k})+hadamard", None, float(coherence), 0
    )
