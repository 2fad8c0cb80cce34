"""Associative recall with an RNN of 2K·B + P one-bit units, B = max(1, ⌈log2 V⌉), P = max(1, ⌈log2 K⌉)
(paper App. C.1, Prop. 9).

Task (docs/DESIGN.md §5.2): ``k_0 v_0 … k_{n-1} v_{n-1} q`` with distinct keys ``k_i ∈ [0, K)``, values
``v_i`` (token ``K + v_i``, ``v_i ∈ [0, V)``) and a query key ``q`` that is one of the ``k_i``;
output the value of ``q``. Prop. 9: every RNN has ``w·b ≥ n`` state bits (Alice's n bits are the
values of n fixed keys). With ``K = n`` keys (the task's default) and ``V = 2`` this module has
``2n + ⌈log2 n⌉`` one-bit units: a factor ``2 + ⌈log2 n⌉/n`` above the bound.

Codes: ``ρ(v) ∈ {0,1}^B``, ``B = ⌈log2 V⌉`` (at least 1), for values; ``κ(k) ∈ {0,1}^P``,
``P = ⌈log2 K⌉`` (at least 1), for keys; ``|κ|`` is the number of ones.

Hidden state (values in {0, 1}; ``h0 = 0``)

    =======  =====  ===========================================================
    block    size   meaning
    =======  =====  ===========================================================
    mem      K·B    ``mem[k, j]``: bit j of the value stored for key k
    stage    K·B    ``stage[k, j]``: the pair being written; at the end the answer
    pending  P      ``κ(k)`` of the key just read (0 after any other token)
    =======  =====  ===========================================================

Updates (``match(k) = Σ_b (2κ(k)_b − 1)·pending_b``, which is ``|κ(k)|`` if pending holds
``κ(k)`` and ``≤ |κ(k)| − 1`` if it holds another key's code, since it counts the agreeing ones
minus the disagreeing ones)

    * ``pending' = κ(x)`` on a key or query token ``x``, 0 on a value token (``Win`` only).
    * ``mem'[k, j] = relu(mem[k, j] + stage[k, j])`` (``Wh`` only).
    * ``stage'[k, j] = relu(mem[k, j] + stage[k, j] + 2·match(k) + Win[x][k, j])`` with
      ``Win[K + v][k, j] = ρ(v)_j − 2|κ(k)|`` on a value token and ``Win[x][k, j] = −[k ≠ x]``
      on a key or query token ``x``.

Invariant (induction over the pairs). After the key step of pair i (token ``k_i``): pending =
``κ(k_i)``, stage = 0, and mem holds ``ρ(v_l)`` for every earlier pair l (rows of other keys 0).
    * Value step (``v_i``): pending is ``κ(k_i)``. For ``k = k_i``: mem and stage are 0 (a new
      key) and ``2·match − 2|κ(k)| = 0``, so ``stage'[k_i] = ρ(v_i)``; for ``k ≠ k_i``:
      ``mem + stage + 2(match − |κ(k)|) + ρ_j ≤ 1 − 2 + 1 = 0``. mem keeps its value (stage was 0).
    * Next key step (``k_{i+1}``, pending 0, so ``match = 0``): ``mem' = mem + stage`` absorbs
      ``ρ(v_i)`` into row ``k_i`` (that row was 0: exclusive, so still 0/1); ``stage'[k] =
      relu(mem + stage − [k ≠ k_{i+1}])``: row ``k_{i+1}`` has mem = stage = 0 (a new key), every
      other row gets ``≤ 1 − 1``: stage' = 0.
    * Query step (``q``, after the last value step; pending 0): ``stage'[k] = relu(mem[k] +
      stage[k] − [k ≠ q])``; mem and stage together hold every pair (the last one still in
      stage) and never overlap, so row q is ``ρ(value of q)`` and every other row is 0. The
      select (an AND of the query with the state) happens inside the last recurrent step, as it
      must: the readout is linear.

Readout
    ``bits_j = Σ_k stage[k, j]``, ``logit_c = Σ_j (2ρ(c)_j − 1)·bits_j − |ρ(c)|
    = −Hamming(ρ(c), bits)``: margin 1.

Why two banks (mem and stage)
    A unit u that keeps a stored bit must have ``Win[x][u] = 0`` on every token at which it is
    not written (``relu(1 + w) = 1`` and ``relu(0 + w) = 0`` force ``w = 0``), so a token cannot
    write into one key's row without disturbing the others; and a write triggered by the state,
    ``u' = u ∨ (a ∧ c)`` with a, c state bits, is no single ReLU of an affine function (from
    ``(u,a,c) = (1,0,0) ↦ 1`` and ``(1,0,1) ↦ 1`` the coefficient of c is 0, but ``(0,1,1) ↦ 1``,
    ``(0,1,0) ↦ 0`` need it non-zero). So each value bit is first formed in a staging unit (an
    AND) and then absorbed, which costs the factor 2.

Precision: every unit is 0 or 1, so the state is ``2KB + P`` bits. The stage's partial sums
``h·Wh`` lie in ``[−2P, 2P]`` and ``Win`` in ``[−2P, 1]``, the readout's in ``[−B, B]``: no
value is ever clipped in ``fixed:I.0`` with ``2^I ≥ max(2P, B)``, and every float format holds
these small integers exactly.
"""

