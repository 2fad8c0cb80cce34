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

Scale factors (:func:`~constructions.equality.softmax_scale`, ``N = 2n`` competitors, miss 1/5)
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

Heads: one per layer (the paper counts 2, TF(2; w, b, 2)). Associative recall
(:mod:`constructions.associative_recall`) reuses :func:`core` with hypercube key embeddings.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._layout import Layout, linear, linear_in
from ._model import Model, ModelInputError, register_input_encoder
from ._registry import ConstructionError, register
from ._transformer import MLP, Attention, Layer, TransformerWeights
from .equality import attention_lower_bound, softmax_scale
from .index_lookup import binary_code, bits_mlp_and_readout, make_addresses

__all__ = ["build_nearest_neighbor", "core", "Core", "required_coherence", "SELF_PENALTY"]

SELF_PENALTY = 2.0  # C
MISS = 1 / 5
UNIT_TOL = 1e-9


def required_coherence(margin: float) -> float:
    """``"address"`` mode: layer 1 works iff ``μ < δ/(2C) = δ/4`` (module docstring)."""
    return margin / (2 * SELF_PENALTY)


@dataclasses.dataclass(frozen=True)
class Core:
    """Both layers, positions and readout of the construction; inputs enter via :meth:`point_rows`
    and :meth:`label_rows` (a feature projection ``W_in`` or a token table ``E``)."""

    resid: Layout
    position: np.ndarray  # [2n+1, D]
    layers: tuple
    readout_w: np.ndarray
    readout_b: np.ndarray
    label_code: np.ndarray  # ρ [V, B]
    info: dict

    def point_rows(self, points: np.ndarray) -> np.ndarray:
        """``[m, D]``: one residual row per point ``[m, d]`` (point block)."""
        return np.stack([self.resid.vector(point=p) for p in np.asarray(points, dtype=np.float64)])

    def label_rows(self) -> np.ndarray:
        """``[V, D]``: row v carries ``ρ(v)`` in the label block."""
        return np.stack([self.resid.vector(label=c) for c in self.label_code])

    def weights(self, embed: np.ndarray) -> TransformerWeights:
        return TransformerWeights(embed, self.position, self.layers, self.readout_w, self.readout_b)


