"""Interval arithmetic for certified mode: boxes, and enclosures of each format's operations.

A :class:`Box` holds an interval per entry. An *arithmetic* (``_Float64`` or ``_Fixed``, chosen by
:func:`_arith` from the precision string) maps boxes to boxes so that the output box contains every
value the model's forward pass (docs/MODEL.md) can compute in that format from any inputs in the
input boxes. The network bounds (verify/certify/_affine.py, verify/certify/_attention.py) and the
plans are built from these operations.

Soundness of each format
    ``fixed:I.F``: exact. Every value is an int64 count of ``2^-F``; sums of products are exact
    integers (float64 BLAS only where every partial sum is an integer below 2^53, int64 otherwise),
    and rounding down (floor) and clipping are monotone, so interval ends map to interval ends.
    The one non-integer step is softmax's ``exp``, which docs/MODEL.md evaluates in float64; we
    enclose the model's value assuming its ``exp`` is within 16 ulp of ours and exact at 0.

    ``float64``: each box contains both the exact real value of the forward pass and the value any
    IEEE round-to-nearest evaluation gives, under these assumptions: a K-term dot product, summed
    in any order, is within ``γ_K = K·u/(1−K·u)`` of the exact one (u = 2^-53; the standard bound,
    FMA and wider accumulators only help); ``exp`` and a division are within 8 ulp; values do not
    underflow by more than ``2^-1000`` in total. Our own bound computations are padded outwards:
    each result by a relative ``2^-50`` plus ``2^-1000`` (:func:`_dn`, :func:`_up`), each
    dot-product radius by a relative ``2^-40`` (``PAD``). The n² Gram matrix is computed in float32 with
    the bound ``|ĝ − g| ≤ (γ32_{w+2}(1+u32)² + 3u32)·‖q‖₂‖p‖₂`` (conversion + summation).

Other floating formats are refused (:func:`_arith`): their attention sums are left to the sampled
and exhaustive modes.
"""

from __future__ import annotations

import numpy as np

from constructions import FixedArithmetic, FloatArithmetic, parse_precision

from .._engine import VerifyError

U = 2.0**-53
U32 = 2.0**-24
TINY = 2.0**-1000
PAD = 1.0 + 2.0**-40


def _gamma(k: int, u: float = U) -> float:
    return k * u / (1.0 - k * u)


def _dn(x):
    """A float <= the exact value of a result ``x`` rounded to nearest (a few ulp below x)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or x.ndim == 0:
        return x - (np.minimum(np.abs(x), 2.0**1000) * 2.0**-50 + TINY)  # ±inf stay as they are
    r = _slack(x)
    np.subtract(x, r, out=r)
    return r


def _up(x):
    """A float >= the exact value of a result ``x`` rounded to nearest."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or x.ndim == 0:
        return x + (np.minimum(np.abs(x), 2.0**1000) * 2.0**-50 + TINY)
    r = _slack(x)
    r += x
    return r


def _slack(x: np.ndarray) -> np.ndarray:
    """``min(|x|, 2^1000)·2^-50 + 2^-1000``, the same operations as the scalar form above in one
    buffer (the results are identical, bit for bit)."""
    r = np.abs(x)
    np.minimum(r, 2.0**1000, out=r)
    r *= 2.0**-50
    r += TINY
    return r


