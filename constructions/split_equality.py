"""Equality across any balanced split with two attention layers (Lemma 5, Corollary 13.1; App. F.4).

Task ``split_equality``: bits ``x_0 … x_{n−1}``, Alice's positions ``S_A = (a_0 < … < a_{h−1})``
and Bob's ``S_B = (b_0 < … < b_{h−1})``, ``h = n/2``; output 1 iff ``x[a_i] = x[b_i]`` for every i.

The paper: "renumbering the address vectors in the Thm 6 construction" computes this for every
split, with width and precision O(log n). Here: Theorem 6's model (:mod:`constructions.equality`)
with the pairs ``(a_i, b_i)`` in place of ``(i, i + n/2)``. The later position of each pair
fetches the earlier one's bit (so the causal mask never hides a partner, whichever side comes
first), the earlier one fetches its own bit (XOR 0); the address numbering is
:func:`constructions._pair_xor.pair_addresses`, the weights :func:`constructions._pair_xor.pair_xor_weights`.
Everything the equality proof derives holds unchanged: the address code and its certified
coherence μ are the same set of vectors (only which position holds which one changes), each query
has exactly one key scoring β and at most ``n − 1`` scoring ≤ βμ, so the scale
``β = ln(4(n−1))/(1−μ)``, the soft-exact XOR, the uniform second layer and the logit margin 2 are
those of equality at the same n and seed. With ``alice="halves"`` the arrays *are* equality's.

Why it matters (Corollary 13.1): under the split ``(S_A, S_B)`` the communication matrix is the
identity of size ``2^{n/2}``, so any protocol needs n/2 bits, while this model has
``w, b = O(log n)``. A protocol of cost ``O(w·b·h·g(n))`` for every two-layer Transformer and every
split would need ``g(n) = Ω(n / log² n)``: Theorem 4's method does not extend to two layers
(docs/BARRIER.md §4).

Size: ``D = 2r + 5`` as equality, one head per layer, precision O(log n) bits.
"""

from __future__ import annotations

import tasks

from ._codes import make_addresses
from ._gadgets import attention_lower_bound, softmax_scale
from ._meta import model_meta
from ._model import Model
from ._pair_xor import pair_addresses, pair_xor_weights
from ._registry import ConstructionError, register

__all__ = ["build_split_equality"]

MISS = 1 / 5  # weight allowed off the target in layer 1 (as equality)


@register("split_equality", "tf2")
def build_split_equality(
    n: int,
    alice: object = "halves",
    seed: int = 0,
    coherence: float = 0.5,
    addresses: str = "random",
    beta: float | None = None,
) -> Model:
    """Two-layer Transformer for ``split_equality`` (Lemma 5).

    Args:
        n: even string length >= 2.
        alice: Alice's positions, as the task takes them (``"halves"``, ``"interleaved"``,
            ``"random:SEED"`` or n/2 positions).
        seed: seed of the random address code.
        coherence: target coherence μ of the address code, in (0, 1).
        addresses: ``"random"`` (Lemma 2, width O(log n)), ``"hadamard"`` (exact, width O(n)) or
            ``"rs"`` (explicit Reed–Solomon ⊗ Hadamard code, :mod:`constructions.explicit_addresses`).
        beta: override the derived layer-1 scale (robustness sweeps and tamper tests only).
    """
    n = int(n)
    if n < 2 or n % 2:
        raise ConstructionError(f"split_equality needs an even n >= 2 (two sides of n/2 bits), got n={n}")
    if not 0 < float(coherence) < 1:
        raise ConstructionError(f"coherence must lie in (0, 1), got {coherence}")
    try:
        task = tasks.get("split_equality", n=n, alice=alice)
    except tasks.TaskError as e:
        raise ConstructionError(str(e)) from None
    assert isinstance(task, tasks.SplitEquality)
    code = make_addresses(n, addresses, float(coherence), int(seed))
    a, mu = code.vectors, float(code.coherence)
    b = softmax_scale(n - 1, 1.0 - mu, MISS) if beta is None else float(beta)
    own, partner = pair_addresses(task.pairs, n)
    weights, resid = pair_xor_weights(a, own, partner, b)
    meta = model_meta(
        "transformer",
        "split_equality",
        task.params,
        seq_len=n,
        vocab_size=2,
        build={
            "task": "split_equality",
            "arch": "tf2",
            "n": n,
            "alice": task.params["alice"],
            "seed": int(seed),
            "coherence": float(coherence),
            "addresses": addresses,
            "beta": beta,
        },
        construction={
            "theorem": "Lemma 5 (Theorem 6 with the addresses renumbered)",
            "beta": b,
            "beta_rule": "ln(4(n-1))/(1-mu)" if beta is None else "override",
            "attention_on_partner_lower_bound": attention_lower_bound(n - 1, 1.0 - mu, b),
            "pairs": "the later position of each pair (a_i, b_i) fetches the earlier one's bit",
            "address_code": code.describe(),
            "residual_layout": resid.describe(),
            "logit_margin": 2.0,
        },
    )
    return Model(weights, meta)
