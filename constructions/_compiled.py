"""The compiled forward passes behind :class:`~constructions.Model`: jitted per model family,
number format and plan, cached, and the device sharding of their inputs.

Every function here is traced with ``jax_enable_x64`` on and must be called with it on
(:func:`~constructions.float64_scope`; ``Model``'s methods do so)."""

from __future__ import annotations

import functools

import jax
import numpy as np

from ._precision import parse_precision
from ._rnn import rnn_logits, rnn_states
from ._transformer import encode_weights, prepare, transformer_logits

__all__ = [
    "batch_sharding",
    "compiled_forward",
    "compiled_states",
    "forward_function",
    "preparer",
    "round_up",
    "traced_forward",
]


@functools.cache
def preparer(arch: str, precision: str, embed_kind: str, seq_len: int | None = None, causal: bool = True):
    """``prepare(weights)`` jitted for one family and format: the encoded weights (and, for token
    Transformers, the first layer's tables)."""
    ar = parse_precision(precision)
    if arch == "transformer":
        return jax.jit(lambda w: prepare(ar, w, embed_kind=embed_kind, seq_len=seq_len, causal=causal))
    return jax.jit(lambda w: encode_weights(ar, w))


@functools.cache
def forward_function(arch: str, precision: str, embed_kind: str, causal: bool, plan, readout=None):
    """The pure batched forward ``f(prepared, inputs) -> logits [B, C]`` (traceable, not jitted):
    what :meth:`Model.logits` compiles, and what the checking engine composes with its tallies.
    ``readout``: a tuple of positions (Transformer readout ``"positions"``): logits ``[B, Q, C]``."""
    ar = parse_precision(precision)
    if arch == "transformer":
        return lambda p, x: transformer_logits(
            ar, p, x, embed_kind=embed_kind, causal=causal, plan=plan, readout=readout
        )
    return lambda p, x: rnn_logits(ar, p, x)


@functools.cache
def compiled_forward(arch: str, precision: str, embed_kind: str, causal: bool, plan, readout=None):
    """:func:`forward_function` jitted (one compilation per input shape)."""
    return jax.jit(forward_function(arch, precision, embed_kind, causal, plan, readout))


@functools.cache
def traced_forward(arch: str, embed_kind: str, causal: bool, readout=None):
    """``f(ar, weights, inputs) -> logits``, jitted with the arithmetic as an argument: encoding,
    first-layer tables and the pass, without a plan (every shortcut that reads values is off)."""
    if arch == "transformer":

        def run(ar, w, x):
            return transformer_logits(
                ar, prepare(ar, w, embed_kind=embed_kind), x, embed_kind=embed_kind, causal=causal, readout=readout
            )
    else:

        def run(ar, w, x):
            return rnn_logits(ar, encode_weights(ar, w), x)

    return jax.jit(run)


def batch_sharding() -> tuple[jax.sharding.NamedSharding, jax.sharding.NamedSharding]:
    """``(data, replicated)`` shardings over every local device: the batch axis of inputs is split
    across devices, weights are copied to each. One CPU, a GPU and a multi-device host run the
    same code; with one device both are trivial."""
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("batch",))
    return (
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch")),
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()),
    )


def round_up(k: int, m: int) -> int:
    """The least multiple of ``m`` that is at least ``k``."""
    return -(-k // m) * m


@functools.cache
def compiled_states(precision: str):
    """``states(weights, tokens [B, L]) -> [B, L+1, m]``: an RNN's hidden states, jitted per format."""
    ar = parse_precision(precision)
    return jax.jit(jax.vmap(lambda w, t: rnn_states(ar, encode_weights(ar, w), t), in_axes=(None, 0)))