class Box:
    """An interval per entry: ``lo <= value <= hi`` (numpy arrays of one shape)."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def __getitem__(self, idx):
        return Box(self.lo[idx], self.hi[idx])

    @property
    def shape(self):
        return self.lo.shape

    def contains(self, x) -> bool:
        return bool(np.all(self.lo <= x) and np.all(x <= self.hi))

    def reshape_to(self, shape) -> Box:
        return Box(self.lo.reshape(shape), self.hi.reshape(shape))


# ---------------------------------------------------------------------------------------------
# float64 enclosures


def _midrad(b: Box):
    """``(m, r)`` with ``[m − r, m + r] ⊇ [lo, hi]``."""
    m = 0.5 * b.lo + 0.5 * b.hi
    r = _up(np.maximum(b.hi - m, m - b.lo))
    return m, r


class _Float64:
    """Boxes holding the exact value and every float64 evaluation of each operation."""

    name = "float64"
    scale = 1.0

    def encode(self, x):
        return np.asarray(x, dtype=np.float64)

    def point(self, x):
        x = np.asarray(x, dtype=np.float64)
        return Box(x, x)

    def add(self, a: Box, b: Box) -> Box:
        # fl is monotone, so fl(x + y) lies between fl(lo + lo) and fl(hi + hi)
        return Box(_dn(a.lo + b.lo), _up(a.hi + b.hi))

    def relu(self, a: Box) -> Box:
        return Box(np.maximum(a.lo, 0.0), np.maximum(a.hi, 0.0))

    def _close(self, mid, A, R, terms):
        """Box around ``mid`` for a ``terms``-term dot product: exact radius R, magnitudes A."""
        g = _gamma(terms + 4)
        rad = (R * (1 + g) + 2 * g * A) / (1 - g) * PAD + (terms + 4) * TINY
        return Box(_dn(mid - rad), _up(mid + rad))

    def matmul(self, a: Box, w) -> Box:
        """``a [..., K] @ w [K, M]`` (``w`` a point), one rounding per output entry."""
        m, r = _midrad(a)
        aw = np.abs(w)
        lead = m.shape[:-1]
        m2, r2 = m.reshape(-1, m.shape[-1]), r.reshape(-1, r.shape[-1])
        mid, A, R = m2 @ w, np.abs(m2) @ aw, r2 @ aw
        return self._close(mid, A, R, w.shape[0]).reshape_to(lead + (w.shape[1],))

    def dot(self, a: Box, b: Box) -> Box:
        """Entrywise products summed over the last axis, both factors boxes."""
        am, ar = _midrad(a)
        bm, br = _midrad(b)
        mid = (am * bm).sum(-1)
        A = (np.abs(am) * np.abs(bm)).sum(-1)
        # Σ ar·br <= K·max ar·max br: the product of two radii is often subnormal, and an array
        # of subnormal products is slow; per row it is one product
        R = (np.abs(am) * br + ar * np.abs(bm)).sum(-1) + a.shape[-1] * ar.max(-1) * br.max(-1)
        return self._close(mid, A + R, R, a.shape[-1])


# ---------------------------------------------------------------------------------------------
# fixed:I.F enclosures (exact integer intervals)


def _imm(x, w):
    """Exact integer ``x [R, K] @ w [K, M]`` (int64). float64 BLAS when every partial sum is an
    integer below 2^53, int64 otherwise (the model's own einsum guarantees no int64 overflow)."""
    if x.size == 0 or w.size == 0:
        return np.zeros(x.shape[:-1] + w.shape[1:], dtype=np.int64)
    bound = float(np.abs(x).max()) * float(np.abs(w).sum(axis=0).max())
    if bound < 2.0**53:
        return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    if bound >= 2.0**62:
        raise VerifyError("fixed-point products too large for exact int64 certification")
    return x.astype(np.int64) @ w.astype(np.int64)


class _Fixed:
    """Exact boxes on the fixed:I.F grid (values are int64 counts of 2^-F)."""

    def __init__(self, ar: FixedArithmetic):
        self.ar = ar
        self.name = ar.name
        self.I, self.F = ar.int_bits, ar.frac_bits
        self.S = 1 << self.F
        self.hi = 1 << (self.I + self.F)
        self.scale = float(self.S)

    def clip(self, v):
        return np.clip(v, -self.hi, self.hi)

    def encode(self, x):
        return self.clip(np.floor(np.asarray(x, dtype=np.float64) * self.S)).astype(np.int64)

    def point(self, x):
        v = self.encode(x)
        return Box(v, v)

    def add(self, a, b):
        return Box(self.clip(a.lo + b.lo), self.clip(a.hi + b.hi))

    def relu(self, a):
        return Box(np.maximum(a.lo, 0), np.maximum(a.hi, 0))

    def _round(self, lo, hi):
        return Box(self.clip(np.floor_divide(lo, self.S)), self.clip(np.floor_divide(hi, self.S)))

    def matmul(self, a, w):
        wp, wn = np.maximum(w, 0), np.minimum(w, 0)
        lead = a.shape[:-1]
        lo2, hi2 = a.lo.reshape(-1, a.shape[-1]), a.hi.reshape(-1, a.shape[-1])
        lo = _imm(lo2, wp) + _imm(hi2, wn)
        hi = _imm(hi2, wp) + _imm(lo2, wn)
        return self._round(lo, hi).reshape_to(lead + (w.shape[1],))

    def exp_floor(self, d, up: bool):
        """Bound on the model's ``floor(exp(d / 2^F) · 2^F)`` for int ``d <= 0`` (16 ulp slack)."""
        d = np.asarray(d)
        e = np.exp(d.astype(np.float64) / self.S)
        e = e * (1 + 20 * U) if up else e * (1 - 20 * U)
        return np.where(d == 0, self.S, np.floor(e * self.S).astype(np.int64))  # exp(0) = 1 exactly


def _arith(precision):
    ar = parse_precision(precision)
    if isinstance(ar, FixedArithmetic):
        return _Fixed(ar)
    if isinstance(ar, FloatArithmetic) and ar.name == "float64":
        return _Float64()
    raise VerifyError(f"certified mode covers float64 and fixed:I.F, not {ar.name}; use --samples or --exhaustive")


def _step(ia) -> float | None:
    """The grid step ``2^-F`` of a fixed format (margins snap up to it); None for float64."""
    return 1.0 / ia.scale if isinstance(ia, _Fixed) else None


def _arith_details(ia) -> dict:
    """The certificate's ``arithmetic`` and ``assumptions`` entries for a plan that encloses the
    forward pass with these boxes and affine forms after attention."""
    if isinstance(ia, _Fixed):
        return {
            "arithmetic": "exact integer intervals on the grid, affine forms after attention",
            "assumptions": ["softmax exp evaluated in float64 within 16 ulp, exp(0) = 1 exactly"],
        }
    return {
        "arithmetic": "outward-rounded float64 intervals enclosing exact and float64 evaluation, "
        "affine forms after attention",
        "assumptions": [
            "IEEE round-to-nearest; K-term dot products within gamma_K in any order",
            "exp and division within 8 ulp",
            "total underflow below 2^-1000",
        ],
    }
