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
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._encoders import ModelInputError, input_encoder, register_input_encoder
from ._meta import model_meta
from ._model import Model
from ._nearest import core
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
    keys, vals = x[:, 0 : 2 * n : 2], x[:, 1 : 2 * n : 2]
    if x.size and (keys.max() >= K or x[:, 2 * n].max() >= K or vals.min() < K):
        raise ModelInputError(f"keys and the query (even positions) must lie in [0, {K}), values in [{K}, vocab)")
    ordered = np.sort(keys, axis=1)
    if np.any(ordered[:, 1:] == ordered[:, :-1]):
        raise ModelInputError("associative_recall inputs have repeated keys")
    if not np.all(np.any(keys == x[:, 2 * n, None], axis=1)):
        raise ModelInputError("associative_recall query is not one of the keys")
    return x


@register("associative_recall", "tf2")
def build_associative_recall(
    n: int,
    num_keys: int | None = None,
    num_values: int = 2,
    seed: int = 0,
    coherence: float | None = None,
    addresses: str = "random",
) -> Model:
    """Two-layer Transformer for ``associative_recall`` (nearest neighbour over hypercube keys).

    Args:
        n: number of key/value pairs, >= 1.
        num_keys: K >= n (default n); the n keys of an input are distinct.
        num_values: V >= 1.
        seed: seed of the random address code.
        coherence: target coherence of the address code (default 1/2).
        addresses: ``"random"`` or ``"hadamard"``.
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
    keys = hypercube_keys(K)
    margin = 2.0 / keys.shape[1]
    c = core(n, keys.shape[1], V, margin, seed, coherence, "flag", addresses)
    embed = np.vstack([c.point_rows(keys), c.label_rows()])  # [K + V, D]
    params = {"n": n, "num_keys": K, "num_values": V}
    meta = model_meta(
        "transformer",
        "associative_recall",
        params,
        input_encoding="associative_recall_tokens",
        seq_len=2 * n + 1,
        vocab_size=K + V,
        build={
            "task": "associative_recall",
            "arch": "tf2",
            **params,
            "seed": int(seed),
            "coherence": coherence,
            "addresses": addresses,
        },
        construction={**c.info, "key_embedding": "hypercube", "key_dim": int(keys.shape[1]), "key_margin": margin},
    )
    return Model(c.weights(embed), meta)
