"""The sympy-free evaluation of the closed forms (bounds/_exact.py) gives sympy's numbers.

``LowerBound.min_width`` / ``need_bits`` and ``barrier`` evaluate the forms on integers without
sympy; here every row, fallback and constant is evaluated the way the package did before, with
sympy (substitute, differentiate, ``ceiling``), at many n, b, h, A, K, V (seeded, seed 0), and the
integers must agree. The printed inequalities must be sympy's ``sstr`` of the sympy forms.
"""

import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import bounds
from bounds import _closed_forms
from bounds._exact import LogLinear, ceil_log2_int, smallest_at_least
from bounds._tf1_cost import COST_TEXT, COSTS, SYMBOLS

NS = list(range(1, 18)) + [31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 1023, 1024, 1025, 4096, 65535, 10**6]


def every_bound():
    for key, bound in _closed_forms.CLOSED_FORMS.items():
        yield key, bound
        for extra in _closed_forms.FALLBACKS.get(key, ()):
            yield key, extra


def sympy_min_width(bound, values):
    """The package's evaluation before bounds/_exact.py: exact, by sympy."""
    S = SYMBOLS
    subs = {S[k]: sp.Integer(v) for k, v in values.items() if k in S}
    expr = bound.size.subs(S["D"], S["w"]).subs(subs)
    slope, offset = sp.diff(expr, S["w"]), expr.subs(S["w"], 0)
    need = bound.need.subs(subs)
    return max(0, int(sp.ceiling((need - offset) / slope)))


def sympy_need_bits(bound, values):
    return int(sp.ceiling(bound.need.subs({SYMBOLS[k]: sp.Integer(v) for k, v in values.items()})))


@pytest.mark.parametrize("key,bound", list(every_bound()), ids=lambda x: str(x) if isinstance(x, tuple) else "")
def test_min_width_and_need_bits_equal_the_sympy_forms(key, bound):
    rng = np.random.default_rng(0)
    for n in NS:
        values = {
            "n": n,
            "b": int(rng.choice([1, 2, 8, 16, 32, 64])),
            "h": int(rng.choice([1, 2, 3])),
            "A": int(rng.choice([2, 3, 4, 5, 16, 17])),
            "K": int(rng.choice([2, 3, 4, 5])),
            "V": int(rng.choice([2, 3, 5, 8])),
        }
        assert bound.min_width(**values) == sympy_min_width(bound, values), (key, values)
        assert bound.need_bits(**values) == sympy_need_bits(bound, values), (key, values)


@pytest.mark.parametrize("key,bound", list(every_bound()), ids=lambda x: str(x) if isinstance(x, tuple) else "")
def test_the_printed_inequality_is_sympys(key, bound):
    assert bound.inequality() == f"{sp.sstr(bound.size)} >= {sp.sstr(bound.need)}"


def test_cost_text_is_sympys():
    assert COST_TEXT == {c: sp.sstr(e) for c, e in COSTS.items()}


@pytest.mark.parametrize("n", [2, 3, 20, 64, 1000, 4097])
def test_barrier_costs_equal_the_sympy_forms(n):
    size = {"head_dim": 7, "width": 30, "heads": 2, "layers": 2}
    row = bounds.barrier(size, n, 16, vocab=3)
    subs = {SYMBOLS[k]: sp.Integer(v) for k, v in dict(n=n, b=16, h=2, w=7, D=30, V=3).items()}
    assert row["one_layer_cost"] == {c: 2 * int(sp.ceiling(e.subs(subs))) for c, e in COSTS.items()}


def test_sign_on_exact_ties_and_near_ties():
    # exact zeros that only integer arithmetic can see
    assert (LogLinear.log2(6) - LogLinear.log2(3) - 1).sign() == 0
    assert (LogLinear.log2(9) - LogLinear.log2(3, 2)).sign() == 0
    assert (LogLinear.log2(12, Fraction(1, 2)) - LogLinear.log2(3, Fraction(1, 2)) - 1).sign() == 0
    # n·log2 3 against the integers around it: the sign is that of 3^n - 2^k
    for n in list(range(1, 60)) + [306, 665, 15601]:
        k = math.floor(n * math.log2(3))
        for j in (k - 1, k, k + 1, k + 2):
            want = (3**n > 2**j) - (3**n < 2**j)
            assert (LogLinear.log2(3, n) - j).sign() == want, (n, j)
        assert LogLinear.log2(3, n).ceil() == (3**n - 1).bit_length()


def test_ceil_and_smallest_at_least():
    assert (
        LogLinear(Fraction(7, 2)).ceil() == 4 and LogLinear(Fraction(-7, 2)).ceil() == -3 and LogLinear(5).ceil() == 5
    )
    assert LogLinear.log2(1024).ceil() == 10 and LogLinear.log2(1025).ceil() == 11
    assert [ceil_log2_int(m) for m in (1, 2, 3, 4, 5, 1024, 1025)] == [0, 1, 2, 2, 3, 10, 11]
    # 3·W ≥ 10 - 1: W = 3; slope log2 3: W·log2 3 ≥ 19 ⟺ 3^W ≥ 2^19: W = 12 (3^12 = 531441 ≥ 524288)
    assert smallest_at_least(LogLinear(3), LogLinear(1), LogLinear(10)) == 3
    assert smallest_at_least(LogLinear.log2(3), LogLinear(0), LogLinear(19)) == 12
    assert smallest_at_least(LogLinear(2), LogLinear(5), LogLinear(1)) == 0
    with pytest.raises(ValueError):
        smallest_at_least(LogLinear(0), LogLinear(0), LogLinear(1))


def test_missing_values_are_named():
    with pytest.raises(bounds.BoundError, match=r"missing values for \['A'\]"):
        bounds.closed_form("index_lookup", "rnn").min_width(n=8, b=4)
    with pytest.raises(bounds.BoundError, match=r"missing values for \['V'\]"):
        bounds.closed_form("equality", "tf1", "protocol").min_width(n=8, b=4, h=1)


LIGHT = ("verify", "constructions", "bounds", "tasks")
HEAVY = ("sympy", "matplotlib", "flax", "optax")


def test_importing_the_packages_imports_no_heavy_optional_module():
    """``import verify, constructions, bounds, tasks`` (and computing a lower bound, as every
    ``verify`` row does) loads none of sympy, matplotlib, flax, optax: each is imported where used."""
    code = (
        f"import sys\nimport {', '.join(LIGHT)}\n"
        "bounds.lower_bounds('equality', {'n': 20}, 64); bounds.lower_bounds('dyck', {'n': 20}, 32)\n"
        "bounds.barrier({'head_dim': 4, 'width': 9, 'heads': 1, 'layers': 2}, 64, 16)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)

    def heavy(source: str) -> str:
        done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert heavy(code) == "", f"imported at import time: {heavy(code)}"
    assert heavy(code.replace("import sys\n", "import sys, sympy\n")) == "sympy"  # the check can fail
