"""Nearly orthogonal address vectors (paper App. B.3: Lemma 2, Corollary 8.1).

An address code is M vectors ``a_1..a_M`` in ``{±1/√r}^r``. Each has ``<a_i, a_i> = 1`` exactly;
the *coherence* ``μ = max_{i≠j} |<a_i, a_j>|`` is what a construction's scale factor is derived
from. Two schemes:

``random`` (Lemma 2)
    Entries are i.i.d. uniform signs drawn from ``numpy.random.default_rng(seed)``. The Gram
    matrix of the sign vectors is computed **exactly** (integer dot products, evaluated in blocks
    with float32 BLAS, exact below 2^24), and every vector that violates the target coherence
    against an earlier one is redrawn, until none does (after the first full pass, a round forms
    only the products of the rows it redrew: the other pairs did not change). Lemma 2 needs
    ``r = (8/ε²) ln(2M)`` for a single draw to succeed with probability 1/2; redrawing only the
    offending vectors succeeds with far smaller r. We start from ``r = ⌈2 ln(4M)/ε²⌉`` (where the expected number of
    violations per vector is about 1/2) and grow r by 1/8 if 64 redraw rounds do not converge.
    r stays O(log M / ε²), as the lemma says.

``hadamard``
    Rows of the Sylvester–Hadamard matrix of order r = 2^⌈log2 M⌉, scaled by 1/√r: exactly
    orthogonal (μ = 0) but r ≥ M, so width is linear. For tests of everything else.

The coherence is reported as an exact fraction ``max |ā_i·ā_j| / r`` of the sign vectors ``ā``.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from ._registry import ConstructionError

__all__ = ["AddressCode", "random_addresses", "hadamard_addresses", "max_cross_products", "start_dim"]

_BLOCK = 2048
_COLS = 8192
_REDRAWN = 256  # redrawn rows per product with all M rows (float32 [256, M])


@dataclasses.dataclass(frozen=True)
class AddressCode:
    """M address vectors with their certified coherence.

    Attributes:
        signs: int8 ``[M, r]`` in {-1, +1}; the vectors are ``signs / sqrt(r)``.
        coherence: exact ``max_{i≠j} |<a_i, a_j>|`` (a Fraction; 0 for M = 1).
        scheme: ``"random"``, ``"hadamard"`` or ``"rs(q=…,k=…)+hadamard"``
            (:mod:`constructions.explicit_addresses`).
        seed: the seed of a random code (None for hadamard).
        target: the coherence the code was drawn to meet (None for hadamard).
        redraws: how many vectors were redrawn before the certificate held.
    """

    signs: np.ndarray
    coherence: Fraction
    scheme: str
    seed: int | None = None
    target: float | None = None
    redraws: int = 0

    @property
    def num(self) -> int:
        return int(self.signs.shape[0])

    @property
    def dim(self) -> int:
        return int(self.signs.shape[1])

    @property
    def vectors(self) -> np.ndarray:
        """float64 ``[M, r]``, entries ±1/√r."""
        return self.signs.astype(np.float64) / math.sqrt(self.dim)

    def describe(self) -> dict:
        return {
            "scheme": self.scheme,
            "num": self.num,
            "dim": self.dim,
            "coherence": str(self.coherence),
            "coherence_float": float(self.coherence),
            "target": self.target,
            "seed": self.seed,
            "redraws": self.redraws,
        }


def max_cross_products(signs: np.ndarray) -> np.ndarray:
    """For each row i, ``max_{j≠i} |ā_i · ā_j|`` as exact integers ``[M]`` (0 when M = 1).

    Dot products of ±1 vectors are integers of size at most r, and so is every partial sum, so
    float32 BLAS computes them exactly, in any summation order, while r < 2^24 (checked). The
    Gram matrix is symmetric: each block of rows is multiplied by the rows up to its own end
    (the lower triangle, and the block's own square), and its largest |entries| update the maxima
    of both its rows and its columns.
    """
    m, r = signs.shape
    if r >= 1 << 24:
        raise ConstructionError("address dimension too large for exact float32 Gram blocks")
    f = signs.astype(np.float32)
    out = np.zeros(m, dtype=np.float32)
    for start, stop, c0, c1 in _tiles(m):
        g = f[start:stop] @ f[c0:c1].T  # [b, c1 - c0], exact integers
        np.abs(g, out=g)
        if c1 > start:  # the tile holds part of the diagonal r
            d = np.arange(max(start, c0), min(stop, c1))
            g[d - start, d - c0] = 0
        np.maximum(out[start:stop], g.max(axis=1), out=out[start:stop])
        np.maximum(out[c0:c1], g.max(axis=0), out=out[c0:c1])
    return out.astype(np.int64)


def _tiles(m: int):
    """Tiles ``(start, stop, c0, c1)`` of the lower triangle with its diagonal blocks: rows
    ``start:stop`` (:data:`_BLOCK` of them) against columns ``c0:c1`` up to ``stop``, at most
    :data:`_COLS` columns each, so a tile of float32 products is at most _BLOCK·_COLS·4 bytes (64 MiB)
    whatever M is."""
    for start in range(0, m, _BLOCK):
        stop = min(start + _BLOCK, m)
        for c0 in range(0, stop, _COLS):
            yield start, stop, c0, min(c0 + _COLS, stop)


def _violators(signs: np.ndarray, limit: int, redrawn: np.ndarray | None = None) -> np.ndarray:
    """Rows i (ascending) with ``|ā_i · ā_j| > limit`` for some earlier row j < i (exact).

    With ``redrawn``: the rows (ascending) that the last call returned and that were redrawn since,
    the signs being otherwise unchanged. A pair changed only if one of its rows was redrawn, and
    every other pair was clean, so only the products of the redrawn rows with all rows are formed:
    a redrawn row i violates against some j < i, or a kept row i against some redrawn j < i. Same
    answer as the full check, in |redrawn|·M products instead of M²/2.
    """
    m = signs.shape[0]
    f = signs.astype(np.float32)
    if redrawn is None:
        flagged = np.zeros(m, dtype=bool)
        for start, stop, c0, c1 in _tiles(m):
            g = np.abs(f[start:stop] @ f[c0:c1].T)
            if c1 > start:  # keep j < i only
                g[np.arange(start, stop)[:, None] <= np.arange(c0, c1)[None, :]] = 0
            flagged[start:stop] |= (g > limit).any(axis=1)
        return np.flatnonzero(flagged)
    if redrawn.size > _REDRAWN:  # in blocks of rows, so the products stay bounded
        parts = [_violators(signs, limit, redrawn[i : i + _REDRAWN]) for i in range(0, redrawn.size, _REDRAWN)]
        return np.unique(np.concatenate(parts))
    hits = np.abs(f[redrawn] @ f.T) > limit  # [|R|, M]: pairs (R_k, j)
    cols = np.arange(m)
    as_later = (hits & (cols[None, :] < redrawn[:, None])).any(axis=1)  # R_k violates vs j < R_k
    as_earlier = (hits & (cols[None, :] > redrawn[:, None])).any(axis=0)  # row j vs some R_k < j
    flagged = np.zeros(m, dtype=bool)
    flagged[redrawn[as_later]] = True
    flagged |= as_earlier
    return np.flatnonzero(flagged)


def start_dim(num: int, coherence: float) -> int:
    """The first r the schedule of :func:`random_addresses` tries: ``max(4, ⌈2 ln(4M)/ε²⌉)``."""
    return max(4, math.ceil(2 * math.log(4 * num) / coherence**2))


def random_addresses(num: int, coherence: float = 0.5, seed: int = 0, dim: int | None = None) -> AddressCode:
    """Draw ``num`` sign vectors whose certified coherence is at most ``coherence`` (Lemma 2).

    Args:
        num: M, the number of vectors (>= 1).
        coherence: target ε in (0, 1).
        seed: seed of ``numpy.random.default_rng``; same seed, same code, bit for bit.
        dim: r; if None, the smallest r of the schedule described in the module docstring.
    """
    if num < 1:
        raise ConstructionError(f"need at least one address vector, got {num}")
    if not 0 < coherence < 1:
        raise ConstructionError(f"coherence target must lie in (0, 1), got {coherence}")
    r = dim if dim is not None else start_dim(num, coherence)
    rng = np.random.default_rng(seed)
    while True:
        limit = math.floor(coherence * r)
        signs = rng.integers(0, 2, size=(num, r), dtype=np.int8) * 2 - 1
        redraws = 0
        bad = _violators(signs, limit)
        for round_ in range(64):
            if bad.size == 0:
                break
            # Row 0 is never redrawn, so the rounds make progress; each round re-checks every pair
            # that the redraw changed (the others were clean and stay so).
            signs[bad] = rng.integers(0, 2, size=(bad.size, r), dtype=np.int8) * 2 - 1
            redraws += int(bad.size)
            if round_ < 63:  # 64 checks and at most 64 redraws, then a larger r
                bad = _violators(signs, limit, redrawn=bad)
        if bad.size == 0:
            worst = int(max_cross_products(signs).max()) if num > 1 else 0
            assert worst <= limit  # the certificate, recomputed independently of the loop
            return AddressCode(signs.astype(np.int8), Fraction(worst, r), "random", seed, float(coherence), redraws)
        if dim is not None:
            raise ConstructionError(f"could not meet coherence {coherence} with dim {dim} for {num} vectors")
        r += max(1, r // 8)


def hadamard_addresses(num: int) -> AddressCode:
    """The first ``num`` rows of the Sylvester–Hadamard matrix of order 2^⌈log2 num⌉ (μ = 0)."""
    if num < 1:
        raise ConstructionError(f"need at least one address vector, got {num}")
    h = np.ones((1, 1), dtype=np.int8)
    while h.shape[0] < num:
        h = np.block([[h, h], [h, -h]]).astype(np.int8)
    return AddressCode(h[:num].copy(), Fraction(0), "hadamard")
