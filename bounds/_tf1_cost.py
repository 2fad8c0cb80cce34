"""Theorem 4's cost ``T``: the bits a one-layer Transformer can push through any cut, in three
constants (docs/BOUNDS.md §1 and §3.1). Every number the package reports says which it uses.

``paper``     ``T = 3·w·(b + log2 n)·h`` — the theorem as stated (docs/PAPER.md §4.4);
``airtight``  ``T = D·b + h·(4·w·b + 4·b + 2·⌈log2 n⌉)`` — the sum of the protocol's steps as the
              paper describes them. The stated constant does not follow from the steps when w is
              small, so the width a bound *proves* (``min_width``) uses this one;
``protocol``  ``T = ⌈log2 V⌉ + h·(2·w·b + 4·b + 2 + 2·⌈log2 n⌉)`` — what our executed protocol
              (:func:`bounds.tf1_protocol`) sends: the last token's id instead of its embedded row,
              the partial weighted values one way only, each local maximum with b + 1 bits. It is a
              lower bound for *every* one-layer Transformer with token inputs from a vocabulary of
              V symbols, w-dimensional heads (queries, keys and values), h heads and b-bit numbers
              on the fixed-point grid whose clip bound is at least n (the derivation:
              docs/BOUNDS.md §3.1); reported as ``min_width_protocol``.

Symbols: ``n`` input length, ``b`` bits per number, ``h`` heads, ``w`` head width, ``D`` residual
width, ``V`` the vocabulary (input alphabet), ``A`` an alphabet (tasks), ``K`` bracket types.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["SYMBOLS", "COSTS"]

n, b, h, w, D, A, K, V = sp.symbols("n b h w D A K V", positive=True)
SYMBOLS = {"n": n, "b": b, "h": h, "w": w, "D": D, "A": A, "K": K, "V": V}
COSTS = {  # constant -> T(n, b, h, w, D, V)
    "airtight": D * b + h * (4 * w * b + 4 * b + 2 * sp.ceiling(sp.log(n, 2))),
    "paper": 3 * w * (b + sp.log(n, 2)) * h,
    "protocol": sp.ceiling(sp.log(V, 2)) + h * (2 * w * b + 4 * b + 2 + 2 * sp.ceiling(sp.log(n, 2))),
}
