"""Certified mode: a proof that a model answers correctly on *every* input (mode ``"certified"``).

Sampling checks a few thousand of the ``s^n·n`` inputs; this module proves all of them, for the
constructions whose attention pattern does not depend on the symbols. It reads only the model's
arrays (``model.weights``) and the task named in its metadata, never the construction's
``meta["construction"]``, so it works on saved, foreign and tampered models alike.

Index lookup (one layer, any number of heads, readout at the last position)
    Cut the inputs into ``n·s`` *cells*: the index ``t`` and the symbol ``c = s_t`` are fixed, the
    other ``n − 1`` symbols are free. Every input of a cell has the answer ``c`` (task definition),
    the cells partition the input set, and each holds ``s^(n−1)`` inputs. For one cell we compute
    an enclosure of every value the forward pass of docs/MODEL.md can take:

    * the query at the last position depends only on ``t``: a point (fixed) or a tiny box (float);
    * the score of data position ``k ≠ t`` is ``q·(E Wkᵀ)[x_k] + q·(P Wkᵀ)[k]``; its largest
      possible value over ``k ≠ t`` and all symbols is bounded by the largest token term plus the
      row maximum of the Gram matrix ``q_t·(P Wkᵀ)[k]``, computed for all ``n²`` pairs (float32
      BLAS, with a rigorous error bound); the score of ``t`` itself and of the last position are
      enclosed directly;
    * from these: a lower bound on the weight ``α_t`` and an upper bound on the weight of everything
      else — the attention weights are computed once per query, from the arrays;
    * the attention output is ``α_t·V[t, c] + (rest)``, the rest a sub-convex combination of the
      values every other position can hold; then ``Wo``, the residual, the MLP and the readout by
      interval arithmetic.

    The cell is *proved* when the lower end of the logit of ``c`` exceeds the upper end of every
    other logit; the worst such gap is the certified ``min_margin`` (a lower bound over all inputs).

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
    underflow by more than ``2^-1000`` in total. Our own bound computations are rounded outwards
    (``nextafter``) or padded by a relative ``2^-40``. The n² Gram matrix is computed in float32 with
    the bound ``|ĝ − g| ≤ (γ32_{w+2}(1+u32)² + 3u32)·‖q‖₂‖p‖₂`` (conversion + summation).

Not covered: other floating formats (their attention sums are left to the sampled and exhaustive
modes), and tasks other than those in :data:`CERTIFIABLE`.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

import bounds
from constructions import Model, parse_precision
from constructions._precision import FixedArithmetic, FloatArithmetic

from ._engine import VerifyError, task_of

__all__ = ["certify", "CERTIFIABLE", "index_lookup_boxes", "pair_boxes", "Box"]

CERTIFIABLE = ("index_lookup", "equality", "disjointness")
U = 2.0**-53
U32 = 2.0**-24
TINY = 2.0**-1000
PAD = 1.0 + 2.0**-40
_CELLS_PER_CHUNK = 1 << 14


def _gamma(k: int, u: float = U) -> float:
    return k * u / (1.0 - k * u)


def _dn(x):
    """A float <= the exact value of a result ``x`` rounded to nearest (a few ulp below x)."""
    return x - (np.minimum(np.abs(x), 2.0**1000) * 2.0**-50 + TINY)  # ±inf stay as they are


def _up(x):
    """A float >= the exact value of a result ``x`` rounded to nearest."""
    return x + (np.minimum(np.abs(x), 2.0**1000) * 2.0**-50 + TINY)


class Box:
    """An interval per entry: ``lo <= value <= hi`` (numpy arrays of one shape)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def __getitem__(self, idx):
        return Box(self.lo[idx], self.hi[idx])

    @property
    def shape(self):
        return self.lo.shape

    def contains(self, x) -> bool:
        return bool(np.all(self.lo <= x) and np.all(x <= self.hi))

    def reshape_to(self, shape) -> "Box":
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
        R = (np.abs(am) * br + ar * np.abs(bm) + ar * br).sum(-1)
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

    def matmul_exact(self, a, w):
        """Unrounded integer box of ``a @ w`` (a sum of products, before the floor)."""
        wp, wn = np.maximum(w, 0), np.minimum(w, 0)
        return Box(_imm(a.lo, wp) + _imm(a.hi, wn), _imm(a.hi, wp) + _imm(a.lo, wn))

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


# ---------------------------------------------------------------------------------------------
# after attention: affine forms in the attention output


class _Aff:
    """Affine forms ``value = c + Σ_m ε_m·A[m] + e``, ``ε ∈ [−1, 1]^M``, ``e ∈ [elo, ehi]``.

    ``A [N, M, k]``, ``c, elo, ehi [N, k]``: N cells, k coordinates, M noise symbols (the
    coordinates of the attention output). Keeping the dependence on ε exact is what lets the two
    ReLUs of a thresholding unit cancel (plain intervals cannot); whatever is not affine in ε
    (rounding, unstable ReLUs, clipping) goes into the error interval ``e``.
    """

    def __init__(self, A, c, elo, ehi):
        self.A, self.c, self.elo, self.ehi = A, c, elo, ehi

    @classmethod
    def const(cls, box: Box, M: int):
        m, r = _midrad(box)
        return cls(np.zeros(m.shape[:1] + (M,) + m.shape[1:]), m, -r, r)

    def cols(self, idx):
        return _Aff(self.A[:, :, idx], self.c[:, idx], self.elo[:, idx], self.ehi[:, idx])

    def set_cols(self, idx, other: "_Aff"):
        self.A[:, :, idx], self.c[:, idx] = other.A, other.c
        self.elo[:, idx], self.ehi[:, idx] = other.elo, other.ehi

    def range(self) -> Box:
        r = np.abs(self.A).sum(1) * PAD
        return Box(_dn(_dn(self.c - r) + self.elo), _up(_up(self.c + r) + self.ehi))

    def _fresh(self, mask, lo, hi):
        """Replace the entries under ``mask`` [N, k] by the independent interval [lo, hi]."""
        self.A = self.A * ~mask[:, None, :]
        self.c = np.where(mask, 0.0, self.c)
        self.elo = np.where(mask, lo, self.elo)
        self.ehi = np.where(mask, hi, self.ehi)


