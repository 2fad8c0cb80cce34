"""THRES_{k,n} with two attention layers: k heads, width O(log n) (Theorem 13; App. F.3).

Task: bits ``x_0 … x_{n-1}``; ``m ≤ n`` index sets ``I_j`` of size ``≤ k`` with truth tables
``g_j`` (little-endian in the listed order); output ``1[Σ_j g_j(x) > c]``. Disjointness
(1 = disjoint) is the instance ``I_j = {j, j + n/2}``, ``g = NAND``, ``c = n/2 − 1``
(:func:`disjointness_instance`); equality is the same with ``g = XNOR``.

Host positions (a deviation forced by the causal mask)
    The paper evaluates ``g_j`` at position j and attends to ``I_j`` without a mask. Causally,
    position p sees only ``x_0 … x_p``, so ``g_j`` is evaluated at a *host* ``p_j ≥ max I_j``.
    Each position holds ``s`` slots; :func:`schedule` sorts the functions by ``max I_j``
    (descending) and gives the t-th one position ``n − 1 − ⌊t/s⌋``, with the smallest s for which
    every host is late enough (``s = max_t ⌊t/(n − max I_(t))⌋ + 1``; by Hall's theorem no
    assignment does better). ``s = 1`` for equality and disjointness (``max I_j = j + n/2`` are
    distinct), so those use exactly the paper's k heads; an instance whose sets crowd the end of
    the string needs ``s·k`` heads. ``causal=False`` (no mask, as in the paper's §2 definition)
    puts at most one function on each position: ``s = 1`` always.

No [BOS] token (a deviation: the task's inputs have none)
    The paper's BOS does two jobs. (i) Unused index slots (``|I_j| < k``) attend to it and fetch
    "absent". Here unused slots attend to position 0 (visible to everyone; its address plays the
    BOS address) and the slot's truth table is *expanded* to ignore that bit, so whatever arrives
    is harmless. (ii) It pads the average with a 0; here every position without a function holds
    an all-zero table, so its ``g`` is 0, and layer 2 averages over the n input positions.

Residual stream (``D = 1 + r + s·k·r + s·2^k + s·k + 3``; blocks per slot σ < s)

    ===========  ======  ==============================  ======================================
    block        size    written by                      content at position p
    ===========  ======  ==============================  ======================================
    bit          1       token embedding                 ``x_p``
    address      r       position embedding              ``a_p``
    q{σ}_{i}     r       position embedding              ``a_{I_j[i]}`` of the hosted g_j (else a_0)
    table{σ}     2^k     position embedding              expanded truth table of g_j (else 0)
    got{σ}       k       layer-1 heads                   ``≈ x_{I_j[i]}`` (soft)
    g            1       layer-1 FFN                     ``Σ_σ g_σ(x)`` (exact integer)
    mean         1       layer-2 attention (last pos.)   ``(1/n) Σ_p g_p``
    out          1       layer-2 FFN (last pos.)         ``1[Σ_j g_j > c]`` (exact 0/1)
    ===========  ======  ==============================  ======================================

Layer 1, ``s·k`` heads (``w = r``, ``wv = 1``): head (σ, i) has ``Q = β·q{σ}_{i}``,
``K = address``, ``V = bit`` → ``got{σ}[i]``. As in Theorem 1 the target scores β, the ``≤ n−1``
other visible positions at most βμ. β = ``softmax_scale(n − 1, 1 − μ, ε)`` with ``ε = 1/(8k)``:
every fetched bit is within ε of the true bit, so the k of them together err by at most 1/8.

Layer-1 FFN (``F = s·2^{k+1}``): the truth table compiled into ReLUs, exact on soft inputs
    For each code ``u ∈ {0,1}^k`` let ``S_u = Σ_i match_i + T[u]`` with ``match_i = z_i`` if
    ``u_i = 1`` and ``1 − z_i`` otherwise. The code of the true bits has ``Σ match ≥ k − 1/8``;
    every other code ``≤ k − 7/8``. So ``S_u ≥ k + 7/8`` iff u is the true code and ``T[u] = 1``,
    and ``S_u ≤ k + 1/8`` otherwise. ``step(S) = ReLU(2(S−k) − 1/2) − ReLU(2(S−k) − 3/2)`` is then
    exactly ``T[true code] = g(x)`` when summed over u (two units per code).

Layer 2, ``Q = 0``: uniform average ``mean = G/n`` of ``G = Σ_p g_p = Σ_j g_j(x)``.

Layer-2 FFN: with ``v = n·mean − c`` (``= G − c``, an integer), ``out = ReLU(2v − 1/2) −
ReLU(2v − 3/2)`` is 1 iff ``G ≥ c + 1``. Readout ``(1 − 2·out, 2·out − 1)``: margin 2.

Size: width ``O(s·k·log n + s·2^k)`` = O(log n) for constant k and s; ``s·k`` heads in layer 1,
one in layer 2; precision O(log n) bits.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._codes import make_addresses
from ._gadgets import attention_lower_bound, mean_and_threshold, mlp, ramp, softmax_scale
from ._layout import Layout, linear
from ._meta import model_meta
from ._model import Model
from ._registry import ConstructionError, register
from ._transformer import Attention, Layer, TransformerWeights

__all__ = ["build_threshold", "build_disjointness", "disjointness_instance", "schedule", "expand_table"]


def disjointness_instance(n: int) -> dict:
    """``I_j = [j, j + n/2]``, ``g_j = NAND`` (table ``[1, 1, 1, 0]``), ``c = n/2 − 1``."""
    half = n // 2
    return {
        "index_sets": [[j, j + half] for j in range(half)],
        "truth_tables": [[1, 1, 1, 0] for _ in range(half)],
        "c": half - 1,
    }


def schedule(index_sets, n: int, causal: bool = True) -> tuple[list, int]:
    """Host position and slot of every function: ``([(p_j, σ_j) or None], s)``.

    Empty sets (``g ≡ 0``) get None. Causal: ``p_j ≥ max I_j`` with the smallest per-position load
    s (module docstring); non-causal: s = 1.
    """
    live = [j for j, I in enumerate(index_sets) if I]
    earliest = {j: (max(index_sets[j]) if causal else 0) for j in live}
    order = sorted(live, key=lambda j: -earliest[j])  # stable: ties keep the given order
    s = max([t // (n - earliest[j]) + 1 for t, j in enumerate(order)], default=1)
    hosts: list[tuple[int, int] | None] = [None] * len(index_sets)
    for t, j in enumerate(order):
        hosts[j] = (n - 1 - t // s, t % s)
    return hosts, s


def expand_table(table, size: int, k: int) -> np.ndarray:
    """The table of a ``size``-bit function as a function of k bits (extra bits ignored): ``[2^k]``."""
    codes = np.arange(2**k)
    return np.asarray(table, dtype=np.float64)[codes % (2**size)]


def _check(n, index_sets, truth_tables, c):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ConstructionError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(c, bool) or not isinstance(c, numbers.Integral):
        raise ConstructionError(f"c must be an integer, got {c!r}")
    if len(index_sets) > n:
        raise ConstructionError(f"index_sets may hold at most n={n} sets, got {len(index_sets)}")
    if len(truth_tables) != len(index_sets):
        raise ConstructionError(
            f"need one truth table per index set: {len(index_sets)} sets, {len(truth_tables)} tables"
        )
    for j, (I, T) in enumerate(zip(index_sets, truth_tables)):
        if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) or not 0 <= p < n for p in I):
            raise ConstructionError(f"index_sets[{j}] must hold positions in [0, {n}), got {list(I)}")
        if len(set(I)) != len(I):
            raise ConstructionError(f"index_sets[{j}] repeats a position: {list(I)}")
        if len(T) != 2 ** len(I) or any(v not in (0, 1) for v in T):
            raise ConstructionError(f"truth_tables[{j}] must hold 2^{len(I)} bits 0/1, got {list(T)}")
        if not I and list(T) != [0]:
            raise ConstructionError(f"truth_tables[{j}] belongs to an empty index set and must be [0]")


@register("threshold", "tf2")
def build_threshold(
    n: int,
    index_sets,
    truth_tables,
    c: int,
    seed: int = 0,
    coherence: float = 0.5,
    addresses: str = "random",
    causal: bool = True,
    beta: float | None = None,
    task: str = "threshold",
    task_params: dict | None = None,
) -> Model:
    """Two-layer Transformer for ``threshold`` (Theorem 13).

    Args:
        n, index_sets, truth_tables, c: the THRES instance, as ``tasks.get("threshold", ...)`` takes it.
        seed: seed of the random address code.
        coherence: target coherence μ of the address code, in (0, 1).
        addresses: ``"random"`` (width O(log n)), ``"hadamard"`` (exact, width O(n)) or
            ``"rs"`` (explicit Reed–Solomon ⊗ Hadamard code, :mod:`constructions.explicit_addresses`).
        causal: causal mask (default) with host scheduling, or no mask (the paper's setting).
        beta: override the derived layer-1 scale (robustness sweeps and tamper tests only).
        task, task_params: the task the model is registered for (instances such as disjointness).
    """
    index_sets, truth_tables = [list(I) for I in index_sets], [list(T) for T in truth_tables]
    _check(n, index_sets, truth_tables, c)
    index_sets, truth_tables = [[int(p) for p in I] for I in index_sets], [[int(v) for v in T] for T in truth_tables]
    n, c = int(n), int(c)
    if not 0 < float(coherence) < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    k = max([len(I) for I in index_sets] + [1])
    hosts, s = schedule(index_sets, n, causal)
    code = make_addresses(n, addresses, float(coherence), int(seed))
    a, r, mu = code.vectors, code.dim, float(code.coherence)
    miss = 1.0 / (8 * k)
    b = softmax_scale(n - 1, 1.0 - mu, miss) if beta is None else float(beta)

    slots = [(sg, i) for sg in range(s) for i in range(k)]
    resid = Layout(
        ("bit", 1),
        ("address", r),
        *[(f"q{sg}_{i}", r) for sg, i in slots],
        *[(f"table{sg}", 2**k) for sg in range(s)],
        *[(f"got{sg}", k) for sg in range(s)],
        ("g", 1),
        ("mean", 1),
        ("out", 1),
    )

    # embeddings: the bit; each position's address, and per slot the addresses to fetch and the table
    token = np.stack([resid.vector(bit=v) for v in (0.0, 1.0)])
    rows = [{"address": a[p], **{f"q{sg}_{i}": a[0] for sg, i in slots}} for p in range(n)]
    for j, host in enumerate(hosts):
        if host is None:
            continue
        p, sg = host
        for i, target in enumerate(index_sets[j]):
            rows[p][f"q{sg}_{i}"] = a[target]
        rows[p][f"table{sg}"] = expand_table(truth_tables[j], len(index_sets[j]), k)
    position = np.stack([resid.vector(**row) for row in rows])

    # layer 1: one head per (slot, index): fetch x_{I[i]} into got{σ}[i]
    qk, val = Layout(address=r), Layout(bit=1)
    unit = np.eye(k)
    fetch = Attention(
        wq=np.stack([linear(resid, qk, {(f"q{sg}_{i}", "address"): b}) for sg, i in slots]),
        wk=np.stack([linear(resid, qk, {("address", "address"): 1.0}) for _ in slots]),
        wv=np.stack([linear(resid, val, {("bit", "bit"): 1.0}) for _ in slots]),
        wo=np.stack([linear(val, resid, {("bit", f"got{sg}"): unit[:, i : i + 1]}).T for sg, i in slots]),
    )
    # layer-1 FFN: g = Σ_u step(S_u), S_u = Σ_i match_i + T[u]; pre-activation 2(S_u − k) − 1/2 (− 1)
    codes = (np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1  # row u: the bits of u, little-endian
    offset = 2.0 * (k - codes.sum(axis=1)) - 2.0 * k  # 2·#zeros − 2k: the constant part of 2(S_u − k)
    compute_g = mlp(
        resid,
        *[
            ramp(
                2**k,
                {f"got{sg}": 2.0 * (2 * codes - 1), f"table{sg}": 2.0},
                "g",  # ±2 z_i, 2 T[u]
                bias=(offset - 0.5, offset - 1.5),
                gain=np.ones((1, 2**k)),
                names=(f"hi{sg}", f"lo{sg}"),
            )
            for sg in range(s)
        ],
    )

    # layer 2: Q = 0, uniform mean of g; threshold G > c
    average, threshold = mean_and_threshold(resid, n, src="g", out="out", c=c)
    readout_w = np.zeros((resid.dim, 2))
    readout_w[resid["out"]] = [-2.0, 2.0]
    readout_b = np.array([1.0, -1.0])

    weights = TransformerWeights(
        token, position, (Layer(fetch, compute_g), Layer(average, threshold)), readout_w, readout_b
    )
    params = {"n": n, "index_sets": index_sets, "truth_tables": truth_tables, "c": c}
    meta = model_meta(
        "transformer",
        task,
        params if task_params is None else dict(task_params),
        causal=bool(causal),
        seq_len=n,
        vocab_size=2,
        build={
            "task": task,
            "arch": "tf2",
            **(params if task_params is None else dict(task_params)),
            "seed": int(seed),
            "coherence": float(coherence),
            "addresses": addresses,
            "causal": bool(causal),
            "beta": beta,
        },
        construction={
            "theorem": "Theorem 13",
            "k": k,
            "slots_per_position": s,
            "heads_layer1": s * k,
            "hosts": [None if h is None else list(h) for h in hosts],
            "beta": b,
            "beta_rule": "ln((n-1)(8k-1))/(1-mu)" if beta is None else "override",
            "attention_on_target_lower_bound": attention_lower_bound(n - 1, 1.0 - mu, b),
            "bos": "none: unused slots fetch position 0 and expanded tables ignore them",
            "address_code": code.describe(),
            "residual_layout": resid.describe(),
            "logit_margin": 2.0,
        },
    )
    return Model(weights, meta)


@register("disjointness", "tf2")
def build_disjointness(n: int, seed: int = 0, coherence: float = 0.5, addresses: str = "random") -> Model:
    """Disjointness (1 = disjoint) as the THRES instance :func:`disjointness_instance`."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2 or n % 2:
        raise ConstructionError(f"disjointness needs an even n >= 2 (two halves of n/2 bits), got n={n}")
    return build_threshold(
        int(n),
        **disjointness_instance(int(n)),
        seed=seed,
        coherence=coherence,
        addresses=addresses,
        task="disjointness",
        task_params={"n": int(n)},
    )
