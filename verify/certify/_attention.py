"""Attention: bounds on one head's scores, its softmax weights and its output (key/value mixing).

The plans certify constructions whose attention pattern does not depend on the symbols: for a query
there is one *target* key, and the other keys may hold any symbol. A head is then bounded in three
steps, all from the model's arrays:

* scores (:class:`_Keys`): the target key's score is enclosed directly, one column per key token;
  every other key ``k`` scores ``q·(E Wkᵀ)[x_k] + q·(P Wkᵀ)[k]``, bounded above by the largest
  token term plus the row maximum of the Gram matrix ``q·(P Wkᵀ)[k]`` over those ``k``
  (:func:`_gram`: float32 BLAS with the rigorous bound ``(γ32_{w+2}(1+u32)² + 3u32)·Σ_j |q_j|·max_k
  |p_kj|``, float64 where that is not small); optionally also ``Σ_k e^{score_k}`` ("soft counts");
* weights: a lower bound on the target's weight ``α_t >= 1/(1 + Σ count·e^{upper − s_t})`` and an
  upper bound on everyone else's total, per query;
* output (:func:`_mix_float`, :func:`_mix_fixed`): ``α_t·V_t + (rest)``, the rest a sub-convex
  combination of the values the other keys can hold (their hull).

Soundness: the ideal softmax is monotone in each score, so the worst case over the scores' ranges is
at the ends used above. float64: the model's own softmax is within a relative
:func:`_softmax_delta` of the ideal one (subtraction of the max, ``exp`` and division within 8 ulp,
an ``L``-term normaliser), and the output is widened by that and by the value sum's ``γ_L``.
fixed:I.F: ``α = floor(e·2^F / clip(Σe))`` is monotone in ``e`` and in the rest, ``exp`` is
enclosed by :meth:`_Fixed.exp_floor`, and all products are exact int64 (with saturation where the
clip to ``±2^(I+F)`` makes the result independent of the product). :func:`_uniformish` is the
per-key version (no target: every key's weight bounded from its own score range), used in the
second layer of the pair plans.
"""

from __future__ import annotations

import math

import numpy as np

