"""The one Transformer definition every construction uses (docs/DESIGN.md §3, docs/MODEL.md).

Decoder-style, no layer norm, no 1/√d scaling (temperatures live in ``Wq``)::

    X   = E[tokens] + P[0:L]                       (token inputs)
        = F @ W_in + P[0:L]                        (feature inputs; F encoded in the format)
    for each layer:
        X = X + Σ_h softmax(mask((X Wq_hᵀ)(X Wk_hᵀ)ᵀ)) (X Wv_hᵀ) Wo_h
        X = X + relu(X W1 + b1) W2 + b2
    logits = X[-1] @ Wr + br                       (readout "last")
           = X[r] @ Wr + br for r in R             (readout "positions": R, logits [|R|, C])

Version 2 of the format (docs/MODEL.md) adds, optionally, GPT-2-style layer norms and attention
biases, and the GELU activation (tanh approximation, ``gelu_tanh``) in place of the ReLU::

    X = X + Σ_h softmax(mask((N X Wq_hᵀ + bq_h)(N X Wk_hᵀ + bk_h)ᵀ)) (N X Wv_hᵀ + bv_h) Wo_h + bo
    X = X + act(N' X W1 + b1) W2 + b2
    logits = N'' X[-1] @ Wr + br

with ``N x = g ⊙ (x - mean(x)) / sqrt(var(x) + eps) + b`` per position (``N, N', N''`` the layer's
``ln_attn``, ``ln_mlp`` and the final ``ln_final``). A model with layer norm is computed on the
generic path (no first-layer tables, every coordinate live: a norm reads all of them), in float
formats only.

Shapes: ``E [V, D]``, ``W_in [d_in, D]``, ``P [L_max, D]``, ``Wq, Wk [H, w, D]``,
``Wv, Wo [H, wv, D]``, ``W1 [D, F]``, ``b1 [F]``, ``W2 [F, D]``, ``b2 [D]``, ``Wr [D, C]``, ``br [C]``.

Evaluation order (identical in exact arithmetic; it fixes where the fixed-point grid rounds):

* only what the readout reads is computed: in the last layer, queries, attention output and MLP
  are evaluated at the readout positions alone (keys and values at every position);
* with token inputs, the first layer's projections are taken from per-table products:
  ``X Wᵀ = (E Wᵀ)[tokens] + (P Wᵀ)[0:L]``, each table product rounded once; the residual stream
  ``X = E[tokens] + P`` itself is formed as written.

How it is computed fast. A :class:`Plan`, read off the encoded weights once per model and
format, records which shortcuts are exact; none of them changes a value
(tests/constructions/test_forward_equivalence.py compares with a literal reading of the spec):

* *only the columns that are read*: a backward pass over the layers finds the residual
  coordinates anything downstream reads (the readout's non-zero rows, then each layer's MLP input
  and projections); the residual stream is carried on those coordinates alone, and each product
  computes only the output coordinates that are live. Skipped coordinates meet zero weights only,
  so each computed value is the same sum: exactly so on the fixed-point grid, and in float64/
  float32 up to summation order (and provided nothing overflows to ±inf, where ``inf·0`` would
  have given NaN). The 16-bit float formats, where overflow is real, skip nothing;
* a first-layer table ``E Wᵀ`` whose rows are all equal makes that projection independent of the
  tokens: it is formed once per batch, not per example (index lookup's keys read positions only);
* first-layer queries and keys both token-independent: the attention weights are one
  ``[H, L, L]`` array per batch;
* first-layer keys token-independent and a single query row (one-layer models): the attention row
  depends on the query token only; the rows of all ``V`` query tokens are tabulated, ``[H, V, L]``
  (once per model when the input length is known, else once per batch when the vocabulary is at
  most twice the batch), and each example looks its row up;
* a small vocabulary (at most 16 tokens) is looked up by selection instead of a gather;
* long sequences: queries are taken in blocks, so that an example holds ``O(L)`` scores at once,
  not ``O(L²)`` (each query row's attention is computed alone either way).

Functions here take one unbatched example inside; :func:`transformer_logits` maps a batch.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ConstructionError
from ._precision import Arithmetic, FixedArithmetic, FloatArithmetic, pytree_dataclass

__all__ = ["Attention", "MLP", "Norm", "Layer", "TransformerWeights", "transformer_logits", "Plan", "make_plan"]

Weights = TypeVar("Weights")  # a weights pytree: TransformerWeights or RNNWeights
SELECT_VOCAB = 16  # vocabularies up to this size are looked up by selection, not gathered
TABLE_ELEMENTS = 1 << 25  # largest table of attention rows by query token
QUERY_BLOCK = 1 << 18  # attention scores held at once per example (queries are taken in blocks)


@pytree_dataclass
class Attention:
    """One multi-head attention block. ``wq, wk [H, w, D]``, ``wv, wo [H, wv, D]``."""

    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    bias: tuple | None = None  # version 2 with layer norm: (bq [H, w], bk [H, w], bv [H, wv], bo [D])


@pytree_dataclass
class Norm:
    """A layer norm's gain and bias, ``g, b [D]`` (its epsilon is the model's ``norm_eps``)."""

    g: np.ndarray
    b: np.ndarray


@pytree_dataclass
class MLP:
    """Position-wise MLP (ReLU, or the model's ``activation``). ``w1 [D, F]``, ``b1 [F]``, ``w2 [F, D]``, ``b2 [D]``."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


@pytree_dataclass
class Layer:
    attn: Attention
    mlp: MLP
    norm_attn: Norm | None = None  # version 2: layer norm before the attention
    norm_mlp: Norm | None = None  # version 2: layer norm before the MLP


@pytree_dataclass(static=("norm_eps", "activation"))
class TransformerWeights:
    """All arrays of a Transformer. ``embed`` is ``E [V, D]`` (token inputs) or ``W_in [d_in, D]``
    (feature inputs); which one is recorded in the model's metadata, not here. ``norm_eps`` (None:
    no layer norm), ``norm_final`` and ``activation`` are version 2's (module docstring); the first
    two are set together with every layer's norms and attention biases."""

    embed: np.ndarray
    position: np.ndarray
    layers: tuple
    readout_w: np.ndarray
    readout_b: np.ndarray
    norm_final: Norm | None = None
    norm_eps: float | None = None
    activation: str = "relu"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Static facts about a model's encoded weights (module docstring); hashable, a jit static.

    ``const_q, const_k, const_v``: the first layer's token table ``E Wᵀ`` of that projection
    (query, key, value) has equal rows, so the projection does not depend on the tokens.
    ``live``: per layer, ``(inp, mid, out)``: the residual coordinates needed of the layer's input,
    after its attention, and of its output (sorted tuples); None: all ``D`` coordinates.
    """

    const_q: bool = False
    const_k: bool = False
    const_v: bool = False
    live: tuple | None = None


GENERIC = Plan()


# --- building blocks --------------------------------------------------------------------------


def _encode_tree(ar: Arithmetic, tree):
    return jax.tree_util.tree_map(ar.encode, tree)


def _lookup(table, idx, axis: int = 0):
    """``table`` indexed by int ``idx`` along ``axis`` (the indexed axis replaced by idx's axes).

    Small tables (at most SELECT_VOCAB entries) are looked up by a chain of selections, which
    copies the same values as a gather and vectorises far better on CPUs."""
    t = jnp.moveaxis(table, axis, 0)
    if t.shape[0] > SELECT_VOCAB:
        out = t[idx]
    else:
        shape = idx.shape + t.shape[1:]
        pad = (slice(None),) * idx.ndim + (None,) * (t.ndim - 1)
        out = jnp.broadcast_to(t[0], shape)
        for v in range(1, t.shape[0]):
            out = jnp.where((idx == v)[pad], t[v], out)
    return jnp.moveaxis(out, tuple(range(idx.ndim)), tuple(range(axis, axis + idx.ndim)))


def _mask(rows, L: int, causal: bool):
    """Boolean ``[len(rows), L]``: which keys each query row sees (static numpy)."""
    rows = np.asarray(rows)
    return rows[:, None] >= np.arange(L)[None, :] if causal else np.ones((rows.shape[0], L), bool)


def _attend(ar, q, k, v, wo, mask):
    """``q [H, Lq, w]``, ``k [H, L, w]``, ``v [H, L, wv]``, ``wo [H, wv, D']``, ``mask [Lq, L]`` -> ``[Lq, D']``."""
    scores = ar.einsum("hqw,hkw->hqk", q, k)
    alpha = ar.softmax(scores, mask[None])
    heads = ar.einsum("hqk,hkv->hqv", alpha, v)
    return ar.einsum("hqv,hvd->qd", heads, wo)


def _attend_rows(ar, q, k, v, wo, rows, causal: bool):
    """:func:`_attend` for query ``rows`` (static), in blocks of at most QUERY_BLOCK rows' worth of
    scores when there are many: each row's attention is computed alone either way, so the values
    are the same, and the scores held at once grow linearly in L instead of quadratically."""
    H, Lq, L = q.shape[0], q.shape[1], k.shape[1]
    block = max(1, QUERY_BLOCK // (H * L))
    if Lq <= block:
        return _attend(ar, q, k, v, wo, jnp.asarray(_mask(rows, L, causal)))
    count = -(-Lq // block)
    pad = count * block - Lq
    rows = np.concatenate([rows, np.full(pad, rows[-1])])  # padding rows repeat the last one
    qb = jnp.concatenate([q, jnp.repeat(q[:, -1:], pad, axis=1)], axis=1)
    qb = jnp.moveaxis(qb.reshape(H, count, block, -1), 1, 0)  # [count, H, block, w]
    masks = jnp.asarray(_mask(rows, L, causal).reshape(count, block, L))
    out = jax.lax.map(lambda qm: _attend(ar, qm[0], k, v, wo, qm[1]), (qb, masks))  # [count, block, D']
    return out.reshape(count * block, -1)[:Lq]


def _proj(ar, x, w):
    """``x [L, D]``, ``w [H, w, D]`` -> ``[H, L, w]`` (i.e. ``X Wᵀ`` per head)."""
    return ar.einsum("ld,hwd->hlw", x, w)


def _norm(ar, x, norm: Norm | None, eps: float | None):
    """Layer norm of each row of ``x [L, D]`` (identity when ``norm`` is None); float formats only
    (:func:`require_float`)."""
    if norm is None:
        return x
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = jnp.mean(centred * centred, axis=-1, keepdims=True)
    return (centred * jax.lax.rsqrt(var + jnp.asarray(eps, x.dtype)) * norm.g + norm.b).astype(x.dtype)


def _act(ar, a, activation: str):
    """The MLP's activation: ``ar.relu``, or the GELU's tanh approximation (float formats only)."""
    if activation == "relu":
        return ar.relu(a)
    return jax.nn.gelu(a, approximate=True).astype(a.dtype)


def require_float(ar: Arithmetic, w) -> None:
    """Refuse (one-line :class:`ConstructionError`, a ``ValueError``) a version-2 model (layer norm or GELU) in a format other than
    a hardware float: the fixed-point emulation defines neither."""
    if isinstance(w, TransformerWeights) and (w.norm_eps is not None or w.activation != "relu"):
        if not isinstance(ar, FloatArithmetic):
            raise ConstructionError(
                f"layer norm and GELU are computed in float formats only (float64, float32, bfloat16, float16), not {ar.name}"
            )


def _finish(ar, x, attn, layer: Layer, cols, w: TransformerWeights | None = None):
    """Residual, MLP, residual: ``x`` on the live input coordinates, ``attn`` (the attention output)
    on the live middle ones -> the layer's output on its live output coordinates."""
    m = layer.mlp
    inp, mid, out, mid_in_inp, out_in_mid = cols
    x = ar.add(x[:, mid_in_inp], attn)
    eps, activation = (None, "relu") if w is None else (w.norm_eps, w.activation)
    h = _norm(ar, x, layer.norm_mlp, eps)
    hidden = _act(ar, ar.add(ar.einsum("ld,df->lf", h, m.w1[mid]), m.b1), activation)
    return ar.add(x[:, out_in_mid], ar.add(ar.einsum("lf,fd->ld", hidden, m.w2[:, out]), m.b2[out]))


def _layer(ar, x, layer: Layer, causal: bool, rows, cols, w: TransformerWeights | None = None):
    """One residual layer on ``x [L, |inp|]``; returns ``[L, |out|]``, or ``[len(rows), |out|]``
    at the query ``rows`` only (static numpy ints; None: every position). ``w``: the model's
    weights, for version 2's norm epsilon and activation (None: version 1)."""
    L = x.shape[0]
    a = layer.attn
    inp, mid = cols[0], cols[1]
    h = _norm(ar, x, layer.norm_attn, None if w is None else w.norm_eps)
    k, v = _proj(ar, h, a.wk[:, :, inp]), _proj(ar, h, a.wv[:, :, inp])
    rows = np.arange(L) if rows is None else np.asarray(rows)
    xq = x if rows.shape[0] == L else x[rows]
    q = _proj(ar, h if rows.shape[0] == L else h[rows], a.wq[:, :, inp])
    if a.bias is not None:  # version 2 (layer norm): biases of the projections and of the output
        bq, bk, bv, bo = a.bias
        q, k, v = ar.add(q, bq[:, None]), ar.add(k, bk[:, None]), ar.add(v, bv[:, None])
    attn = _attend_rows(ar, q, k, v, a.wo[:, :, mid], rows, causal)
    if a.bias is not None:
        attn = ar.add(attn, a.bias[3][mid])
    return _finish(ar, xq, attn, layer, cols, w)


# --- weights: encoding, first-layer tables, plan -------------------------------------------------


def encode_weights(ar: Arithmetic, w: Weights) -> Weights:
    """Round every parameter to the format (the grid for ``fixed:I.F``)."""
    return _encode_tree(ar, w)


def prepare(ar: Arithmetic, w: TransformerWeights, *, embed_kind: str, seq_len: int | None = None, causal: bool = True):
    """Encode the weights in ``ar`` and, for token inputs, form the first layer's per-table
    products ``(E Wᵀ, P Wᵀ)`` for ``Wq, Wk, Wv`` (module docstring). Done once per model and format.

    Returns ``(weights, tables, rows)``. ``rows``: for a one-layer token model of known input
    length, the attention row of every possible query token, ``[H, V, L]``, valid (and used)
    where the plan finds the keys token-independent; else None.
    """
    require_float(ar, w)
    w = encode_weights(ar, w)
    if embed_kind != "token" or w.norm_eps is not None:  # layer norm: the generic path (module docstring)
        return w, None, None
    first = w.layers[0].attn
    tables = tuple((_proj(ar, w.embed, m), _proj(ar, w.position, m)) for m in (first.wq, first.wk, first.wv))
    rows = None
    (eq, pq), (ek, pk), _ = tables
    if len(w.layers) == 1 and seq_len and eq.shape[0] * eq.shape[1] * seq_len <= TABLE_ELEMENTS:
        rows = _query_token_rows(ar, eq, pq, ar.add(ek[:, :1], pk[:, :seq_len]), seq_len, causal)
    return w, tables, rows


def _query_token_rows(ar, eq, pq, kc, L: int, causal: bool):
    """``[H, V, L]``: the last position's attention row for each query token ``v`` (keys ``kc``)."""
    q_all = ar.add(eq, pq[:, L - 1 : L])  # [H, V, w]: the query of every possible last token
    mask = jnp.asarray(_mask(np.arange(L - 1, L), L, causal))
    return ar.softmax(ar.einsum("hvw,hkw->hvk", q_all, kc), mask[None])


def make_plan(ar: Arithmetic, prepared) -> Plan:
    """Read the :class:`Plan` off concrete prepared weights (numpy; once per model and format)."""
    w, tables = prepared[:2]
    const_q = const_k = const_v = False
    if tables is not None:
        same_rows = lambda t: bool(np.all(t == t[:, :1]))  # t [H, V, w]
        const_q, const_k, const_v = (same_rows(np.asarray(token_table)) for token_table, _ in tables)
    return Plan(const_q, const_k, const_v, live=_liveness(ar, w, token_inputs=tables is not None))


def _may_skip_zero_weights(ar: Arithmetic, D: int) -> bool:
    """Skipping zero-weight terms keeps every value: on the grid always (it keeps the refusal of
    formats too wide for a D-term sum), in float64/float32 barring overflow; not in 16-bit floats."""
    if isinstance(ar, FixedArithmetic):
        return ar.holds(D)
    return isinstance(ar, FloatArithmetic) and ar.name in ("float64", "float32")


def _liveness(ar: Arithmetic, w: TransformerWeights, *, token_inputs: bool):
    """Per layer ``(inp, mid, out)`` live residual coordinates, from the readout backwards."""
    D = int(np.asarray(w.position).shape[1])
    if not _may_skip_zero_weights(ar, D) or w.norm_eps is not None:  # a layer norm reads every coordinate
        return None
    reads = lambda m, axes: set(np.flatnonzero(np.any(np.asarray(m) != 0, axis=axes)).tolist())  # noqa: E731
    need = reads(w.readout_w, 1)
    live = []
    for i in range(len(w.layers) - 1, -1, -1):
        a, m = w.layers[i].attn, w.layers[i].mlp
        out = need
        mid = out | reads(m.w1, 1)
        inp = (
            mid if (i == 0 and token_inputs) else mid | reads(a.wq, (0, 1)) | reads(a.wk, (0, 1)) | reads(a.wv, (0, 1))
        )
        live.append(tuple(tuple(sorted(c)) for c in (inp, mid, out)))
        need = inp
    return tuple(reversed(live))


def _columns(plan: Plan, i: int, D: int):
    """``(inp, mid, out)`` of layer i as int arrays, and where mid sits in inp and out in mid."""
    if plan.live is None:
        every = slice(None)
        return every, every, every, every, every
    inp, mid, out = (np.asarray(c, dtype=np.int64) for c in plan.live[i])
    return inp, mid, out, np.searchsorted(inp, mid), np.searchsorted(mid, out)


# --- the first layer on token inputs --------------------------------------------------------------


def _first_layer(ar, w, tables, rows_table, plan: Plan, batch: int, L: int, causal: bool, single: bool):
    """Layer 0 on token inputs: returns ``one(tokens [L]) -> X [Lq, |out|]`` (``Lq = 1`` if
    ``single``, the readout row only, else ``L``), every example-independent part formed here, once."""
    (eq, pq), (ek, pk), (ev, pv) = tables
    layer = w.layers[0]
    a = layer.attn
    V = eq.shape[1]
    cols = _columns(plan, 0, w.position.shape[1])
    rows = np.arange(L - 1, L) if single else np.arange(L)
    mask = jnp.asarray(_mask(rows, L, causal))
    embed, pos = w.embed[:, cols[0]], w.position[rows][:, cols[0]]
    wo = a.wo[:, :, cols[1]]
    qc = ar.add(eq[:, :1], pq[:, rows]) if plan.const_q else None  # [H, Lq, w]
    kc = ar.add(ek[:, :1], pk[:, :L]) if plan.const_k else None  # [H, L, w]
    vc = ar.add(ev[:, :1], pv[:, :L]) if plan.const_v else None  # [H, L, wv]
    alpha_all = table = None
    if qc is not None and kc is not None:  # attention independent of the input
        alpha_all = ar.softmax(ar.einsum("hqw,hkw->hqk", qc, kc), mask[None])
    elif single and kc is not None and rows_table is not None and rows_table.shape[2] == L:
        table = rows_table  # formed once per model by prepare()
    elif single and kc is not None and V <= 2 * batch and eq.shape[0] * V * L <= TABLE_ELEMENTS:
        table = _query_token_rows(ar, eq, pq, kc, L, causal)  # [H, V, L], once per batch

    def one(tok):
        x = ar.add(_lookup(embed, tok[rows]), pos)
        v = vc if vc is not None else ar.add(_lookup(ev, tok, axis=1), pv[:, :L])
        if alpha_all is not None or table is not None:
            alpha = alpha_all if alpha_all is not None else table[:, tok[L - 1]][:, None]  # [H, Lq, L]
            attn = ar.einsum("hqv,hvd->qd", ar.einsum("hqk,hkv->hqv", alpha, v), wo)
        else:
            q = qc if qc is not None else ar.add(_lookup(eq, tok[rows], axis=1), pq[:, rows])
            k = kc if kc is not None else ar.add(_lookup(ek, tok, axis=1), pk[:, :L])
            attn = _attend_rows(ar, q, k, v, wo, rows, causal)
        return _finish(ar, x, attn, layer, cols, w)

    return one


# --- the whole pass -------------------------------------------------------------------------------


def transformer_logits(
    ar: Arithmetic,
    prepared,
    inputs,
    *,
    embed_kind: str,
    causal: bool,
    plan: Plan | None = None,
    readout: tuple[int, ...] | None = None,
):
    """Logits ``[B, C]`` (float64) for a batch: ``inputs`` int ``[B, L]`` or float ``[B, L, d_in]``.

    ``prepared`` comes from :func:`prepare` with the same ``ar`` (a ``(weights, tables)`` pair is
    accepted too); ``plan`` from :func:`make_plan` on it (None: no shortcut that needs the values).
    ``readout``: None reads the last position (``[B, C]``); a tuple of positions (readout
    ``"positions"``, e.g. every query of a multi-query task) reads each, ``[B, len(readout), C]``.
    """
    w, tables = prepared[:2]
    rows_table = prepared[2] if len(prepared) > 2 else None
    plan = plan or GENERIC
    B, L = inputs.shape[0], inputs.shape[1]
    D, n_layers = w.position.shape[1], len(w.layers)
    cols = [_columns(plan, i, D) for i in range(n_layers)]
    read = np.arange(L - 1, L) if readout is None else np.asarray(readout, dtype=np.int64)
    tabled = embed_kind == "token" and tables is not None  # token inputs, version 1 (no layer norm)
    if tabled:
        single = n_layers == 1 and readout is None
        first = _first_layer(ar, w, tables, rows_table, plan, B, L, causal, single=single)
    embed, pos = w.embed[:, cols[0][0]], w.position[:L][:, cols[0][0]]

    def one(x_in):
        if tabled:
            x, start = first(x_in), 1
            if n_layers == 1 and readout is not None:
                x = x[read]
        elif embed_kind == "token":  # layer norm: E[tokens] + P, then every layer on the generic path
            x, start = ar.add(_lookup(embed, x_in), pos), 0
        else:
            x, start = ar.add(ar.einsum("li,id->ld", ar.encode(x_in), embed), pos), 0
        for i in range(start, n_layers):
            x = _layer(ar, x, w.layers[i], causal, rows=read if i == n_layers - 1 else None, cols=cols[i], w=w)
        x = _norm(ar, x, w.norm_final, w.norm_eps)
        logits = ar.decode(ar.add(ar.einsum("ld,dc->lc", x, w.readout_w[cols[-1][2]]), w.readout_b))
        return logits[0] if readout is None else logits

    return jax.vmap(one)(inputs)


def example_elements(w: TransformerWeights, plan: Plan | None, L: int, embed_kind: str, read: int = 1) -> int:
    """A rough count of the intermediate values one example holds at once (sizes batch chunks);
    ``read``: the number of readout positions."""
    p = plan or GENERIC
    D = w.position.shape[1]
    n_layers = len(w.layers)
    total = L
    for i, layer in enumerate(w.layers):
        H, hw, _ = layer.attn.wq.shape
        wv = layer.attn.wv.shape[1]
        width = D if p.live is None else max(1, len(p.live[i][0]))
        Lq = read if i == n_layers - 1 else L
        first = i == 0 and embed_kind == "token"
        total += Lq * (2 * width + layer.mlp.w1.shape[1]) + H * L * wv
        if first and p.const_k and (p.const_q or Lq == 1):
            total += H * Lq * L  # attention rows, looked up or shared
        else:
            total += H * L * 2 * hw + 3 * min(H * Lq * L, max(QUERY_BLOCK, H * L))
        if not first:
            total += L * width
    return total
