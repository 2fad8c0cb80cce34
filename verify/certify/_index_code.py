"""Index lookup certified from the address code's proved coherence: O(r) work per cell, not O(n·r).

The general plan (verify/certify/_index_lookup.py) bounds the score of every off-target position
``k ≠ t`` from the row maximum of the Gram matrix ``q_t · p_k`` over all n positions: O(n·r) work
per query, O(n²·r) in all. When the position keys are a Reed–Solomon ⊗ Hadamard code
(constructions/explicit_addresses.py) that maximum follows from the code's distance instead.

Hypotheses (each checked from the model's arrays, never from its metadata; outside them the plan is
refused with a one-line :class:`VerifyError` when asked for by name, else the general plan runs):

* one layer, one head, arithmetic float64 (fixed-point formats keep the general plan);
* the key width is ``w = q·m`` for a prime q and ``m = 2^⌈log2 q⌉``, and K is the least integer
  with ``q^K >= n``;
* the position keys ``p_k = fl(P[k] Wkᵀ)`` (midpoints of their enclosures), for *every* ``k < n``,
  are within a measured ``δ`` (max norm) of ``c·σ(k)``, where ``c = p_0[0]`` and ``σ(k) ∈ {±1}^w``
  is the codeword of k: the polynomial ``f_k`` over GF(q) whose coefficients are the base-q digits
  of k, evaluated at ``x = 0 … q−1``, each value ``f_k(x)`` written as row ``f_k(x)`` of the
  Sylvester–Hadamard matrix of order m (entry b: ``(−1)^popcount(f_k(x) & b)``). The codewords are
  computed here, independently of the builder. δ enters the bound; it is not assumed small.

The bound (exact reals). Write the query's midpoint ``q_t = β_t·σ(t) + e_t`` with
``β_t = q_t·σ(t)/w`` (any β_t would do: ``e_t`` is defined as the remainder) and
``p_k = c·σ(k) + d_k``, ``|d_k|_∞ <= δ``. For ``k ≠ t``, both below ``n <= q^K``, the polynomials
``f_t ≠ f_k`` have degree < K, so they agree on at most ``K − 1`` points of GF(q); distinct Hadamard
rows are orthogonal and equal rows have product m, so ``σ(t)·σ(k) = m·#agreements ∈ [0, m(K−1)]``.
Hence

    ``q_t·p_k = β_t c σ(t)·σ(k) + β_t σ(t)·d_k + e_t·p_k
              <= max(0, β_t c)·m(K−1) + |β_t|·w·δ + |e_t|_1·max_k |p_k|_∞``,

evaluated with upward slack for the float64 rounding of ``e_t`` and of the sum. This replaces the
Gram row maximum in the general score bound (the token part, the rounding of the key sum and the
query's own radius are added exactly as there), so the rest of the proof — the target's weight,
the value mixture, the MLP and the readout — is the general plan's.

Cost: one pass over the n positions (the key table, checked against the code, and the hull of the
position values), O(n·D·r) arithmetic in chunks of :data:`_PASS` rows (bounded memory); then per
query position t, O(s·r) for the token scores and O(r) for the bound: O(r) per cell ``(t, c)``. The
model's dense tables are read in slices, never copied whole.
"""

from __future__ import annotations

import math

import numpy as np

from .._engine import VerifyError
from ._arithmetic import PAD, TINY, Box, U, _dn, _Float64, _gamma, _midrad, _up
from ._attention import _mix_float
from ._threads import ordered_map

_PASS = 1 << 14  # positions per chunk of the one-off pass over the position table


def _is_prime(q: int) -> bool:
    return q >= 2 and all(q % d for d in range(2, math.isqrt(q) + 1))