def core(n: int, dim: int, num_labels: int, margin: float, seed: int = 0, coherence: float | None = None,
         self_suppression: str = "flag", addresses: str = "random") -> Core:
    """Build the two layers for n labelled points of dimension ``dim`` with margin δ."""
    n, dim, num_labels = int(n), int(dim), int(num_labels)
    if n < 1:
        raise ConstructionError(f"n must be at least 1, got {n}")
    if dim < 1:
        raise ConstructionError(f"dim must be at least 1, got {dim}")
    if num_labels < 1:
        raise ConstructionError(f"num_labels must be at least 1, got {num_labels}")
    if not (math.isfinite(margin) and 0 < margin <= 2):
        raise ConstructionError(f"margin must lie in (0, 2], got {margin}")
    if self_suppression not in ("flag", "address"):
        raise ConstructionError(f"self_suppression must be 'flag' or 'address', got {self_suppression!r}")
    paper = self_suppression == "address"
    need = required_coherence(margin) if paper else 1.0
    target = (need / 2 if paper else 0.5) if coherence is None else float(coherence)
    if not 0 < target < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    if target >= need:
        raise ConstructionError(f"'address' mode needs coherence < margin/4 = {need:.6g}, got {target}")
    L = 2 * n + 1
    code = make_addresses(L if paper else n, addresses, target, int(seed))
    a, signs, r, mu = code.vectors, code.signs.astype(np.float64), code.dim, float(code.coherence)
    label_addr = [2 * i + 1 for i in range(n)] if paper else list(range(n))
    tau = margin - 2 * SELF_PENALTY * mu if paper else margin
    if tau <= 0:
        raise ConstructionError(f"certified coherence {mu:.6g} leaves no score gap (need mu < {need:.6g})")
    rho = binary_code(num_labels)
    B = rho.shape[1]
    beta1 = softmax_scale(2 * n, tau, MISS)
    beta2 = softmax_scale(2 * n, 1.0 - mu, MISS)

    self_block = "addr" if paper else "qflag"
    resid = Layout(("point", dim), ("label", B), ("type", 1), *([] if paper else [("qflag", 1)]),
                   ("addr", r), ("next", r), ("mix", r), ("fetched", r), ("ans", B), ("bits", B))
    rows = []
    for p in range(L):
        i, is_label = divmod(p, 2)
        row = {"type": -2.0 if is_label else 1.0}
        if p < 2 * n:
            row["next"] = signs[label_addr[i]]
        if paper:
            row["addr"] = a[p]
        elif is_label:
            row["addr"] = a[label_addr[i]]
        if p == 2 * n and not paper:
            row["qflag"] = 1.0
        rows.append(resid.vector(**row))
    position = np.stack(rows)

    # layer 1: attend to the nearest point, carry 2·ā of its label's address into mix; clip
    qk = Layout(point=dim, type=1, own=resid.size(self_block))
    val = Layout(next=r)
    nearest = Attention(
        wq=linear(resid, qk, {("point", "point"): beta1, ("type", "type"): beta1,
                              (self_block, "own"): -SELF_PENALTY * beta1})[None],
        wk=linear(resid, qk, {("point", "point"): 1.0, ("type", "type"): 3.0, (self_block, "own"): 1.0})[None],
        wv=linear(resid, val, {("next", "next"): 2.0})[None],
        wo=linear(val, resid, {("next", "mix"): 1.0}).T[None],
    )
    ramps = Layout(plus=r, minus=r)
    clip = MLP(
        w1=linear_in(resid, ramps, {("mix", "plus"): 1.0, ("mix", "minus"): 1.0}),
        b1=ramps.vector(plus=1.0, minus=-1.0),
        w2=linear_in(ramps, resid, {("plus", "fetched"): 1.0, ("minus", "fetched"): -1.0}),
        b2=resid.vector(fetched=-1.0),
    )

    # layer 2: fetch the label whose address was retrieved; clean its bits
    qk2, val2 = Layout(addr=r), Layout(label=B)
    fetch = Attention(
        wq=linear(resid, qk2, {("fetched", "addr"): beta2 / math.sqrt(r)})[None],
        wk=linear(resid, qk2, {("addr", "addr"): 1.0})[None],
        wv=linear(resid, val2, {("label", "label"): 1.0})[None],
        wo=linear(val2, resid, {("label", "ans"): 1.0}).T[None],
    )
    clean, readout_w, readout_b = bits_mlp_and_readout(resid, rho, src="ans")  # Theorem 1's FFN and readout

    info = {
        "theorem": "Theorem 7",
        "self_suppression": self_suppression,
        "self_penalty": SELF_PENALTY,
        "margin": float(margin),
        "required_coherence": None if not paper else need,
        "score_gap_layer1": tau,
        "beta1": beta1,
        "beta2": beta2,
        "beta_rule": "beta1 = ln(8n)/tau, beta2 = ln(8n)/(1-mu)",
        "attention_on_nearest_lower_bound": attention_lower_bound(2 * n, tau, beta1),
        "attention_on_label_lower_bound": attention_lower_bound(2 * n, 1.0 - mu, beta2),
        "address_code": code.describe(),
        "residual_layout": resid.describe(),
        "logit_margin": 2.0,
    }
    return Core(resid, position, (Layer(nearest, clip), Layer(fetch, clean)), readout_w, readout_b, rho, info)


@register_input_encoder("nearest_neighbor_features")
def encode_features(meta: dict, inputs) -> np.ndarray:
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
def build_nearest_neighbor(n: int, dim: int = 8, margin: float = 0.1, num_labels: int = 2, seed: int = 0,
                           coherence: float | None = None, self_suppression: str = "flag",
                           addresses: str = "random") -> Model:
    """Two-layer Transformer for ``nearest_neighbor`` (Theorem 7).

    Args:
        n, dim, margin, num_labels: the task's parameters (δ = margin).
        seed: seed of the random address code.
        coherence: target coherence of the address code (default 1/2, or δ/8 in ``"address"`` mode).
        self_suppression: ``"flag"`` (the query position is flagged; exact) or ``"address"``
            (the paper's ``−C<a_q, a_p>`` term; needs μ < δ/4).
        addresses: ``"random"`` or ``"hadamard"``.
    """
    c = core(n, dim, num_labels, float(margin), seed, coherence, self_suppression, addresses)
    n, dim, num_labels = int(n), int(dim), int(num_labels)
    w_in = np.vstack([c.point_rows(np.eye(dim)), c.label_rows()])  # [d + V, D]
    params = {"n": n, "dim": dim, "margin": float(margin), "num_labels": num_labels}
    meta = {
        "arch": "transformer",
        "task": "nearest_neighbor",
        "task_params": params,
        "causal": True,
        "readout": "last",
        "embed": "input",
        "input_encoding": "nearest_neighbor_features",
        "seq_len": 2 * n + 1,
        "d_in": dim + num_labels,
        "precision_bits": None,
        "build": {"task": "nearest_neighbor", "arch": "tf2", **params, "seed": int(seed), "coherence": coherence,
                  "self_suppression": self_suppression, "addresses": addresses},
        "construction": c.info,
    }
    return Model(c.weights(w_in), meta)
