"""The one Transformer definition every construction uses (DESIGN §2, docs/MODEL.md).

Decoder-style, no layer norm, no 1/√d scaling (temperatures live in ``Wq``)::

    X   = E[tokens] + P[0:L]                       (token inputs)
        = F @ W_in + P[0:L]                        (feature inputs)
    for each layer:
        X = X + Σ_h softmax(mask((X Wq_hᵀ)(X Wk_hᵀ)ᵀ)) (X Wv_hᵀ) Wo_h
        X = X + relu(X W1 + b1) W2 + b2
    logits = X[-1] @ Wr + br

Shapes: ``E [V, D]``, ``W_in [d_in, D]``, ``P [L_max, D]``, ``Wq, Wk [H, w, D]``,
``Wv, Wo [H, wv, D]``, ``W1 [D, F]``, ``b1 [F]``, ``W2 [F, D]``, ``b2 [D]``, ``Wr [D, C]``, ``br [C]``.

Evaluation order (identical in exact arithmetic, chosen for speed; it fixes where the fixed-point
grid rounds):

* only what the readout reads is computed: in the last layer, queries, attention output and MLP
  are evaluated at the readout position alone (keys and values at every position);
* with token inputs, the first layer's projections are taken from per-table products:
  ``X Wᵀ = (E Wᵀ)[tokens] + (P Wᵀ)[0:L]``, each table product rounded once; the residual stream
  ``X = E[tokens] + P`` itself is formed as written.

Functions here take one unbatched example; :func:`batched_logits` vmaps them.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import Arithmetic

__all__ = ["Attention", "MLP", "Layer", "TransformerWeights", "transformer_logits"]


def _pytree(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=fields, meta_fields=[])


@_pytree
class Attention:
    """One multi-head attention block. ``wq, wk [H, w, D]``, ``wv, wo [H, wv, D]``."""

    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray


@_pytree
class MLP:
    """Position-wise ReLU MLP. ``w1 [D, F]``, ``b1 [F]``, ``w2 [F, D]``, ``b2 [D]``."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


@_pytree
class Layer:
    attn: Attention
    mlp: MLP


@_pytree
class TransformerWeights:
    """All arrays of a Transformer. ``embed`` is ``E [V, D]`` (token inputs) or ``W_in [d_in, D]``
    (feature inputs); which one is recorded in the model's metadata, not here."""

    embed: np.ndarray
    position: np.ndarray
    layers: tuple
    readout_w: np.ndarray
    readout_b: np.ndarray


def _encode_tree(ar: Arithmetic, tree):
    return jax.tree_util.tree_map(ar.encode, tree)


def _attend(ar, q, k, v, wo, mask):
    """``q [H, Lq, w]``, ``k [H, L, w]``, ``v [H, L, wv]``, ``wo [H, wv, D]``, ``mask [Lq, L]`` -> ``[Lq, D]``."""
    scores = ar.einsum("hqw,hkw->hqk", q, k)
    alpha = ar.softmax(scores, mask[None])
    heads = ar.einsum("hqk,hkv->hqv", alpha, v)
    return ar.einsum("hqv,hvd->qd", heads, wo)


def _mlp(ar, x, m: MLP):
    hidden = ar.relu(ar.add(ar.einsum("ld,df->lf", x, m.w1), m.b1))
    return ar.add(ar.einsum("lf,fd->ld", hidden, m.w2), m.b2)


def _proj(ar, x, w):
    """``x [L, D]``, ``w [H, w, D]`` -> ``[H, L, w]`` (i.e. ``X Wᵀ`` per head)."""
    return ar.einsum("ld,hwd->hlw", x, w)


def _layer(ar, x, layer: Layer, causal: bool, only_last: bool, qkv=None):
    """One residual layer on ``x [L, D]``; returns ``[L, D]`` (or ``[1, D]`` if ``only_last``)."""
    L = x.shape[0]
    a = layer.attn
    if qkv is None:
        k, v = _proj(ar, x, a.wk), _proj(ar, x, a.wv)
        xq = x[-1:] if only_last else x
        q = _proj(ar, xq, a.wq)
    else:
        q, k, v = qkv
        xq = x[-1:] if only_last else x
        if only_last and q.shape[1] > 1:
            q = q[:, -1:]
    rows = jnp.arange(L - 1, L) if only_last else jnp.arange(L)
    if causal:
        mask = rows[:, None] >= jnp.arange(L)[None, :]
    else:
        mask = jnp.ones((rows.shape[0], L), dtype=bool)
    x = ar.add(xq, _attend(ar, q, k, v, a.wo, mask))
    return ar.add(x, _mlp(ar, x, layer.mlp))


def prepare(ar: Arithmetic, w: TransformerWeights, *, embed_kind: str):
    """Encode the weights in ``ar`` and, for token inputs, form the first layer's per-table
    products ``(E Wᵀ, P Wᵀ)`` for ``Wq, Wk, Wv`` (module docstring). Done once per model and format."""
    w = encode_weights(ar, w)
    if embed_kind != "token":
        return w, None
    first = w.layers[0].attn
    tables = tuple((_proj(ar, w.embed, m), _proj(ar, w.position, m)) for m in (first.wq, first.wk, first.wv))
    return w, tables


def transformer_logits(ar: Arithmetic, prepared, inputs, *, embed_kind: str, causal: bool):
    """Logits ``[B, C]`` (float64) for a batch: ``inputs`` int ``[B, L]`` or float ``[B, L, d_in]``.

    ``prepared`` comes from :func:`prepare` with the same ``ar``.
    """
    w, tables = prepared
    L = inputs.shape[1]
    pos = w.position[:L]
    n_layers = len(w.layers)

    def one(x_in):
        if embed_kind == "token":
            (eq, pq), (ek, pk), (ev, pv) = tables
            if n_layers == 1:  # only the last position's residual stream and query are ever read
                x = ar.add(w.embed[x_in[-1:]], pos[L - 1 : L])
                q = ar.add(eq[:, x_in[-1:]], pq[:, L - 1 : L])
            else:
                x = ar.add(w.embed[x_in], pos)
                q = ar.add(eq[:, x_in], pq[:, :L])
            qkv = (q, ar.add(ek[:, x_in], pk[:, :L]), ar.add(ev[:, x_in], pv[:, :L]))
        else:
            x = ar.add(ar.einsum("li,id->ld", x_in, w.embed), pos)
            qkv = None
        for i, layer in enumerate(w.layers):
            x = _layer(ar, x, layer, causal, only_last=(i == n_layers - 1), qkv=qkv if i == 0 else None)
        logits = ar.add(ar.einsum("ld,dc->lc", x[-1:], w.readout_w), w.readout_b)
        return ar.decode(logits[0])

    return jax.vmap(one)(inputs)


def encode_weights(ar: Arithmetic, w):
    """Round every parameter to the format (the grid for ``fixed:I.F``)."""
    return _encode_tree(ar, w)