class _Tail:
    """``Wo``, residual, MLP and readout applied to affine forms, with each format's rounding.

    float64: a K-term dot product is off by at most ``γ_K·|x|·|W|``, an addition by ``u·|x + y|``.
    fixed:I.F: a product is rounded down (an error in ``[−2^-F, 0]``), and every result is
    clipped to ``±2^I`` — where the range may reach the clip, the entry becomes a plain interval.
    Our own float64 evaluation of the forms is accounted for by ``γ`` terms and outward padding.
    """

    def __init__(self, Wo, w1, b1, w2, b2, wr, br, ia):  # wr, br may be None (no readout)
        self.fixed = isinstance(ia, _Fixed)
        if self.fixed:
            self.step, self.top = 2.0 ** -ia.F, 2.0 ** ia.I
        self.Wo, self.w1, self.b1, self.w2, self.b2, self.wr, self.br = Wo, w1, b1, w2, b2, wr, br
        self.Jo = np.flatnonzero(np.any(Wo != 0, axis=0))  # columns the attention writes
        self.J2 = np.flatnonzero(np.any(w2 != 0, axis=0))  # columns the MLP writes
        self.Jall = np.union1d(self.Jo, self.J2)

    def range(self, x: _Aff) -> Box:
        """Range of a form; on the fixed grid the ends snap inward to multiples of 2^-F (every value
        the model computes is one)."""
        r = x.range()
        if self.fixed:
            r = Box(np.ceil(r.lo / self.step) * self.step, np.floor(r.hi / self.step) * self.step)
        return r

    def _clip(self, x: _Aff) -> _Aff:
        if self.fixed:
            r = self.range(x)
            bad = (r.lo < -self.top) | (r.hi > self.top)
            if bad.any():
                x._fresh(bad, np.maximum(r.lo, -self.top), np.minimum(r.hi, self.top))
            flat = ~np.any(x.A != 0, axis=1)  # no dependence on ε: keep the snapped range
            x._fresh(flat & ~bad, r.lo, r.hi)
        return x

    def _after_product(self, x: _Aff, xabs_dot, terms: int, exact_cols=None) -> _Aff:
        if self.fixed:
            # floor(v) for v a multiple of 2^-2F: an error in [-(2^-F - 2^-2F), 0]; none where the
            # weight column is integer-valued (then v is on the grid already)
            err = self.step - self.step**2
            x.elo = _dn(x.elo - (err if exact_cols is None else np.where(exact_cols, 0.0, err)))
        else:
            g = _gamma(terms + 4) * xabs_dot * PAD
            x.elo, x.ehi = _dn(x.elo - g), _up(x.ehi + g)
        return self._clip(x)

    def _after_add(self, x: _Aff) -> _Aff:
        if not self.fixed:
            r = x.range()
            e = np.maximum(np.abs(r.lo), np.abs(r.hi)) * 2 * U
            x.elo, x.ehi = _dn(x.elo - e), _up(x.ehi + e)
        return self._clip(x)

    def lin(self, x: _Aff, W, base: Box | None = None, rest=None, reps: int = 1) -> _Aff:
        """``x @ W``; with ``base``, the input vector is ``base [T, D]`` (repeated ``reps`` times
        per row) except at the columns of ``x``, and ``W`` is the full ``[D, k]`` matrix whose rows
        ``rest`` meet ``base`` and whose other rows meet ``x``."""
        N, M, k = x.A.shape
        aW = np.abs(W)
        Wx, aWx = (W, aW) if base is None else (W[np.setdiff1d(np.arange(W.shape[0]), rest)], None)
        if base is not None:
            aWx = np.abs(Wx)
        A = (x.A.reshape(N * M, k) @ Wx).reshape(N, M, Wx.shape[1])
        em, er = _midrad(Box(x.elo, x.ehi))
        rad = np.abs(x.A).sum(1) * PAD
        c = x.c @ Wx
        emid = em @ Wx
        ours = np.abs(x.c) @ aWx + np.abs(em) @ aWx + rad @ aWx
        spread = er @ aWx
        r = x.range()
        xabs = np.maximum(np.abs(r.lo), np.abs(r.hi)) @ aWx
        terms = W.shape[0]
        if base is not None:
            bm, br = _midrad(base)
            Wb, aWb = W[rest], aW[rest]
            rep = lambda a: np.repeat(a, reps, axis=0)  # noqa: E731
            c = c + rep(bm @ Wb)
            ours = ours + rep(np.abs(bm) @ aWb)
            spread = spread + rep(br @ aWb)
            xabs = xabs + rep(np.maximum(np.abs(base.lo), np.abs(base.hi)) @ aWb)
        g = _gamma(terms + 4)
        err = (spread + g * ours + g * rad @ aWx) * PAD / (1 - g) + TINY
        out = _Aff(A, c, _dn(emid - err), _up(emid + err))
        exact_cols = np.all(W == np.round(W), axis=0) if self.fixed else None
        return self._after_product(out, xabs, terms, exact_cols)

    def add_box(self, x: _Aff, b: Box) -> _Aff:
        bm, br = _midrad(b)
        c = x.c + bm
        e = br + np.abs(c) * 2 * U + TINY
        return self._after_add(_Aff(x.A, c, _dn(x.elo - e), _up(x.ehi + e)))

    def add(self, x: _Aff, y: _Aff) -> _Aff:
        A, c = x.A + y.A, x.c + y.c
        e = (np.abs(A).sum(1) + np.abs(c)) * 2 * U + TINY
        return self._after_add(_Aff(A, c, _dn(x.elo + y.elo - e), _up(x.ehi + y.ehi + e)))

    def relu(self, x: _Aff) -> _Aff:
        r = self.range(x)
        out = _Aff(x.A.copy(), x.c.copy(), x.elo.copy(), x.ehi.copy())
        out._fresh(r.hi <= 0, 0.0, 0.0)  # always off
        out._fresh((r.lo < 0) & (r.hi > 0), 0.0, r.hi)  # unstable: only its range is kept
        return out

    def mlp(self, z: Box, xbase: Box):
        """The residual stream after ``Wo``, the residual connection and the MLP, from the
        attention-output boxes ``z [T, s, M]`` and the rest of the stream ``xbase [T, D]`` (real
        units; cells t-major, N = T·s). Returns ``(x2, base2)``: forms ``[N, |Jall|]`` on the
        columns that vary with the cell, and the box ``[T, D − |Jall|]`` of the other columns."""
        T, s, M = z.shape
        N = T * s
        zm, zr = _midrad(z.reshape_to((N, M)))
        x = _Aff(zr[:, :, None] * np.eye(M)[None], zm, np.zeros((N, M)), np.zeros((N, M)))
        rep = lambda b: Box(np.repeat(b.lo, s, 0), np.repeat(b.hi, s, 0))  # noqa: E731
        D = xbase.shape[1]
        Jo, J2, Jall = self.Jo, self.J2, self.Jall
        out = self.lin(x, self.Wo[:, Jo])  # the head outputs summed over (h, v): one rounding
        xJo = self.add_box(out, rep(xbase[:, Jo]))  # residual
        notJo = np.setdiff1d(np.arange(D), Jo)
        pre = self.lin(xJo, self.w1, base=xbase[:, notJo], rest=notJo, reps=s)
        hid = self.relu(self.add_box(pre, Box(self.b1[None], self.b1[None])))
        o = self.add_box(self.lin(hid, self.w2[:, J2]), Box(self.b2[None, J2], self.b2[None, J2]))
        x1 = _Aff.const(rep(xbase[:, Jall]), M)
        x1.set_cols(np.searchsorted(Jall, Jo), xJo)
        mo = _Aff.const(Box(np.repeat(self.b2[None, Jall], N, 0), np.repeat(self.b2[None, Jall], N, 0)), M)
        mo.set_cols(np.searchsorted(Jall, J2), o)
        x2 = self.add(x1, mo)
        notJ = np.setdiff1d(np.arange(D), Jall)
        b2 = Box(self.b2[None, notJ], self.b2[None, notJ])
        base2 = xbase[:, notJ]
        base2 = Box(_dn(base2.lo + b2.lo), _up(base2.hi + b2.hi))
        if self.fixed:
            base2 = Box(np.clip(base2.lo, -self.top, self.top), np.clip(base2.hi, -self.top, self.top))
        return x2, base2

    def residual(self, x2: _Aff, base2: Box, reps: int) -> Box:
        """The full residual box ``[N, D]`` (snapped to the grid in fixed point)."""
        r = self.range(x2)
        D = base2.shape[1] + len(self.Jall)
        notJ = np.setdiff1d(np.arange(D), self.Jall)
        lo, hi = np.empty((r.shape[0], D)), np.empty((r.shape[0], D))
        lo[:, self.Jall], hi[:, self.Jall] = r.lo, r.hi
        b = base2
        if self.fixed:
            b = Box(np.ceil(b.lo / self.step) * self.step, np.floor(b.hi / self.step) * self.step)
        lo[:, notJ], hi[:, notJ] = np.repeat(b.lo, reps, 0), np.repeat(b.hi, reps, 0)
        return Box(lo, hi)

    def logits(self, z: Box, xbase: Box, keep_eps: bool = True) -> _Aff:
        """Forms of the logits ``[T·s, C]`` (see :meth:`mlp`). ``keep_eps=False`` enters the readout
        with a plain box (much cheaper for many classes; the dependence on ε is dropped)."""
        x2, base2 = self.mlp(z, xbase)
        if not keep_eps:
            x2 = _Aff.const(self.range(x2), 0)
        lg = self.lin(x2, self.wr, base=base2, rest=np.setdiff1d(np.arange(xbase.shape[1]), self.Jall),
                      reps=z.shape[1])
        return self.add_box(lg, Box(self.br[None], self.br[None]))


