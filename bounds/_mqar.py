"""Theorem 8's reduction, executed: disjointness on m bits through multi-query associative recall.

Paper App. G.1 (docs/PAPER.md §10.2, docs/MULTI_QUERY.md). Alice holds ``a ∈ {0,1}^m``, Bob
``b ∈ {0,1}^m``; they agree in advance on the m keys ``0, …, m−1``.

1. The instance. Alice's half is ``k_0 a_0 … k_{m-1} a_{m-1}`` (her bits are the values); Bob's
   half repeats the keys in the order π (identity unless given), each followed by its value:
   the MQAR input of ``tasks.get("associative_recall", n=m, …, queries="all")``, and, with key c
   as the hypercube point ``(2·bits(c) − 1)/√d'`` (``d' = max(1, ⌈log2 K⌉)``), the multi-query
   nearest-neighbour input of ``tasks.get("nearest_neighbor", n=2m−1, dim=d', margin=2/d',
   queries="all")`` (labels = values). The answers to Bob's queries are Alice's bits, ``a_{π(j)}``.
2. The protocol (Theorem 2, :func:`bounds.rnn_protocol`): Alice runs the RNN over her half and
   sends the state, ``w·b`` bits. Bob answers each query from that state: with an RNN read at
   the last position (our associative-recall RNNs answer one final query), he continues from the
   *same* message with the query key alone, once per key (:func:`bounds._rnn_protocol.bob_logits`)
   — the message depends on Alice's half only, so it is sent once. He feeds each answer as the value after the query (so his half is
   the MQAR half above) and, having learnt ``a``, outputs ``disjointness(a, b)``.
3. So ``w·b ≥ D(DISJ_m) = m`` (Fact 1): an RNN solving MQAR on m stored pairs has ``w·b ≥ m``,
   the paper's ``w ≥ n/(2b)`` with n = 2m points.

:func:`disjointness_via_mqar` runs all of it on a batch and checks every output against the task
solvers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

import tasks

from ._closed_forms import BoundError
from ._grid import parse_fixed
from ._rnn_protocol import _weights as protocol_weights
from ._rnn_protocol import bob_logits, rnn_protocol

if TYPE_CHECKING:  # type names only
    from constructions import Model

__all__ = ["disjointness_via_mqar", "mqar_instance"]


def mqar_instance(a: np.ndarray, num_keys: int, order: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Step 1: ``(tokens [B, 4m−1], nearest-neighbour inputs)`` of the MQAR instance whose stored
    values are the bits ``a [B, m]`` (keys ``0 … m−1``, queries in the order ``order [B, m]``)."""
    a = np.asarray(a, dtype=np.int64)
    B, m = a.shape
    if order is None:
        order = np.broadcast_to(np.arange(m), (B, m))
    order = np.asarray(order, dtype=np.int64)
    K = int(num_keys)
    keys = np.broadcast_to(np.arange(m), (B, m))
    x = np.empty((B, 4 * m - 1), dtype=np.int64)
    x[:, 0 : 2 * m : 2], x[:, 1 : 2 * m : 2] = keys, K + a
    x[:, 2 * m :: 2] = order
    x[:, 2 * m + 1 :: 2] = K + np.take_along_axis(a, order[:, :-1], axis=1)
    d = max(1, math.ceil(math.log2(K)))
    cube = (2.0 * ((np.arange(K)[:, None] >> np.arange(d)[None, :]) & 1) - 1.0) / math.sqrt(d)
    points = cube[x[:, 0::2]]  # [B, 2m, d]: every key and query, in sequence order
    labels = x[:, 1::2] - K  # [B, 2m−1]
    return x, {"points": points, "labels": labels}


def disjointness_via_mqar(model: Model, a, b, precision: str, order=None) -> dict:
    """Run Theorem 8's reduction (module docstring) with the RNN ``model`` (an
    ``associative_recall`` RNN with ``n = m`` pairs and at least two values) on bits ``a, b [B, m]``.

    Returns ``{"disjoint" [B] (Bob's output, 1 = disjoint), "recovered" [B, m] (Bob's answers in
    query order), "message_bits" (per example, sent once), "formula_bits" (w·b), "required_bits"
    (m, Fact 1), "tokens", "nn_inputs"}``; raises :class:`BoundError` if any output disagrees with
    the solvers (disjointness, multi-query associative recall, multi-query nearest neighbour).
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.ndim != 2 or a.shape != b.shape or a.size == 0 or np.any((a > 1) | (a < 0) | (b > 1) | (b < 0)):
        raise BoundError("a and b must be 0/1 arrays of the same shape [B, m], m >= 1")
    B, m = a.shape
    params = dict(getattr(model, "task_params", {}))
    if getattr(model, "task", None) != "associative_recall" or params.get("n") != m:
        raise BoundError(f"needs an associative_recall model with n = m = {m}, got {getattr(model, 'task', None)!r}")
    if params.get("num_values", 2) < 2:
        raise BoundError("the values must hold a bit: num_values >= 2")
    K = int(params.get("num_keys") or m)
    x, nn = mqar_instance(a, K, order)
    alice = x[:, : 2 * m]
    # Bob's first query runs the whole protocol; he asks every other key from the same message
    run = rnn_protocol(model, np.concatenate([alice, x[:, 2 * m, None]], axis=1), 2 * m, precision)
    message, info = run.messages[0].bits, run.info
    grid = parse_fixed(precision)
    w = protocol_weights(model, grid)
    again = bob_logits(grid, w, np.repeat(message, m, axis=0), x[:, 2 * m :: 2].reshape(B * m, 1))
    recovered = np.argmax(again, axis=1).reshape(B, m).astype(np.int64)
    if not np.array_equal(recovered[:, 0], run.predictions):
        raise BoundError("Bob's continuation from the message disagrees with the protocol run")
    asked = x[:, 2 * m :: 2]
    bob_bits = np.take_along_axis(b, asked, axis=1)
    disjoint = 1 - np.any((recovered == 1) & (bob_bits == 1), axis=1).astype(np.int64)

    want_disj = tasks.get("disjointness", n=2 * m).solve(np.concatenate([a, b], axis=1))
    want_ar = tasks.get("associative_recall", n=m, num_keys=K, num_values=2, queries="all").solve(x)
    if not np.array_equal(recovered, want_ar) or not np.array_equal(disjoint, want_disj):
        raise BoundError("the protocol's outputs differ from the task solvers")
    dim = nn["points"].shape[2]
    if dim >= 2:  # the nearest-neighbour task needs dim >= 2
        nn_task = tasks.get("nearest_neighbor", n=2 * m - 1, dim=dim, margin=2 / dim, queries="all")
        if not np.array_equal(nn_task.solve(nn), recovered):
            raise BoundError("the nearest-neighbour view disagrees with the recovered bits")
    return {
        "disjoint": disjoint,
        "recovered": recovered,
        "message_bits": int(message.shape[1]),
        "formula_bits": int(info["formula_bits"]),
        "required_bits": m,
        "width": int(info["width"]),
        "b": int(info["b"]),
        "tokens": x,
        "nn_inputs": nn,
        "theorem": "Theorem 8 (DISJ on m bits through MQAR; Theorem 2 + Fact 1)",
    }
