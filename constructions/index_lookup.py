"""Index lookup with one attention layer of width O(log n) (Theorem 1; paper §3, App. C.2).

Task: input ``s_0 … s_{n-1} t`` with symbols ``s_i ∈ [0, s)`` and one index token (id ``s + t``);
output ``s_t``.

Ingredients
    * address vectors ``a_0 … a_{n-1} ∈ {±1/√r}^r`` with ``<a_i, a_i> = 1`` and certified
      coherence ``μ = max_{i≠j} |<a_i, a_j>|`` (Lemma 2; :mod:`constructions._addresses`);
    * a binary code ``ρ: [0, s) → {0,1}^B``, ``B = ⌈log2 s⌉`` (App. C.2).

Residual stream (``D = 2B + 2r``; the paper's ``B + 2r`` plus the FFN's output block)

    ========  ====  ============================================  ==========================
    block     size  data token ``s_i`` at position ``i``          index token ``t`` (last)
    ========  ====  ============================================  ==========================
    symbol    B     ``ρ(s_i)`` (token embedding)                  0; receives the attention output
    query     r     0                                             ``a_t`` (token embedding)
    address   r     ``a_i`` (position embedding)                  0 (the last position has none)
    bits      B     0                                             receives the FFN's bits
    ========  ====  ============================================  ==========================

Layer 1, one head (``w = r``, ``wv = B``)
    ``Q = β·query``, ``K = address``, ``V = symbol``, output written to ``symbol``. From the
    last position the score of position i is ``β<a_t, a_i>``: ``β`` at ``i = t``, at most ``βμ``
    at the n−1 other data positions, and 0 at the query position itself (its key is 0).

Scale factor
    The weight on t is ``α_t ≥ e^β / (e^β + n·e^{βμ}) = 1 / (1 + n·e^{−β(1−μ)})``. We take
    ``β = ln(4n) / (1 − μ)`` with the *certified* μ, so ``n·e^{−β(1−μ)} = 1/4`` and
    ``α_t ≥ 4/5 > 3/4``. (The paper, with self-product ≥ 3/4 and cross ≤ 1/4, gets β > 2 ln 3n;
    our self-product is exactly 1, which is why μ alone enters.) β = Θ(log n) for constant μ.

FFN (``F = 2B``)
    Bit j of the attention output is ``z_j = Σ_i α_i ρ(s_i)_j``: ``≥ α_t ≥ 4/5`` if bit j of
    ``ρ(s_t)`` is 1 and ``≤ 1 − α_t ≤ 1/5`` if it is 0. ``bit_j = (ReLU(4z_j − 1) − ReLU(4z_j − 3))/2``
    is exactly 1 for ``z_j ≥ 3/4`` and exactly 0 for ``z_j ≤ 1/4``; it is written to ``bits``.

Readout
    ``logit_c = Σ_j (2·bit_j − 1)(2ρ(c)_j − 1) = B − 2·Hamming(ρ(c), bits)``: the answer's
    logit is B, every other symbol's at most B − 2 (logit margin 2).

Size: ``D = 2⌈log2 s⌉ + 2r`` with ``r = O(log n / μ²)``; one head; precision O(log n) bits
(β = Θ(log n) must be representable, and scores must resolve a gap of β(1−μ)).
"""

from __future__ import annotations

import math

import numpy as np

from ._codes import binary_code, make_addresses
from ._gadgets import bits_mlp_and_readout
from ._layout import Layout, linear
from ._meta import model_meta
from ._model import Model
from ._registry import ConstructionError, register
from ._transformer import Attention, Layer, TransformerWeights
from .index_lookup_quadratic import build_quadratic

__all__ = ["build_index_lookup", "scale_factor"]


def scale_factor(n: int, coherence: float) -> float:
    """β = ln(4n)/(1−μ): puts weight ≥ 4/5 on the target (module docstring)."""
    return math.log(4 * n) / (1.0 - float(coherence))


