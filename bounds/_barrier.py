"""Corollary 13.1 as numbers: why Theorem 4's method stops at one layer (App. F.4; docs/BARRIER.md §4).

Lemma 5: for every balanced split ``(S_A, S_B)`` the two-layer ``split_equality`` construction
(width and precision O(log n)) computes a function whose communication matrix across that split is
the identity of size ``2^{n/2}``, so every protocol for it sends at least n/2 bits. A
communication bound for two layers in the style of Theorem 4 would be a protocol of cost
``O(w·b·h·g(n))`` valid for every two-layer Transformer and every split; this one model forces
``g(n) >= n / (2·w·b·h)``, i.e. ``Ω(n / log² n)`` when ``w, b = O(log n)`` and h = 1.

:func:`barrier` puts numbers on it for one built model: what a one-layer-style protocol would send
(Theorem 4's cost in each of its three constants, once per layer) against the n/2 bits required,
and the ``g(n)`` the model forces against Theorem 4's ``log2 n``. Where a cost is *below* n/2, no
protocol of that cost can simulate this two-layer model across the split.
"""

from __future__ import annotations

import math

from ._tf1_cost import CONSTANTS, cost_value

__all__ = ["barrier", "barrier_text"]


def barrier(size: dict, n: int, bits: int, vocab: int = 2) -> dict:
    """The numbers of Corollary 13.1 for a two-layer model of ``size`` (``width``, ``head_dim``,
    ``heads``, ``layers``, as ``Model.size()`` gives them) at length ``n`` and ``b = bits``.

    Returns ``need`` (n/2 bits), the model's ``w``, ``D``, ``h``, ``layers``, ``b``,
    ``one_layer_cost`` (constant -> Theorem 4's cost per layer, rounded up, times the layers),
    ``below_need`` (constant -> whether that cost is below ``need``: such a protocol cannot exist),
    ``wbh_log_n`` (``w·b·h·⌈log2 n⌉``, the form O(w·b·h·log n) with constant 1), and
    ``g_forced`` = ``need / (w·b·h)`` against ``log2_n`` (``wbh_log_n < need`` iff roughly
    ``g_forced > log2_n``).
    """
    w, D = int(size["head_dim"]), int(size["width"])
    h, layers = int(size["heads"]), int(size["layers"])
    need = -(-int(n) // 2)
    cost = {c: layers * cost_value(c, int(n), int(bits), h, w, D, int(vocab)).ceil() for c in CONSTANTS}
    return {
        "n": int(n),
        "need": need,
        "w": w,
        "D": D,
        "h": h,
        "layers": layers,
        "b": int(bits),
        "one_layer_cost": cost,
        "below_need": {c: v < need for c, v in cost.items()},
        "wbh_log_n": w * int(bits) * h * math.ceil(math.log2(n)),
        "g_forced": need / (w * int(bits) * h),
        "log2_n": math.log2(n),
    }


def barrier_text(row: dict) -> str:
    """One line of the text report."""
    costs = ", ".join(f"{c} {v}" for c, v in row["one_layer_cost"].items())
    below = [c for c, v in row["below_need"].items() if v]
    verdict = (
        f"below n/2 with the {', '.join(below)} constant: no such protocol exists for this model"
        if below
        else "above n/2 at this n"
    )
    return (
        f"barrier split_equality n={row['n']}: the tf2 model (w={row['w']}, D={row['D']}, h={row['h']}, "
        f"{row['layers']} layers, b={row['b']}) through Theorem 4's protocol per layer would send {costs} bits; "
        f"the split needs n/2 = {row['need']} ({verdict}); it forces g(n) >= {row['g_forced']:.3g} "
        f"vs log2 n = {row['log2_n']:.3g}"
    )
