"""Nearest neighbour with two attention layers of width O(log n) (Theorem 7; App. G.2).

Task: unit points ``x_0 … x_{n-1} ∈ R^d`` with labels ``y_i``, then a unit query q; output
``y_{j*}``, ``j* = argmax_i <q, x_i>``, under the promise ``<q, x_{j*}> ≥ <q, x_i> + δ`` (i ≠ j*).

Sequence (the input encoder interleaves the task's arrays; ``L = 2n + 1``)
    position ``2i`` holds point ``x_i``, position ``2i + 1`` its label ``y_i``, position ``2n`` the
    query. Feature row: ``[point (d) ; one-hot label (V)]``; ``W_in`` maps the one-hot to the
    binary code ``ρ(y) ∈ {0,1}^B`` (``B = ⌈log2 V⌉``).

Residual stream (``D = d + 3B + 2 + 4r``, or ``d + 3B + 1 + 4r`` with ``self_suppression="address"``)

    =======  ====  ================  ===========================  ==========  =============
    block    size  written by        point ``2i``                 label       query ``2n``
    =======  ====  ================  ===========================  ==========  =============
    point    d     ``W_in``          ``x_i``                      0           q
    label    B     ``W_in``          0                            ``ρ(y_i)``  0
    type     1     position          +1                           −2          +1
    qflag    1     position          0                            0           1
    addr     r     position          0                            ``a_i``     0
    next     r     position          ``ā_i`` (label i's signs)    ``ā_i``     0
    mix      r     layer-1 attention                                                ``≈ 2ā_{j*}``
    fetched  r     layer-1 FFN                                                      ``ā_{j*}``
    ans      B     layer-2 attention                                                ``≈ ρ(y_{j*})``
    bits     B     layer-2 FFN                                                      ``ρ(y_{j*})``
    =======  ====  ================  ===========================  ==========  =============

    (``ā = √r·a ∈ {±1}^r``. In ``"address"`` mode there is no qflag and *every* position p has
    ``addr = a_p``; label i's address is then ``a_{2i+1}``.)

Layer 1, one head: find the nearest point, fetch its label's address
    ``Q = β₁·[point ; type ; −C·self]``, ``K = [point ; 3·type ; self]``, ``V = 2·next`` → mix,
    where ``self`` is qflag (``"flag"``, default) or addr (``"address"``, the paper's).
    Scores from the query (over ``β₁``): point i: ``<q, x_i> + 3``; label: ``−6``; itself:
    ``1 + 3 − C``. In ``"address"`` mode every score moves by ``−C<a_{2n}, a_p>``, at most ``Cμ``.
    The type offsets (paper: +3 / −6) keep labels below any point (``<q, x_i> ≥ −1``); the
    self-penalty C keeps the query below its nearest point, whose inner product may be as low
    as ``−1 + δ``: ``C(1−μ) > 2 − δ``. We take ``C = 2`` (the paper takes 10).

    Score gap τ between the nearest point and any other position:
        other point ``δ − 2Cμ``;  itself ``C(1−μ) − 2 + δ``;  label ``8 + δ − 2Cμ``.
    So ``τ = δ − 2Cμ = δ − 4μ`` in ``"address"`` mode (μ < δ/4 is **exactly** what the proof
    needs, not the paper's δ/100; with the paper's C = 10 it would be μ < δ/20), and ``τ = δ``
    in ``"flag"`` mode, where the penalty touches only the query and no score is perturbed.

Scale factors (:func:`~constructions._gadgets.softmax_scale`, ``N = 2n`` competitors, miss 1/5)
    ``β₁ = ln(8n)/τ`` puts weight ``α ≥ 4/5`` on the nearest point; ``β₂ = ln(8n)/(1−μ)`` puts
    ``≥ 4/5`` on the nearest point's label in layer 2.

Layer-1 FFN: clip ``σ(u) = ReLU(u + 1) − ReLU(u − 1) − 1`` coordinatewise, mix → fetched.
    Each coordinate of mix is ``2α·s + (rest, |rest| ≤ 2(1−α))`` with ``s = ±1`` the sign of
    ``ā_{j*}``, so ``s·mix ≥ 2(2α − 1) ≥ 6/5 ≥ 1`` and σ returns ``ā_{j*}`` exactly.

Layer 2, one head: fetch the label
    ``Q = (β₂/√r)·fetched = β₂ a_{j*}``, ``K = addr``, ``V = label`` → ans. The label of ``j*``
    scores β₂, every other position at most ``β₂μ`` (points and the query have addr 0 in
    ``"flag"`` mode). So ``ans_b ≥ 4/5`` if bit b of ``ρ(y_{j*})`` is 1, ``≤ 1/5`` if it is 0.

Layer-2 FFN and readout (as in Theorem 1): ``bit_b = (ReLU(4·ans_b − 1) − ReLU(4·ans_b − 3))/2``;
``logit_c = Σ_b (2 bit_b − 1)(2ρ(c)_b − 1)``: margin 2.

Address accuracy. The paper asks for addresses accurate to δ/100. Layer 2 needs only μ < 1;
layer 1 needs μ < δ/4 in the paper's ``"address"`` mode (we draw a code with certified
μ ≤ δ/8, so τ ≥ δ/2, width ``r = O(log n / δ²)``) and nothing at all in ``"flag"`` mode, where
μ ≤ 1/2 suffices and the width is O(log n) whatever the margin. ``"flag"`` uses that the task has
one query, at the last position; ``"address"`` keeps every point position in the same form, so the
same weights would answer a query at any point position (the paper's multi-query setting).

Every query (``queries="all"``; the paper's multi-query setting, docs/MULTI_QUERY.md)
    The task asks at every point ``k > n/2``, over all points before it — an earlier query point
    may be the winner, so no flag can tell "this query" from "an earlier query" (``"flag"`` is
    refused). By default the model uses the shift scheme of :mod:`constructions._nearest_shift`
    (width ``2d + 3B + 1 + 2r``, r = O(log n) whatever δ, proved there). In the paper's
    ``"address"`` mode the proof above
    never used that the query is last: at a query point ``2k`` the causal mask leaves the
    positions ``p ≤ 2k``, its own score is ``1 + 3 − C`` and the others move by at most ``Cμ``,
    so the gaps are those above with at most ``2n`` competitors, and layer 2 fetches label ``j*``
    among the addressed positions before ``2k``. The readout is read at every query point
    (readout ``"positions"``): one causal pass, ``⌈n/2⌉`` answers. Width
    ``d + 3B + 1 + 4r`` with ``r = O(log n / δ²)`` (μ ≤ δ/8): the paper's width; O(log n) only
    for constant δ.

Heads: one per layer (the paper counts 2, TF(2; w, b, 2)). The weights are built by
:func:`constructions._nearest.core`, which associative recall
(:mod:`constructions.associative_recall`) reuses with hypercube key embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._encoders import ModelInputError, register_input_encoder
from ._meta import model_meta
from ._model import Model
from ._nearest import SELF_PENALTY, Core, core, required_coherence
from ._nearest_shift import shift_core
from ._registry import ConstructionError, register

__all__ = ["build_nearest_neighbor", "core", "Core", "required_coherence", "SELF_PENALTY"]

UNIT_TOL = 1e-9


@register_input_encoder("nearest_neighbor_features")
def encode_features(meta: Mapping, inputs) -> np.ndarray:
    """``{"points" [B, n+1, d], "labels" [B, n]}`` → features ``[B, 2n+1, d + V]``: point rows at
    even positions, one-hot label rows at odd positions, the query last."""
    p = meta["task_params"]
    n, dim, V = int(p["n"]), int(p["dim"]), int(p["num_labels"])
    if not isinstance(inputs, dict) or "points" not in inputs or "labels" not in inputs:
        raise ModelInputError('expected a dict with keys "points" and "labels"')
    points, labels = np.asarray(inputs["points"], dtype=np.float64), np.asarray(inputs["labels"])
    if points.ndim != 3 or points.shape[1:] != (n + 1, dim):
        raise ModelInputError(f"points must have shape [batch, {n + 1}, {dim}], got {points.shape}")
    if labels.shape != points.shape[:1] + (n,) or labels.dtype.kind not in "iu":
        raise ModelInputError(f"labels must be integers of shape [{points.shape[0]}, {n}], got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= V):
        raise ModelInputError(f"labels must lie in [0, {V})")
    if not np.all(np.isfinite(points)) or np.any(np.abs(np.linalg.norm(points, axis=2) - 1) > UNIT_TOL):
        raise ModelInputError("nearest_neighbor needs unit points (non-unit points given)")
    out = np.zeros((points.shape[0], 2 * n + 1, dim + V))
    out[:, 0::2, :dim] = points
    out[:, 1::2, dim:] = np.eye(V)[labels]
    return out


@register("nearest_neighbor", "tf2")
def build_nearest_neighbor(
    n: int,
    dim: int = 8,
    margin: float = 0.1,
    num_labels: int = 2,
    seed: int = 0,
    coherence: float | None = None,
    self_suppression: str | None = None,
    addresses: str = "random",
    queries: str = "last",
) -> Model:
    """Two-layer Transformer for ``nearest_neighbor`` (Theorem 7).

    Args:
        n, dim, margin, num_labels: the task's parameters (δ = margin).
        seed: seed of the random address code.
        coherence: target coherence of the address code (default 1/2, or δ/8 in ``"address"`` mode).
        self_suppression: ``"flag"`` (the query position is flagged; exact; the default for one
            query), ``"address"`` (the paper's ``−C<a_q, a_p>`` term; needs μ < δ/4) or
            ``"shift"`` (no suppression needed: layer 2 reads label positions that layer 1 filled
            with the preceding point, :mod:`constructions._nearest_shift`; width O(d + log n)
            whatever δ; the default for ``queries="all"``, where ``"flag"`` is refused).
        addresses: ``"random"``, ``"hadamard"`` or ``"rs"`` (explicit Reed–Solomon ⊗ Hadamard code, :mod:`constructions.explicit_addresses`).
        queries: ``"last"`` (one final query) or ``"all"`` (every point ``k > n/2``; readout
            ``"positions"``).
    """
    if queries not in ("last", "all"):
        raise ConstructionError(f"queries must be 'last' or 'all', got {queries!r}")
    if self_suppression is None:
        self_suppression = "shift" if queries == "all" else "flag"
    if queries == "all" and self_suppression == "flag":
        raise ConstructionError(
            "nearest_neighbor with queries='all' needs self_suppression='shift' or 'address': an "
            "earlier query point may be the nearest neighbour, so a query flag would suppress it"
        )
    n = int(n)
    asked = tuple(range(n // 2 + 1, n + 1)) if queries == "all" else None
    if self_suppression == "shift":
        c = shift_core(n, dim, num_labels, float(margin), seed, coherence, addresses, asked)
    else:
        c = core(n, dim, num_labels, float(margin), seed, coherence, self_suppression, addresses, asked)
    dim, num_labels = int(dim), int(num_labels)
    w_in = np.vstack([c.point_rows(np.eye(dim)), c.label_rows()])  # [d + V, D]
    params: dict[str, object] = {"n": n, "dim": dim, "margin": float(margin), "num_labels": num_labels}
    if queries == "all":
        params["queries"] = queries
    meta = model_meta(
        "transformer",
        "nearest_neighbor",
        params,
        embed="input",
        input_encoding="nearest_neighbor_features",
        seq_len=2 * n + 1,
        d_in=dim + num_labels,
        build={
            "task": "nearest_neighbor",
            "arch": "tf2",
            **params,
            "seed": int(seed),
            "coherence": coherence,
            "self_suppression": self_suppression,
            "addresses": addresses,
        },
        construction=c.info,
        readout_positions=c.readout_positions,
    )
    return Model(c.weights(w_in), meta)