from .._engine import VerifyError
from ._arithmetic import (
    PAD,
    TINY,
    U32,
    Box,
    U,
    _dn,
    _Fixed,
    _Float64,
    _gamma,
    _imm,
    _midrad,
    _up,
)


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
            big = lambda b: max(np.abs(b.lo).max(), np.abs(b.hi).max())
            self.kinf = (big(self.ek) + big(self.pk)) * PAD

    def scores(self, q: Box, target, limit, soft: bool = False, exclude=None):
        """Scores of queries ``q [R, w]``: the target key's, one column per key token ``[R, B]``
        (a box; exact ints in fixed point), and the *others*: every key ``k < limit, k ≠ target``
        with any token, as ``(upper [R], soft)`` — an upper bound on their scores (−inf /
        −2^(I+F) where there is none) and, with ``soft``, a factor ``c <= count`` with
        ``Σ_k e^{score_k} <= c·e^{upper}`` (fixed point: ``(upper_int, upper_real, c)``).
        ``exclude [R]``: a token column per query that the other keys do not hold (−1: none)."""
        f = self._fixed if self.fixed else self._float
        return f(q, target, limit, soft, exclude)

    @staticmethod
    def _others(tok, exclude):
        """``tok [R, B]`` with the excluded token column of each row at its least value (−inf, or
        the least int64 for the exact integer scores of fixed point): a copy."""
        if exclude is None:
            return tok
        out = tok.copy()
        rows = np.flatnonzero(exclude >= 0)
        out[rows, exclude[rows]] = np.iinfo(np.int64).min if out.dtype.kind == "i" else -np.inf
        return out

    def _fixed(self, q, target, limit, soft, exclude=None):
        ia = self.ia
        qv = q.lo  # a point
        tok = _imm(qv, self.ek.lo.T)
        pos = (qv * self.pk.lo[target]).sum(1)  # exact: |q|·(|ek| + |pk|) < 2^62 (no-clip check)
        st = ia.clip(np.floor_divide(tok + pos[:, None], ia.S))
        g, cnt = _gram(qv.astype(np.float64), self, target, limit, soft)
        finite = np.isfinite(g)
        g = np.where(finite, g, 0.0)
        ghi = np.floor(g + np.abs(g) * 2.0**-40 + 1).astype(np.int64)  # an int >= every other G
        tmax = self._others(tok, exclude).max(1)
        other = np.where(finite, ia.clip(np.floor_divide(tmax + ghi, ia.S)), -ia.hi)
        real = np.where(finite, (tmax + ghi) / float(ia.S), -np.inf)  # unfloored, in 2^-F units
        return st, (other, real, cnt)

    def _float(self, q, target, limit, soft, exclude=None):
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
        tokMax = self._others(tok + tokErr * PAD + np.abs(tok) * 4 * U, exclude).max(1)
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
    den: float | np.ndarray = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for upper, count in groups:
            cnt = np.broadcast_to(np.asarray(count, dtype=np.float64), upper.shape)[:, None]
            term = cnt * np.exp(_up(upper[:, None] - tl)) * (1 + 1e-12)
            den = den + np.where(cnt > 0, term, 0.0)
    al = np.where(np.isfinite(den), (1.0 / den) * (1 - 1e-12), 0.0)[..., None]
    ulo, uhi = ho.lo[:, None, :], ho.hi[:, None, :]
    # α·v + (1 − α)·u, lowest (highest) at α = al or α = 1, evaluated as u + al·(v − u) in one
    # buffer: its rounding (a few ulp of max(|u|, |v|)) is inside ``widen``'s vmax·2^-48
    lo = (vt.lo - ulo) * al
    lo += ulo
    np.minimum(lo, vt.lo, out=lo)
    hi = (vt.hi - uhi) * al
    hi += uhi
    np.maximum(hi, vt.hi, out=hi)
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
    E = lambda d, up: ia.exp_floor(np.minimum(d, 0), up)
    e_lo, e_hi = E(ia.clip(st - m_hi), up=False), E(ia.clip(st - m_lo), up=True)
    r_hi = np.zeros_like(st)
    for upper, count, soft in groups:
        cnt = np.broadcast_to(np.asarray(count, dtype=np.int64), upper.shape)[:, None]
        r = cnt * E(ia.clip(upper[:, None] - m_lo), up=True)
        if soft is not None:
            real, c = soft
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                x = (
                    S
                    * (1 + 20 * U)
                    * (c[:, None] * np.exp(np.minimum(real[:, None] - m_lo, 0) / S) + cnt * math.exp(-(2.0**ia.I)))
                )
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
    sat = lambda x: np.clip(x, -(1 << 61), 1 << 61)
    mul = lambda a, b: sat(
        np.where(np.abs(a.astype(np.float64) * b) < 2.0**61, a * b, np.sign(a) * np.sign(b) * (1 << 61))
    )
    t_lo = np.minimum(a_lo * vt.lo, a_hi * vt.lo)
    t_hi = np.maximum(a_lo * vt.hi, a_hi * vt.hi)
    u_lo = np.minimum(0, mul(rest, ho.lo[:, None, :]))
    u_hi = np.maximum(0, mul(rest, ho.hi[:, None, :]))
    return ia._round(sat(t_lo + u_lo), sat(t_hi + u_hi))


def _tables(ia, E, P, W, H):
    """First-layer per-table products ``E Wᵀ`` and ``P Wᵀ`` per head (docs/MODEL.md), one rounding each."""
    return ([ia.matmul(Box(E, E), W[h].T) for h in range(H)], [ia.matmul(Box(P, P), W[h].T) for h in range(H)])


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
