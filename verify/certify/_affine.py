"""After attention: affine forms through ``Wo``, the residual, the MLP and the readout; margins.

A Transformer layer's attention output is enclosed by a box per cell (verify/certify/_attention.py).
From there on the forward pass is a fixed computation of that output, and plain intervals lose too
much: the two ReLUs of a thresholding unit only cancel when the dependence on the attention output
is kept. So the output coordinates become noise symbols ``ε ∈ [−1, 1]^M`` and every later value is
an affine form ``c + Σ_m ε_m·A[m] + e`` (:class:`_Aff`) with an error interval ``e`` that collects
everything not affine in ε: the format's rounding, unstable ReLUs and clipping (:class:`_Tail`).

Soundness: each operation returns a form whose range, for every ε, contains every value the
format's forward pass can compute (float64: the ``γ_K`` dot-product bound and ``u`` per addition;
fixed:I.F: floor errors in ``[−2^-F, 0]`` and clipping to ``±2^I``; see
verify/certify/_arithmetic.py); our own float64 evaluation of the forms is padded outwards.
:func:`_margins` then bounds ``logit_answer − max_other logit`` from below *with ε shared*, a
lower bound on the margin of every input of the cell; :func:`_proved` tries the cheaper enclosures
first and keeps the best of the sound bounds.
"""

from __future__ import annotations

import numpy as np

from ._arithmetic import PAD, TINY, Box, U, _dn, _Fixed, _gamma, _midrad, _up


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

    def set_cols(self, idx, other: _Aff):
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
            self.step, self.top = 2.0**-ia.F, 2.0**ia.I
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
            rep = lambda a: np.repeat(a, reps, axis=0)
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
        rep = lambda b: Box(np.repeat(b.lo, s, 0), np.repeat(b.hi, s, 0))
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
        lg = self.lin(x2, self.wr, base=base2, rest=np.setdiff1d(np.arange(xbase.shape[1]), self.Jall), reps=z.shape[1])
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


def _tail(ia, attn, mlp, readout=None) -> _Tail:
    """The :class:`_Tail` of a layer (its ``Wo`` and MLP, and the readout for the last layer), its
    arrays encoded in the format and held as float64 reals."""
    real = lambda a: None if a is None else ia.encode(a) / ia.scale  # exact in float64
    Wo = ia.encode(attn.wo) / ia.scale  # exact in float64
    wr, br = (None, None) if readout is None else (real(readout[0]), real(readout[1]))
    return _Tail(Wo.reshape(-1, Wo.shape[-1]), real(mlp.w1), real(mlp.b1), real(mlp.w2), real(mlp.b2), wr, br, ia)


def _proved(make, cls, step, soft_too: bool = True):
    """Margins of a chunk, trying cheaper bounds first: a box readout, then keeping ε through the
    readout, then (``soft_too``) soft counts of the other keys. Each is a sound lower bound."""
    gap = _margins(make(False, False), cls, step)
    for keep, soft in ((True, False), (True, True))[: 2 if soft_too else 1]:
        if (gap > 0).all():
            break
        gap = np.maximum(gap, _margins(make(keep, soft), cls, step))
    return gap
