"""The two layers of nearest neighbour (Theorem 7), shared by the nearest-neighbour family.

:func:`core` builds the position embedding, both layers and the readout of the construction
described and proved in :mod:`constructions.nearest_neighbor` (docs/constructions/nearest_neighbor.md);
the inputs enter through a feature projection (nearest neighbour: :meth:`Core.point_rows` for the
d point coordinates, :meth:`Core.label_rows` for the one-hot labels) or through a token table
(associative recall: the hypercube point of each key, the label row of each value).

Layer 1 finds the nearest point and fetches the address of its label (scale
``β₁ = softmax_scale(2n, τ, 1/5)``, τ the score gap), its FFN clips the fetched signs with the
ramp ``σ(u) = ReLU(u + 1) − ReLU(u − 1) − 1`` (exact ±1 once ``|u| ≥ 1``); layer 2 fetches the label
at that address (``β₂ = softmax_scale(2n, 1 − μ, 1/5)``) and cleans and reads its binary code
(:func:`constructions._gadgets.bits_mlp_and_readout`, logit margin 2).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._codes import binary_code, make_addresses
from ._gadgets import attention_lower_bound, bits_mlp_and_readout, mlp, ramp, softmax_scale
from ._layout import Layout, linear
from ._registry import ConstructionError
from ._transformer import Attention, Layer, TransformerWeights

__all__ = ["MISS", "SELF_PENALTY", "Core", "core", "required_coherence"]

SELF_PENALTY = 2.0  # C
MISS = 1 / 5


def required_coherence(margin: float) -> float:
    """``"address"`` mode: layer 1 works iff ``μ < δ/(2C) = δ/4`` (:mod:`constructions.nearest_neighbor`)."""
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


def core(
    n: int,
    dim: int,
    num_labels: int,
    margin: float,
    seed: int = 0,
    coherence: float | None = None,
    self_suppression: str = "flag",
    addresses: str = "random",
) -> Core:
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
    resid = Layout(
        ("point", dim),
        ("label", B),
        ("type", 1),
        *([] if paper else [("qflag", 1)]),
        ("addr", r),
        ("next", r),
        ("mix", r),
        ("fetched", r),
        ("ans", B),
        ("bits", B),
    )
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
        wq=linear(
            resid, qk, {("point", "point"): beta1, ("type", "type"): beta1, (self_block, "own"): -SELF_PENALTY * beta1}
        )[None],
        wk=linear(resid, qk, {("point", "point"): 1.0, ("type", "type"): 3.0, (self_block, "own"): 1.0})[None],
        wv=linear(resid, val, {("next", "next"): 2.0})[None],
        wo=linear(val, resid, {("next", "mix"): 1.0}).T[None],
    )
    clip = mlp(resid, ramp(r, {"mix": 1.0}, "fetched", bias=(1.0, -1.0), names=("plus", "minus"), out_bias=-1.0))

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
