"""Nearest neighbour at every query with width O(d + log n) whatever the margin: the "shift" scheme.

Used by :mod:`constructions.nearest_neighbor` and :mod:`constructions.associative_recall` with
``self_suppression="shift"`` (docs/MULTI_QUERY.md). Same sequence as the other schemes: point i at
``2i``, its label at ``2i + 1``, the last point at ``2n``; answers are read at the query points.

Why the other schemes pay for δ. A query at ``2k`` sees itself, and its own inner product 1 beats
any winner. The paper subtracts ``C⟨a_{2k}, a_p⟩`` with ``C ≈ 2`` (a winner may score as low as
``−1 + δ``), which must move no other score by δ/4: ``μ < δ/4``, ``r = O(log n/δ²)``. A flag
on query points costs nothing but also suppresses earlier queries, which may win.

The idea. Do not let the query look at points at all: in layer 1 every label position copies
the point just before it, so label position ``2i + 1`` holds ``(x_i, y_i)``; in layer 2 the query
scores label positions only (a type offset), so it never meets itself (its own label lies in the
future) and needs no self-suppression. The copy is an address fetch of the previous position,
which needs only constant coherence; its error costs bits of β₁, not width.

Residual stream (``D = 2d + 3B + 1 + 2r``; r for ``2n + 1`` addresses at μ ≤ 1/2)

    =======  ====  =================  =============  ================  ==============
    block    size  written by         point ``2i``   label ``2i + 1``  read by
    =======  ====  =================  =============  ================  ==============
    point    d     input              ``x_i``        0                 L1 value, L2 query
    label    B     input              0              ``ρ(y_i)``        L2 value
    type     1     position           +1             −2                L2 query / key
    addr     r     position           ``a_{2i}``     ``a_{2i+1}``      L1 key
    prev     r     position           ``a_{p−1}`` (0 at position 0)    L1 query
    copy     d     layer-1 attention  ≈ 0            ``≈ x_i``         L2 key
    ans      B     layer-2 attention                                   L2 FFN
    bits     B     layer-2 FFN                                         readout
    =======  ====  =================  =============  ================  ==============

Layer 1, one head: ``Q = β₁·prev``, ``K = addr``, ``V = point`` → copy. Position ``p ≥ 1`` scores
``p − 1`` at β₁ and every other visible position at most ``β₁μ``; with
``β₁ = softmax_scale(2n, 1 − μ, ε)`` the weight on ``p − 1`` is ``α ≥ 1 − ε`` (ε = δ/8). Points have
norm 1 and labels 0 in the point block, so ``copy_{2i+1} = x_i + e`` with
``‖e‖ ≤ (1 − α) + (1 − α) ≤ 2ε``, and ``‖copy_{2i}‖ ≤ ε`` at point positions ``2i ≥ 2``
(the previous position is a label); position 0 copies itself, ``‖copy_0‖ = 1``. No FFN (a zero unit).

Layer 2, one head: ``Q = β₂·[point ; type]``, ``K = [copy ; −3·type]``, ``V = label`` → ans. At the
query point ``2k`` (type +1) the scores over β₂ are: label ``2i + 1`` (``i < k``):
``⟨x_k, copy⟩ + 6 = ⟨x_k, x_i⟩ + 6 ± 2ε``; any point position, itself included:
``⟨x_k, copy⟩ − 3 ≤ −2``. The winner's label scores at least ``−1 + δ + 6 − 2ε > 4`` and leads every
other label by ``δ − 4ε = δ/2`` and every point by more than 6: gap ``τ = δ/2`` over at most ``2n``
competitors, so ``β₂ = softmax_scale(2n, δ/2, 1/5)`` puts ``≥ 4/5`` on it and ``ans_b ≥ 4/5`` if bit b
of ``ρ(y_{j*})`` is 1, ``≤ 1/5`` if 0. The FFN and readout are Theorem 1's (logit margin 2). ∎

Nothing used that the query is last, that earlier queries lose, or that δ is large: every query
point is answered, whichever earlier point wins, with width O(d + log n); δ enters only
``β₁ = O(log(n/δ))`` and ``β₂ = O(log(n)/δ)``, i.e. O(log n + log 1/δ) bits of precision.
"""

from __future__ import annotations

import math

import numpy as np

from ._codes import binary_code, make_addresses
from ._gadgets import attention_lower_bound, bits_mlp_and_readout, softmax_scale
from ._layout import Layout, linear
from ._nearest import MISS, Core
from ._registry import ConstructionError
from ._transformer import MLP, Attention, Layer

