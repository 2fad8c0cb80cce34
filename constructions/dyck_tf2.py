"""Bounded Dyck-(k, D), D ≤ 2, with two attention layers of width O(log n) (the Transformer side
of the Dyck row; docs/PAPER.md §11.4, docs/constructions/dyck_tf2.md).

Task ``dyck`` (tasks/_dyck.py): tokens ``2t`` open a bracket of type t and ``2t+1`` close it,
``t < k``; accept iff the whole string is well matched and no prefix has more than D unclosed
brackets. The paper proves that one layer needs ``w·h = Ω(n/log n)`` for Dyck-(2,2) (Theorem 5)
and cites two-layer constructions (Yao et al. 2021) without building one. This module builds one.

Notation. For a string ``x_0 … x_{n-1}`` and a type t let ``c_t(i)`` be the number of opening
minus closing brackets of type t in ``x_0 … x_i``, and ``c(i) = Σ_t c_t(i)`` the depth after x_i.

Characterisation (D ≤ 2). x is in Dyck-(k, D) iff

    (N) ``c_t(i) ≥ 0`` for every type t and position i   (no type closes more than it opened);
    (H) ``c(i) ≤ D`` for every i                          (the depth bound);
    (A) no ``x_{i-1} = open a``, ``x_i = close b`` with ``a ≠ b``  (adjacent mismatch);
    (E) ``c(n-1) = 0``                                    (everything is closed).

Proof. *Necessary*: in a valid string each closing bracket of type t is matched to an earlier
opening one of type t, injectively, so (N); (H) and (E) are the definition; and a close right
after an open closes that open, so their types agree (A).
*Sufficient*: run the stack automaton on x (tasks/_dyck.py) and suppose it first fails at
position i. An open at i fails only when ``c(i-1) = D``, i.e. ``c(i) = D + 1``: (H) fails. A
close at i with an empty stack makes ``c(i) = -1``, so some ``c_t(i) < 0``: (N) fails. Otherwise
x_i closes type b while the top of the stack is an open of type ``a ≠ b``. If ``x_{i-1}`` is an
open, it is that top: (A) fails. If ``x_{i-1}`` is a close, the stack held ``c(i-2) = c(i-1) + 1
≤ D ≤ 2`` brackets before it and ``c(i-1) ≥ 1`` after it, so ``c(i-1) = 1`` and ``c(i-2) = 2``
(this is where D ≤ 2 is used): the one bracket on the stack is the open at ``j``, the last time
the depth went from 0 to 1. The automaton did not fail before i, so ``x_0 … x_{j-1}`` (depth 0)
and ``x_{j+1} … x_{i-1}`` (which returns the stack to ``[a]``) are well matched, hence balanced
in every type: ``c_b(i-1) = 0`` (as ``b ≠ a``) and ``c_b(i) = -1``: (N) fails. If the automaton
never fails, it ends with ``c(n-1)`` brackets open, and (E) says none. ∎

For ``D ≥ 3`` the four conditions do not suffice: ``( [ ( ) ) ]`` satisfies all of them at
D = 3 but is not well matched (the first ``)`` after a ``)`` closes the ``[``; the counts cannot
see which open is on top once two closes follow each other). The builder refuses D ≥ 3.
tests/constructions/test_tf2_dyck.py checks the characterisation against the task's solver on
every string up to length 10 for (k, D) = (2, 2), and up to 12, 7, 9, 7 for (1, 2), (3, 2), (2, 1),
(3, 1), and finds the D = 3 counterexample;
it was also run once on all 4^12 strings of Dyck-(2,2) at n = 12 (docs/constructions/dyck_tf2.md).

Every condition is local (position i and the one before) except the counts, which one uniform
attention head supplies as ``c_t(i)/(i+1)``. The position embedding carries ``1/(i+1)``, so each
threshold on an integer count becomes a threshold on ``(c − θ)/(i+1)``, which a ReLU ramp with
gain n turns into an exact 0/1 flag.

Residual stream (``D_model = 4k + 4 + 2r``: r = 1 with the recency head, 4k + 6 = 14 for
Dyck-(2,2); r the dimension of an address code otherwise)

    =========  ====  ===============================  ===================================================
    block      size  written by                       content at position i
    =========  ====  ===============================  ===================================================
    open       k     token embedding                  one-hot type of x_i if it opens (else 0)
    close      k     token embedding                  one-hot type of x_i if it closes (else 0)
    inv        1     position embedding               ``w_i = 1/(i+1)``
    one, idx   1, 1  position embedding               recency head: ``1`` and ``i``
    address,   r, r  position embedding               address heads: ``a_i`` and ``a_{i-1}``
    prev                                              (``a_0`` at i = 0)
    bal        k     layer-1 head 0 (uniform)          ``c_t(i)·w_i``
    prev_open  k     layer-1 head 1 (previous token)  the ``open`` block of ``x_{i-1}``, blurred
    flag       1     layer-1 FFN                      number of conditions (N), (H), (A) broken at i
    mean       1     layer-2 attention (last pos.)    ``(1/n) Σ_i flag_i``
    reject     1     layer-2 FFN (last pos.)          ``[Σ_i flag_i ≥ 1] + [c(n-1) ≥ 1]``
    =========  ====  ===============================  ===================================================

Layer 1, head 0 (``Q = K = 0``): every visible position gets weight ``1/(i+1)``;
``V = open − close`` → ``bal_t = c_t(i)/(i+1)`` exactly.

Layer 1, head 1: the previous token, ``V = open`` → ``prev_open``. Write ``s = Σ_{a≠b} prev_open_a``
at a position i where x_i closes type b (so its own ``open`` block is 0); (A) asks whether
x_{i−1} opens a type ``a ≠ b``. Two ways to read it:

* *recency* (the default; constant width): ``Q = β·one``, ``K = idx``, score ``β·j``, ``β = ln 4``,
  so position ``i − m`` gets weight ``ρ^m/Z_i`` with ``ρ = 1/4`` and ``Z_i = Σ_{m≤i} ρ^m ∈ [1 + ρ,
  1/(1−ρ)]`` for ``i ≥ 1``. If x_{i−1} opens a type ≠ b then ``s ≥ ρ/Z_i ≥ ρ(1−ρ) = 3/16``;
  otherwise only ``m ≥ 2`` contribute, ``s ≤ (ρ²/(1−ρ))/(1+ρ) = ρ²/(1−ρ²) = 1/15`` (and s = 0 at
  i = 0). The threshold is ``θ = (3/16 + 1/15)/2 = 61/480``, half-gap ``29/480``.
* *address code* (``addresses="random" | "hadamard" | "rs"``; width O(log n)): ``Q = β·prev``,
  ``K = address``. The target ``i−1`` scores β, each of the ``≤ n−1`` other visible positions at
  most βμ (certified coherence μ, Lemma 2), so with ``β = ln(4(n−1))/(1−μ)`` (:func:`softmax_scale`,
  miss 1/5) the target holds weight ≥ 4/5 and every ``prev_open_a``, and s, is within 1/5 of the
  truth: ``s ≥ 4/5`` or ``s ≤ 1/5``, threshold ``θ = 1/2``. At i = 0 only position 0 is visible.

Layer-1 FFN (``F = 4k + 2``), ramps ``step(p) = ReLU(p + 1/2) − ReLU(p − 1/2)`` (0 for
``p ≤ −1/2``, 1 for ``p ≥ 1/2``, :func:`constructions._gadgets.ramp`), all summed into ``flag``:

    (N) per type t: ``p = −2n·bal_t − n·inv = n·w_i·(−2c_t − 1)``;
    (H)            ``p = 2n·Σ_t bal_t − (2D + 1)·n·inv = n·w_i·(2c − 2D − 1)``;
    (A) per type b: ``p = G·(close_b + s − 1 − θ)``, ``G = 16`` (recency) or 2 (address).

For (N) and (H) the integer in brackets is odd, so ``|p| ≥ n·w_i ≥ 1`` and the sign is the
condition: ``p ≥ 1`` iff ``c_t ≤ −1`` (resp. ``c ≥ D + 1``), else ``p ≤ −1``. For (A): if x_i
closes b after an open of another type, ``p ≥ G·(half-gap)`` (``16·29/480 ≈ 0.97``, resp.
``2·3/10 = 0.6``); if x_i closes b otherwise, ``p ≤ −G·(half-gap)``; if x_i does not close b,
``close_b = 0`` and ``s ≤ 1`` (weights sum to 1 over one-hot values) give ``p ≤ −Gθ`` (≈ −2.03,
resp. −1).
So each step is exact and ``flag_i`` is the integer number of conditions broken at i.

Layer 2, ``Q = 0``: ``mean = (1/n) Σ_i flag_i`` (the attention of
:func:`constructions._gadgets.mean_and_threshold`); FFN (``F = 4``) at the last position, where
``w_{n-1} = 1/n``:

    ``reject = step(2n·mean − n·inv) + step(2n·Σ_t bal_t − n·inv)``
    ``       = step(n·w_{n-1}·(2·Σ_i flag_i − 1)) + step(n·w_{n-1}·(2c(n−1) − 1))``,

the first 1 iff some flag was raised, the second 1 iff ``c(n−1) ≥ 1`` (``c(n−1) < 0`` is an (N)
flag). Readout ``(2·reject − 1, 1 − 2·reject)``: accept iff reject = 0, logit margin ≥ 2.

Precision (``fixed:I.F``, bits ``I + F + 1``). Every uniform weight on the grid is
``ŵ_i = ⌊2^F/(i+1)⌋/2^F`` (the softmax of equal scores divides ``2^F`` by ``i+1`` and rounds
down), and the position embedding holds the same rounding of ``1/(i+1)``. A head sums copies of
one grid value exactly, and each dot product is exact before its one rounding, so every (N), (H),
(E) and layer-2 ramp reads ``p = n·ŵ·(odd integer)`` exactly, and ``n·ŵ ≥ 1/2`` once ``2^F ≥ n``:
``F ≥ ⌈log2 n⌉``. The recency head needs ``F ≥ 4`` (at F = 4 the weights ``e^{−βm}`` round to
``1, 1/4, 1/16, 0, …`` at every n, the previous token gets ``3/16`` and ``s = 0`` otherwise; at
F = 3 it gets ``1/8 < θ``). The largest weight ``(2D+1)n`` must fit: ``I ≥ ⌈log2((2D+1)n)⌉``.
So Dyck-(2,2) needs ``⌈log2 5n⌉ + max(4, ⌈log2 n⌉) + 1`` bits: 12 at n = 16, 16 at n = 64, 24 at
n = 1024, 32 at n = 16384. tests/constructions/test_tf2_dyck.py checks at n = 6 (and n = 8 was checked once) that this
format is exact on every string and that one integer or one fractional bit fewer is not;
``verify precision --task dyck --addresses recency`` finds the same smallest format at n = 16, 64
(docs/constructions/dyck_tf2.md).

Size: width ``4k + 6`` (14 for Dyck-(2,2)) at every n with the recency head, ``2r + 4k + 4`` with
an address code; two heads in layer 1, one in layer 2; precision O(log n) bits. A one-layer
Transformer needs ``w·h = Ω(n/log n)`` for Dyck-(2,2) (Theorem 5).
"""

