"""Associative recall with two attention layers: nearest neighbour over hypercube keys
(Theorem 7 applied to MQAR; paper §5.2, App. G; docs/PAPER.md §7.2).

Task: tokens ``k_0 v_0 k_1 v_1 … k_{n-1} v_{n-1} q`` with n distinct keys ``k_i ∈ [0, K)``, values
encoded as ``K + v`` (``v ∈ [0, V)``), and a query key q equal to one of the keys; output the value
paired with q.

Reduction to nearest neighbour
    Key c is embedded as the hypercube point ``h(c) = (2·bits(c) − 1)/√d'`` with
    ``d' = max(1, ⌈log2 K⌉)`` (bits little-endian). ``‖h(c)‖ = 1``, and two distinct keys differ
    in at least one coordinate, so ``<h(c), h(c')> = 1 − 2·Hamming(c, c')/d' ≤ 1 − 2/d'``: the
    matching key beats every other by the margin ``δ = 2/d'`` (``1/δ = O(log K)``, the MQAR
    case). Values are the labels. The token sequence has exactly the nearest-neighbour layout
    (key at ``2i``, value at ``2i + 1``, query at ``2n``), so the model is
    :func:`constructions._nearest.core` (the nearest-neighbour layers) with a token table instead of ``W_in``:

        ``E[c] = point row of h(c)`` (c < K),    ``E[K + v] = label row of ρ(v)``.

    Everything else — the position embedding (type flags, query flag, label addresses), both
    layers, the scale factors ``β₁ = ln(8n)/δ`` and ``β₂ = ln(8n)/(1 − μ)``, the clipping FFN and
    the readout — is the nearest-neighbour construction unchanged; see its docstring for the
    embedding table and the proofs. The width is ``d' + 3⌈log2 V⌉ + 2 + 4r`` with ``r = O(log n)``.

Input promise: keys distinct and the query among them (the input encoder
``associative_recall_tokens`` rejects other inputs with a one-line error).

Every query: MQAR (``queries="all"``; paper §5.2, Theorems 7/8; docs/MULTI_QUERY.md)
    Tokens ``k_0 v_0 … k_{n-1} v_{n-1}`` then the n pairs again in a permuted order, the last
    value left out (``L = 4n − 1``), an answer at each repeated key ``2n + 2j``. As nearest
    neighbour this is ``2n − 1`` labelled points and a last point, with the points ``n … 2n−1``
    as queries, and the model is :func:`constructions._nearest.core` over that sequence in
    ``"flag"`` mode with *every* query point flagged, read at every query (readout
    ``"positions"``, one causal pass).

    **Claim.** With the self-penalty ``C = 2`` on the flag, ``β₁ = ln(8N)/δ``,
    ``β₂ = ln(8N)/(1 − μ)`` (``N = 2n − 1``, so ``2N ≥`` the positions a query sees besides its
    winner) and addresses only on the n stored labels with any certified coherence ``μ < 1``
    (we take μ ≤ 1/2), every query is answered exactly at the margin ``δ = 2/d'``: the width is
    ``d' + 3⌈log2 V⌉ + 2 + 4r`` with ``r = O(log n)`` — the single-query width, not the paper's
    ``r = O(log n/δ²) = O(log³ n)``.

    *Proof.* Query j sits at position ``P = 2n + 2j`` with key ``q = k_{π(j)}``; the causal mask
    leaves the positions ``p ≤ P``. Scores over ``β₁`` (layer 1, as in the single-query proof):
    the stored copy of q at ``2π(j)``: ``<h(q), h(q)> + 3 = 4``; any other stored key:
    ``≤ 1 − δ + 3``; a stored value: ``−6``; an earlier query ``k_{π(j')}`` (flagged, and
    ``≠ q`` since π is a permutation): ``≤ 1 − δ + 3 − C``; a repeated value (type −2): ``−6``;
    the query itself (flagged): ``1 + 3 − C = 2``. So the stored copy leads every other visible
    position by ``τ = δ`` (``C = 2 ≥ δ``), no address enters a layer-1 score, and the winner is
    always a stored point, whose ``next`` block holds its label's address signs. The clip and
    layer 2 are as in the single-query proof: layer 2 scores the stored label of ``π(j)`` at
    β₂, every other stored label at most ``β₂μ``, and every unaddressed position (points,
    repeated values) at 0 ``≤ β₂μ``; with at most 2N competitors the weight is ``≥ 4/5``. So
    every query's logits have margin 2, for every input satisfying the promise, including keys
    at Hamming distance 1 (margin exactly δ), which the exhaustive check at small n covers. ∎

    Why the paper needs more: its self-suppression is the address term ``−C<a_P, a_p>``, which
    must not move any score by δ/4 or more, so μ < δ/4 and ``r = O(log n/δ²)`` (available here
    as ``self_suppression="address"``; ``construction["paper_address_dim"]`` records the first
    r of the Lemma 2 schedule it would need at μ ≤ δ/8, ``start_dim(4n − 1, δ/8)``). The flag
    works here because in MQAR no query is ever a nearest neighbour; for general multi-query
    nearest neighbour, where one may be, see :mod:`constructions.nearest_neighbor`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._addresses import start_dim
from ._encoders import ModelInputError, input_encoder, register_input_encoder
from ._meta import model_meta
from ._model import Model
from ._nearest import core
from ._nearest_shift import shift_core
from ._registry import ConstructionError, register

__all__ = ["build_associative_recall", "hypercube_keys"]


def hypercube_keys(num_keys: int) -> np.ndarray:
    """float64 ``[K, d']``: row c is ``(2·bits(c) − 1)/√d'``, ``d' = max(1, ⌈log2 K⌉)``."""
    d = max(1, math.ceil(math.log2(num_keys)))
    bits = (np.arange(num_keys)[:, None] >> np.arange(d)[None, :]) & 1
    return (2.0 * bits - 1.0) / math.sqrt(d)


@register_input_encoder("associative_recall_tokens")
def encode_tokens(meta: Mapping, inputs) -> np.ndarray:
    """The plain token encoding, plus the task's promise: distinct keys, the query one of them."""
    x = input_encoder("tokens")(meta, inputs)
    n, K = int(meta["task_params"]["n"]), int(meta["task_params"]["num_keys"])
    if meta["task_params"].get("queries") == "all":
        return _check_all_queries(x, n, K)
    keys, vals = x[:, 0 : 2 * n : 2], x[:, 1 : 2 * n : 2]
    if x.size and (keys.max() >= K or x[:, 2 * n].max() >= K or vals.min() < K):
        raise ModelInputError(f"keys and the query (even positions) must lie in [0, {K}), values in [{K}, vocab)")
    ordered = np.sort(keys, axis=1)
    if np.any(ordered[:, 1:] == ordered[:, :-1]):
        raise ModelInputError("associative_recall inputs have repeated keys")
    if not np.all(np.any(keys == x[:, 2 * n, None], axis=1)):
        raise ModelInputError("associative_recall query is not one of the keys")
    return x


def _check_all_queries(x: np.ndarray, n: int, K: int) -> np.ndarray:
    """The MQAR promise: distinct stored keys, queries a permutation of them, each repeated value
    equal to the stored one."""
    keys, vals = x[:, 0 : 2 * n : 2], x[:, 1 : 2 * n : 2]
    asked, again = x[:, 2 * n :: 2], x[:, 2 * n + 1 :: 2]
    if x.size and (max(keys.max(), asked.max()) >= K or min(vals.min(), again.min(initial=K)) < K):
        raise ModelInputError(f"keys and queries (even positions) must lie in [0, {K}), values in [{K}, vocab)")
    ordered = np.sort(keys, axis=1)
    if np.any(ordered[:, 1:] == ordered[:, :-1]):
        raise ModelInputError("associative_recall inputs have repeated keys")
    if np.any(np.sort(asked, axis=1) != ordered):
        raise ModelInputError("associative_recall queries='all': the queries must be a permutation of the keys")
    pair = np.argmax(asked[:, :-1, None] == keys[:, None, :], axis=2)
    if np.any(np.take_along_axis(vals, pair, axis=1) != again):
        raise ModelInputError("associative_recall queries='all': a repeated pair's value differs from the stored one")
    return x


@register("associative_recall", "tf2")
def build_associative_recall(
    n: int,
    num_keys: int | None = None,
    num_values: int = 2,
    seed: int = 0,
    coherence: float | None = None,
    addresses: str = "random",
    queries: str = "last",
    self_suppression: str = "flag",
) -> Model:
    """Two-layer Transformer for ``associative_recall`` (nearest neighbour over hypercube keys).

    Args:
        n: number of key/value pairs, >= 1.
        num_keys: K >= n (default n); the n keys of an input are distinct.
        num_values: V >= 1.
        seed: seed of the random address code.
        coherence: target coherence of the address code (default 1/2).
        addresses: ``"random"``, ``"hadamard"`` or ``"rs"`` (explicit Reed–Solomon ⊗ Hadamard code, :mod:`constructions.explicit_addresses`).
        queries: ``"last"`` (one final query) or ``"all"`` (MQAR: every repeated key; readout
            ``"positions"``).
        self_suppression: ``"flag"`` (width O(log n), module docstring), ``"address"`` (the
            paper's, μ < δ/4, width O(log n/δ²); for comparison at small n) or ``"shift"``
            (:mod:`constructions._nearest_shift`, width O(log n) with no promise on winners).
    """
    n = int(n)
    K = n if num_keys is None else int(num_keys)
    V = int(num_values)
    if n < 1:
        raise ConstructionError(f"n must be at least 1, got {n}")
    if K < n:
        raise ConstructionError(f"num_keys must be >= n={n}: the n keys are distinct (no repeated keys), got {K}")
    if V < 1:
        raise ConstructionError(f"num_values must be at least 1, got {V}")
    if queries not in ("last", "all"):
        raise ConstructionError(f"queries must be 'last' or 'all', got {queries!r}")
    keys = hypercube_keys(K)
    margin = 2.0 / keys.shape[1]
    every = queries == "all"
    # MQAR as nearest neighbour: 2n − 1 labelled points and a last one; the points n … 2n−1 ask
    points, asked = (2 * n - 1, tuple(range(n, 2 * n))) if every else (n, None)
    if self_suppression == "shift":
        c = shift_core(points, keys.shape[1], V, margin, seed, coherence, addresses, asked)
    else:
        c = core(points, keys.shape[1], V, margin, seed, coherence, self_suppression, addresses, asked)
    embed = np.vstack([c.point_rows(keys), c.label_rows()])  # [K + V, D]
    params: dict[str, object] = {"n": n, "num_keys": K, "num_values": V}
    if every:
        params["queries"] = queries
    extra = {}
    if every:
        extra["paper_address_dim"] = start_dim(4 * n - 1, margin / 8)
    meta = model_meta(
        "transformer",
        "associative_recall",
        params,
        input_encoding="associative_recall_tokens",
        seq_len=4 * n - 1 if every else 2 * n + 1,
        vocab_size=K + V,
        build={
            "task": "associative_recall",
            "arch": "tf2",
            **params,
            "seed": int(seed),
            "coherence": coherence,
            "addresses": addresses,
            **({"self_suppression": self_suppression} if self_suppression != "flag" else {}),
        },
        construction={
            **c.info,
            "key_embedding": "hypercube",
            "key_dim": int(keys.shape[1]),
            "key_margin": margin,
            **extra,
        },
        readout_positions=c.readout_positions,
    )
    return Model(c.weights(embed), meta)
