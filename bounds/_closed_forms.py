"""Closed-form lower bounds as sympy expressions, evaluated to the smallest width they allow.

Each bound is an inequality ``size_expr >= need_expr`` that every model of the architecture
computing the task must satisfy (paper-notes §4.11). ``min_width`` solves it for the width
``w`` at the given precision ``b`` (and heads ``h`` for one-layer Transformers).
"""

from __future__ import annotations

import dataclasses
import math

import sympy as sp

__all__ = ["BoundError", "LowerBound", "lower_bounds", "min_width_rnn", "SYMBOLS"]

n, b, h, w, A = sp.symbols("n b h w A", positive=True)
SYMBOLS = {"n": n, "b": b, "h": h, "w": w, "A": A}


class BoundError(ValueError):
    """Bad parameters for a bound (b <= 0, odd n where halves are needed, unknown task)."""


@dataclasses.dataclass(frozen=True)
class LowerBound:
    """``size >= need`` for every model of ``arch`` computing ``task``."""

    task: str
    arch: str  # "rnn" or "tf1"
    size: sp.Expr  # what the model has (in w, b, h)
    need: sp.Expr  # what the task needs (in n, A, b)
    theorem: str

    def min_width(self, **values) -> int:
        """Smallest integer w with ``size >= need`` at the given n, b (h, A)."""
        subs = {SYMBOLS[k]: v for k, v in values.items() if k in SYMBOLS}
        per_w = sp.simplify(self.size / w).subs(subs)
        need = self.need.subs(subs)
        return max(0, int(sp.ceiling(sp.nsimplify(need) / sp.nsimplify(per_w))))


def _bounds():
    tf1 = 3 * w * (b + sp.log(n, 2)) * h  # Theorem 4, the paper's stated constant
    return {
        ("index_lookup", "rnn"): LowerBound("index_lookup", "rnn", w * b, n * sp.log(A, 2), "Theorem 3 (INDEX, Fact 3)"),
        ("associative_recall", "rnn"): LowerBound("associative_recall", "rnn", w * b, n, "Proposition 9"),
        ("equality", "rnn"): LowerBound("equality", "rnn", w * b, n / 2, "Theorem 11 (EQ, Fact 2)"),
        ("disjointness", "rnn"): LowerBound("disjointness", "rnn", w * b, n / 2, "§4.2 (DISJ, Fact 1)"),
        ("nearest_neighbor", "rnn"): LowerBound("nearest_neighbor", "rnn", w * b, n / 2, "Theorem 8 (via DISJ)"),
        ("dyck", "tf1"): LowerBound("dyck", "tf1", tf1, n - 1, "Theorem 5/10 (Lemma 1 + Theorem 4)"),
        ("equality", "tf1"): LowerBound("equality", "tf1", tf1, n / 2, "Theorem 12 (Theorem 4 + Fact 2)"),
        ("disjointness", "tf1"): LowerBound("disjointness", "tf1", tf1, n / 2, "§4.2 (Theorem 4 + Fact 1)"),
    }


_BOUNDS = _bounds()


def min_width_rnn(task: str, n_value: int, bits: int, alphabet_size: int = 2) -> int:
    return _BOUNDS[(task, "rnn")].min_width(n=n_value, b=bits, A=alphabet_size)


def lower_bounds(task: str, params: dict, bits: int) -> dict:
    """Per architecture: ``{"min_width", "bits", "theorem", "inequality"}`` for this task and n.

    One-layer Transformer widths are per head count h = 1 (``w·h`` is what the bound limits).
    """
    if bits <= 0:
        raise BoundError(f"bits must be positive, got {bits}")
    nv = params.get("n")
    out = {}
    for (t, arch), bound in _BOUNDS.items():
        if t != task:
            continue
        values = {"n": nv, "b": bits, "h": 1, "A": params.get("alphabet_size", 2)}
        mw = bound.min_width(**values)
        out[arch] = {
            "min_width": mw,
            "bits": mw * bits if arch == "rnn" else None,
            "theorem": bound.theorem,
            "inequality": f"{bound.size} >= {bound.need}",
        }
    return out
