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

Coherence
    The ±1 vector of address i has length ``r = q·m``; its inner product with itself is ``q·m``,
    and with address j ≠ i it is ``m·#{x : f_i(x) = f_j(x)} <= m(k − 1)``. So
    ``μ <= (k − 1)/q`` by the distance alone, with no randomness. The Gram matrix is still computed
    exactly (:func:`constructions._addresses.max_cross_products`) and the exact μ recorded; the
    bound is asserted against it.

Choice of (q, k): among primes q and k with ``q^k >= M`` and ``(k − 1)/q <= ε``, the smallest r.
For M = 65,536 and ε = 1/2 that is q = 11, k = 5: r = 176 and μ = 4/11 (the random code of
:mod:`constructions._addresses` needs r = 100 at μ = 1/2). Width is
``r = O((log M / log log M)²)``: polylogarithmic, not the O(log M) of Lemma 2, but explicit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ._addresses import AddressCode, max_cross_products
from ._registry import ConstructionError

__all__ = ["rs_addresses", "rs_parameters"]


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


def rs_addresses(num: int, coherence: float = 0.5) -> AddressCode:
    """``num`` explicit address vectors with certified coherence ``<= (k − 1)/q <= coherence``."""
    q, k = rs_parameters(num, coherence)
    digits = (np.arange(num)[:, None] // q ** np.arange(k)[None, :]) % q  # [M, k] coefficients
    x = np.arange(q)
    powers = (x[None, :] ** np.arange(k)[:, None]) % q  # [k, q]: x^j mod q
    values = (digits @ powers) % q  # [M, q]: f_i(x), exact in int64 (k·q² < 2^63)
    H = _hadamard(1 << math.ceil(math.log2(q)))
    signs = H[values].reshape(num, -1)  # [M, q·m]
    r = signs.shape[1]
    worst = int(max_cross_products(signs).max()) if num > 1 else 0
    mu = Fraction(worst, r)
    assert mu <= Fraction(k - 1, q), "Reed–Solomon distance bound violated"  # cannot happen: a theorem
    return AddressCode(signs.astype(np.int8), mu, f"rs(q={q},k={k})+hadamard", None, float(coherence), 0)
