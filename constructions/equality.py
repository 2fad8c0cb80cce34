"""String equality with two attention layers of width O(log n) (Theorem 6; App. F.2).

Task: bits ``x_0 … x_{n-1}`` (n even, ``h = n/2``); output 1 iff ``x_{0:h} == x_{h:n}``.
The paper builds INEQ ``= ∨_{i<h} (x_i ⊕ x_{i+h})``; EQ is its complement, read off at the end.

Ingredients
    * address vectors ``a_0 … a_{n-1} ∈ {±1/√r}^r``, ``<a_i, a_i> = 1``, certified coherence
      ``μ = max_{i≠j} |<a_i, a_j>|`` (Lemma 2; :mod:`constructions._addresses`);
    * the partner map ``π(p) = p`` for ``p < h`` and ``π(p) = p − h`` for ``p ≥ h``.

Residual stream (``D = 2r + 5``)

    ===========  ====  ==========================================  ============================
    block        size  written by                                  content at position p
    ===========  ====  ==========================================  ============================
    bit          1     token embedding                             ``x_p``
    partner_bit  1     layer-1 attention                           ``≈ x_{π(p)}`` (soft)
    address      r     position embedding                          ``a_p``
    partner      r     position embedding                          ``a_{π(p)}``
    xor          1     layer-1 FFN                                 ``x_p ⊕ x_{π(p)}`` (exact 0/1)
    mean         1     layer-2 attention (last position)           ``(1/n) Σ_p xor_p``
    ineq         1     layer-2 FFN (last position)                 INEQ(x) (exact 0/1)
    ===========  ====  ==========================================  ============================

Layer 1, one head (``w = r``, ``wv = 1``): partner addressing
    ``Q = β·partner``, ``K = address``, ``V = bit`` → ``partner_bit``. Under the causal mask
    position p sees ``j ≤ p``; its target ``π(p) ≤ p`` is always visible. The score of the target
    is ``β<a_{π(p)}, a_{π(p)}> = β``, every other visible position scores at most ``βμ``.

Scale factor (derived here; docs/PAPER.md §8.1, §14.5)
    With at most ``N = n − 1`` competitors the weight on the target is
    ``α ≥ 1/(1 + N e^{−β(1−μ)})``. :func:`softmax_scale` takes the smallest β with ``α ≥ 1 − ε``,
    ``β = ln(N(1−ε)/ε)/(1−μ)``; here ``ε = 1/5``, i.e. ``β = ln(4(n−1))/(1−μ)``. The paper instead
    asks the softmax to round to exactly 1 on its grid, derives ``β ≥ 2 ln((n−1)(2n^C − 1))`` and
    then writes the closed form ``β = ln n + C ln 2n``, which is about half of its own inequality
    (15.2 against 29.0 at n = 100, C = 2). We do not need hard attention: the FFN below rounds the
    soft partner bit exactly, so the inequality we implement is the soft one, with the certified μ.

Layer-1 FFN (``F = 4``): XOR, exact on the soft input
    ``partner_bit = z`` lies within ``ε = 1/5`` of ``x_{π(p)}``, so ``d = x_p − z`` satisfies
    ``|d| ≤ 1/5`` when the bits agree and ``|d| ≥ 4/5`` when they differ. With the ramp
    ``h(u) = (ReLU(4u − 1) − ReLU(4u − 3))/2`` (0 for ``u ≤ 1/4``, 1 for ``u ≥ 3/4``),
    ``xor = h(d) + h(−d)``. For ``p < h`` the partner is p itself, so ``xor = 0`` automatically.

Layer 2, one head, ``Q = 0``: uniform averaging
    All scores are 0, the last position attends uniformly to all n positions, ``V = xor`` →
    ``mean = k/n`` where k is the number of differing pairs.

Layer-2 FFN (``F = 2``): ``ineq = ReLU(2n·mean − 1/2) − ReLU(2n·mean − 3/2)``: exactly 0 for
``k = 0`` and exactly 1 for ``k ≥ 1`` (thresholds at ``n·mean = 1/4, 3/4`` leave room for a
rounded-down uniform weight on a fixed-point grid).

Readout: ``logits = (2·ineq − 1, 1 − 2·ineq)``; class 1 (equal) wins iff ineq = 0; margin 2.

Residual instead of a second head: the paper keeps ``x_p`` next to the fetched partner bit "with
residual connections or another attention head" and counts 2 heads. Our shared Transformer has
residual connections, so ``x_p`` simply stays in its block: one head per layer.

Assembly: :func:`constructions._pair_xor.pair_xor_weights` (shared with ``split_equality``, which
renumbers the addresses for any balanced split; Lemma 5).

Size: ``D = 2r + 5``, ``r = O(log n / μ²)`` (O(log n) for the default μ ≤ 1/2), one head per
layer, precision O(log n) bits (β = Θ(log n); the uniform weight 1/n must be representable).
"""

