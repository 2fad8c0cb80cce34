"""Exact rank of a communication matrix, with a certificate (log-rank bound: ``D(f) >= log2 rank``).

Arithmetic: the prime field GF(p), ``p = 2^31 - 1``, in int64 numpy (products stay below 2^62).
What that proves about the rank over the rationals, which is what the log-rank bound uses:

* lower bound: an r x r submatrix with an inverse mod p has a determinant that is nonzero mod p,
  hence a nonzero integer: ``rank_Q >= r``;
* upper bound: ``min(R, C)``, or integer vectors ``K`` with ``M K = 0`` exactly whose rows at the
  ``free`` indices form a nonsingular diagonal: ``rank_Q <= C - (C - r) = r``. They come from the
  kernel mod p lifted to the rationals by rational reconstruction, and are kept only if
  ``M K = 0`` holds over the integers.

Two producers: Gauss–Jordan elimination mod p (any matrix; used up to a few hundred rows), and,
for functions that are an AND over coordinate pairs (equality, disjointness under the halves
split; split_equality under its own split ``(S_A, S_B)``), the Kronecker route: the 2 x 2 matrix G of one coordinate pair is computed from the
reference solver at n = 2, and the candidate inverse is ``(G^-1 mod p)^{⊗ n/2}``. Nothing about the
big matrix is assumed: the checker multiplies it by the big matrix rebuilt from the solver.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

import tasks

from ._certificates import ceil_log2
from ._closed_forms import BoundError
from ._matrix import SplitLike, matrix, resolve_split

__all__ = ["RankCertificate", "rank_certificate", "rref_mod_p", "inverse_mod_p", "PRIME"]

PRIME = 2**31 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class RankCertificate:
    """``rank_Q(M) = rank`` for the 0/1 matrix of ``task`` under a split (``complement``: of 1 - f).

    Attributes:
        alice_parts, bob_parts: every row and column part (the matrix is total).
        prime: p; rows, cols: int64 ``[r]`` the nonsingular submatrix; inverse: int64 ``[r, r]`` its
            inverse mod p.
        kernel: int64/object ``[C, C - r]`` with ``M @ kernel == 0``, or None when ``r = min(R, C)``;
            free: int64 ``[C - r]``, rows of ``kernel`` that form a nonsingular diagonal.
        upper_certified: whether ``rank_Q <= rank`` is certified (always when r = min(R, C)).
        bits: ``⌈log2 rank⌉``, the log-rank lower bound on deterministic communication.
        method: ``"eliminate"`` or ``"kronecker"``.
    """

    task: str
    params: dict
    alice: tuple
    bob: tuple
    complement: bool
    alice_parts: np.ndarray
    bob_parts: np.ndarray
    prime: int
    rank: int
    rows: np.ndarray
    cols: np.ndarray
    inverse: np.ndarray
    kernel: np.ndarray | None
    free: np.ndarray | None
    upper_certified: bool
    bits: int
    method: str

    def summary(self) -> dict:
        return {
            "certificate": "rank",
            "task": self.task,
            "params": self.params,
            "complement": self.complement,
            "shape": [int(self.alice_parts.shape[0]), int(self.bob_parts.shape[0])],
            "rank": self.rank,
            "field": f"GF({self.prime}) lower bound; rank over Q "
            + ("certified equal" if self.upper_certified else "at least this"),
            "bits": self.bits,
            "method": self.method,
        }


def rref_mod_p(m: np.ndarray, p: int = PRIME):
    """Reduced row echelon form mod p. Returns ``(A, pivots, perm, rank)``: ``A`` the RREF of the
    row-permuted matrix, ``pivots`` the pivot columns, ``perm`` the original index of each row of A."""
    a = np.mod(np.asarray(m, dtype=np.int64), p)
    R, C = a.shape
    perm = np.arange(R)
    pivots = []
    row = 0
    for col in range(C):
        if row == R:
            break
        nz = np.flatnonzero(a[row:, col])
        if nz.size == 0:
            continue
        piv = row + int(nz[0])
        if piv != row:
            a[[row, piv]] = a[[piv, row]]
            perm[[row, piv]] = perm[[piv, row]]
        a[row] = a[row] * pow(int(a[row, col]), p - 2, p) % p
        factor = a[:, col].copy()
        factor[row] = 0
        hit = np.flatnonzero(factor)
        if hit.size:
            a[hit] = (a[hit] - factor[hit, None] * a[row][None, :] % p) % p
        pivots.append(col)
        row += 1
    return a, np.asarray(pivots, dtype=np.int64), perm, row


def inverse_mod_p(m: np.ndarray, p: int = PRIME) -> np.ndarray:
    """Inverse of a square matrix mod p by Gauss–Jordan on ``[m | I]``; BoundError if singular."""
    r = m.shape[0]
    a, pivots, _, rank = rref_mod_p(np.concatenate([np.mod(m, p), np.eye(r, dtype=np.int64)], axis=1), p)
    if rank < r or pivots[r - 1] >= r:
        raise BoundError("matrix is singular mod p")
    return a[:, r:]


def _rational(a: int, p: int):
    """Rational reconstruction: ``(num, den)`` with ``num/den ≡ a (mod p)``, both below sqrt(p/2), or None."""
    bound = math.isqrt(p // 2)
    r0, r1, s0, s1 = p, int(a) % p, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound:
        return None
    return (r1, s1) if s1 > 0 else (-r1, -s1)


def _integer_kernel(m: np.ndarray, a: np.ndarray, pivots: np.ndarray, rank: int, p: int):
    """Integer kernel vectors from the RREF mod p, or ``(None, None)`` if lifting fails."""
    C = m.shape[1]
    free = np.setdiff1d(np.arange(C), pivots)
    cols = []
    for j in free:
        fracs = {}
        for i, pc in enumerate(pivots[:rank]):
            fr = _rational(-int(a[i, j]) % p, p)
            if fr is None:
                return None, None
            fracs[int(pc)] = fr
        den = math.lcm(*[d for _, d in fracs.values()]) if fracs else 1
        vec = np.zeros(C, dtype=object)
        vec[j] = den
        for pc, (num, d) in fracs.items():
            vec[pc] = num * (den // d)
        cols.append(vec)
    k = np.stack(cols, axis=1) if cols else np.zeros((C, 0), dtype=object)
    if (np.asarray(m, dtype=object).dot(k) != 0).any():
        return None, None
    return k, free.astype(np.int64)


def _kronecker(task, split, complement: bool, p: int):
    """Candidate inverse ``(G^-1)^{⊗L} mod p`` for an AND over coordinate pairs (equality and
    disjointness under the halves split, split_equality under its own)."""
    L = task.n // 2
    pairs = (split.kind == "halves" and task.name in ("equality", "disjointness")) or (
        split.kind == "alice" and task.name == "split_equality"
    )
    if not pairs:  # the i-th bits of Alice's and Bob's parts (lexicographic) form the i-th pair
        return None
    small = tasks.get(task.name, n=2)
    g = small.solve(np.array([[0, 0], [0, 1], [1, 0], [1, 1]])).reshape(2, 2)
    g = 1 - g if complement else g
    det = int(g[0, 0] * g[1, 1] - g[0, 1] * g[1, 0]) % p
    if det == 0 or (complement and L > 1):  # 1 - AND is not a Kronecker power: eliminate instead
        return None
    inv_det = pow(det, p - 2, p)
    ginv = np.mod(np.array([[g[1, 1], -g[0, 1]], [-g[1, 0], g[0, 0]]], dtype=np.int64) * inv_det, p)
    x = np.ones((1, 1), dtype=np.int64)
    for _ in range(L):
        x = np.mod(np.kron(x, ginv), p)
    return x


def rank_certificate(
    task: tasks.Task | str,
    split: SplitLike = "halves",
    complement: bool = False,
    method: str = "auto",
    prime: int = PRIME,
) -> RankCertificate:
    """Certify the rank of the 0/1 communication matrix of ``task`` (of ``1 - f`` if ``complement``).

    ``method``: ``"eliminate"``, ``"kronecker"`` or ``"auto"`` (Kronecker where it applies and the
    matrix has more than 256 rows, elimination otherwise).
    """
    if isinstance(task, str):
        task = tasks.get(task)
    if task.num_classes != 2:
        raise BoundError(f"the log-rank bound is for Boolean functions; {task.name} has {task.num_classes} outputs")
    split = resolve_split(task, split)
    cm = matrix(task, split)
    if not cm.total:
        raise BoundError(f"{task.name}: the matrix is partial; rank is defined for total matrices")
    m = 1 - cm.values if complement else cm.values
    R, C = m.shape
    x = None
    if method in ("kronecker", "auto") and not (method == "auto" and R <= 256):
        x = _kronecker(task, split, complement, prime)
        if x is None and method == "kronecker":
            raise BoundError(f"no Kronecker structure for {task.name} under the {split.kind} split")
    if x is not None:
        r, rows, cols, kernel, free, used = R, np.arange(R), np.arange(C), None, None, "kronecker"
    else:
        a, pivots, perm, r = rref_mod_p(m, prime)
        rows, cols = np.sort(perm[:r]), pivots[:r]
        x = inverse_mod_p(m[np.ix_(rows, cols)], prime) if r else np.zeros((0, 0), dtype=np.int64)
        kernel, free = (None, None) if r == min(R, C) else _integer_kernel(m, a, pivots, r, prime)
        used = "eliminate"
    upper = r == min(R, C) or kernel is not None
    return RankCertificate(
        task=task.name,
        params=task.params,
        alice=tuple(split.alice),
        bob=tuple(split.bob),
        complement=complement,
        alice_parts=cm.rows,
        bob_parts=cm.cols,
        prime=prime,
        rank=int(r),
        rows=np.asarray(rows, dtype=np.int64),
        cols=np.asarray(cols, dtype=np.int64),
        inverse=x,
        kernel=kernel,
        free=free,
        upper_certified=upper,
        bits=ceil_log2(r) if r else 0,
        method=used,
    )