from __future__ import annotations

import math

import numpy as np

from ._codes import binary_code
from ._layout import Layout
from ._meta import model_meta
from ._model import Model
from ._registry import ConstructionError, register
from ._rnn import RNNWeights

__all__ = ["build_associative_recall_rnn"]


@register("associative_recall", "rnn")
def build_associative_recall_rnn(n: int, num_keys: int | None = None, num_values: int = 2, seed: int = 0) -> Model:
    """Two-bank key-addressed memory RNN (module docstring).

    Args:
        n: number of key/value pairs, >= 1.
        num_keys: K >= n (default n), the keys are ``[0, K)``.
        num_values: V >= 1.
        seed: unused (deterministic construction); recorded in the metadata.
    """
    n = int(n)
    if n < 1:
        raise ConstructionError(f"n must be at least 1, got {n}")
    K = n if num_keys is None else int(num_keys)
    V = int(num_values)
    if K < n:
        raise ConstructionError(f"num_keys must be at least n={n} (keys are distinct), got {K}")
    if V < 1:
        raise ConstructionError(f"num_values must be at least 1, got {V}")
    rho = binary_code(max(V, 2))[:V]  # [V, B]
    kappa = binary_code(max(K, 2))[:K]  # [K, P]
    B, P = rho.shape[1], kappa.shape[1]
    hidden = Layout(mem=K * B, stage=K * B, pending=P)
    m = hidden.dim
    mem, stage, pend = hidden["mem"], hidden["stage"], hidden["pending"]
    rows = np.arange(K * B)  # row k*B + j of a bank is (key k, bit j)
    key_of = rows // B

    wh = np.zeros((m, m))
    wh[mem.start + rows, mem.start + rows] = 1.0  # mem' = mem + stage
    wh[stage.start + rows, mem.start + rows] = 1.0
    wh[mem.start + rows, stage.start + rows] = 1.0  # stage' = mem + stage + 2 match(k) + Win
    wh[stage.start + rows, stage.start + rows] = 1.0
    wh[pend, stage.start + rows] = 2.0 * (2 * kappa[key_of] - 1).T  # [P, K*B]

    win = np.zeros((K + V, m))
    for x in range(K):  # key or query token
        win[x, pend] = kappa[x]
        win[x, stage.start + rows] = -(key_of != x).astype(np.float64)
    ones = kappa.sum(axis=1)  # |κ(k)|
    for v in range(V):
        win[K + v, stage.start + rows] = rho[v][rows % B] - 2.0 * ones[key_of]

    signs = 2 * rho - 1  # [V, B]
    readout_w = np.zeros((m, V))
    readout_w[stage.start + rows] = signs.T[rows % B]
    readout_b = -rho.sum(axis=1)
    weights = RNNWeights(win=win, wh=wh, b=np.zeros(m), h0=np.zeros(m), readout_w=readout_w, readout_b=readout_b)
    meta = model_meta(
        "rnn",
        "associative_recall",
        {"n": n, "num_keys": K, "num_values": V},
        seq_len=2 * n + 1,
        vocab_size=K + V,
        build={"task": "associative_recall", "arch": "rnn", "n": n, "num_keys": K, "num_values": V, "seed": int(seed)},
        state_bits_per_unit=1,
        construction={
            "theorem": "near-tight for Proposition 9: key-addressed memory, staged writes, select in the last step",
            "hidden_layout": hidden.describe(),
            "value_bits": B,
            "key_bits": P,
            "state_values": [0, 1],
            "state_bits": m,
            "state_bits_rule": "2·K·ceil(log2 V) + ceil(log2 K) units, each 0 or 1",
            "lower_bound_rule": "w·b >= n (Proposition 9)",
            "exact_fixed_format": f"fixed:{math.ceil(math.log2(max(2 * P, B)))}.0",
            "logit_margin": 1.0,
        },
    )
    return Model(weights, meta)