from __future__ import annotations

import math

import numpy as np

from ._codes import make_addresses
from ._gadgets import attention_lower_bound, softmax_scale
from ._meta import model_meta
from ._model import Model
from ._pair_xor import pair_xor_weights
from ._registry import ConstructionError, register

__all__ = ["build_equality", "partner", "paper_beta"]

MISS = 1 / 5  # weight allowed off the target in layer 1


def paper_beta(n: int, grid_constant: float) -> dict:
    """The paper's two values for the equality scale (App. F.2), for comparison only:
    its inequality ``2 ln((n−1)(2n^C − 1))`` and its closed form ``ln n + C ln 2n``."""
    c = float(grid_constant)
    return {"inequality": 2 * math.log((n - 1) * (2 * n**c - 1)), "closed_form": math.log(n) + c * math.log(2 * n)}


def partner(n: int) -> np.ndarray:
    """``π``: int ``[n]``, ``π(p) = p`` for ``p < n/2`` and ``p − n/2`` otherwise."""
    p = np.arange(n)
    return np.where(p < n // 2, p, p - n // 2)


@register("equality", "tf2")
def build_equality(
    n: int, seed: int = 0, coherence: float = 0.5, addresses: str = "random", beta: float | None = None
) -> Model:
    """Two-layer Transformer for ``equality`` (Theorem 6).

    Args:
        n: even string length >= 2.
        seed: seed of the random address code.
        coherence: target coherence μ of the address code, in (0, 1).
        addresses: ``"random"`` (Lemma 2, width O(log n)), ``"hadamard"`` (exact, width O(n)) or
            ``"rs"`` (explicit Reed–Solomon ⊗ Hadamard code, :mod:`constructions.explicit_addresses`).
        beta: override the derived layer-1 scale (robustness sweeps and tamper tests only).
    """
    n = int(n)
    if n < 2 or n % 2:
        raise ConstructionError(f"equality needs an even n >= 2 (two halves of n/2 bits), got n={n}")
    if not 0 < float(coherence) < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    code = make_addresses(n, addresses, float(coherence), int(seed))
    a, mu = code.vectors, float(code.coherence)
    b = softmax_scale(n - 1, 1.0 - mu, MISS) if beta is None else float(beta)

    weights, resid = pair_xor_weights(a, np.arange(n), partner(n), b)
    meta = model_meta(
        "transformer",
        "equality",
        {"n": n},
        seq_len=n,
        vocab_size=2,
        build={
            "task": "equality",
            "arch": "tf2",
            "n": n,
            "seed": int(seed),
            "coherence": float(coherence),
            "addresses": addresses,
            "beta": beta,
        },
        construction={
            "theorem": "Theorem 6",
            "beta": b,
            "beta_rule": "ln(4(n-1))/(1-mu)" if beta is None else "override",
            "attention_on_partner_lower_bound": attention_lower_bound(n - 1, 1.0 - mu, b),
            "keeps_input_bit_by": "residual connection (one head per layer)",
            "address_code": code.describe(),
            "residual_layout": resid.describe(),
            "logit_margin": 2.0,
        },
    )
    return Model(weights, meta)