from __future__ import annotations

import math

import numpy as np

from ._codes import ADDRESS_KINDS, make_addresses
from ._errors import ConstructionError, check_int
from ._gadgets import attention_lower_bound, mean_and_threshold, mlp, ramp, softmax_scale
from ._layout import Layout, linear
from ._meta import model_meta
from ._model import Model
from ._registry import register
from ._transformer import MLP, Attention, Layer, TransformerWeights

__all__ = ["build_dyck_tf2", "local_conditions", "MISS"]

MISS = 1 / 5  # weight allowed off the previous token in layer 1 (address heads)
RHO = 1 / 4  # recency head: weight ratio of consecutive positions, e^{-β}
RECENCY_BETA = math.log(1 / RHO)
RECENCY_GAIN = 16.0  # (A) ramp of the recency head: G = 16,
RECENCY_THETA = (RHO * (1 - RHO) + RHO**2 / (1 - RHO**2)) / 2  # θ = (3/16 + 1/15)/2 = 61/480


def local_conditions(x: np.ndarray, types: int, depth: int) -> np.ndarray:
    """The characterisation of the module docstring, computed directly: bool ``[B]``, True iff
    the rows of the int ``[B, n]`` token array satisfy (N), (H), (A) and (E)."""
    x = np.asarray(x, dtype=np.int64)
    opening, kind = x % 2 == 0, x // 2
    step = np.where(opening, 1, -1)
    ok = np.ones(x.shape[0], dtype=bool)
    for t in range(types):
        ok &= (np.cumsum(np.where(kind == t, step, 0), axis=1) >= 0).all(axis=1)  # (N)
    c = np.cumsum(step, axis=1)
    ok &= (c <= depth).all(axis=1) & (c[:, -1] == 0)  # (H), (E)
    mismatch = opening[:, :-1] & ~opening[:, 1:] & (kind[:, :-1] != kind[:, 1:])  # (A)
    return ok & ~mismatch.any(axis=1)