def _margins(lg: _Aff, cls, step: float | None = None):
    """Lower bounds ``[N]`` on ``logit_cls − max_{c ≠ cls} logit_c`` per cell, keeping ε. With
    ``step`` (fixed grid) the bound snaps up to a multiple of the step, as the logits are."""
    rows = np.arange(len(cls))
    dA = lg.A[rows, :, cls][:, :, None] - lg.A  # [N, M, C]
    dc = lg.c[rows, cls][:, None] - lg.c
    lo = dc - np.abs(dA).sum(1) * PAD + (lg.elo[rows, cls][:, None] - lg.ehi)
    lo = lo - (np.abs(dc) + np.abs(lg.elo[rows, cls])[:, None] + np.abs(lg.ehi)) * 2.0**-50 - TINY
    lo[rows, cls] = np.inf
    lo = lo.min(1)
    return lo if step is None else np.ceil(lo / step) * step


# ---------------------------------------------------------------------------------------------
# attention: bounds on the scores of one head, then on its output


def _gram(q, keys, target, limit, soft: bool = False):
    """Upper bounds ``[R]`` on ``max{q_i · p_k : k < limit_i, k ≠ target_i}`` (exact reals; −inf
    where no k qualifies), and with ``soft`` also ``Σ_k exp((ĝ_k − ĝ_max)·unit)`` over those k
    (``ĝ`` the computed products, ``unit`` converts them to real score units), so that
    ``Σ_k e^{score_k} <= e^{upper-score} · soft``. Computed in float32 BLAS when its error bound
    ``(γ32_{w+2}(1+u32)² + 3u32)·Σ_j |q_j|·max_k |p_kj|`` is below 2^-10 score units, else float64."""
    R, w = q.shape
    n = keys.pT64.shape[1]
    spread = np.abs(q) @ keys.pcol
    c32 = _gamma(w + 2, U32) * (1 + U32) ** 2 + 3 * U32
    if np.all(c32 * spread * keys.unit < 2.0**-10):
        g = np.asarray(q, dtype=np.float32) @ keys.pT32
        err = c32 * spread + 2.0 * w * 2.0**-126 * (float(np.abs(q).max()) + float(keys.pcol.max()) + 1.0)
    else:
        g = q @ keys.pT64
        err = 2 * _gamma(w + 2) * spread + (w + 2) * TINY
    rows = np.arange(R)
    inside = target < n
    g[rows[inside], target[inside]] = -np.inf
    if (limit < n).any():
        g[np.arange(n)[None, :] >= limit[:, None]] = -np.inf
    gmax = g.max(axis=1).astype(np.float64)
    finite = np.isfinite(gmax)
    gm = np.where(finite, gmax, 0.0)
    upper = np.where(finite, gm + err * PAD + np.abs(gm) * 4 * U, -np.inf)
    cnt = None
    if soft:
        with np.errstate(under="ignore"):
            e = np.exp((g.astype(np.float64) - gm[:, None]) * keys.unit)  # masked entries: exp(-inf) = 0
        cnt = e.sum(axis=1) * (1 + (n + 8) * 4 * U) * PAD
    return upper, cnt


class _Keys:
    """One head's first-layer keys ``fl((E Wkᵀ)[token] + (P Wkᵀ)[k])`` for the given key tokens and
    positions ``k < npos``, with what the score bounds need (computed once per model)."""

    def __init__(self, ia, EK: Box, PK: Box, tokens, npos: int):
        self.ia = ia
        self.fixed = isinstance(ia, _Fixed)
        self.ek, self.pk = EK[tokens], PK[:npos]
        pm = self.pk.lo.astype(np.float64) if self.fixed else _midrad(self.pk)[0]
        self.pT64 = np.ascontiguousarray(pm.T)
        self.pT32 = self.pT64.astype(np.float32)
        self.pcol = np.abs(pm).max(axis=0) * PAD  # per coordinate, max over keys
        self.unit = 1.0 / float(ia.S) ** 2 if self.fixed else 1.0
        if self.fixed:
            if np.abs(self.ek.lo).max() + np.abs(self.pk.lo).max() > ia.hi:
                raise VerifyError("fixed-point keys may clip; certified mode needs unclipped key sums")
        else:
            pm_, pr_ = _midrad(self.pk)
            self.rP = pr_ + 2 * U * (np.abs(pm_) + pr_)  # a key is fl(token part + position part)
            self.rPmax, self.pPmax = float(self.rP.max()), float((np.abs(pm_) + self.rP).max())
            big = lambda b: max(np.abs(b.lo).max(), np.abs(b.hi).max())  # noqa: E731
            self.kinf = (big(self.ek) + big(self.pk)) * PAD

    def scores(self, q: Box, target, limit, soft: bool = False):
        """Scores of queries ``q [R, w]``: the target key's, one column per key token ``[R, B]``
        (a box; exact ints in fixed point), and the *others*: every key ``k < limit, k ≠ target``
        with any token, as ``(upper [R], soft)`` — an upper bound on their scores (−inf /
        −2^(I+F) where there is none) and, with ``soft``, a factor ``c <= count`` with
        ``Σ_k e^{score_k} <= c·e^{upper}`` (fixed point: ``(upper_int, upper_real, c)``)."""
        return self._fixed(q, target, limit, soft) if self.fixed else self._float(q, target, limit, soft)

    def _fixed(self, q, target, limit, soft):
        ia = self.ia
        qv = q.lo  # a point
        tok = _imm(qv, self.ek.lo.T)
        pos = (qv * self.pk.lo[target]).sum(1)  # exact: |q|·(|ek| + |pk|) < 2^62 (no-clip check)
        st = ia.clip(np.floor_divide(tok + pos[:, None], ia.S))
        g, cnt = _gram(qv.astype(np.float64), self, target, limit, soft)
        finite = np.isfinite(g)
        g = np.where(finite, g, 0.0)
        ghi = np.floor(g + np.abs(g) * 2.0**-40 + 1).astype(np.int64)  # an int >= every other G
        other = np.where(finite, ia.clip(np.floor_divide(tok.max(1) + ghi, ia.S)), -ia.hi)
        real = np.where(finite, (tok.max(1) + ghi) / float(ia.S), -np.inf)  # unfloored, in 2^-F units
        return st, (other, real, cnt)

    def _float(self, q, target, limit, soft):
        w = q.shape[-1]
        g = _gamma(w + 4)
        qm, qr = _midrad(q)
        em, er = _midrad(self.ek)
        rE = er + 2 * U * (np.abs(em) + er)
        a = np.abs(qm)
        b = qr + g * (a + qr)  # the query's radius and the model's rounding of the dot product
        tok = qm @ em.T
        tokErr = a @ rE.T + b @ (np.abs(em) + rE).T + g * (a @ np.abs(em).T)
        pm_t, _ = _midrad(self.pk[target])
        rP_t = self.rP[target]
        pos = (qm * pm_t).sum(1)
        posErr = (a * rP_t).sum(1) + (b * (np.abs(pm_t) + rP_t)).sum(1) + g * (a * np.abs(pm_t)).sum(1)
        center = tok + pos[:, None]
        rad = (tokErr + posErr[:, None]) * PAD + np.abs(center) * 4 * U + TINY
        st = Box(_dn(center - rad), _up(center + rad))
        gmax, cnt = _gram(qm, self, target, limit, soft)
        tokMax = (tok + tokErr * PAD + np.abs(tok) * 4 * U).max(1)
        other = tokMax + np.where(np.isfinite(gmax), gmax, 0) + (a.sum(1) * self.rPmax + b.sum(1) * self.pPmax) * PAD
        other = np.where(np.isfinite(gmax), other + np.abs(other) * 4 * U + TINY, -np.inf)
        return st, (other, cnt)

    def smax(self, q: Box, extra=None):
        """Float64: a bound ``[R]`` on |every score| of the queries (for the softmax's rounding)."""
        qm, qr = _midrad(q)
        kinf = self.kinf if extra is None else np.maximum(self.kinf, extra * PAD)
        return (np.abs(qm) + qr).sum(-1) * kinf * (1 + 2 * _gamma(q.shape[-1] + 4))