def code_signs(idx: np.ndarray, q: int, k: int, m: int) -> np.ndarray:
    """int8 ``[len(idx), q·m]``: the Reed–Solomon ⊗ Hadamard codewords σ(i) (module docstring),
    computed by Horner's rule mod q and the popcount form of the Sylvester–Hadamard rows."""
    idx = np.asarray(idx, dtype=np.int64)
    x = np.arange(q, dtype=np.int64)[None, :]
    digits = [(idx // q**j) % q for j in range(k)]  # coefficient j of f_i
    val = np.zeros((len(idx), q), dtype=np.int64)
    for j in reversed(range(k)):  # Horner: f = ((d_{k-1} x + d_{k-2}) x + ...) mod q
        val = (val * x + digits[j][:, None]) % q
    return _hadamard(m)[val].reshape(len(idx), q * m)


def _hadamard(m: int) -> np.ndarray:
    """int8 ``[m, m]``: entry ``(a, b)`` is ``(−1)^popcount(a & b)`` (Sylvester's matrix of order m)."""
    bits = np.arange(m, dtype=np.int64)[:, None] & np.arange(m, dtype=np.int64)[None, :]
    parity = np.zeros_like(bits)
    while bits.any():
        parity ^= bits & 1
        bits >>= 1
    return (1 - 2 * parity).astype(np.int8)


def code_parameters(w: int, n: int) -> tuple[int, int, int] | None:
    """``(q, K, m)``: the prime q with ``q·2^⌈log2 q⌉ = w`` (the least such, if several) and the least
    K with ``q^K >= n``; None if w has no such form."""
    for q in range(2, w + 1):
        m = 1 << math.ceil(math.log2(q))
        if q * m == w and _is_prime(q):
            k = 1
            while q**k < n:
                k += 1
            return q, k, m
    return None


class _Proj:
    """``x ↦ Box(x) @ Wᵀ`` as :meth:`_Float64.matmul` encloses it for point rows x, over the nonzero
    columns of W only (zero columns add exact zeros) but with the error term of the full D-term dot
    product. Where every output reads one input (one nonzero per row of W, as in the constructions'
    block copies), the product is that one float product per entry: O(rows·w), no matmul."""

    def __init__(self, W: np.ndarray):
        live = np.flatnonzero(np.any(W != 0, axis=0))
        self.terms, self.width = W.shape[1], W.shape[0]
        nnz = (W != 0).sum(1)
        self.single = None
        if (nnz <= 1).all():  # output j = x[src_j]·W[j, src_j] (0 where the row is empty)
            src = np.argmax(W != 0, axis=1)
            self.single = (src, W[np.arange(W.shape[0]), src])
        self.live = live
        self.ws = np.ascontiguousarray(W[:, live].T)
        self.aws = np.abs(self.ws)

    def __call__(self, ia, x: np.ndarray) -> Box:
        if self.single is not None:
            src, val = self.single
            xs = x[:, src]
            if not xs.any():  # every product is an exact 0, and so is every evaluation of the sum
                z = np.zeros(xs.shape)
                return Box(z, z)
            mid = xs * val
            # _close(mid, |mid|, 0, terms) in one step: radius κ|mid| + τ, κ and τ padded by 8u and
            # 2·TINY for the rounding of the radius and of mid ± radius
            g = _gamma(self.terms + 4)
            kappa = 2 * g / (1 - g) * PAD * (1 + 8 * U) + 8 * U
            rad = np.abs(mid) * kappa + (self.terms + 8) * TINY
            return Box(mid - rad, mid + rad)
        xs = x[:, self.live]
        return ia._close(xs @ self.ws, np.abs(xs) @ self.aws, 0.0, self.terms)


def _rows(ia, x: np.ndarray, W: np.ndarray) -> Box:
    """:class:`_Proj` of W applied once."""
    return _Proj(W)(ia, x)


class CodeStructure:
    """The hypotheses checked over all n positions, and the constants of the bound.

    Attributes: ``q, K, m`` (the code), ``c`` (key scale), ``delta`` (``max_k |p_k − c·σ(k)|_∞``,
    rounded up), ``pinf`` (``max_k |p_k|_∞``), and what the general score bound needs about the
    position keys (``rPmax``, ``pPmax``, ``pk_big``) and the hull of the position values ``pv``."""

    def __init__(
        self, ia, P: np.ndarray, n: int, Wk: np.ndarray, Wv: np.ndarray, quick: bool = False, workers: int = 1
    ):
        w = Wk.shape[0]
        found = code_parameters(w, n)
        if found is None:
            raise VerifyError(
                f"key width {w} is not q·2^ceil(log2 q) for a prime q: not a Reed–Solomon ⊗ Hadamard code"
            )
        self.q, self.K, self.m = found
        self.n, self.w = n, w
        self.c = float(_midrad(_rows(ia, P[:1], Wk))[0][0, 0])
        if not self.c > 0:
            raise VerifyError("position 0's first key entry is not positive: not the code's scale")
        fk, fv = _Proj(Wk), _Proj(Wv)

        def measure(a: int) -> tuple:  # one chunk of positions: its deviation, key and value bounds
            b = min(n, a + _PASS)
            pk = fk(ia, P[a:b])
            pm, pr = _midrad(pk)
            sig = code_signs(np.arange(a, b), self.q, self.K, self.m)
            rP = pr + 2 * U * (np.abs(pm) + pr)  # as _Keys: a key is fl(token part + position part)
            pv = fv(ia, P[a:b])
            return (
                float(np.abs(pm - self.c * sig).max()),
                float(np.abs(pm).max()),
                float(rP.max()),
                float((np.abs(pm) + rP).max()),
                max(float(np.abs(pk.lo).max()), float(np.abs(pk.hi).max())),
                pv.lo.min(0),
                pv.hi.max(0),
            )

        starts = range(0, n, _PASS)
        first = measure(0)
        if quick and first[0] > 2.0**-20 * self.c:  # not the code: say so before the whole pass
            parts = [first]
        else:  # the other chunks in threads (verify/certify/_threads.py); maxima do not depend on order
            parts = [first] + [r for _, r in ordered_map(measure, starts[1:], workers)]
        self.delta, self.pinf, self.rPmax, self.pPmax, self.pk_big = (max(r[i] for r in parts) for i in range(5))
        vlo = np.min([r[5] for r in parts], axis=0)
        vhi = np.max([r[6] for r in parts], axis=0)
        if self.delta > 2.0**-20 * self.c:
            raise VerifyError(
                f"position keys are not c·σ(k) of the Reed–Solomon ⊗ Hadamard code RS[q={self.q}, K={self.K}] "
                f"(max deviation {self.delta:.3g}, scale {self.c:.3g})"
            )
        self.delta = float(_up(self.delta * (1 + 4 * U) + TINY))
        self.pv = Box(vlo, vhi)

    def gram_upper(self, qm: np.ndarray, tt: np.ndarray) -> np.ndarray:
        """Upper bounds ``[T]`` on ``max_{k<n, k≠t} q_t·p_k`` (exact reals; module docstring), O(w) each."""
        if self.n < 2:
            return np.full(len(tt), -np.inf)
        sig = code_signs(tt, self.q, self.K, self.m).astype(np.float64)
        beta = (qm * sig).sum(1) / self.w
        e1 = np.abs(qm - beta[:, None] * sig).sum(1) * (1 + (self.w + 4) * 2 * U)  # |e_t|_1, rounded up
        code = np.maximum(0.0, beta * self.c) * (self.m * (self.K - 1))
        return (code + np.abs(beta) * self.w * self.delta + e1 * self.pinf) * (1 + 16 * U) + TINY

    def details(self) -> str:
        return (
            f"Reed–Solomon RS[q={self.q}, K={self.K}] ⊗ Hadamard(m={self.m}) position keys, checked over all "
            f"{self.n} positions (scale c={self.c:.6g}, deviation δ={self.delta:.3g}); off-target scores bounded "
            "by max(0, β_t c)·m(K−1) + |β_t|·w·δ + |e_t|_1·max|p_k| (codewords agree on <= K−1 points), "
            "O(r) per cell, no Gram matrix; hypotheses: one layer, one head, float64"
        )


def code_plan_error(model, ia) -> str | None:
    """Why the structured plan does not apply to ``model`` in ``ia`` (None: its cheap hypotheses
    hold; the position keys are checked when the plan is built)."""
    if not isinstance(ia, _Float64):
        return f"the Reed–Solomon certificate covers float64 only, not {ia.name} (use the general certificate)"
    att = model.weights.layers[0].attn
    if att.wq.shape[0] != 1:
        return f"the Reed–Solomon certificate covers one head, this model has {att.wq.shape[0]}"
    if code_parameters(att.wk.shape[1], int(model.task_params["n"])) is None:
        return f"key width {att.wk.shape[1]} is not q·2^ceil(log2 q) for a prime q: not a Reed–Solomon ⊗ Hadamard code"
    return None


def structured_scores(code: CodeStructure, ek: Box, pk_t: Box, q: Box, tt: np.ndarray):
    """As :meth:`verify.certify._attention._Keys._float` (no soft counts): the target's score box
    ``[T, s]`` and an upper bound ``[T]`` on every other data key's score, with the Gram row maximum
    replaced by :meth:`CodeStructure.gram_upper`."""
    w = q.shape[-1]
    g = _gamma(w + 4)
    qm, qr = _midrad(q)
    em, er = _midrad(ek)
    rE = er + 2 * U * (np.abs(em) + er)
    a = np.abs(qm)
    b = qr + g * (a + qr)
    # the radii rE (tiny, often subnormal: slow in a matmul) enter through their row maxima, an upper
    # bound: a·rE_c <= |a|_1·max rE_c; the midpoints only through their nonzero columns j
    rEc = rE.max(1)
    j = np.flatnonzero(np.abs(em).max(0) > 0)
    emj, qj, aj, bj = em[:, j], qm[:, j], a[:, j], b[:, j]
    tok = qj @ emj.T
    tokErr = (a.sum(1) + b.sum(1))[:, None] * rEc[None, :] + (bj + g * aj) @ np.abs(emj).T
    pm_t, pr_t = _midrad(pk_t)
    rP_t = pr_t + 2 * U * (np.abs(pm_t) + pr_t)
    pos = (qm * pm_t).sum(1)
    posErr = (a * rP_t).sum(1) + (b * (np.abs(pm_t) + rP_t)).sum(1) + g * (a * np.abs(pm_t)).sum(1)
    center = tok + pos[:, None]
    rad = (tokErr + posErr[:, None]) * PAD + np.abs(center) * 4 * U + TINY
    st = Box(_dn(center - rad), _up(center + rad))
    gmax = code.gram_upper(qm, tt)
    tokMax = (tok + tokErr * PAD + np.abs(tok) * 4 * U).max(1)
    other = tokMax + np.where(np.isfinite(gmax), gmax, 0) + (a.sum(1) * code.rPmax + b.sum(1) * code.pPmax) * PAD
    other = np.where(np.isfinite(gmax), other + np.abs(other) * 4 * U + TINY, -np.inf)
    return st, other


def structured_attention(plan, t0: int, t1: int, hull: bool = False):
    """The attention boxes of :meth:`_IndexPlan.attention` for the cells of ``t0 <= t < t1``, every
    table row computed for this chunk only (the model's E and P are read in slices). ``hull``: the
    last position's stream as one box ``[1, D]`` over the chunk (fl(x + y) is monotone, so adding
    the hull of the rows encloses every row's sum), as :meth:`_IndexPlan.grouped` uses it."""
    ia, n, s, code = plan.ia, plan.n, plan.s, plan.code
    w = plan.model.weights
    fq, fk, fv = plan.proj
    tt = np.arange(t0, t1)
    T = len(tt)
    Erows, Pn, Pt = w.embed[s + t0 : s + t1], w.position[n : n + 1], w.position[t0:t1]
    if hull:
        xlast = ia.add(Box(Erows.min(0, keepdims=True), Erows.max(0, keepdims=True)), Box(Pn, Pn))  # [1, D]
    else:
        xlast = ia.add(Box(Erows, Erows), Box(Pn, Pn))  # [T, D]
    q = ia.add(fq(ia, Erows), fq(ia, Pn))
    ka, kb = fk(ia, Erows), fk(ia, Pn)
    kn = ia.add(ka, kb)  # the index token's own key
    vn = ia.add(fv(ia, Erows), fv(ia, Pn))
    ev = plan.EV_sym
    pv_t = fv(ia, Pt)
    vt = ia.add(Box(ev.lo[None], ev.hi[None]), Box(pv_t.lo[:, None], pv_t.hi[:, None]))  # [T, s, wv]
    other = ia.add(Box(ev.lo.min(0), ev.hi.max(0)), code.pv)  # any k, any symbol
    ho = Box(np.minimum(other.lo[None], vn.lo), np.maximum(other.hi[None], vn.hi))  # [T, wv]
    st, up = structured_scores(code, plan.EK_sym, fk(ia, Pt), q, tt)
    if not (ka.lo.any() or ka.hi.any() or kb.lo.any() or kb.hi.any()):
        # both parts of the last position's key are exact zeros, so is fl(0 + 0) and its score
        own = Box(np.zeros(T), np.zeros(T))
    else:
        own = ia.dot(q, kn)
    kinf = (max(np.abs(plan.EK_sym.lo).max(), np.abs(plan.EK_sym.hi).max()) + code.pk_big) * PAD
    kinf = np.maximum(kinf, np.maximum(np.abs(kn.lo), np.abs(kn.hi)).max(1) * PAD)
    qm, qr = _midrad(q)
    smax = (np.abs(qm) + qr).sum(-1) * kinf * (1 + 2 * _gamma(q.shape[-1] + 4))
    z = _mix_float(st.lo, [(up, n - 1), (own.hi, 1)], vt, ho, smax, n + 1)
    assert z.shape[0] == T
    return z, xlast
