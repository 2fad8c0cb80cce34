"""Index lookup with one attention layer of *constant* width: a quadratic position score.

Build it with ``constructions.build("index_lookup", arch="tf1", n=..., alphabet_size=...,
addresses="quadratic")``. Same task, same readout as Theorem 1 (:mod:`constructions.index_lookup`);
only the addressing differs: instead of nearly orthogonal vectors of dimension r = O(log n), the
query and key carry three numbers each, and the score is a bilinear form equal to a parabola.

Addressing
    Centre the positions, ``u_i = i − ⌊n/2⌋`` for ``i = 0 … n`` (the index token's own position n
    included). Key features (position embedding) ``k_i = (1, u_i, u_i²)``; query features (the
    index token t's token embedding) ``q_t = (−u_t², 2u_t, −1)``, scaled by β in ``Wq``. Then

        score(i) = β·q_t·k_i = β(−u_t² + 2u_t u_i − u_i²) = −β(i − t)².

    The target scores 0 and every other position ``−β d²`` at distance ``d >= 1`` (each distance
    at most twice, on the two sides), the index token's own position included (``n − t >= 1``).

Scale factor
    ``α_t >= 1/(1 + 2Σ_{d>=1} e^{−βd²}) >= 1/(1 + 2e^{−β}/(1 − e^{−β}))``, which is ``>= 4/5``
    once ``e^{−β} <= 1/9``, i.e. ``β >= ln 9 ≈ 2.20`` — independent of n. We take ``β = 3``
    (``α_t >= 0.905``): an integer, so every score is an integer and exact on any grid.

Residual stream (``D = 2B + 6``, ``B = ⌈log2 s⌉``): ``symbol B | qfeat 3 | kfeat 3 | bits B``.
FFN and readout are Theorem 1's (bit j of the attention output is ``>= 4/5`` or ``<= 1/5``; the
ramp ``(ReLU(4z − 1) − ReLU(4z − 3))/2`` makes it exact; logit margin 2).

Size, counted honestly
    Width ``D = 2⌈log2 s⌉ + 6``: O(1) in n. But the features reach ``u² ≈ n²/4`` and the query
    ``3u²``, so every number needs about ``2·log2 n`` integer bits: O(log n) *bits per number*.
    Random addresses use O(log n) numbers of O(log log n) bits each. The product width × bits is
    Θ(log n) either way — which is why size must be counted in bits (docs/PRECISION.md).
"""

from __future__ import annotations

import numpy as np

from ._codes import binary_code
from ._gadgets import bits_mlp_and_readout
from ._layout import Layout, linear
from ._meta import model_meta
from ._model import Model
from ._transformer import Attention, Layer, TransformerWeights

__all__ = ["build_quadratic", "QUADRATIC_BETA"]

QUADRATIC_BETA = 3.0  # smallest integer >= ln 9 (module docstring)


def build_quadratic(n: int, alphabet_size: int, beta: float | None = None, build: dict | None = None) -> Model:
    """The constant-width index-lookup Transformer (called by ``build_index_lookup``).

    Args:
        n: sequence length (>= 1), alphabet_size: s (>= 2), validated by the caller.
        beta: override the scale factor (robustness sweeps only).
        build: the ``build`` arguments to record in the metadata.
    """
    n, s = int(n), int(alphabet_size)
    b = QUADRATIC_BETA if beta is None else float(beta)
    rho = binary_code(s)
    B = rho.shape[1]
    c = n // 2
    u = np.arange(n + 1, dtype=np.float64) - c  # centred positions 0 … n

    resid = Layout(symbol=B, qfeat=3, kfeat=3, bits=B)
    qk, val = Layout(feat=3), Layout(symbol=B)

    token = np.stack(
        [resid.vector(symbol=rho[a]) for a in range(s)]
        + [resid.vector(qfeat=[-(u[t] ** 2), 2 * u[t], -1.0]) for t in range(n)]
    )
    position = np.stack([resid.vector(kfeat=[1.0, u[i], u[i] ** 2]) for i in range(n + 1)])

    attn = Attention(
        wq=linear(resid, qk, {("qfeat", "feat"): b})[None],
        wk=linear(resid, qk, {("kfeat", "feat"): 1.0})[None],
        wv=linear(resid, val, {("symbol", "symbol"): 1.0})[None],
        wo=linear(val, resid, {("symbol", "symbol"): 1.0}).T[None],
    )
    mlp, readout_w, readout_b = bits_mlp_and_readout(resid, rho)  # Theorem 1's FFN and readout

    weights = TransformerWeights(token, position, (Layer(attn, mlp),), readout_w, readout_b)
    tail = 2 * sum(np.exp(-b * d) for d in range(1, 64))
    meta = model_meta(
        "transformer",
        "index_lookup",
        {"n": n, "alphabet_size": s},
        seq_len=n + 1,
        vocab_size=s + n,
        build=build or {"task": "index_lookup", "arch": "tf1", "n": n, "alphabet_size": s, "addresses": "quadratic"},
        construction={
            "theorem": "Theorem 1 (constant-width variant: quadratic position score)",
            "addressing": "score(i) = -beta (i - t)^2 from q=(-u_t^2, 2u_t, -1), k=(1, u_i, u_i^2), u = i - floor(n/2)",
            "beta": b,
            "beta_rule": "3 = ceil(ln 9): 2e^-b/(1-e^-b) <= 1/4" if beta is None else "override",
            "attention_on_target_lower_bound": 1.0 / (1.0 + tail),
            "residual_layout": resid.describe(),
            "code_bits": B,
            "max_feature": float(np.abs(u).max() ** 2),
            "logit_margin": 2.0,
        },
    )
    return Model(weights, meta)