def _softmax_delta(smax, L):
    """Relative error of the model's float64 softmax weights: subtraction of the max (≤ 2·smax·u
    in the exponent), exp and division within 8 ulp each, an L-term normaliser."""
    gL = _gamma(L + 4)
    with np.errstate(over="ignore"):
        return np.expm1(4 * U * smax + 40 * U) * 2 + 2 * gL


def _mix_float(tl, groups, vt: Box, ho: Box, smax, L):
    """Box ``[R, B, wv]`` of a head's output: ``α_t·V_t + (1 − α_t)·(a mixture of ho)`` with
    ``α_t >= 1/(1 + Σ_groups count·e^{upper − s_t})`` for the ideal softmax of the model's scores,
    widened by the model's own rounding. ``tl [R, B]`` lower bounds on the target's score;
    ``groups``: ``(upper [R], count)`` for the other keys; ``ho [R, wv]`` hull of their values."""
    den = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for upper, count in groups:
            cnt = np.broadcast_to(np.asarray(count, dtype=np.float64), upper.shape)[:, None]
            term = cnt * np.exp(_up(upper[:, None] - tl)) * (1 + 1e-12)
            den = den + np.where(cnt > 0, term, 0.0)
    al = np.where(np.isfinite(den), (1.0 / den) * (1 - 1e-12), 0.0)[..., None]
    ulo, uhi = ho.lo[:, None, :], ho.hi[:, None, :]
    lo = np.minimum(al * vt.lo + (1 - al) * ulo, vt.lo)
    hi = np.maximum(al * vt.hi + (1 - al) * uhi, vt.hi)
    vmax = np.maximum(np.abs(vt.lo).max((1, 2)), np.abs(vt.hi).max((1, 2)))
    vmax = np.maximum(vmax, np.maximum(np.abs(ho.lo), np.abs(ho.hi)).max(1))
    delta = _softmax_delta(smax, L)
    gL = _gamma(np.max(L) + 4)
    widen = ((delta + gL * (1 + delta)) * vmax * PAD + vmax * 2.0**-48 + TINY)[:, None, None]
    return Box(lo - widen, hi + widen)


