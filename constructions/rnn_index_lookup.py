"""Index lookup with an RNN of (n+1)·⌈log2 s⌉ one-bit units: Theorem 3's bound is tight (paper §3, App. C.1).

Task: ``s_0 … s_{n-1} t`` with symbols ``s_i ∈ [0, s)`` and one index token (id ``s + t``); output
``s_t``. Theorem 3 (with Fact 3; the alphabet factor is docs/PAPER.md §6.2 [OWN]): every RNN
computing it has ``w·b ≥ n·log2 s`` state bits. This module meets the bound up to the factor
``(n+1)⌈log2 s⌉ / (n log2 s)`` (1 + 1/n for s a power of two, < 2 always).

Code: ``ρ: [0, s) → {0,1}^B``, ``B = ⌈log2 s⌉`` (``constructions._codes.binary_code``).

Hidden state (one block ``register`` of ``(n+1)·B`` units, values in {0, 1})
    slot ``i`` (``i = 0 … n``) is the B units ``register[i·B : (i+1)·B]``; ``h0 = 0``.

Symbol step (token c < s): a shift register
    slot 0 ← ``ρ(c)`` (``Win[c]``), slot i ← slot i−1 (``Wh``, the identity shifted by B).
    Invariant: after ``s_0 … s_{T-1}``, slot ``i`` holds ``ρ(s_{T-1-i})`` for ``i < T`` and 0
    otherwise (induction on T; every pre-activation is a single 0/1 value, so ReLU is exact).
    After n symbols slot ``i`` holds ``ρ(s_{n-1-i})``, ``i < n``; slot n is 0.

Index step (token ``s + t``, the last input): shift and select in the same ReLU
    ``Win[s+t]`` is 0 on slot ``n − t`` and −1 on every other slot. The pre-activation of slot
    ``i ≥ 1`` is ``slot_{i-1} + Win``: slot ``n − t`` receives ``ρ(s_t)`` (from slot ``n−1−t``)
    unchanged, every other slot gets ``(0 or 1) − 1 ≤ 0`` → 0. The readout is linear in the final
    state, so this AND has to happen inside the last recurrent step; it does. (Slot n exists only
    to receive ``s_0`` when ``t = 0``.)

Readout
    ``bits_j = Σ_i slot_i[j]`` is ``ρ(s_t)_j`` (one slot survives); ``logit_c = Σ_j (2ρ(c)_j − 1)
    bits_j − |ρ(c)| = −Hamming(ρ(c), ρ(s_t))``: 0 for the answer, ≤ −1 otherwise. Margin 1.

Precision
    The state is ``(n+1)·B`` values in {0, 1}: ``(n+1)·B`` bits (``size(bits=1)``). Every
    pre-activation lies in [−1, 1]; the readout's partial sums lie in [−B, B]. So the model is
    exact in ``fixed:I.0`` with ``2^I ≥ B``, ``I = ⌈log2 B⌉`` (``fixed:0.0`` for s = 2), and in
    every float format (small integers).
"""

from __future__ import annotations

import math

import numpy as np

from ._codes import binary_code
from ._layout import Layout, linear_in
from ._meta import model_meta
from ._model import Model
from ._registry import ConstructionError, register
from ._rnn import RNNWeights

__all__ = ["build_index_lookup_rnn"]


@register("index_lookup", "rnn")
def build_index_lookup_rnn(n: int, alphabet_size: int, seed: int = 0) -> Model:
    """Shift-register RNN for ``index_lookup`` (module docstring).

    Args:
        n: number of symbols, >= 1.
        alphabet_size: s >= 2.
        seed: unused (deterministic construction); recorded in the metadata.
    """
    n, s = int(n), int(alphabet_size)
    if n < 1:
        raise ConstructionError(f"n must be at least 1, got {n}")
    if s < 2:
        raise ConstructionError(f"alphabet_size must be at least 2, got {s}")
    rho = binary_code(s)  # [s, B]
    B = rho.shape[1]
    hidden = Layout(register=(n + 1) * B)
    m = hidden.dim

    wh = linear_in(hidden, hidden, {("register", "register"): np.eye(m, k=-B)})  # slot i-1 -> slot i
    win = np.zeros((s + n, m))
    for c in range(s):
        win[c, 0:B] = rho[c]
    for t in range(n):
        keep = np.full(n + 1, -1.0)
        keep[n - t] = 0.0
        win[s + t] = np.repeat(keep, B)
    signs = 2 * rho - 1  # [s, B]
    readout_w = np.tile(signs.T, (n + 1, 1))  # [(n+1)B, s]
    readout_b = -rho.sum(axis=1)
    weights = RNNWeights(win=win, wh=wh, b=np.zeros(m), h0=np.zeros(m), readout_w=readout_w, readout_b=readout_b)
    meta = model_meta(
        "rnn",
        "index_lookup",
        {"n": n, "alphabet_size": s},
        seq_len=n + 1,
        vocab_size=s + n,
        build={"task": "index_lookup", "arch": "rnn", "n": n, "alphabet_size": s, "seed": int(seed)},
        state_bits_per_unit=1,
        construction={
            "theorem": "tight for Theorem 3 (INDEX, Fact 3): shift register + select in the last step",
            "hidden_layout": hidden.describe(),
            "code_bits": B,
            "state_values": [0, 1],
            "state_bits": m,
            "state_bits_rule": "(n+1)·ceil(log2 s) units, each 0 or 1",
            "lower_bound_rule": "w·b >= n·log2 s (Theorem 3; alphabet factor docs/PAPER.md §6.2 [OWN])",
            "exact_fixed_format": f"fixed:{max(0, math.ceil(math.log2(B)))}.0",
            "logit_margin": 1.0,
        },
    )
    return Model(weights, meta)
