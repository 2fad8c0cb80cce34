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

``COSTS`` and ``SYMBOLS`` are sympy, built on first access; :func:`cost_value` evaluates the same
forms exactly without sympy (bounds/_exact.py).
"""

from __future__ import annotations

from ._exact import LogLinear, ceil_log2_int

__all__ = ["CONSTANTS", "COST_TEXT", "cost_value"]  # and SYMBOLS, COSTS (sympy), through __getattr__

CONSTANTS = ("airtight", "paper", "protocol")
# sympy's ``sstr`` of each of COSTS (tests/bounds/test_bounds_exact.py checks it), for reports
# written without importing sympy
COST_TEXT = {
    "airtight": "D*b + h*(4*b*w + 4*b + 2*ceiling(log(n)/log(2)))",
    "paper": "3*h*w*(b + log(n)/log(2))",
    "protocol": "h*(2*b*w + 4*b + 2*ceiling(log(n)/log(2)) + 2) + ceiling(log(V)/log(2))",
}


def cost_value(constant: str, n: int, b: int, h: int, w: int, D: int, V: int | None = None) -> LogLinear:
    """``T`` of ``constant`` at integer values, exactly (:class:`bounds._exact.LogLinear`); ``V`` is
    needed by ``protocol`` only."""
    clog = ceil_log2_int(n)
    if constant == "airtight":
        return LogLinear(D * b + h * (4 * w * b + 4 * b + 2 * clog))
    if constant == "paper":
        return LogLinear(3 * w * h * b) + LogLinear.log2(n, 3 * w * h)
    if constant == "protocol":
        if V is None:
            raise ValueError("the protocol constant needs V")
        return LogLinear(ceil_log2_int(V) + h * (2 * w * b + 4 * b + 2 + 2 * clog))
    raise ValueError(f"unknown constant {constant!r}")


def _symbolic() -> tuple[dict, dict]:
    """The sympy forms (imported on first use: reports and ``verify`` rows never need them)."""
    import sympy as sp

    n, b, h, w, D, A, K, V = sp.symbols("n b h w D A K V", positive=True)
    symbols = {"n": n, "b": b, "h": h, "w": w, "D": D, "A": A, "K": K, "V": V}
    costs = {  # constant -> T(n, b, h, w, D, V)
        "airtight": D * b + h * (4 * w * b + 4 * b + 2 * sp.ceiling(sp.log(n, 2))),
        "paper": 3 * w * (b + sp.log(n, 2)) * h,
        "protocol": sp.ceiling(sp.log(V, 2)) + h * (2 * w * b + 4 * b + 2 + 2 * sp.ceiling(sp.log(n, 2))),
    }
    return symbols, costs


def __getattr__(name: str):
    """``SYMBOLS`` and ``COSTS``, the sympy forms, built on first access (PEP 562)."""
    if name in ("SYMBOLS", "COSTS"):
        symbols, costs = _symbolic()
        globals().update(SYMBOLS=symbols, COSTS=costs)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