def _mix_fixed(ia, st, groups, vt: Box, ho: Box, known=None):
    """Exact integer box ``[R, B, wv]`` of a head's output on the grid. ``st [R, B]`` the target's
    exact score; ``groups``: ``(upper [R], count, (upper_real [R], soft [R]) or None)`` — see
    :meth:`_Keys.scores`; ``known [R]``: one more key with an exact score. Uses that
    ``α = floor(e·2^F / clip(Σe))`` is monotone in ``e`` and in the rest, and that every exponent
    ``clip(s − max)`` is <= 0 and, clipped or not, ``e <= 2^F·max(e^{(s − m)/2^F}, e^{−2^I})``."""
    S, top = ia.S, ia.hi
    m_lo = st if known is None else np.maximum(st, known[:, None])
    m_hi = m_lo
    for upper, count, _ in groups:
        cnt = np.broadcast_to(np.asarray(count), upper.shape)[:, None]
        m_hi = np.where(cnt > 0, np.maximum(m_hi, upper[:, None]), m_hi)
    E = lambda d, up: ia.exp_floor(np.minimum(d, 0), up)  # noqa: E731
    e_lo, e_hi = E(ia.clip(st - m_hi), up=False), E(ia.clip(st - m_lo), up=True)
    r_hi = np.zeros_like(st)
    for upper, count, soft in groups:
        cnt = np.broadcast_to(np.asarray(count, dtype=np.int64), upper.shape)[:, None]
        r = cnt * E(ia.clip(upper[:, None] - m_lo), up=True)
        if soft is not None:
            real, c = soft
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                x = S * (1 + 20 * U) * (c[:, None] * np.exp(np.minimum(real[:, None] - m_lo, 0) / S)
                                        + cnt * math.exp(-(2.0**ia.I)))
            r = np.where(np.isfinite(x) & (x < 2.0**62), np.minimum(r, np.floor(x).astype(np.int64) + 1), r)
        r_hi = r_hi + r
    r_lo = np.zeros_like(st)
    if known is not None:
        r_hi = r_hi + E(ia.clip(known[:, None] - m_lo), up=True)
        r_lo = E(ia.clip(known[:, None] - m_hi), up=False)
    z_lo = np.maximum(np.minimum(e_lo + r_hi, top), 1)
    z_hi = np.maximum(np.minimum(e_hi + r_lo, top), 1)
    a_lo, a_hi = (e_lo * S) // z_lo, (e_hi * S) // z_hi
    # Σ_{k≠t} α_k <= floor(R·2^F / clip(e_t + R)); when clipped that is R / 2^I (no overflow)
    rest = np.where(e_lo + r_hi >= top, r_hi >> ia.I, (np.minimum(r_hi, top) * S) // z_lo)
    a_lo, a_hi, rest = a_lo[..., None], a_hi[..., None], rest[..., None]
    # products stay below 2^61 (α <= 2^F, |v| <= 2^(I+F), I + 2F <= 60); rest·v saturates there,
    # where floor(·/2^F) is clipped to ±2^(I+F) anyway
    sat = lambda x: np.clip(x, -(1 << 61), 1 << 61)  # noqa: E731
    mul = lambda a, b: sat(np.where(np.abs(a.astype(np.float64) * b) < 2.0**61, a * b,  # noqa: E731
                                    np.sign(a) * np.sign(b) * (1 << 61)))
    t_lo = np.minimum(a_lo * vt.lo, a_hi * vt.lo)
    t_hi = np.maximum(a_lo * vt.hi, a_hi * vt.hi)
    u_lo = np.minimum(0, mul(rest, ho.lo[:, None, :]))
    u_hi = np.maximum(0, mul(rest, ho.hi[:, None, :]))
    return ia._round(sat(t_lo + u_lo), sat(t_hi + u_hi))


def _tables(ia, E, P, W, H):
    """First-layer per-table products ``E Wᵀ`` and ``P Wᵀ`` per head (docs/MODEL.md), one rounding each."""
    return ([ia.matmul(Box(E, E), W[h].T) for h in range(H)], [ia.matmul(Box(P, P), W[h].T) for h in range(H)])


def _tail(ia, attn, mlp, readout=None):
    real = lambda a: None if a is None else ia.encode(a) / ia.scale  # noqa: E731  (exact in float64)
    Wo = real(attn.wo)
    wr, br = (None, None) if readout is None else (real(readout[0]), real(readout[1]))
    return _Tail(Wo.reshape(-1, Wo.shape[-1]), real(mlp.w1), real(mlp.b1), real(mlp.w2), real(mlp.b2), wr, br, ia)


def _check_shape(model: Model, layers: int, what: str):
    meta = model.meta
    if model.arch != "transformer" or meta.get("embed", "token") != "token":
        raise VerifyError(f"certified {what} needs a Transformer with token inputs")
    if len(model.weights.layers) != layers:
        raise VerifyError(f"certified {what} covers {layers}-layer Transformers "
                          f"(this one has {len(model.weights.layers)})")
    if meta.get("readout", "last") != "last":
        raise VerifyError("certified mode needs the readout at the last position")


# ---------------------------------------------------------------------------------------------
# index lookup: cells (t, c)


class _IndexPlan:
    """Index lookup, one layer: per-model tables, then logit forms per chunk of queries."""

    def __init__(self, model: Model, ia):
        _check_shape(model, 1, "index lookup")
        p = model.task_params
        self.n, self.s = int(p["n"]), int(p.get("alphabet_size", 4))
        n, s, L = self.n, self.s, self.n + 1
        w = model.weights
        if w.position.shape[0] < L or w.embed.shape[0] < s + n:
            raise VerifyError("model's embedding tables are too short for its task")
        if w.readout_b.shape[0] < s:
            raise VerifyError(f"readout has {w.readout_b.shape[0]} classes, the task {s}")
        self.ia = ia
        att, mlp = w.layers[0].attn, w.layers[0].mlp
        self.H = att.wq.shape[0]
        self.E, self.P = ia.encode(w.embed[: s + n]), ia.encode(w.position[:L])
        self.EQ, self.PQ = _tables(ia, self.E, self.P, ia.encode(att.wq), self.H)
        self.EK, self.PK = _tables(ia, self.E, self.P, ia.encode(att.wk), self.H)
        self.EV, self.PV = _tables(ia, self.E, self.P, ia.encode(att.wv), self.H)
        self.keys = [_Keys(ia, self.EK[h], self.PK[h], np.arange(s), n) for h in range(self.H)]
        self.tail = _tail(ia, att, mlp, (w.readout_w, w.readout_b))

    def logits(self, t0: int, t1: int, keep_eps: bool = True, soft: bool = False) -> _Aff:
        """Logit forms ``[T·s, C]`` of the cells ``(t, c)``, ``t0 <= t < t1``, c fastest. ``soft``
        bounds the other keys' total weight by their sum of exponentials, not count × max."""
        z, xlast = self.attention(t0, t1, soft)
        return self.tail.logits(z, xlast, keep_eps)

    def grouped(self, t0: int, t1: int, keep_eps: bool = False) -> _Aff:
        """Logit forms ``[s, C]``, one per symbol c, valid for *every* cell (t, c) of the chunk:
        the attention outputs and the last position's stream are replaced by their hulls over t.
        The answer is c throughout, so a positive margin proves all T cells of the group."""
        z, xlast = self.attention(t0, t1, False)
        zh = Box(z.lo.min(0, keepdims=True), z.hi.max(0, keepdims=True))
        xh = Box(xlast.lo.min(0, keepdims=True), xlast.hi.max(0, keepdims=True))
        return self.tail.logits(zh, xh, keep_eps)

    def attention(self, t0: int, t1: int, soft: bool = False):
        """Boxes of the attention output ``[T, s, H·wv]`` per cell and of the last position's
        residual stream ``[T, D]``, in real units."""
        ia, n, s = self.ia, self.n, self.s
        tt = np.arange(t0, t1)
        rows = s + tt
        T = len(tt)
        xlast = ia.add(Box(self.E[rows], self.E[rows]), Box(self.P[n][None], self.P[n][None]))  # [T, D]
        zs = []
        for h in range(self.H):
            keys = self.keys[h]
            q = ia.add(self.EQ[h][rows], self.PQ[h][n][None])
            kn = ia.add(self.EK[h][rows], self.PK[h][n][None])  # the index token's own key
            vn = ia.add(self.EV[h][rows], self.PV[h][n][None])
            ev, pv = self.EV[h][:s], self.PV[h][:n]
            vt = ia.add(Box(ev.lo[None], ev.hi[None]), Box(pv.lo[tt][:, None], pv.hi[tt][:, None]))  # [T, s, wv]
            other = ia.add(Box(ev.lo.min(0), ev.hi.max(0)), Box(pv.lo.min(0), pv.hi.max(0)))  # any k, any symbol
            ho = Box(np.minimum(other.lo[None], vn.lo), np.maximum(other.hi[None], vn.hi))  # [T, wv]
            st, others = keys.scores(q, tt, np.full(T, n), soft)
            if isinstance(ia, _Fixed):
                up, real, cnt = others
                sn = ia.clip(np.floor_divide((q.lo * kn.lo).sum(1), ia.S))
                zs.append(_mix_fixed(ia, st, [(up, n - 1, None if cnt is None else (real, cnt))], vt, ho, known=sn))
            else:
                up, cnt = others
                own = ia.dot(q, kn)
                smax = keys.smax(q, np.maximum(np.abs(kn.lo), np.abs(kn.hi)).max(1))
                count = n - 1 if cnt is None else np.minimum(n - 1, cnt)
                zs.append(_mix_float(st.lo, [(up, count), (own.hi, 1)], vt, ho, smax, n + 1))
        z = Box(np.concatenate([b.lo for b in zs], -1) / ia.scale, np.concatenate([b.hi for b in zs], -1) / ia.scale)
        return z, Box(xlast.lo / ia.scale, xlast.hi / ia.scale)


# ---------------------------------------------------------------------------------------------
# equality and disjointness: two layers, cells by the first pair that decides

# the pair predicate whose presence (at some i, pair (x_i, x_{i+n/2})) decides the answer
PAIR_TASKS = {"equality": lambda a, b: a != b, "disjointness": lambda a, b: a == 1 and b == 1}
_STATUS = ("neg", "pos", "any")


class _PairPlan:
    """Equality / disjointness with two layers.

    Layer 1 is token-independent in its pattern: every head at position p has one *target* key
    (derived from the arrays: the visible position of largest score), so the residual stream after
    layer 1 at p is enclosed for each assignment of the bits at p and its targets (a *case*), all
    other bits free. Cells: "no pair hits" and, for each i, "pair i is the first that hits"
    (earlier pairs miss, later pairs free) — a partition of {0,1}^n into n/2 + 1 product sets, each
    with a constant answer. Per cell and position, the layer-1 box is the hull of the cases that
    agree with the cell on the position's pair; layer 2 (the last position's query) is bounded per
    key from those boxes, its output then goes through the MLP and the readout.
    """

    def __init__(self, model: Model, ia):
        _check_shape(model, 2, model.task)
        self.n = n = int(model.task_params["n"])
        self.h = n // 2
        self.hit = PAIR_TASKS[model.task]
        w = model.weights
        if w.position.shape[0] < n or w.embed.shape[0] < 2:
            raise VerifyError("model's embedding tables are too short for its task")
        self.ia = ia
        self.causal = bool(model.meta.get("causal", True))
        a1, a2 = w.layers[0].attn, w.layers[1].attn
        self.H = a1.wq.shape[0]
        self.E, self.P = ia.encode(w.embed[:2]), ia.encode(w.position[:n])
        self.EQ, self.PQ = _tables(ia, self.E, self.P, ia.encode(a1.wq), self.H)
        self.EK, self.PK = _tables(ia, self.E, self.P, ia.encode(a1.wk), self.H)
        self.EV, self.PV = _tables(ia, self.E, self.P, ia.encode(a1.wv), self.H)
        self.keys = [_Keys(ia, self.EK[h], self.PK[h], np.arange(2), n) for h in range(self.H)]
        self.tail1 = _tail(ia, a1, w.layers[0].mlp)
        self.W2 = {k: ia.encode(getattr(a2, k)) for k in ("wq", "wk", "wv")}
        self.tail2 = _tail(ia, a2, w.layers[1].mlp, (w.readout_w, w.readout_b))
        combos = [(a, b) for a in (0, 1) for b in (0, 1)]
        self.sets = {"neg": [c for c in combos if not self.hit(*c)], "pos": [c for c in combos if self.hit(*c)],
                     "any": combos}

    # -- layer 1 -----------------------------------------------------------------------------
    def targets(self):
        """Per head, each position's target key: the visible position with the largest score."""
        n, out = self.n, []
        limit = np.arange(1, n + 1) if self.causal else np.full(n, n)
        for h in range(self.H):
            q, _ = _midrad(self.ia.add(self.EQ[h][0][None], self.PQ[h]))
            k, _ = _midrad(self.PK[h])
            t = np.empty(n, dtype=np.int64)
            for r0 in range(0, n, 1024):
                g = q[r0:r0 + 1024] @ k.T
                g[np.arange(n)[None, :] >= limit[r0:r0 + 1024, None]] = -np.inf
                t[r0:r0 + 1024] = g.argmax(1)
            out.append(t)
        return np.stack(out, 1), limit  # [n, H], [n]

    def layer1(self, soft: bool = False) -> Box:
        """Boxes ``[n, 3, D]`` (format units) of the residual stream after layer 1, per position
        and status (neg / pos / any) of the position's pair."""
        ia, n, h, H = self.ia, self.n, self.h, self.H
        tgt, limit = self.targets()
        where = np.concatenate([np.arange(n)[:, None], tgt], 1)  # [n, H+1] positions of a case
        bits = np.array(list(itertools.product((0, 1), repeat=H + 1)))  # [K, H+1]
        valid = np.ones((n, len(bits)), dtype=bool)
        for u in range(H + 1):
            for v in range(u + 1, H + 1):
                same = where[:, u:u + 1] == where[:, v:v + 1]
                valid &= ~same | (bits[None, :, u] == bits[None, :, v])
        pr, kr = np.nonzero(valid)
        cb = bits[kr]  # [R, H+1]
        a = cb[:, 0]
        R = len(pr)
        zs = []
        for hd in range(H):
            keys = self.keys[hd]
            t = tgt[pr, hd]
            b = cb[:, hd + 1]
            q = ia.add(self.EQ[hd][a], self.PQ[hd][pr])
            st, others = keys.scores(q, t, limit[pr], soft)
            ev, pv = self.EV[hd], self.PV[hd]
            vt = ia.add(ev[b][:, None], Box(pv.lo[t][:, None], pv.hi[t][:, None]))  # [R, 1, wv]
            vall = ia.add(Box(ev.lo.min(0)[None], ev.hi.max(0)[None]), pv)  # [n, wv], any token
            if self.causal:
                hl, hh = np.minimum.accumulate(vall.lo, 0), np.maximum.accumulate(vall.hi, 0)
                ho = Box(hl[limit[pr] - 1], hh[limit[pr] - 1])
            else:
                ho = Box(np.repeat(vall.lo.min(0)[None], R, 0), np.repeat(vall.hi.max(0)[None], R, 0))
            count = limit[pr] - 1
            rows = np.arange(R)
            if isinstance(ia, _Fixed):
                up, real, cnt = others
                grp = (up, count, None if cnt is None else (real, cnt))
                zs.append(_mix_fixed(ia, st[rows, b][:, None], [grp], vt, ho))
            else:
                up, cnt = others
                grp = (up, count if cnt is None else np.minimum(count, cnt))
                zs.append(_mix_float(st.lo[rows, b][:, None], [grp], vt, ho, keys.smax(q), limit[pr]))
        z = Box(np.concatenate([x.lo for x in zs], -1) / ia.scale, np.concatenate([x.hi for x in zs], -1) / ia.scale)
        x0 = ia.add(Box(self.E[a], self.E[a]), Box(self.P[pr], self.P[pr]))
        x2, base2 = self.tail1.mlp(z, Box(x0.lo / ia.scale, x0.hi / ia.scale))
        X = self.tail1.residual(x2, base2, 1)  # [R, D] real units
        if isinstance(ia, _Fixed):
            X = Box(np.round(X.lo * ia.S).astype(np.int64), np.round(X.hi * ia.S).astype(np.int64))
        # which statuses of the position's own pair each case agrees with
        i = pr % h
        known_lo = np.full(R, -1)
        known_hi = np.full(R, -1)
        for u in range(H + 1):
            pos_u = where[pr, u]
            known_lo = np.where(pos_u == i, cb[:, u], known_lo)
            known_hi = np.where(pos_u == i + h, cb[:, u], known_hi)
        D = X.shape[1]
        lo = np.full((n, 3, D), np.inf)
        hi = np.full((n, 3, D), -np.inf)
        for si, name in enumerate(_STATUS):
            ok = np.zeros(R, dtype=bool)
            for x, y in self.sets[name]:
                ok |= ((known_lo == -1) | (known_lo == x)) & ((known_hi == -1) | (known_hi == y))
            np.minimum.at(lo[:, si], pr[ok], X.lo[ok])
            np.maximum.at(hi[:, si], pr[ok], X.hi[ok])
        if not np.all(np.isfinite(lo)):
            raise VerifyError("a position has no case of some status (inconsistent pair structure)")
        if isinstance(ia, _Fixed):
            lo, hi = lo.astype(np.int64), hi.astype(np.int64)
        return Box(lo, hi)

    # -- cells ---------------------------------------------------------------------------------
    def statuses(self, cells):
        """Status index ``[C, n]`` of each position's pair in cells ``c`` (−1: no pair hits)."""
        pair = np.arange(self.n) % self.h
        c = np.asarray(cells)[:, None]
        return np.where((c < 0) | (pair[None] < c), 0, np.where(pair[None] == c, 1, 2))

    def expected(self, task, cells):
        x = np.zeros((len(cells), self.n), dtype=np.int64)
        neg, pos = self.sets["neg"][0], self.sets["pos"][0]
        x[:, : self.h], x[:, self.h:] = neg
        for r, c in enumerate(cells):
            if c >= 0:
                x[r, c], x[r, c + self.h] = pos
        return task.solve(x).astype(np.int64)

    def covered(self, c):
        nn, np_ = len(self.sets["neg"]), len(self.sets["pos"])
        return nn**self.h if c < 0 else nn**c * np_ * 4 ** (self.h - 1 - c)

    def logits(self, X1: Box, cells, keep_eps: bool = True) -> _Aff:
        """Logit forms ``[C, classes]`` of the given cells from the layer-1 boxes."""
        ia, n = self.ia, self.n
        st = self.statuses(cells)  # [C, n]
        C = len(cells)
        last = st[:, n - 1]
        xq = X1[n - 1]  # [3, D]
        W = self.W2
        zs = []
        for g in range(W["wq"].shape[0]):
            K = ia.matmul(X1, W["wk"][g].T)  # [n, 3, w]
            V = ia.matmul(X1, W["wv"][g].T)  # [n, 3, wv]
            q = ia.matmul(xq, W["wq"][g].T)  # [3, w]
            sc = [[None] * 3 for _ in range(3)]
            for a in range(3):
                for b in range(3):
                    qa = Box(np.broadcast_to(q.lo[a], K.lo[:, b].shape), np.broadcast_to(q.hi[a], K.hi[:, b].shape))
                    sc[a][b] = _dot_points(ia, qa, K[:, b])  # [n]
            slo = np.stack([np.stack([sc[a][b].lo for b in range(3)], 1) for a in range(3)])  # [3, n, 3]
            shi = np.stack([np.stack([sc[a][b].hi for b in range(3)], 1) for a in range(3)])
            j = np.arange(n)[None, :]
            sl, sh = slo[last[:, None], j, st], shi[last[:, None], j, st]  # [C, n]
            vl, vh = V.lo[j, st], V.hi[j, st]  # [C, n, wv]
            zs.append(_uniformish(ia, sl, sh, Box(vl, vh)))
        z = Box(np.concatenate([x.lo for x in zs], -1) / ia.scale, np.concatenate([x.hi for x in zs], -1) / ia.scale)
        xb = X1[n - 1][last]
        return self.tail2.logits(Box(z.lo[:, None], z.hi[:, None]), Box(xb.lo / ia.scale, xb.hi / ia.scale), keep_eps)


def _dot_points(ia, a: Box, b: Box) -> Box:
    """Score boxes ``a · b`` (last axis), with the model's rounding: float ``dot``; fixed: exact
    interval products, one floor."""
    if isinstance(ia, _Float64):
        return ia.dot(a, b)
    p = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
    return ia._round(p.min(0).sum(-1), p.max(0).sum(-1))


def _uniformish(ia, sl, sh, V: Box) -> Box:
    """Box ``[C, wv]`` of ``Σ_j α_j v_j`` when each score lies in ``[sl, sh]`` ``[C, n]`` and each
    value in ``V [C, n, wv]``: per key ``α_j >= e^{sl_j}/(e^{sl_j} + Σ_{k≠j} e^{sh_k})`` and the mirror
    bound, then interval products summed (float: widened by the model's rounding; fixed: exact)."""
    n = sl.shape[1]
    if isinstance(ia, _Fixed):
        S, top = ia.S, ia.hi
        m_lo, m_hi = sl.max(1, keepdims=True), sh.max(1, keepdims=True)
        el, eh = ia.exp_floor(ia.clip(sl - m_hi), up=False), ia.exp_floor(ia.clip(sh - m_lo), up=True)
        rh = eh.sum(1, keepdims=True) - eh
        rl = el.sum(1, keepdims=True) - el
        al = (el * S) // np.maximum(np.minimum(el + rh, top), 1)
        ah = (eh * S) // np.maximum(np.minimum(eh + rl, top), 1)
        if float(S) * float(np.maximum(np.abs(V.lo), np.abs(V.hi)).max()) * n >= 2.0**62:
            raise VerifyError("fixed-point attention sums too large for exact int64 certification")
        al, ah = al[..., None], ah[..., None]
        p = np.stack([al * V.lo, al * V.hi, ah * V.lo, ah * V.hi])
        return ia._round(p.min(0).sum(1), p.max(0).sum(1))
    M = sh.max(1, keepdims=True)
    with np.errstate(over="ignore", under="ignore"):
        el = np.exp(_dn(sl - M)) * (1 - 1e-13)
        eh = np.exp(_up(sh - M)) * (1 + 1e-13)
    Sh = eh.sum(1, keepdims=True) * (1 + (n + 4) * 2 * U) * PAD
    Sl = el.sum(1, keepdims=True) * (1 - (n + 4) * 2 * U) / PAD
    rh = _up(Sh - eh)
    rl = np.maximum(_dn(Sl - el), 0.0)
    al = np.where(el > 0, el / _up(el + rh) * (1 - 1e-12), 0.0)
    ah = np.where(eh + rl > 0, np.minimum(1.0, eh / _dn(eh + rl) * (1 + 1e-12)), 1.0)
    smax = np.maximum(np.abs(sl), np.abs(sh)).max(1)
    delta = _softmax_delta(smax, n)[:, None]
    al, ah = (al * (1 - delta))[..., None], (ah * (1 + delta))[..., None]
    p = np.stack([al * V.lo, al * V.hi, ah * V.lo, ah * V.hi])
    lo, hi = p.min(0).sum(1), p.max(0).sum(1)
    vabs = np.maximum(np.abs(V.lo), np.abs(V.hi))
    err = (_gamma(n + 4) * (ah * vabs).sum(1) + (np.abs(lo) + np.abs(hi)) * (n + 4) * 2 * U) * PAD + TINY
    return Box(lo - err, hi + err)


# ---------------------------------------------------------------------------------------------
# driver


def index_lookup_boxes(model: Model, precision: str = "float64", t0: int = 0, t1: int | None = None) -> Box:
    """Logit boxes ``[t1 − t0, s, C]`` of the cells ``(t, c)``, in real units (for tests)."""
    plan = _IndexPlan(model, _arith(precision))
    t1 = plan.n if t1 is None else t1
    r = plan.tail.range(plan.logits(t0, t1))
    return r.reshape_to((t1 - t0, plan.s, -1))


def pair_boxes(model: Model, precision: str = "float64") -> tuple[list, Box]:
    """Cells (−1, 0, …, n/2 − 1) and their logit boxes ``[n/2 + 1, C]`` (for tests)."""
    plan = _PairPlan(model, _arith(precision))
    cells = list(range(-1, plan.h))
    return cells, plan.tail2.range(plan.logits(plan.layer1(), np.array(cells)))


def _proved(make, cls, step, soft_too: bool = True):
    """Margins of a chunk, trying cheaper bounds first: a box readout, then keeping ε through the
    readout, then (``soft_too``) soft counts of the other keys. Each is a sound lower bound."""
    gap = _margins(make(False, False), cls, step)
    for keep, soft in ((True, False), (True, True))[: 2 if soft_too else 1]:
        if (gap > 0).all():
            break
        gap = np.maximum(gap, _margins(make(keep, soft), cls, step))
    return gap


def _first_failure(model, x, expected, precision):
    logits = model.logits(x, precision=precision)
    rows = np.arange(len(x))
    others = logits.copy()
    others[rows, expected] = -np.inf
    margin = logits[rows, expected] - others.max(1)
    bad = np.flatnonzero(~(margin > 0))
    if bad.size == 0:
        return None
    i = int(bad[0])
    return {"input": x[i].tolist(), "expected": int(expected[i]), "got": int(np.argmax(logits[i])),
            "margin": float(margin[i])}


def _index_witnesses(task, cells, rng):
    n, s = task.n, task.alphabet_size
    out = []
    for t, c in cells[:8]:
        for x in [np.full(n, f) for f in range(s) if f != c][:8] + [rng.integers(0, s, n) for _ in range(4)]:
            x = x.copy()
            x[t] = c
            out.append(np.concatenate([x, [s + t]]))
    return np.stack(out)


def _pair_witnesses(plan, cells, rng, budget: int = 4096):
    """Inputs of unproved cells: every pair on one background combo that misses, one pair varied
    (and the cell's first hit in place), plus random members of the cells."""
    h, out = plan.h, []
    neg, pos = plan.sets["neg"], plan.sets["pos"]
    for c in cells[:4]:
        for bg in neg:
            for alt in plan.sets["any"]:
                if alt == bg:
                    continue
                pairs = np.arange(h) if h <= 1024 else np.sort(rng.choice(h, 1024, replace=False))
                for i in pairs:
                    if i == c or (i < c and alt in pos) or (c < 0 and alt in pos):
                        continue
                    x = np.empty(plan.n, dtype=np.int64)
                    x[:h], x[h:] = bg
                    if c >= 0:
                        x[c], x[c + h] = pos[0]
                    x[i], x[i + h] = alt
                    out.append(x)
        for _ in range(8):
            x = rng.integers(0, 2, plan.n)
            for i in range(h):
                if c < 0 or i < c:
                    x[i], x[i + h] = neg[rng.integers(len(neg))]
                elif i == c:
                    x[i], x[i + h] = pos[rng.integers(len(pos))]
            out.append(x)
    return np.stack(out[:budget])  # the first unproved cells first


def certify(model: Model, precision: str = "float64", *, task=None, chunk_cells: int = _CELLS_PER_CHUNK,
            witnesses: bool = True) -> dict:
    """Prove ``model`` right on every input of its task; one report row (mode ``"certified"``).

    ``status`` is ``"pass"`` only if every cell is proved; ``failures`` counts the cells that were
    not. ``inputs_checked`` is the number of inputs proved (a Python int while below 2^60, else
    the exact count as a formula string); ``min_margin`` is a rigorous lower bound on the logit
    margin over all of them. ``certificate`` says what was proved, how, under which assumptions;
    ``counterexample`` is a concrete failing input found in an unproved cell, if any
    (``witnesses=False`` skips that search: ``counterexample`` is then None even when cells fail).
    """
    ar = parse_precision(precision)
    task = task or task_of(model)
    if model.task not in CERTIFIABLE:
        raise VerifyError(f"certified mode covers {', '.join(CERTIFIABLE)}; {model.task} has no certificate "
                          "yet (use --samples or --exhaustive)")
    ia = _arith(precision)
    start = time.perf_counter()
    step = 1.0 / ia.scale if isinstance(ia, _Fixed) else None
    rng = np.random.default_rng(0)
    worst, unproved = np.inf, []
    if model.task == "index_lookup":
        plan = _IndexPlan(model, ia)
        n, s = plan.n, plan.s
        per = max(1, chunk_cells // s)
        cells, proved = n * s, 0
        for t0 in range(0, n, per):
            t1 = min(n, t0 + per)
            group = _proved(lambda keep, soft: plan.grouped(t0, t1, keep), np.arange(s), step, False)
            if (group > 0).all():  # every cell of the chunk at once
                proved += (t1 - t0) * s
                worst = min(worst, float(group.min()))
                continue
            gap = _proved(lambda keep, soft: plan.logits(t0, t1, keep, soft), np.tile(np.arange(s), t1 - t0), step)
            ok = gap > 0
            proved += int(ok.sum())
            worst = min(worst, float(gap.min()))
            unproved += [(t0 + int(i) // s, int(i) % s) for i in np.flatnonzero(~ok)[: 64 - len(unproved)]]
        unproved = unproved[:64]
        log2 = math.log2(proved) + (n - 1) * math.log2(s) if proved else float("-inf")
        covered_int = proved * s ** (n - 1) if log2 < 60 else None
        formula = f"{proved}·{s}^{n - 1}"
        find_witnesses = (lambda: _index_witnesses(task, unproved, rng))
        details = {"cell": "index t and symbol s_t fixed, the other n-1 symbols free (s^(n-1) inputs each)",
                   "attention": "weights bounded once per query position from the arrays "
                                "(n^2 Gram, float32 + error bound)"}
        num_log2 = math.log2(n) + n * math.log2(s)
    else:
        plan = _PairPlan(model, ia)
        X1, X1_soft = plan.layer1(), None
        all_cells = np.arange(-1, plan.h)
        per = max(1, (1 << 22) // plan.n)
        proved_cells = []
        for c0 in range(0, len(all_cells), per):
            cells = all_cells[c0:c0 + per]
            gap = _proved(lambda keep, soft: plan.logits(X1, cells, keep), plan.expected(task, cells), step, False)
            if not (gap > 0).all():  # retry with soft counts in layer 1
                X1_soft = plan.layer1(soft=True) if X1_soft is None else X1_soft
                gap = np.maximum(gap, _margins(plan.logits(X1_soft, cells, True), plan.expected(task, cells), step))
            worst = min(worst, float(gap.min()))
            proved_cells += cells[gap > 0].tolist()
            unproved += cells[~(gap > 0)].tolist()
        n = plan.n
        cells, proved = len(all_cells), len(proved_cells)
        covered = sum(plan.covered(c) for c in proved_cells)
        log2 = math.log2(covered) if covered else float("-inf")
        covered_int = covered if log2 < 60 else None
        if covered and covered & (covered - 1) == 0:  # a power of two (2^n when all are proved)
            formula = f"2^{covered.bit_length() - 1}"
        else:
            formula = str(covered) if covered < 10**18 else f"≈2^{log2:.6f}"
        find_witnesses = (lambda: _pair_witnesses(plan, unproved, rng))
        details = {"cell": "no pair (x_i, x_{i+n/2}) hits, or pair i is the first that hits (earlier pairs miss, "
                           "later pairs free)",
                   "attention": "layer 1: one target key per head and position, derived from the arrays; "
                                "layer 2: per-key weight bounds at the last position"}
        num_log2 = float(n)
    counterexample = None
    if unproved and witnesses:
        x = find_witnesses()
        counterexample = _first_failure(model, x, task.solve(x), str(precision))
    size = model.size()
    row = {
        "task": model.task,
        "arch": model.variant,
        "n": model.task_params.get("n"),
        "task_params": model.task_params,
        "params": size["params"],
        "params_no_embed": size["params_no_embed"],
        "width": size["width"],
        "heads": size["heads"],
        "layers": size["layers"],
        "precision": str(precision),
        "precision_bits": ar.bits,
        "mode": "certified",
        "seed": None,
        "model_seed": model.meta.get("build", {}).get("seed"),
        "inputs_checked": covered_int if covered_int is not None else formula,
        "failures": cells - proved,
        "counterexample": counterexample,
        "min_margin": worst,
        "lower_bounds": bounds.lower_bounds(model.task, model.task_params, ar.bits),
        "seconds": round(time.perf_counter() - start, 3),
        "certificate": {
            "proved": proved == cells,
            "cells": cells,
            "cells_proved": proved,
            "unproved_cells": [list(c) if isinstance(c, tuple) else c for c in unproved[:16]],
            "inputs_covered": formula,
            "inputs_covered_log2": log2,
            "num_inputs_log2": num_log2,
            **details,
            "arithmetic": ("exact integer intervals on the grid, affine forms after attention"
                           if isinstance(ia, _Fixed) else
                           "outward-rounded float64 intervals enclosing exact and float64 evaluation, "
                           "affine forms after attention"),
            "assumptions": (["softmax exp evaluated in float64 within 16 ulp, exp(0) = 1 exactly"] if isinstance(ia, _Fixed) else
                            ["IEEE round-to-nearest; K-term dot products within gamma_K in any order",
                             "exp and division within 8 ulp", "total underflow below 2^-1000"]),
        },
    }
    row["status"] = "pass" if proved == cells else "fail"
    return row