__all__ = ["shift_core"]

TYPE_KEY = -3.0  # layer-2 key weight on type: labels +6, points −3


def shift_core(
    n: int,
    dim: int,
    num_labels: int,
    margin: float,
    seed: int = 0,
    coherence: float | None = None,
    addresses: str = "random",
    queries: tuple[int, ...] | None = None,
) -> Core:
    """Build the shift scheme (module docstring) for n labelled points, answering at ``queries``."""
    n, dim, num_labels = int(n), int(dim), int(num_labels)
    if n < 1 or dim < 1 or num_labels < 1:
        raise ConstructionError(f"n, dim and num_labels must be at least 1, got {n}, {dim}, {num_labels}")
    if not (math.isfinite(margin) and 0 < margin <= 2):
        raise ConstructionError(f"margin must lie in (0, 2], got {margin}")
    asked = (n,) if queries is None else tuple(int(k) for k in queries)
    if not asked or any(not 1 <= k <= n for k in asked) or any(a >= b for a, b in zip(asked, asked[1:])):
        raise ConstructionError(f"queries must be increasing points in [1, {n}], got {queries!r}")
    target = 0.5 if coherence is None else float(coherence)
    if not 0 < target < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    L = 2 * n + 1
    code = make_addresses(L, addresses, target, int(seed))
    a, r, mu = code.vectors, code.dim, float(code.coherence)
    if mu >= 1:
        raise ConstructionError(f"certified coherence {mu:.6g} leaves no gap for the previous-position fetch")
    rho = binary_code(num_labels)
    B = rho.shape[1]
    copy_miss = margin / 8  # ε: copy error ≤ 2ε, score gap δ − 4ε = δ/2
    beta1 = softmax_scale(2 * n, 1.0 - mu, copy_miss)
    tau = margin / 2
    beta2 = softmax_scale(2 * n, tau, MISS)

    resid = Layout(
        ("point", dim), ("label", B), ("type", 1), ("addr", r), ("prev", r), ("copy", dim), ("ans", B), ("bits", B)
    )
    rows = []
    for p in range(L):
        row = {"type": -2.0 if p % 2 else 1.0, "addr": a[p]}
        if p:
            row["prev"] = a[p - 1]
        rows.append(resid.vector(**row))
    position = np.stack(rows)

    shift = Attention(
        wq=linear(resid, Layout(addr=r), {("prev", "addr"): beta1})[None],
        wk=linear(resid, Layout(addr=r), {("addr", "addr"): 1.0})[None],
        wv=linear(resid, Layout(point=dim), {("point", "point"): 1.0})[None],
        wo=linear(Layout(point=dim), resid, {("point", "copy"): 1.0}).T[None],
    )
    D = resid.dim
    no_ffn = MLP(w1=np.zeros((D, 1)), b1=np.zeros(1), w2=np.zeros((1, D)), b2=np.zeros(D))
    qk = Layout(point=dim, type=1)
    nearest = Attention(
        wq=linear(resid, qk, {("point", "point"): beta2, ("type", "type"): beta2})[None],
        wk=linear(resid, qk, {("copy", "point"): 1.0, ("type", "type"): TYPE_KEY})[None],
        wv=linear(resid, Layout(label=B), {("label", "label"): 1.0})[None],
        wo=linear(Layout(label=B), resid, {("label", "ans"): 1.0}).T[None],
    )
    clean, readout_w, readout_b = bits_mlp_and_readout(resid, rho, src="ans")
    info = {
        "theorem": "Theorem 7 (shift scheme, docs/MULTI_QUERY.md)",
        "self_suppression": "shift",
        "margin": float(margin),
        "copy_miss": copy_miss,
        "score_gap_layer2": tau,
        "beta1": beta1,
        "beta2": beta2,
        "beta_rule": "beta1 = ln(2n(1-eps)/eps)/(1-mu), eps = delta/8; beta2 = ln(8n)/(delta/2)",
        "attention_on_previous_lower_bound": attention_lower_bound(2 * n, 1.0 - mu, beta1),
        "attention_on_nearest_label_lower_bound": attention_lower_bound(2 * n, tau, beta2),
        "address_code": code.describe(),
        "residual_layout": resid.describe(),
        "logit_margin": 2.0,
    }
    readout = None if queries is None else tuple(2 * k for k in asked)
    if readout is not None:
        info["queries"] = len(asked)
        info["readout_positions"] = "the query points 2k"
    return Core(
        resid, position, (Layer(shift, no_ffn), Layer(nearest, clean)), readout_w, readout_b, rho, info, readout
    )