def _layer1_ffn(resid: Layout, n: int, k: int, depth: int, gain: float, theta: float) -> MLP:
    """The flags (N), (H), (A), each an exact 0/1 step, summed into ``flag``; (A) reads
    ``p_b = G·(close_b + Σ_{a≠b} prev_open_a − 1 − θ)`` with ``(G, θ) = (gain, theta)``."""
    off = np.ones((k, k)) - np.eye(k)  # Σ_{a≠b} prev_open_a
    step = (0.5, -0.5)  # ReLU(p + 1/2) − ReLU(p − 1/2)
    centre = -gain * (1.0 + theta)
    return mlp(
        resid,
        ramp(
            k,
            {"bal": -2.0 * n, "inv": np.full((k, 1), -float(n))},
            "flag",
            bias=step,
            gain=np.ones((1, k)),
            names=("neg_hi", "neg_lo"),
        ),
        ramp(
            1,
            {"bal": np.full((1, k), 2.0 * n), "inv": -(2.0 * depth + 1.0) * n},
            "flag",
            bias=step,
            names=("deep_hi", "deep_lo"),
        ),
        ramp(
            k,
            {"close": gain, "prev_open": gain * off},
            "flag",
            bias=(centre + 0.5, centre - 0.5),
            gain=np.ones((1, k)),
            names=("mismatch_hi", "mismatch_lo"),
        ),
    )


