"""Theorem 2 as a program: an RNN is a one-way protocol of ``w·b`` bits for any prefix/suffix cut.

Alice holds tokens ``x[0:K]`` and Bob ``x[K:L]``.

1. Alice runs the RNN from ``h0`` over her tokens, in ``fixed:I.F`` arithmetic, to ``h_K``.
2. She serialises ``h_K``: each of the w entries as a b-bit two's complement grid integer
   (``b = I + F + 1``; :func:`bounds._grid.signed_bits`) — exactly ``w·b`` bits.
3. Bob decodes the bits, continues over his tokens and reads out.

The recurrence is re-implemented here in numpy (``h_t = relu(h_{t-1} Wh + Win[x_t] + b)``, the
grid rules of docs/MODEL.md: the product ``h Wh`` accumulated exactly and rounded down once, each
addition clipped), so the agreement with ``Model.logits(x, precision)`` is a check of both.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._closed_forms import BoundError
from ._grid import Grid, parse_fixed, signed_bits, signed_from_bits
from ._protocol import Message, ProtocolRun

if TYPE_CHECKING:  # type names only
    from constructions import Model
    from tasks import Inputs

__all__ = ["rnn_protocol", "rnn_run"]


def _weights(model, grid: Grid) -> dict:
    if getattr(model, "arch", None) != "rnn":
        raise BoundError(
            f"Theorem 2's protocol runs an RNN; got a {getattr(model, 'arch', type(model).__name__)} model"
        )
    w = model.weights
    m = int(np.asarray(w.wh).shape[0])
    if 2 * (grid.int_bits + grid.frac_bits) + max(1, math.ceil(math.log2(max(m, 2)))) > 62:
        raise BoundError(f"fixed:{grid.int_bits}.{grid.frac_bits} is too wide for exact int64 sums over {m} terms")
    return {k: grid.encode(getattr(w, k)) for k in ("win", "wh", "b", "h0", "readout_w", "readout_b")}


def rnn_run(grid: Grid, w: dict, h: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Run the recurrence from states ``h [B, m]`` (grid ints) over ``tokens [B, T]``; returns ``[B, m]``."""
    for t in range(tokens.shape[1]):
        pre = grid.add(grid.add(grid.round(h @ w["wh"]), w["win"][tokens[:, t]]), w["b"])
        h = np.maximum(pre, 0)
    return h


def bob_logits(grid: Grid, w: dict, bits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Bob's side: decode Alice's state from ``bits [B, w·b]`` (only the bits cross the cut), run
    on over ``tokens [B, T]`` and read out; float64 logits ``[B, C]``."""
    h = rnn_run(grid, w, signed_from_bits(bits, grid.bits), tokens)
    return grid.decode(grid.add(grid.round(h @ w["readout_w"]), w["readout_b"]))


def rnn_protocol(model: Model, inputs: Inputs, cut: int, precision: str) -> ProtocolRun:
    """Run Theorem 2's protocol on a batch: Alice holds positions ``[0, cut)``, Bob the rest.

    Returns a :class:`ProtocolRun` with Bob's logits and one message of exactly ``w·b`` bits;
    ``info["alice_state"]`` is Alice's ``h_cut`` (float64 ``[B, w]``, decoded).
    """
    grid = parse_fixed(precision)
    w = _weights(model, grid)
    x = np.asarray(model.encode_inputs(inputs), dtype=np.int64)
    B, L = x.shape
    if isinstance(cut, bool) or not isinstance(cut, (int, np.integer)) or not 0 <= cut <= L:
        raise BoundError(f"cut must be an integer in [0, {L}], got {cut!r}")
    width = w["wh"].shape[0]
    # Alice
    h = rnn_run(grid, w, np.broadcast_to(w["h0"], (B, width)).copy(), x[:, :cut])
    message = Message("state", "alice", "bob", signed_bits(h, grid.bits, what="RNN state entry"))
    logits = bob_logits(grid, w, message.bits, x[:, cut:])
    info = {
        "theorem": "Theorem 2",
        "cut": int(cut),
        "precision": str(precision),
        "width": int(width),
        "b": grid.bits,
        "formula_bits": int(width) * grid.bits,
        "alice_state": grid.decode(h),
    }
    return ProtocolRun(logits, (message,), info)
