"""Equality and disjointness with RNNs of about n/2 one-bit units: the bounds of Thm 11 and §4.2 are tight.

Tasks (docs/DESIGN.md §5.2): ``x ∈ {0,1}^n``, n even, ``N = n/2``. ``equality``: 1 iff ``x[:N] == x[N:]``.
``disjointness``: 1 iff no ``i < N`` has ``x_i = x_{i+N} = 1``. Any RNN computing either has
``w·b ≥ n/2`` state bits (Thm 11 via Fact 2; §4.2 via Fact 1): Alice runs the first half and sends
the state. Both models below store the first half and compare the second against it.

Common part: a FIFO of N one-bit units
    ``data[0] ← x_T`` (``Win``), ``data[i] ← data[i−1]`` (``Wh``); ``h0 = 0``. In the state after
    T tokens, ``data[i] = x_{T−1−i}`` for ``i < T`` and 0 otherwise; in particular, when ``x_T`` is
    read with ``T ≥ N``, the oldest unit ``data[N−1]`` holds ``x_{T−N}``: exactly its partner.

Disjointness (width N + 2)
    ``hit' = relu(data[N−1] + x_T − 1 − flag − hit)``, ``flag' = relu(flag + hit)``. While
    ``T < N`` the oldest unit is still the initial 0, so no test fires before the second half
    (no phase signal needed). Let ``E_T = flag_T + hit_T``. ``hit_{T+1} = 1`` iff ``x_T =
    x_{T−N} = 1`` and ``E_T = 0``, and ``E_{T+1} = E_T + hit_{T+1}``: by induction ``E_T ∈ {0,1}``
    is "some pair (i, i+N) with i+N < T is (1, 1)" and every unit stays in {0, 1}.
    Readout: ``logits = (E, 1 − E)`` (class 1 = disjoint), margin 1.

Equality (width N + Σ p_k + 5)
    Here the empty FIFO (zeros) cannot be told from a stored 0, so the comparison is gated by a
    phase bit ``phase_T = [T ≥ N]``, made from cyclic counters with pairwise coprime moduli
    ``p_1 … p_K`` (``Π p_k ≥ N + 2``, chosen to minimise ``Σ p_k``): ``count_k`` is one-hot,
    ``count_k[r] ← count_k[r−1 mod p_k]`` (a permutation: exact), so after T tokens it is
    ``e_{T mod p_k}``.
    * ``hit' = relu(Σ_k count_k[(N−2) mod p_k] − (K−1))``: in the state after T ≥ 1 tokens,
      ``hit_T = [T−1 ≡ N−2 mod p_k ∀k] = [T−1 ≡ N−2 mod Π p_k]`` (CRT) ``= [T = N−1]``, because
      ``T−1`` and ``N−2`` lie within ``Π p_k − 1`` of each other for ``T ≤ n``. ``hit_0 = [N = 1]``.
    * ``phase' = relu(phase + hit)``; hit fires once, at ``T = N−1``, while phase is 0, so
      ``phase_T = [T ≥ N]`` exactly.
    * ``miss1' = relu(data[N−1] + phase − E − 1 − x_T)`` (stored 1, read 0) and
      ``miss0' = relu(phase − data[N−1] − E − 1 + x_T)`` (stored 0, read 1), with
      ``E = flag + miss1 + miss0``; ``flag' = relu(flag + miss1 + miss0)``. As for disjointness,
      ``E_T ∈ {0,1}`` is "some ``x_i ≠ x_{i+N}`` with ``i + N < T``", and each pre-activation is 1
      exactly in the stated case and ≤ 0 otherwise (check the four 0/1 terms).
    Readout: ``logits = (E, 1 − E)``, margin 1.

State bits: every unit is 0 or 1, so the state is ``width`` bits: N + 2 (disjointness, ratio
``1 + 4/n`` to the bound n/2) and ``N + Σ p_k + 5`` (equality; ``Σ p_k ≈ 2√(n/2)``, ratio
``1 + O(1/√n)``, e.g. 563/512 at n = 1024 with moduli 21, 25). Exact in every float format and in ``fixed:0.0``
(disjointness: every partial sum lies in [−1, 1]) and ``fixed:1.0`` (equality: ``data[N−1] +
phase`` and ``Σ count`` reach 2).
"""

from __future__ import annotations

import math

import numpy as np

from ._layout import Layout
from ._meta import ModelMeta, model_meta
from ._model import Model
from ._registry import ConstructionError, register
from ._rnn import RNNWeights

__all__ = ["build_equality_rnn", "build_disjointness_rnn", "coprime_moduli"]


