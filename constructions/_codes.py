"""Codes shared by the constructions: the binary code of a finite alphabet, and the choice of
address vectors.

Binary code (App. C.2)
    ``ρ: [0, s) → {0,1}^B``, ``B = max(1, ⌈log2 s⌉)``: row c is the binary expansion of c, least
    significant bit first. Distinct symbols have distinct rows, so they differ in at least one
    of the B coordinates; :func:`constructions._gadgets.code_readout` scores a fetched row
    against every symbol's and separates the right symbol by a logit margin of 2.

Address vectors (Lemma 2)
    ``a_0 … a_{n-1} ∈ {±1/√r}^r`` with ``<a_i, a_i> = 1`` and a *certified* coherence
    ``μ = max_{i≠j} |<a_i, a_j>|``: random signs redrawn until μ meets the target (width
    ``r = O(log n / μ²)``, :func:`constructions._addresses.random_addresses`), Hadamard rows
    (μ = 0, width O(n)), or explicit Reed–Solomon ⊗ Hadamard codewords
    (:mod:`constructions.explicit_addresses`, polylogarithmic width, no seed).
"""

from __future__ import annotations

import math

import numpy as np

from ._addresses import AddressCode, hadamard_addresses, random_addresses
from ._registry import ConstructionError
from .explicit_addresses import rs_addresses

__all__ = ["ADDRESS_KINDS", "binary_code", "make_addresses"]

ADDRESS_KINDS = ("random", "hadamard", "rs")


def binary_code(alphabet_size: int) -> np.ndarray:
    """``ρ``: float64 ``[s, B]``, row c is the B-bit binary expansion of c (least significant first)."""
    bits = max(1, math.ceil(math.log2(alphabet_size)))
    c = np.arange(alphabet_size)[:, None]
    return ((c >> np.arange(bits)[None, :]) & 1).astype(np.float64)


def make_addresses(n: int, addresses: str, coherence: float, seed: int) -> AddressCode:
    """n address vectors of the kind ``addresses`` (``"random"``, ``"hadamard"`` or ``"rs"``), with
    target coherence ``coherence`` (random and Reed–Solomon codes) and ``seed`` (random codes).

    The returned :class:`~constructions._addresses.AddressCode` carries the certified coherence,
    which is what the scale factors are derived from."""
    if addresses == "random":
        return random_addresses(n, coherence=coherence, seed=seed)
    if addresses == "hadamard":
        return hadamard_addresses(n)
    if addresses == "rs":  # explicit Reed–Solomon ⊗ Hadamard code (constructions/explicit_addresses.py)
        return rs_addresses(n, coherence=coherence)
    raise ConstructionError(
        f"addresses must be 'random', 'hadamard' or 'rs' (index lookup also 'quadratic'), got {addresses!r}"
    )
