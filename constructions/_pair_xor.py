"""The two-layer "fetch the partner bit, XOR, any differing pair?" Transformer (Theorem 6, App. F.2),
for any pairing of the positions: shared by ``equality`` (pairs ``(i, i + n/2)``) and
``split_equality`` (pairs ``(a_i, b_i)`` of any balanced split; Lemma 5, App. F.4).

Input: bits ``x_0 … x_{n−1}`` and a perfect matching of the positions into n/2 pairs. Output 1
iff every pair holds equal bits. The derivation (residual layout, scale factor, the FFNs that are
exact on soft inputs) is in :mod:`constructions.equality`; only the *addresses* depend on the
pairing:

* every pair ``{e < l}`` gets a *pair address* ``a_{k(e)}`` (address index ``k(e)``); the earlier
  position ``e`` carries it as its own address and as its partner address, the later position ``l``
  carries it as its partner address and a second address ``a_{k(l)}`` of its own;
* layer 1 queries with the partner address and keys with the own address, so ``l`` fetches
  ``x_e`` (visible under the causal mask, since ``e < l``) and ``e`` fetches its own bit, whose
  XOR with itself is 0 — the equality construction's ``π(p) = p`` for the first half.

Equality is the pairing ``(i, i + n/2)`` with ``k(p) = p``: its arrays are unchanged. Any other
pairing is the same model with the address vectors renumbered ("renumbering the address vectors
in the Thm 6 construction", App. F.4): the code, its coherence μ, the scale β and every margin are
those of equality at the same n and seed.
"""

from __future__ import annotations

import numpy as np

from ._gadgets import mean_and_threshold, mlp, ramp
from ._layout import Layout, linear
from ._transformer import Attention, Layer, TransformerWeights

__all__ = ["pair_addresses", "pair_xor_weights"]


def pair_addresses(pairs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Address indices ``(own [n], partner [n])`` for a perfect matching ``pairs [n/2, 2]``.

    Pair i, with earlier position e and later position l, uses indices i (e's own, and both
    partners) and ``n/2 + i`` (l's own). For the pairs ``(i, i + n/2)`` this is ``own = p``,
    ``partner = π(p)``, the equality construction's numbering.
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    half = n // 2
    if pairs.shape != (half, 2) or sorted(pairs.ravel().tolist()) != list(range(n)):
        raise ValueError(f"pairs must be a perfect matching of range({n}) as an array [{half}, 2]")
    early, late = pairs.min(axis=1), pairs.max(axis=1)
    own, partner = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    idx = np.arange(half)
    own[early], own[late] = idx, half + idx
    partner[early], partner[late] = idx, idx
    return own, partner


def pair_xor_weights(
    addresses: np.ndarray, own: np.ndarray, partner: np.ndarray, beta: float
) -> tuple[TransformerWeights, Layout]:
    """The weights of the two-layer pair-comparison Transformer, and its residual layout.

    ``addresses [n, r]``: the address code (``<a_i, a_i> = 1``); ``own``, ``partner``: address
    indices per position (:func:`pair_addresses`), with every position's partner visible to it
    (partner index = own index of an earlier or the same position); ``beta``: layer-1 scale.
    """
    a = np.asarray(addresses, dtype=np.float64)
    n, r = len(own), a.shape[1]
    resid = Layout(bit=1, partner_bit=1, address=r, partner=r, xor=1, mean=1, ineq=1)
    token = np.stack([resid.vector(bit=v) for v in (0.0, 1.0)])
    position = np.stack([resid.vector(address=a[own[p]], partner=a[partner[p]]) for p in range(n)])

    # layer 1: fetch the partner's bit into partner_bit, then XOR
    qk, val = Layout(address=r), Layout(bit=1)
    fetch = Attention(
        wq=linear(resid, qk, {("partner", "address"): beta})[None],
        wk=linear(resid, qk, {("address", "address"): 1.0})[None],
        wv=linear(resid, val, {("bit", "bit"): 1.0})[None],
        wo=linear(val, resid, {("bit", "partner_bit"): 1.0}).T[None],
    )
    # h(d) and h(−d), d = bit − partner_bit, h the ramp (ReLU(4u − 1) − ReLU(4u − 3))/2
    xor = mlp(
        resid,
        ramp(1, {"bit": 4.0, "partner_bit": -4.0}, "xor", bias=(-1.0, -3.0), gain=0.5, names=("up_hi", "up_lo")),
        ramp(1, {"bit": -4.0, "partner_bit": 4.0}, "xor", bias=(-1.0, -3.0), gain=0.5, names=("down_hi", "down_lo")),
    )

    # layer 2: Q = 0, uniform mean of xor, threshold (count > 0)
    average, threshold = mean_and_threshold(resid, n, src="xor", out="ineq", c=0)
    readout_w = np.zeros((resid.dim, 2))
    readout_w[resid["ineq"]] = [2.0, -2.0]
    readout_b = np.array([-1.0, 1.0])
    layers = (Layer(fetch, xor), Layer(average, threshold))
    return TransformerWeights(token, position, layers, readout_w, readout_b), resid