def coprime_moduli(target: int) -> list[int]:
    """Pairwise coprime moduli with product ``>= target`` and the least sum, among one modulus
    ``[target]`` and two moduli ``[p, q]`` (``p < q``) — the counters of the equality RNN."""
    target = max(int(target), 2)
    best = [target]
    for p in range(2, math.isqrt(target) + 2):
        q = max(p + 1, -(-target // p))
        while math.gcd(p, q) != 1:
            q += 1
        if p + q < sum(best):
            best = [p, q]
    return best


def _check_n(n) -> int:
    n = int(n)
    if n < 2 or n % 2:
        raise ConstructionError(f"n must be even and at least 2, got {n}")
    return n


def _meta(task: str, n: int, seed: int, hidden: Layout, extra: dict) -> ModelMeta:
    return model_meta(
        "rnn",
        task,
        {"n": n},
        seq_len=n,
        vocab_size=2,
        build={"task": task, "arch": "rnn", "n": n, "seed": int(seed)},
        state_bits_per_unit=1,
        construction={
            "hidden_layout": hidden.describe(),
            "state_values": [0, 1],
            "state_bits": hidden.dim,
            "lower_bound_rule": "w·b >= n/2 (Thm 11 / §4.2, via Fact 2 / Fact 1)",
            "logit_margin": 1.0,
            **extra,
        },
    )


def _fifo(hidden: Layout, wh: np.ndarray, win: np.ndarray) -> None:
    """data[0] <- x, data[i] <- data[i-1]."""
    d = hidden["data"]
    N = hidden.size("data")
    idx = np.arange(d.start, d.stop)
    wh[idx[:-1], idx[1:]] = 1.0
    win[1, d.start] = 1.0
    assert N == len(idx)


def _readout(hidden: Layout, error_units: list[str]):
    """logits = (E, 1 - E) with E the sum of the error units."""
    m = hidden.dim
    w = np.zeros((m, 2))
    for name in error_units:
        w[hidden[name], 0] = 1.0
        w[hidden[name], 1] = -1.0
    return w, np.array([0.0, 1.0])


@register("disjointness", "rnn")
def build_disjointness_rnn(n: int, seed: int = 0) -> Model:
    """FIFO + one AND test per step, width n/2 + 2 (module docstring)."""
    n = _check_n(n)
    N = n // 2
    hidden = Layout(data=N, hit=1, flag=1)
    m = hidden.dim
    wh, win = np.zeros((m, m)), np.zeros((2, m))
    _fifo(hidden, wh, win)
    oldest, hit, flag = hidden["data"].stop - 1, hidden["hit"].start, hidden["flag"].start
    wh[oldest, hit] = 1.0
    wh[flag, hit] = wh[hit, hit] = -1.0
    win[:, hit] = [-1.0, 0.0]  # x_T - 1
    wh[flag, flag] = wh[hit, flag] = 1.0
    readout_w, readout_b = _readout(hidden, ["hit", "flag"])
    weights = RNNWeights(win=win, wh=wh, b=np.zeros(m), h0=np.zeros(m), readout_w=readout_w, readout_b=readout_b)
    meta = _meta(
        "disjointness",
        n,
        seed,
        hidden,
        {
            "theorem": "tight for §4.2 (DISJ, Fact 1): store the first half, AND-test the second",
            "state_bits_rule": "n/2 + 2 units, each 0 or 1",
            "exact_fixed_format": "fixed:0.0",
        },
    )
    return Model(weights, meta)


@register("equality", "rnn")
def build_equality_rnn(n: int, seed: int = 0) -> Model:
    """FIFO + phase bit from coprime counters + XOR test, width n/2 + Σp + 5 (module docstring)."""
    n = _check_n(n)
    N = n // 2
    moduli = coprime_moduli(N + 2)
    hidden = Layout(
        ("data", N),
        *[(f"count[{k}]", p) for k, p in enumerate(moduli)],
        ("hit", 1),
        ("phase", 1),
        ("miss1", 1),
        ("miss0", 1),
        ("flag", 1),
    )
    m = hidden.dim
    wh, win = np.zeros((m, m)), np.zeros((2, m))
    h0 = np.zeros(m)
    _fifo(hidden, wh, win)
    hit, phase = hidden["hit"].start, hidden["phase"].start
    miss1, miss0, flag = hidden["miss1"].start, hidden["miss0"].start, hidden["flag"].start
    oldest = hidden["data"].stop - 1
    for k, p in enumerate(moduli):
        c = hidden[f"count[{k}]"]
        for r in range(p):
            wh[c.start + (r - 1) % p, c.start + r] = 1.0  # cyclic shift
        h0[c.start] = 1.0
        wh[c.start + (N - 2) % p, hit] = 1.0
    win[:, hit] = -(len(moduli) - 1)
    h0[hit] = float(N == 1)
    wh[phase, phase] = wh[hit, phase] = 1.0
    for unit, sign, bias in ((miss1, 1.0, [-1.0, -2.0]), (miss0, -1.0, [-1.0, 0.0])):
        wh[oldest, unit] = sign
        wh[phase, unit] = 1.0
        wh[[flag, miss1, miss0], unit] = -1.0
        win[:, unit] = bias  # miss1: -1 - x_T ; miss0: x_T - 1
    wh[[flag, miss1, miss0], flag] = 1.0
    readout_w, readout_b = _readout(hidden, ["miss1", "miss0", "flag"])
    weights = RNNWeights(win=win, wh=wh, b=np.zeros(m), h0=h0, readout_w=readout_w, readout_b=readout_b)
    meta = _meta(
        "equality",
        n,
        seed,
        hidden,
        {
            "theorem": "tight for Theorem 11 (EQ, Fact 2): store the first half, XOR-test the second",
            "counter_moduli": moduli,
            "state_bits_rule": "n/2 + sum(moduli) + 5 units, each 0 or 1",
            "exact_fixed_format": "fixed:1.0",
        },
    )
    return Model(weights, meta)
