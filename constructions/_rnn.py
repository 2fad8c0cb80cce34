"""The one recurrent definition every RNN construction uses (docs/DESIGN.md §3, docs/MODEL.md).

Elman RNN, time-invariant, ReLU::

    h_0 = h0
    h_t = relu(h_{t-1} Wh + Win[x_t] + b)        t = 1..L
    logits = h_L @ Wr + br

Shapes: ``Win [V, m]``, ``Wh [m, m]``, ``b [m]``, ``h0 [m]``, ``Wr [m, C]``, ``br [C]``. The paper's
lower bounds hold for *any* recurrent update ``h_t = g_t(x_t, h_{t-1})``; this concrete form is
what our constructions use. The state is ``m`` numbers of ``b`` bits: ``m·b`` bits.
"""

from __future__ import annotations

import jax
import numpy as np

from ._precision import Arithmetic, pytree_dataclass
from ._transformer import _lookup

__all__ = ["RNNWeights", "rnn_logits", "rnn_states"]


@pytree_dataclass
class RNNWeights:
    """``win [V, m]``, ``wh [m, m]``, ``b [m]``, ``h0 [m]``, ``readout_w [m, C]``, ``readout_b [C]``."""

    win: np.ndarray
    wh: np.ndarray
    b: np.ndarray
    h0: np.ndarray
    readout_w: np.ndarray
    readout_b: np.ndarray


def _step(ar, w, h, x):
    # win[x] by selection for small vocabularies (the same values as a gather, faster on CPUs)
    pre = ar.add(ar.add(ar.einsum("m,mk->k", h, w.wh), _lookup(w.win, x)), w.b)
    return ar.relu(pre)


def rnn_states(ar: Arithmetic, w: RNNWeights, tokens: jax.typing.ArrayLike) -> jax.Array:
    """Hidden states after every prefix: int ``[L]`` tokens -> ``[L+1, m]`` (row 0 is ``h0``), decoded."""

    def body(h, x):
        h = _step(ar, w, h, x)
        return h, h

    _, hs = jax.lax.scan(body, w.h0, tokens)
    return ar.decode(jax.numpy.concatenate([w.h0[None], hs], axis=0))


def rnn_logits(ar: Arithmetic, w: RNNWeights, inputs: jax.typing.ArrayLike, **_: object) -> jax.Array:
    """Logits ``[B, C]`` (float64) for int tokens ``[B, L]``; ``w`` encoded with ``ar``."""

    def one(tokens):
        h, _ = jax.lax.scan(lambda h, x: (_step(ar, w, h, x), None), w.h0, tokens)
        return ar.decode(ar.add(ar.einsum("m,mc->c", h, w.readout_w), w.readout_b))

    return jax.vmap(one)(inputs)
