"""The wide fixed-point path (split accumulators, constructions/_precision.py) against Python's
unbounded integers: ``floor(Σ a·b / 2^F)`` clipped to ``[-2^(I+F), 2^(I+F)]``, on random operands
and on the extreme ones (every operand ``±2^(I+F)``), up to the wide limit ``(I+F) + ⌈log2 K⌉ <= 60``."""

import math

import jax
import numpy as np
import pytest

from constructions import FixedArithmetic, float64_scope


def reference(a, b, I, F):
    """The exact grid value, in Python ints."""
    hi = 1 << (I + F)
    exact = a.astype(object) @ b.astype(object)
    return np.vectorize(lambda v: max(-hi, min(hi, v // (1 << F))), otypes=[object])(exact).astype(np.int64)


def operands(rng, w, K, kind):
    hi = 1 << w
    a = rng.integers(-hi, hi + 1, size=(3, K), dtype=np.int64)
    b = rng.integers(-hi, hi + 1, size=(K, 2), dtype=np.int64)
    if kind == "max":
        a[:], b[:] = hi, hi
    elif kind == "min":
        a[:], b[:] = -hi, hi
    return a, b


@pytest.mark.parametrize("K", [1, 2, 7, 300, 5000])
def test_wide_einsum_is_exact_to_the_limit(K):
    rng = np.random.default_rng(K)
    c = max(1, math.ceil(math.log2(max(K, 2))))
    top = FixedArithmetic.WIDE_LIMIT - c  # the widest I + F the wide path holds over K terms
    with float64_scope():
        traced = jax.jit(lambda ar, x, y: ar.einsum("ik,kj->ij", x, y))
        cases = [(top, F) for F in (0, 1, 17, 31)] + [(top - 1, 5), (top // 2 + 1, 3)]
        cases += [(int(w), int(rng.integers(0, min(31, w) + 1))) for w in rng.integers(1, top + 1, 6)]
        for w, F in cases:
            I = w - F
            ar = FixedArithmetic(I, F)
            assert ar.holds(K) and (w < top or not FixedArithmetic(I + 1, F).holds(K))
            for kind in ("random", "max", "min"):
                a, b = operands(rng, w, K, kind)
                want = reference(a, b, I, F)
                assert np.array_equal(np.asarray(ar._wide_einsum("ik,kj->ij", a, b)), want), (I, F, kind)
                assert np.array_equal(np.asarray(ar.einsum("ik,kj->ij", a, b)), want), (I, F, kind)
                # traced I, F with the static wide flag: the precision search's path
                got = traced(FixedArithmetic(I, F, wide=True), a, b)
                assert np.array_equal(np.asarray(got), want), (I, F, kind)
        with pytest.raises(ValueError, match="too wide"):
            FixedArithmetic(top + 1 - min(31, top + 1), min(31, top + 1)).einsum("ik,kj->ij", a, b)


def test_narrow_path_is_kept_where_it_is_exact():
    """Within ``2(I+F) + ⌈log2 K⌉ <= 62`` a product is one int64 einsum (no split, no extra work)."""
    ar = FixedArithmetic(13, 12)
    with float64_scope():
        jaxpr = jax.make_jaxpr(lambda x, y: ar.einsum("ik,kj->ij", x, y))(
            np.ones((3, 4096), np.int64), np.ones((4096, 2), np.int64)
        )
        assert str(jaxpr).count("dot_general") == 1
        jaxpr = jax.make_jaxpr(lambda x, y: ar.einsum("ik,kj->ij", x, y))(
            np.ones((3, 8192), np.int64), np.ones((8192, 2), np.int64)
        )
        assert str(jaxpr).count("dot_general") == 4
