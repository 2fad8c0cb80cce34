"""Trainable sequence classifiers in JAX/flax (linen): the architectures of the paper's experiments
(§6, App. H; docs/PAPER.md §13.1).

Every model maps ``tokens int [B, L]`` (right-padded) and ``lengths int [B]`` to ``logits [B, C]``
read at position ``lengths - 1``.  All models are **causal**: the output at position ``i`` depends
on tokens ``0..i`` only, so right padding never changes a prediction (tested).

=================  ==========================================================================
name               model
=================  ==========================================================================
``tf``             causal Transformer, GPT-2 style: pre-LayerNorm, learned absolute positions,
                   multi-head softmax attention (the function and parameters of flax's
                   ``MultiHeadDotProductAttention``, written out: :class:`_Attention`), GELU MLP
                   of width 4w.  ``layers`` = 1 gives the paper's one-layer Transformer.
``lintf``          causal linear Transformer (Katharopoulos et al. 2020): the ``tf`` model with
                   attention ``φ(q_t)·S_t / (φ(q_t)·z_t + 1e-6)``, ``S_t = Σ_{s<=t} φ(k_s) v_sᵀ``,
                   ``z_t = Σ_{s<=t} φ(k_s)``, φ = elu + 1; state per layer and head S and z.
                   Computed chunkwise (:func:`causal_linear_attention`).
``lstm``           stacked LSTM (flax ``OptimizedLSTMCell`` under ``nn.RNN``), hidden size w.
``dss``            diagonal linear state-space model (S4D-Lin: complex diagonal A, ZOH
                   discretisation, time-invariant, computed as a causal convolution),
                   pre-LayerNorm residual blocks with a GELU and a position-wise output map.
``mamba``          selective state-space model (Mamba, simplified): per block an input map to
                   2·expand·w (x and gate z), causal depthwise conv (kernel 4) + SiLU,
                   input-dependent Δ (low rank, softplus), B and C, diagonal A = -exp(A_log),
                   ZOH ``h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t``, ``y_t = C_t h_t + D x_t``,
                   gated by SiLU(z), output map; pre-RMSNorm residual blocks.  The recurrence
                   is a sequential scan in segments of 16 positions with a
                   hand-written backward pass (:func:`selective_scan`; no fused kernel).
``retnet``         linear attention with per-head exponential decay (RetNet retention,
                   ``((Q Kᵀ) ⊙ Γ) V`` with ``Γ[t,s] = γ_h^(t-s)`` for ``s <= t``, computed in
                   RetNet's chunkwise form: :func:`retention`), learned absolute positions
                   instead of xPos, SiLU output gate; recurrent state per head ``d_k × d_v``.
=================  ==========================================================================

Only the read-out position's value of the last layer is needed, so ``tf``, ``lintf``, ``retnet``
and ``dss`` compute their last layer there only (its query, or its convolution tap sum, MLP and
gate at ``lengths - 1``; keys and values at every position): the same function as the whole
causal model read at ``lengths - 1`` (tested against flax attention and against each model's
recurrence in numpy), at a fraction of the cost.  Measured idle on the 2-core sandbox, index
lookup n = 200 at its longest length range (64 × 201), one XLA thread, median ms per training
step before -> after: RetNet-(2,64) 620 -> 210, linear TF-(2,64) 351 -> 249 (chunked attention),
DSS-(2,64) 241 -> 144.

Sizes (:func:`size`), counted the way ``constructions.Model.size()`` counts them: ``params`` is
the number of entries of all parameter arrays (embeddings included), ``params_no_embed`` leaves the
token/position embeddings out, and ``state_size`` is the number of real numbers carried from one
time step to the next when the model runs left to right: for recurrent models their whole state
(LSTM: h and c per layer; DSS: the complex diagonal state, 2 reals per mode; Mamba: the SSM state
plus the convolution's last 3 inputs; RetNet: the d_k×d_v matrix per head; linear Transformer:
S (d_k×d_v) and z (d_k) per head, read off the q/k/v kernel shapes), for a Transformer the
residual width per position (``width``, as in ``Model.size()``; its key/value cache grows with
the length, ``kv_cache_per_position`` = 2·w·layers reals per position).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MODELS = ("tf", "lintf", "lstm", "dss", "mamba", "retnet")


def _last(x, lengths):
    """``x [B, L, D]`` -> ``[B, D]`` at position ``lengths - 1``."""
    return x[jnp.arange(x.shape[0]), lengths - 1]


def _lags(lengths, L):
    """``t - s`` for the read-out position ``t = lengths - 1`` and every position ``s < L``: ``[B, L]``
    (negative where ``s`` is past the read-out)."""
    return (lengths - 1)[:, None] - jnp.arange(L)[None, :]


class _DenseParams(nn.Module):
    """The parameters of ``nn.DenseGeneral(features, axis=-1 or (-2, -1))`` (same names, shapes and
    initialisation: lecun-normal on the flattened kernel, zero bias), returned as arrays so that the
    caller can contract them in any order.  ``in_shape`` and ``features`` are tuples."""

    in_shape: tuple
    features: tuple

    @nn.compact
    def __call__(self):
        fan_in, fan_out = math.prod(self.in_shape), math.prod(self.features)

        def kernel_init(key, shape, dtype=jnp.float32):
            return nn.initializers.lecun_normal()(key, (fan_in, fan_out), dtype).reshape(shape)

        kernel = self.param("kernel", kernel_init, self.in_shape + self.features, jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, self.features, jnp.float32)
        return kernel, bias


class _Attention(nn.Module):
    """Multi-head softmax attention with the parameters of flax's ``MultiHeadDotProductAttention``
    (``query``, ``key``, ``value`` [w, H, dh] and ``out`` [H, dh, w], with biases; same init), and
    the same function; written out so that the read-out layer can contract in a cheaper order."""

    width: int
    heads: int

    def _params(self):
        w, H = self.width, self.heads
        dh = w // H
        q, k, v = (_DenseParams((w,), (H, dh), name=n)() for n in ("query", "key", "value"))
        return q, k, v, _DenseParams((H, dh), (w,), name="out")()

    @nn.compact
    def __call__(self, h):
        """All positions, causally: ``h [B, L, w]`` -> ``[B, L, w]``."""
        (wq, bq), (wk, bk), (wv, bv), (wo, bo) = self._params()
        dh = self.width // self.heads
        q, k, v = (jnp.einsum("blw,whd->blhd", h, W) + b for W, b in ((wq, bq), (wk, bk), (wv, bv)))
        s = jnp.einsum("bqhd,bkhd->bhqk", q / math.sqrt(dh), k)
        L = h.shape[1]
        causal = jnp.arange(L)[:, None] >= jnp.arange(L)[None, :]
        a = jax.nn.softmax(jnp.where(causal, s, jnp.finfo(s.dtype).min), axis=-1)
        o = jnp.einsum("bhqk,bkhd->bqhd", a, v)
        return jnp.einsum("bqhd,hdw->bqw", o, wo) + bo

    @nn.compact
    def readout(self, h, lengths):
        """Only the query at ``lengths - 1``, attending to positions ``0..lengths-1``: ``[B, w]``.

        The score of key t for head j is ``(q_j/√dh)·(W_k,j h_t + b_k,j)``; its term ``q_j·b_k,j``
        is the same for every t and cancels in the softmax, the rest is ``h_t·(W_k,j q_j)/√dh``;
        and as the weights sum to 1, ``Σ_t a_t (W_v,j h_t + b_v,j) = W_v,j (Σ_t a_t h_t) + b_v,j``.
        So the keys and values are never projected: O(L·w·H) per sequence instead of O(L·w²)."""
        (wq, bq), (wk, _), (wv, bv), (wo, bo) = self._params()
        dh = self.width // self.heads
        q = jnp.einsum("bw,whd->bhd", _last(h, lengths), wq) + bq
        u = jnp.einsum("bhd,whd->bhw", q / math.sqrt(dh), wk)
        s = jnp.einsum("blw,bhw->bhl", h, u)
        keep = jnp.arange(h.shape[1])[None, None, :] < lengths[:, None, None]
        a = jax.nn.softmax(jnp.where(keep, s, jnp.finfo(s.dtype).min), axis=-1)
        o = jnp.einsum("bhl,blw->bhw", a, h)
        o = jnp.einsum("bhw,whd->bhd", o, wv) + bv
        return jnp.einsum("bhd,hdw->bw", o, wo) + bo


class PositionalModel(nn.Module):
    """The fields of the models with learned absolute positions (``tf``, ``lintf``, ``retnet``):
    vocabulary, the longest input ``max_len``, width, depth, classes and heads."""

    vocab: int
    max_len: int
    width: int
    layers: int
    classes: int
    heads: int = 4


def positional_embedding(m: PositionalModel, tokens):
    """Token plus absolute position embeddings ``[B, L, width]``, as parameters ``embed_token`` and
    ``embed_position`` of ``m`` (call it from ``m``'s compact ``__call__``)."""
    x = nn.Embed(m.vocab, m.width, name="embed_token")(tokens)
    return x + nn.Embed(m.max_len, m.width, name="embed_position")(jnp.arange(tokens.shape[1]))[None]


class Transformer(PositionalModel):
    @nn.compact
    def __call__(self, tokens, lengths):
        x = positional_embedding(self, tokens)
        for i in range(self.layers):
            h = nn.LayerNorm(name=f"ln_attn{i}")(x)
            attn = _Attention(self.width, self.heads, name=f"attn{i}")
            if i < self.layers - 1:
                x = x + attn(h)
            else:
                # The read-out needs the last layer at position lengths-1 only: one query there,
                # attending causally to positions 0..lengths-1 (exactly the causal model's value
                # at that position; it saves the unused queries, key/value projections and MLP rows).
                x = _last(x, lengths) + attn.readout(h, lengths)
            h = nn.LayerNorm(name=f"ln_mlp{i}")(x)
            h = nn.Dense(4 * self.width, name=f"mlp_in{i}")(h)
            x = x + nn.Dense(self.width, name=f"mlp_out{i}")(nn.gelu(h))
        x = nn.LayerNorm(name="ln_final")(x)
        return nn.Dense(self.classes, name="readout")(x)


def elu1(x):
    """The feature map of Katharopoulos et al. (2020): ``elu(x) + 1`` (positive)."""
    return nn.elu(x) + 1.0


LINEAR_ATTENTION_EPS = 1e-6  # added to the normaliser, as in Katharopoulos et al.'s code


ATTENTION_CHUNK = 32  # positions per chunk of the chunked (linear-attention, retention) forms


def _chunks(a, C):
    """``a [B, L, H, d]`` zero-padded at the end to N·C positions -> ``[B, N, C, H, d]``."""
    B, L = a.shape[:2]
    N = -(-L // C)
    return jnp.pad(a, ((0, 0), (0, N * C - L)) + ((0, 0),) * (a.ndim - 2)).reshape(B, N, C, *a.shape[2:])


def _before(a):
    """Exclusive cumulative sum over axis 1 (chunks): entry n is the sum of entries 0..n-1."""
    return jnp.cumsum(jnp.pad(a, ((0, 0), (1, 0)) + ((0, 0),) * (a.ndim - 2))[:, :-1], axis=1)


def causal_linear_attention(q, k, v, chunk=ATTENTION_CHUNK):
    """``q, k [B, L, H, dk]`` (already through the feature map, positive), ``v [B, L, H, dv]`` ->
    ``o_t = (q_t · S_t) / (q_t · z_t + eps)`` with ``S_t = Σ_{s<=t} k_s v_sᵀ``, ``z_t = Σ_{s<=t} k_s``.

    Computed chunkwise (chunks of C = ``chunk`` positions): inside a chunk the masked quadratic
    form ``(Q Kᵀ ⊙ M) V``; from the chunks before it the state (S, z) at the chunk's start, an
    exclusive cumulative sum of the chunks' ``Σ k_s v_sᵀ`` and ``Σ k_s``.  O(L·C·d + L·dk·dv) per
    head instead of the quadratic form's O(L²·d); the same function (tested against the recurrence).
    Zero padding at the end changes nothing before it (causal)."""
    L = q.shape[1]
    C = min(chunk, L)
    qc, kc, vc = (_chunks(a, C) for a in (q, k, v))  # [B, N, C, H, d]
    causal = jnp.arange(C)[:, None] >= jnp.arange(C)[None, :]
    a = jnp.where(causal, jnp.einsum("bnihd,bnjhd->bnhij", qc, kc), 0.0)  # within the chunk
    S = _before(jnp.einsum("bnjhd,bnjhe->bnhde", kc, vc))  # the state before chunk n: chunks 0..n-1
    z = _before(kc.sum(2))
    num = jnp.einsum("bnhij,bnjhe->bnihe", a, vc) + jnp.einsum("bnihd,bnhde->bnihe", qc, S)
    den = a.sum(-1).transpose(0, 1, 3, 2) + jnp.einsum("bnihd,bnhd->bnih", qc, z)
    o = num / (den[..., None] + LINEAR_ATTENTION_EPS)
    return o.reshape(o.shape[0], -1, *o.shape[3:])[:, :L]


class LinearTransformer(PositionalModel):
    """Causal linear Transformer (Katharopoulos et al. 2020): the ``tf`` model with softmax
    attention replaced by :func:`causal_linear_attention` on ``φ(q), φ(k)``, φ = :func:`elu1`."""

    @nn.compact
    def __call__(self, tokens, lengths):
        L = tokens.shape[1]
        H, dh = self.heads, self.width // self.heads
        x = positional_embedding(self, tokens)
        for i in range(self.layers):
            h = nn.LayerNorm(name=f"ln_attn{i}")(x)
            k, v = (nn.DenseGeneral((H, dh), name=f"{p}{i}")(h) for p in "kv")
            last = i == self.layers - 1
            qin = _last(h, lengths)[:, None] if last else h  # the last layer: the read-out query only
            q = nn.DenseGeneral((H, dh), name=f"q{i}")(qin)
            if last:
                keep = jnp.arange(L)[None, :, None, None] < lengths[:, None, None, None]
                kf = jnp.where(keep, elu1(k), 0.0)  # positions >= lengths contribute nothing
                S, z = jnp.einsum("bshd,bshe->bhde", kf, v), kf.sum(1)  # the state at lengths-1
                qf = elu1(q[:, 0])
                o = jnp.einsum("bhd,bhde->bhe", qf, S) / ((qf * z).sum(-1)[..., None] + LINEAR_ATTENTION_EPS)
                x = _last(x, lengths) + nn.DenseGeneral(self.width, axis=(-2, -1), name=f"o{i}")(o)
            else:
                o = causal_linear_attention(elu1(q), elu1(k), v)
                x = x + nn.DenseGeneral(self.width, axis=(-2, -1), name=f"o{i}")(o)
            h = nn.LayerNorm(name=f"ln_mlp{i}")(x)
            h = nn.Dense(4 * self.width, name=f"mlp_in{i}")(h)
            x = x + nn.Dense(self.width, name=f"mlp_out{i}")(nn.gelu(h))
        x = nn.LayerNorm(name="ln_final")(x)
        return nn.Dense(self.classes, name="readout")(x)


class LSTM(nn.Module):
    vocab: int
    max_len: int
    width: int
    layers: int
    classes: int

    @nn.compact
    def __call__(self, tokens, lengths):
        x = nn.Embed(self.vocab, self.width, name="embed_token")(tokens)
        for i in range(self.layers):
            x = nn.RNN(nn.OptimizedLSTMCell(self.width), name=f"lstm{i}")(x)
        return nn.Dense(self.classes, name="readout")(_last(x, lengths))


class S4DKernel(nn.Module):
    """S4D-Lin diagonal SSM per channel: ``h_t = exp(Δ A) h_{t-1} + B u_t``, ``y_t = 2 Re(C h_t)``
    with complex diagonal ``A_n = -1/2 + iπn`` (n < N/2), ZOH; applied as a causal convolution."""

    width: int
    state: int = 16  # real numbers per channel (N/2 complex modes)

    @nn.compact
    def __call__(self, u, lengths=None):
        """``u [B, L, H]`` -> ``y [B, L, H]``; with ``lengths [B]``, only ``y`` at ``lengths - 1``:
        ``[B, H]`` (the read-out position; O(L·H) instead of the convolution's O(L²·H))."""
        H, N2 = self.width, self.state // 2
        L = u.shape[1]
        log_dt = self.param(
            "log_dt",
            lambda k, s, t: jax.random.uniform(k, s, t, minval=math.log(1e-3), maxval=math.log(1e-1)),
            (H,),
            jnp.float32,
        )  # float32 parameters (as flax's layers), also where jax_enable_x64 is on
        a_re = self.param("log_a_re", lambda k, s, t: jnp.full(s, math.log(0.5), t), (H, N2), jnp.float32)
        a_im = self.param(
            "a_im", lambda k, s, t: jnp.broadcast_to(math.pi * jnp.arange(s[1], dtype=t), s), (H, N2), jnp.float32
        )
        c = self.param("c", nn.initializers.normal(0.5), (H, N2, 2), jnp.float32)
        d = self.param("d", nn.initializers.ones, (H,), jnp.float32)
        A = -jnp.exp(a_re) + 1j * a_im
        dtA = jnp.exp(log_dt)[:, None] * A  # [H, N2]
        C = (c[..., 0] + 1j * c[..., 1]) * (jnp.exp(dtA) - 1.0) / A  # ZOH with B = 1
        K = 2 * jnp.einsum("hn,hnl->hl", C, jnp.exp(dtA[:, :, None] * jnp.arange(L))).real  # [H, L]
        if lengths is not None:  # y_t = Σ_{s<=t} K[t-s] u_s + d u_t at t = lengths - 1 only
            back = _lags(lengths, L)
            taps = jnp.where((back >= 0)[..., None], K.T[jnp.clip(back, 0, L - 1)], 0.0)  # [B, L, H]
            y = jnp.einsum("bsh,bsh->bh", taps, u)
            return y.astype(u.dtype) + _last(u, lengths) * d
        # causal convolution y_t = sum_{s<=t} K[t-s] u_s as a Toeplitz product (faster than an FFT
        # on a CPU at these lengths)
        t = jnp.arange(L)
        toeplitz = jnp.where(t[:, None] >= t[None, :], K[:, jnp.maximum(t[:, None] - t[None, :], 0)], 0.0)  # [H, L, L]
        y = jnp.einsum("hts,bsh->bth", toeplitz, u)
        return y.astype(u.dtype) + u * d


class DSS(nn.Module):
    vocab: int
    max_len: int
    width: int
    layers: int
    classes: int
    state: int = 16

    @nn.compact
    def __call__(self, tokens, lengths):
        x = nn.Embed(self.vocab, self.width, name="embed_token")(tokens)
        for i in range(self.layers):
            h = nn.LayerNorm(name=f"ln{i}")(x)
            if i == self.layers - 1:  # the last block at the read-out position only
                h = nn.gelu(S4DKernel(self.width, self.state, name=f"ssm{i}")(h, lengths))
                x = _last(x, lengths)
            else:
                h = nn.gelu(S4DKernel(self.width, self.state, name=f"ssm{i}")(h))
            x = x + nn.Dense(self.width, name=f"out{i}")(h)
        x = nn.LayerNorm(name="ln_final")(x)
        return nn.Dense(self.classes, name="readout")(x)


def selective_scan_reference(x, dt, A, B, C):
    """Mamba's recurrence, plainly. x, dt [b, L, d]; A [d, N]; B, C [b, L, N] -> y [b, L, d] with
    ``h_t = exp(dt_t A) ⊙ h_{t-1} + (dt_t x_t) ⊗ B_t``, ``y_t = h_t C_t``, ``h_0 = 0``: one
    ``lax.scan`` step per position, differentiated by JAX.  :func:`selective_scan` computes the same
    function with a hand-written gradient; this one is kept as its test oracle."""

    def step(h, inputs):
        x_t, dt_t, B_t, C_t = inputs  # [b, d], [b, d], [b, N], [b, N]
        h = jnp.exp(dt_t[..., None] * A) * h + (dt_t * x_t)[..., None] * B_t[:, None, :]
        return h, jnp.einsum("bdn,bn->bd", h, C_t)

    h0 = jnp.zeros((x.shape[0], x.shape[2], A.shape[1]), jnp.result_type(x, dt, A, B))
    _, y = jax.lax.scan(step, h0, tuple(v.swapaxes(0, 1) for v in (x, dt, B, C)))
    return y.swapaxes(0, 1)


SCAN_SEGMENT = 16  # positions per segment of :func:`selective_scan` (see there)


def _segments(v, K):
    """``[b, L, ...]`` -> ``[S, K, b, ...]`` (S = ceil(L/K) segments of K positions), zero-padded at
    the end.  A zero-padded position has dt = 0, so ``exp(dt A) = 1`` and the input is 0: the state
    passes through it unchanged, and its outputs are cut off by :func:`_unsegment`."""
    b, L = v.shape[:2]
    S = -(-L // K)
    v = jnp.pad(v, ((0, 0), (0, S * K - L)) + ((0, 0),) * (v.ndim - 2))
    return jnp.moveaxis(v.reshape(b, S, K, *v.shape[2:]), 0, 2)


def _unsegment(v, L):
    S, K, b = v.shape[:3]
    return jnp.moveaxis(v, 2, 0).reshape(b, S * K, *v.shape[3:])[:, :L]


def _step(h, x_t, dt_t, A, B_t):
    """One position of the recurrence: (the decay ``exp(dt_t A)``, the next state ``h_t``)."""
    decay = jnp.exp(dt_t[..., None] * A)
    return decay, decay * h + (dt_t * x_t)[..., None] * B_t[:, None, :]


def _scan_segments(x, dt, A, B, C, K):
    """Forward pass: y [b, L, d] and the state entering each segment, h_in [S, b, d, N]."""

    def segment(h, inputs):
        xk, dtk, Bk, Ck = inputs  # [K, b, d], [K, b, d], [K, b, N], [K, b, N]
        h_in, ys = h, []
        for j in range(K):  # unrolled: one fused loop body per segment
            h = _step(h, xk[j], dtk[j], A, Bk[j])[1]
            ys.append((h * Ck[j][:, None, :]).sum(-1))
        return h, (jnp.stack(ys), h_in)

    h0 = jnp.zeros((x.shape[0], x.shape[2], A.shape[1]), jnp.result_type(x, dt, A, B))
    _, (y, h_in) = jax.lax.scan(segment, h0, tuple(_segments(v, K) for v in (x, dt, B, C)))
    return _unsegment(y, x.shape[1]), h_in


@jax.custom_vjp
def selective_scan(x, dt, A, B, C):
    """Mamba's recurrence (the same function as :func:`selective_scan_reference`), left to right in
    segments of ``SCAN_SEGMENT`` positions, with a hand-written backward pass.

    Forward: a ``lax.scan`` over segments, each segment's K steps unrolled; it keeps only the state
    entering each segment ([S, b, d, N], S = L/K), never the ``[b, L, d, N]`` tensor of all states.
    Backward (reverse-mode, exact up to float rounding): per segment, last to first, recompute the
    segment's K states from its entry state, then run the adjoint recurrence backwards,
    ``ḡ_t = ȳ_t ⊗ C_t + exp(dt_{t+1} A) ⊙ ḡ_{t+1}`` (ḡ_t = ∂loss/∂h_t), and read off
    ``∂x_t = dt_t Σ_n ḡ_t B_t``, ``∂B_t = Σ_d ḡ_t dt_t x_t``, ``∂C_t = Σ_d h_t ȳ_t``,
    ``∂dt_t = x_t Σ_n ḡ_t B_t + Σ_n (ḡ_t ⊙ h_{t-1} ⊙ exp(dt_t A)) A`` and
    ``∂A = Σ_{b,t} (ḡ_t ⊙ h_{t-1} ⊙ exp(dt_t A)) dt_t``.

    Why: on a CPU, JAX's own gradient of the one-step-per-position scan costs about 13x its forward
    pass (it stores and re-reads every step's residuals); this one, 1.3-1.9x faster for the whole
    forward + backward (measured on the 2-core sandbox, b = 64: 90 -> 69 ms at L = 101, d = 128;
    711 -> 374 ms at L = 201, d = 512).  A parallel prefix scan or a chunked closed form, which
    materialise ``[b, L, d, N]`` tensors, were 2-6x slower still on this CPU.  Tested against
    :func:`selective_scan_reference`'s values and JAX gradients."""
    return _scan_segments(x, dt, A, B, C, SCAN_SEGMENT)[0]


def _selective_scan_fwd(x, dt, A, B, C):
    y, h_in = _scan_segments(x, dt, A, B, C, SCAN_SEGMENT)
    return y, (x, dt, A, B, C, h_in)


def _selective_scan_bwd(res, gy):
    x, dt, A, B, C, h_in = res
    K, L = SCAN_SEGMENT, x.shape[1]

    def segment(carry, inputs):
        g, gA = carry  # ∂loss/∂(state leaving this segment) [b, d, N]; ∂A so far [d, N]
        xk, dtk, Bk, Ck, gyk, h0 = inputs
        hs, decay = [h0], []
        for j in range(K):  # recompute the segment's states, exactly as the forward pass did
            a, h = _step(hs[j], xk[j], dtk[j], A, Bk[j])
            decay.append(a)
            hs.append(h)
        gx, gdt, gB, gC = ([None] * K for _ in range(4))
        for j in reversed(range(K)):  # hs[j + 1] = h_t, hs[j] = h_{t-1}
            gC[j] = (hs[j + 1] * gyk[j][..., None]).sum(1)
            g = g + gyk[j][..., None] * Ck[j][:, None, :]
            g_sum_B = (g * Bk[j][:, None, :]).sum(-1)
            gx[j] = g_sum_B * dtk[j]
            gB[j] = (g * (dtk[j] * xk[j])[..., None]).sum(1)
            g_log_decay = g * hs[j] * decay[j]  # ∂loss/∂(dt_t A)
            gdt[j] = g_sum_B * xk[j] + (g_log_decay * A).sum(-1)
            gA = gA + (g_log_decay * dtk[j][..., None]).sum(0)
            g = g * decay[j]
        return (g, gA), tuple(jnp.stack(v) for v in (gx, gdt, gB, gC))

    inputs = tuple(_segments(v, K) for v in (x, dt, B, C, gy)) + (h_in,)
    init = (jnp.zeros_like(h_in[0]), jnp.zeros_like(A))
    (_, gA), (gx, gdt, gB, gC) = jax.lax.scan(segment, init, inputs, reverse=True)
    return _unsegment(gx, L), _unsegment(gdt, L), gA.astype(A.dtype), _unsegment(gB, L), _unsegment(gC, L)


selective_scan.defvjp(_selective_scan_fwd, _selective_scan_bwd)


class CausalDepthwiseConv(nn.Module):
    """Causal depthwise 1-D convolution, ``y_t = bias + sum_j kernel[j] ⊙ x_{t-k+1+j}`` (zero
    padding on the left): the same function, parameter names, shapes and initialisation as
    ``nn.Conv(d, (k,), padding=[(k-1, 0)], feature_group_count=d)``, written as k shifted
    products because XLA's grouped convolution is slow on CPU (0.26 vs 0.10 s per training step of
    Mamba-(2,64) at n = 100 with the recurrence removed)."""

    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, x):  # [B, L, d]
        k, length = self.kernel_size, x.shape[1]
        # float32 parameters as flax's layers (param_dtype), also where jax_enable_x64 is on
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, 1, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        xp = jnp.pad(x, ((0, 0), (k - 1, 0), (0, 0)))
        return sum(xp[:, j : j + length] * kernel[j, 0] for j in range(k)) + bias


class MambaBlock(nn.Module):
    width: int
    state: int = 16
    expand: int = 2
    conv: int = 4

    @nn.compact
    def __call__(self, u):  # [B, L, w]
        d_in, N = self.expand * self.width, self.state
        rank = math.ceil(self.width / 16)
        xz = nn.Dense(2 * d_in, use_bias=False, name="in_proj")(u)
        x, z = xz[..., :d_in], xz[..., d_in:]
        x = CausalDepthwiseConv(d_in, self.conv, name="conv")(x)
        x = nn.silu(x)
        dbc = nn.Dense(rank + 2 * N, use_bias=False, name="x_proj")(x)

        def dt_bias(key, shape, dtype=jnp.float32):  # softplus^{-1} of dt ~ logUniform[1e-3, 1e-1], as in Mamba
            dt = jnp.exp(jax.random.uniform(key, shape, dtype, minval=math.log(1e-3), maxval=math.log(1e-1)))
            return dt + jnp.log(-jnp.expm1(-dt))

        dt = nn.softplus(nn.Dense(d_in, bias_init=dt_bias, name="dt_proj")(dbc[..., :rank]))
        Bm, Cm = dbc[..., rank : rank + N], dbc[..., rank + N :]
        a_log = self.param(
            "A_log",
            lambda k, s, t: jnp.log(jnp.broadcast_to(jnp.arange(1, s[1] + 1, dtype=t), s)),
            (d_in, N),
            jnp.float32,
        )  # float32 (as flax's layers), also under jax_enable_x64
        D = self.param("D", nn.initializers.ones, (d_in,), jnp.float32)
        y = selective_scan(x, dt, -jnp.exp(a_log), Bm, Cm) + x * D
        return nn.Dense(self.width, use_bias=False, name="out_proj")(y * nn.silu(z))


class Mamba(nn.Module):
    vocab: int
    max_len: int
    width: int
    layers: int
    classes: int
    state: int = 16
    expand: int = 2

    @nn.compact
    def __call__(self, tokens, lengths):
        x = nn.Embed(self.vocab, self.width, name="embed_token")(tokens)
        for i in range(self.layers):
            x = x + MambaBlock(self.width, self.state, self.expand, name=f"mamba{i}")(nn.RMSNorm(name=f"norm{i}")(x))
        x = nn.RMSNorm(name="norm_final")(x)
        return nn.Dense(self.classes, name="readout")(_last(x, lengths))


def retention(q, k, v, gamma, chunk=ATTENTION_CHUNK):
    """``q, k [B, L, H, dk]``, ``v [B, L, H, dv]``, per-head decays ``gamma [H]`` ->
    ``o_t = Σ_{s<=t} γ^(t-s) (q_t·k_s) v_s``, i.e. ``q_t·S_t`` with ``S_t = γ S_{t-1} + k_t v_tᵀ``.

    Chunkwise (RetNet's chunkwise form, chunks of C = ``chunk`` positions): inside a chunk
    ``((Q Kᵀ) ⊙ Γ) V`` with ``Γ[i,j] = γ^(i-j)`` (j <= i); from the chunks before it
    ``γ^(i+1) q_i·S``, S the state at the end of the previous chunk,
    ``Σ_{m<n} γ^(C(n-1-m)) Σ_{j in chunk m} γ^(C-1-j) k_j v_jᵀ``.  O(L·C·d + L·dk·dv) per head
    instead of O(L²·d); the same function (tested against the recurrence)."""
    L = q.shape[1]
    C = min(chunk, L)
    qc, kc, vc = (_chunks(a, C) for a in (q, k, v))  # [B, N, C, H, d]
    N = qc.shape[1]

    def powers(e):  # γ_h^e for e >= 0, 0 where e < 0: [H, *e.shape]
        return jnp.where(e >= 0, gamma.reshape((-1,) + (1,) * e.ndim) ** jnp.maximum(e, 0), 0.0)

    i = jnp.arange(C)
    inside = jnp.einsum("bnihd,bnjhd->bnhij", qc, kc) * powers(i[:, None] - i[None, :])
    o = jnp.einsum("bnhij,bnjhe->bnihe", inside, vc)
    ends = jnp.einsum("bnjhd,bnjhe->bnhde", kc * powers(C - 1 - i).T[:, :, None], vc)  # each chunk, to its end
    n = jnp.arange(N)
    S = jnp.einsum("hnm,bmhde->bnhde", powers(C * (n[:, None] - 1 - n[None, :])), ends)  # before chunk n
    o = o + jnp.einsum("bnihd,bnhde->bnihe", qc * powers(i + 1).T[:, :, None], S)
    return o.reshape(o.shape[0], -1, *o.shape[3:])[:, :L]


class RetNet(PositionalModel):
    """Retention (Sun et al. 2023): fixed per-head decays γ_h, a swish gate.  The layers below the
    last in the chunkwise form (:func:`retention`); the last one at the read-out position only
    (its query, gate and MLP there; keys and values at every position up to it)."""

    @nn.compact
    def __call__(self, tokens, lengths):
        L = tokens.shape[1]
        H, dh = self.heads, self.width // self.heads
        x = positional_embedding(self, tokens)
        gamma = 1.0 - 2.0 ** (-5.0 - jnp.arange(H))  # RetNet's fixed per-head decays
        for i in range(self.layers):
            h = nn.LayerNorm(name=f"ln_ret{i}")(x)
            last = i == self.layers - 1
            at = _last(h, lengths) if last else h  # the positions whose output is needed
            q, g = (nn.Dense(self.width, use_bias=False, name=f"{p}{i}")(at) for p in "qg")
            k, v = (nn.Dense(self.width, use_bias=False, name=f"{p}{i}")(h).reshape(*h.shape[:2], H, dh) for p in "kv")
            if last:  # o = Σ_{s<=t} γ^(t-s) (q_t·k_s) v_s at t = lengths - 1
                back = _lags(lengths, L)[:, None, :]  # [B, 1, L]
                decay = jnp.where(back >= 0, gamma[None, :, None] ** jnp.maximum(back, 0), 0.0)  # [B, H, L]
                s = jnp.einsum("bhd,blhd->bhl", q.reshape(-1, H, dh) / math.sqrt(dh), k) * decay
                o = jnp.einsum("bhl,blhd->bhd", s, v)
                x = _last(x, lengths)
            else:
                o = retention(q.reshape(*h.shape[:2], H, dh) / math.sqrt(dh), k, v, gamma)
            # per-head normalisation at each position (RetNet's GroupNorm over heads; flax's
            # GroupNorm would also reduce over time, which breaks causality)
            o = nn.LayerNorm(name=f"gn{i}")(o).reshape(g.shape)
            o = o * nn.silu(g)
            x = x + nn.Dense(self.width, use_bias=False, name=f"o{i}")(o)
            h = nn.LayerNorm(name=f"ln_mlp{i}")(x)
            x = x + nn.Dense(self.width, name=f"mlp_out{i}")(nn.gelu(nn.Dense(2 * self.width, name=f"mlp_in{i}")(h)))
        x = nn.LayerNorm(name="ln_final")(x)
        return nn.Dense(self.classes, name="readout")(x)


_CLASSES = {"tf": Transformer, "lintf": LinearTransformer, "lstm": LSTM, "dss": DSS, "mamba": Mamba, "retnet": RetNet}


class ModelError(ValueError):
    """Bad model name or size."""


def build(name: str, *, vocab: int, max_len: int, width: int, layers: int, classes: int) -> nn.Module:
    """The flax module ``name`` (one of :data:`MODELS`) for the given vocabulary, maximum length,
    width w (residual / hidden size), number of layers and number of classes."""
    if name not in _CLASSES:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    for key, val, low in (("width", width, 1), ("layers", layers, 1), ("vocab", vocab, 1), ("max_len", max_len, 1)):
        if not isinstance(val, (int, np.integer)) or val < low:
            raise ModelError(f"{key} must be an integer >= {low}, got {val!r}")
    if name in ("tf", "lintf", "retnet") and width % 4:
        raise ModelError(f"{name} needs a width divisible by its 4 heads, got {width}")
    return _CLASSES[name](vocab=vocab, max_len=max_len, width=width, layers=layers, classes=classes)


def size(module: nn.Module, params: Any) -> dict:
    """Sizes from the actual parameter arrays (see the module docstring)."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    total = sum(int(np.size(a)) for _, a in flat)
    embed = sum(int(np.size(a)) for p, a in flat if any("embed_" in str(k) for k in p))
    w, layers = module.width, module.layers
    flat_shapes = [("/".join(str(getattr(k, "key", k)) for k in p), tuple(np.shape(a))) for p, a in flat]
    if isinstance(module, Transformer):
        state, kind = w, "residual per position"
    elif isinstance(module, LinearTransformer):  # per layer and head: S (dk × dv) and z (dk)
        shapes = [dict(flat_shapes)[f"{p}{i}/kernel"] for i in range(layers) for p in "kv"]
        state = sum(H * dk * dv + H * dk for (_, H, dk), (_, _, dv) in zip(shapes[::2], shapes[1::2]))
        kind = "linear-attention state S, z"
    elif isinstance(module, LSTM):
        state, kind = 2 * w * layers, "h, c"
    elif isinstance(module, DSS):
        state, kind = w * (module.state // 2) * 2 * layers, "complex diagonal state"
    elif isinstance(module, Mamba):
        d_in = module.expand * w
        state, kind = layers * (d_in * module.state + d_in * 3), "ssm state + conv window"
    else:
        dh = w // module.heads
        state, kind = layers * module.heads * dh * dh, "retention matrices"
    out = {
        "model": type(module).__name__,
        "width": w,
        "layers": layers,
        "params": total,
        "params_no_embed": total - embed,
        "state_size": state,
        "state_kind": kind,
    }
    if isinstance(module, Transformer):
        out["kv_cache_per_position"] = 2 * w * layers
    return out