PREVIOUS = ("recency",) + ADDRESS_KINDS


@register("dyck", "tf2")
def build_dyck_tf2(
    n: int,
    types: int = 2,
    depth: int = 2,
    seed: int = 0,
    addresses: str = "recency",
    coherence: float = 0.5,
    beta: float | None = None,
) -> Model:
    """Two-layer Transformer for Dyck-(types, depth), depth ≤ 2, at length n (module docstring).

    Args:
        n: input length >= 1 (odd n is accepted: every string is then rejected, by (E)).
        types: k >= 1 bracket types.
        depth: D ∈ {1, 2}, the depth bound (the local characterisation fails for D ≥ 3).
        seed: seed of the random address code (address heads only; recorded always).
        addresses: how head 1 reads the previous token: ``"recency"`` (constant width, the
            default) or an address code, ``"random"`` (width O(log n)), ``"hadamard"``, ``"rs"``.
        coherence: target coherence μ of an address code, in (0, 1).
        beta: override the derived head-1 scale (robustness sweeps and tamper tests only).
    """
    n = check_int("n", n, 1)
    k = check_int("types", types, 1)
    depth = check_int("depth", depth, 1)
    if depth > 2:
        raise ConstructionError(
            f"dyck/tf2 needs depth <= 2, got depth={depth}: for depth >= 3 the local conditions "
            "do not characterise the language (e.g. '( [ ( ) ) ]' at depth 3)"
        )
    if addresses not in PREVIOUS:
        raise ConstructionError(f"addresses must be one of {', '.join(PREVIOUS)}, got {addresses!r}")
    if not 0 < float(coherence) < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    if addresses == "recency":
        r, code = 1, None
        b = RECENCY_BETA if beta is None else float(beta)
        rule, on_previous = "ln 4", RHO * (1 - RHO)
        blocks = [("one", 1), ("idx", 1)]
        gain, theta = RECENCY_GAIN, RECENCY_THETA
    else:
        code = make_addresses(max(n, 2), addresses, float(coherence), int(seed))
        r, mu = code.dim, float(code.coherence)
        b = softmax_scale(n - 1, 1.0 - mu, MISS) if beta is None else float(beta)
        rule, on_previous = "ln(4(n-1))/(1-mu)", attention_lower_bound(n - 1, 1.0 - mu, b)
        blocks = [("address", r), ("prev", r)]
        gain, theta = 2.0, 0.5

    resid = Layout(
        ("open", k),
        ("close", k),
        ("inv", 1),
        *blocks,
        ("bal", k),
        ("prev_open", k),
        ("flag", 1),
        ("mean", 1),
        ("reject", 1),
    )
    unit = np.eye(k)
    token = np.stack([resid.vector(**{("open" if v % 2 == 0 else "close"): unit[v // 2]}) for v in range(2 * k)])
    if code is None:
        rows = [{"one": 1.0, "idx": float(i)} for i in range(n)]
        qk = Layout(idx=1)
        wq, wk = linear(resid, qk, {("one", "idx"): b}), linear(resid, qk, {("idx", "idx"): 1.0})
    else:
        rows = [{"address": code.vectors[i], "prev": code.vectors[max(i - 1, 0)]} for i in range(n)]
        qk = Layout(address=r)
        wq, wk = linear(resid, qk, {("prev", "address"): b}), linear(resid, qk, {("address", "address"): 1.0})
    position = np.stack([resid.vector(inv=1.0 / (i + 1), **row) for i, row in enumerate(rows)])

    # layer 1: head 0 counts (Q = K = 0: uniform), head 1 reads the previous token's open block
    val = Layout(v=k)
    heads = Attention(
        wq=np.stack([np.zeros_like(wq), wq]),
        wk=np.stack([np.zeros_like(wk), wk]),
        wv=np.stack(
            [linear(resid, val, {("open", "v"): 1.0, ("close", "v"): -1.0}), linear(resid, val, {("open", "v"): 1.0})]
        ),
        wo=np.stack([linear(val, resid, {("v", "bal"): 1.0}).T, linear(val, resid, {("v", "prev_open"): 1.0}).T]),
    )
    flags = _layer1_ffn(resid, n, k, depth, gain, theta)

    # layer 2: Q = 0, mean of the flags (the attention of mean_and_threshold); [count ≥ 1] and (E)
    average, _ = mean_and_threshold(resid, n, src="flag", out="reject", c=0)
    decide = mlp(
        resid,
        ramp(1, {"mean": 2.0 * n, "inv": -float(n)}, "reject", bias=(0.5, -0.5), names=("any_hi", "any_lo")),
        ramp(
            1,
            {"bal": np.full((1, k), 2.0 * n), "inv": -float(n)},
            "reject",
            bias=(0.5, -0.5),
            names=("open_hi", "open_lo"),
        ),
    )
    readout_w = np.zeros((resid.dim, 2))
    readout_w[resid["reject"]] = [2.0, -2.0]
    readout_b = np.array([-1.0, 1.0])

    weights = TransformerWeights(token, position, (Layer(heads, flags), Layer(average, decide)), readout_w, readout_b)
    params = {"n": n, "types": k, "depth": depth}
    meta = model_meta(
        "transformer",
        "dyck",
        params,
        seq_len=n,
        vocab_size=2 * k,
        build={
            "task": "dyck",
            "arch": "tf2",
            **params,
            "seed": int(seed),
            "coherence": float(coherence),
            "addresses": addresses,
            "beta": beta,
        },
        construction={
            "theorem": "two-layer Dyck-(k, D), D <= 2, by local conditions (module docstring; cf. Yao et al. 2021)",
            "characterisation": "(N) c_t(i) >= 0, (H) c(i) <= D, (A) no open a then close b != a, (E) c(n-1) = 0",
            "heads_layer1": 2,
            "previous_token": addresses,
            "beta": b,
            "beta_rule": rule if beta is None else "override",
            "attention_on_previous_lower_bound": on_previous,
            "count_gain": 2 * n,
            "address_code": None if code is None else code.describe(),
            "residual_layout": resid.describe(),
            "logit_margin": 2.0,
        },
    )
    return Model(weights, meta)