@register("index_lookup", "tf1")
def build_index_lookup(
    n: int,
    alphabet_size: int,
    seed: int = 0,
    coherence: float = 0.5,
    addresses: str = "random",
    beta: float | None = None,
) -> Model:
    """One-layer, one-head Transformer for ``index_lookup`` (Theorem 1).

    Args:
        n: sequence length (number of symbols), >= 1.
        alphabet_size: s >= 2.
        seed: seed of the random address code.
        coherence: target coherence μ of the address code, in (0, 1).
        addresses: ``"random"`` (Lemma 2, width O(log n)), ``"rs"`` (explicit Reed–Solomon ⊗ Hadamard
            code, width O(log² n / log log n), coherence known without the n² Gram matrix),
            ``"hadamard"`` (exact, width O(n)) or ``"quadratic"`` (constant width,
            :mod:`constructions.index_lookup_quadratic`).
        beta: override the derived scale factor (for robustness sweeps only).
    """
    n, s = int(n), int(alphabet_size)
    if n < 1:
        raise ConstructionError(f"n must be at least 1, got {n}")
    if s < 2:
        raise ConstructionError(f"alphabet_size must be at least 2, got {s}")
    if not 0 < float(coherence) < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    if addresses == "quadratic":  # constant width (constructions/index_lookup_quadratic.py)
        return build_quadratic(
            n,
            s,
            beta=beta,
            build={
                "task": "index_lookup",
                "arch": "tf1",
                "n": n,
                "alphabet_size": s,
                "seed": int(seed),
                "addresses": "quadratic",
                "beta": beta,
            },
        )
    code = make_addresses(n, addresses, float(coherence), int(seed))
    rho = binary_code(s)  # [s, B]
    r, B = code.dim, rho.shape[1]
    mu = float(code.coherence)
    b = scale_factor(n, mu) if beta is None else float(beta)

    resid = Layout(symbol=B, query=r, address=r, bits=B)
    qk, val = Layout(address=r), Layout(symbol=B)

    # embeddings: data tokens carry ρ(s); index token t carries a_t in the query block;
    # positions 0..n-1 carry their address, the last position (the index token's) nothing.
    # (filled block by block, the address vectors a_i = signs_i / sqrt(r) (code.vectors) written in
    # place: the same arrays as stacking one resid.vector per row, without an n·r float64 copy)
    token = np.zeros((s + n, resid.dim))
    token[:s, resid["symbol"]] = rho
    np.divide(code.signs, math.sqrt(r), out=token[s:, resid["query"]])
    position = np.zeros((n + 1, resid.dim))
    position[:n, resid["address"]] = token[s:, resid["query"]]

    attn = Attention(
        wq=linear(resid, qk, {("query", "address"): b})[None],
        wk=linear(resid, qk, {("address", "address"): 1.0})[None],
        wv=linear(resid, val, {("symbol", "symbol"): 1.0})[None],
        wo=linear(val, resid, {("symbol", "symbol"): 1.0}).T[None],
    )
    mlp, readout_w, readout_b = bits_mlp_and_readout(resid, rho)

    weights = TransformerWeights(token, position, (Layer(attn, mlp),), readout_w, readout_b)
    meta = model_meta(
        "transformer",
        "index_lookup",
        {"n": n, "alphabet_size": s},
        seq_len=n + 1,
        vocab_size=s + n,
        build={
            "task": "index_lookup",
            "arch": "tf1",
            "n": n,
            "alphabet_size": s,
            "seed": int(seed),
            "coherence": float(coherence),
            "addresses": addresses,
            "beta": beta,
        },
        construction={
            "theorem": "Theorem 1",
            "beta": b,
            "beta_rule": "ln(4n)/(1-mu)" if beta is None else "override",
            "attention_on_target_lower_bound": 1.0 / (1.0 + n * math.exp(-b * (1.0 - mu))),
            "address_code": code.describe(),
            "residual_layout": resid.describe(),
            "code_bits": B,
            "logit_margin": 2.0,
        },
    )
    return Model(weights, meta)
