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

Queries. The sequence holds ``pairs`` labelled points (point i at ``2i``, its label at ``2i + 1``)
and one more point at ``2·pairs``; ``queries`` lists the points at which an answer is read
(default None: the last one alone, readout ``"last"``; a tuple: readout ``"positions"``, one
causal pass answering each from its prefix). In ``"flag"`` mode every query point carries the flag and
only the labels of the other points get addresses, so the promise is that no query point is ever
a nearest neighbour (single query: trivially; MQAR: the second half repeats the first); in
``"address"`` mode every position is addressed and any point may be a query or a winner
(docs/MULTI_QUERY.md).
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
    readout_positions: tuple | None = None  # None: the last position

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
    queries: tuple[int, ...] | None = None,
) -> Core:
    """Build the two layers for n labelled points of dimension ``dim`` with margin δ, answering at
    the points ``queries`` (default ``(n,)``, the last; module docstring)."""
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
    asked = (n,) if queries is None else tuple(int(k) for k in queries)
    if not asked or any(not 0 <= k <= n for k in asked) or any(a >= b for a, b in zip(asked, asked[1:])):
        raise ConstructionError(f"queries must be increasing points in [0, {n}], got {queries!r}")
    # flag mode: the non-query labelled points are the only possible winners and hold the addresses
    stored = list(range(n)) if paper else [i for i in range(n) if i not in set(asked)]
    need = required_coherence(margin) if paper else 1.0
    target = (need / 2 if paper else 0.5) if coherence is None else float(coherence)
    if not 0 < target < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    if target >= need:
        raise ConstructionError(f"'address' mode needs coherence < margin/4 = {need:.6g}, got {target}")
    L = 2 * n + 1
    code = make_addresses(L if paper else len(stored), addresses, target, int(seed))
    a, signs, r, mu = code.vectors, code.signs.astype(np.float64), code.dim, float(code.coherence)
    label_addr = {i: 2 * i + 1 for i in stored} if paper else {i: slot for slot, i in enumerate(stored)}
    tau = margin - 2 * SELF_PENALTY * mu if paper else margin
    if tau <= 0:
        raise ConstructionError(f"certified coherence {mu:.6g} leaves no score gap (need mu < {need:.6g})")
    rho = binary_code(num_labels)
    B = rho.shape[1]
    beta1 = softmax_scale(2 * n, tau, MISS)  # 2n: the positions a query sees besides its winner
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
        if i in label_addr:
            row["next"] = signs[label_addr[i]]
        if paper:
            row["addr"] = a[p]
        elif is_label and i in label_addr:
            row["addr"] = a[label_addr[i]]
        if not is_label and i in asked and not paper:
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
    readout = None if queries is None else tuple(2 * k for k in asked)
    if readout is not None:
        info["queries"] = len(asked)
        info["readout_positions"] = "the query points 2k"
    layers = (Layer(nearest, clip), Layer(fetch, clean))
    return Core(resid, position, layers, readout_w, readout_b, rho, info, readout)
