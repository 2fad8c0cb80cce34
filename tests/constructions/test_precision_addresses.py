"""The number formats and the address codes."""

import math
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import pytest

import constructions
from constructions import FixedArithmetic, hadamard_addresses, parse_precision, random_addresses


@pytest.fixture(autouse=True)
def _float64():
    """The number formats run inside the scope where JAX has 64-bit types (as every forward does)."""
    with constructions.float64_scope():
        yield


def test_fixed_rounds_down_and_clips():
    ar = FixedArithmetic(2, 3)  # grid step 1/8, range [-4, 4]
    v = ar.encode(np.array([0.13, -0.13, 9.0, -9.0, 1.0]))
    assert ar.decode(v).tolist() == [0.125, -0.25, 4.0, -4.0, 1.0]
    a = ar.encode(np.array([[0.375, 1.5]]))
    b = ar.encode(np.array([[0.625], [0.25]]))
    # 0.375*0.625 + 1.5*0.25 = 0.609375 -> rounded down once to 0.5
    assert float(ar.decode(ar.einsum("ij,jk->ik", a, b))[0, 0]) == 0.5
    assert ar.bits == 6


def test_fixed_softmax_exact_integers():
    ar = FixedArithmetic(4, 6)
    s = ar.encode(np.array([[0.0, -1.0, 2.0]]))
    mask = np.array([[True, True, False]])
    alpha = ar.softmax(s, mask)
    e0, e1 = 64, math.floor(math.exp(-1.0) * 64)
    assert alpha.tolist() == [[(e0 * 64) // (e0 + e1), (e1 * 64) // (e0 + e1), 0]]


def test_fixed_refuses_inexact_width():
    ar = FixedArithmetic(30, 18)  # I + F = 48: a 5000-term sum (13 bits) passes the wide limit of 60
    x = jnp.zeros((3, 5000), jnp.int64)
    with pytest.raises(ValueError, match="too wide"):
        ar.einsum("ij,kj->ik", x, x)
    assert FixedArithmetic(30, 17).holds(5000) and not FixedArithmetic(20, 10).narrow_holds(5000)


@pytest.mark.parametrize("bad", ["float8", "fixed:8", "fixed:a.b", "fixed:30.30", "fixed:0.32", ""])
def test_parse_precision_errors(bad):
    with pytest.raises(ValueError):
        parse_precision(bad)


def test_float_formats_use_their_dtype():
    assert parse_precision("bfloat16").encode(np.array([1.0 + 2**-10])).dtype == jnp.bfloat16
    assert float(parse_precision("bfloat16").encode(np.array([1.0 + 2**-10]))[0]) == 1.0
    assert parse_precision("float16").bits == 16 and parse_precision("float32").bits == 32


@pytest.mark.parametrize("num,eps", [(1, 0.5), (10, 0.5), (300, 0.25), (2000, 0.5)])
def test_random_addresses_certified(num, eps):
    code = random_addresses(num, coherence=eps, seed=3)
    v = code.vectors
    assert np.allclose((v * v).sum(axis=1), 1.0)
    G = code.signs.astype(np.int64) @ code.signs.T.astype(np.int64)  # exact, independent of the code
    np.fill_diagonal(G, 0)
    assert Fraction(int(np.abs(G).max()), code.dim) == code.coherence <= eps
    assert set(np.unique(code.signs)) <= {-1, 1}


@pytest.mark.parametrize("m,r", [(1, 7), (5, 3), (2048, 9), (4500, 16)])
def test_max_cross_products_is_the_exact_gram_maximum(m, r):
    """Blocked, lower-triangle float32 evaluation against the full int64 Gram matrix (several
    blocks of 2048 rows, a ragged last block)."""
    from constructions._addresses import max_cross_products

    signs = np.random.default_rng(m).integers(0, 2, size=(m, r), dtype=np.int8) * 2 - 1
    G = np.abs(signs.astype(np.int64) @ signs.T.astype(np.int64))
    np.fill_diagonal(G, 0)
    assert np.array_equal(max_cross_products(signs), G.max(axis=1))


def test_incremental_violator_check_equals_full_check():
    """After redrawing the violators, re-checking only the redrawn rows' products finds exactly the
    rows the full lower-triangle check finds."""
    from constructions._addresses import _violators

    rng = np.random.default_rng(5)
    m, r, limit = 2600, 12, 6
    signs = rng.integers(0, 2, size=(m, r), dtype=np.int8) * 2 - 1
    bad = _violators(signs, limit)
    G = np.abs(signs.astype(np.int64) @ signs.T.astype(np.int64))
    assert np.array_equal(bad, np.flatnonzero(np.tril(G > limit, k=-1).any(axis=1)))  # j < i
    for _ in range(3):
        assert bad.size
        signs[bad] = rng.integers(0, 2, size=(bad.size, r), dtype=np.int8) * 2 - 1
        incremental = _violators(signs, limit, redrawn=bad)
        bad = _violators(signs, limit)
        assert np.array_equal(incremental, bad)


def test_gram_tiles_small(monkeypatch):
    """With tiles of 64 rows × 48 columns and 16 redrawn rows per product (so every tile shape
    occurs: diagonal, ragged, off-diagonal), the tiled checks equal the full int64 Gram matrix."""
    from constructions import _addresses as A

    monkeypatch.setattr(A, "_BLOCK", 64)
    monkeypatch.setattr(A, "_COLS", 48)
    monkeypatch.setattr(A, "_REDRAWN", 16)
    rng = np.random.default_rng(11)
    m, r, limit = 300, 10, 6
    signs = rng.integers(0, 2, size=(m, r), dtype=np.int8) * 2 - 1
    G = np.abs(signs.astype(np.int64) @ signs.T.astype(np.int64))
    np.fill_diagonal(G, 0)
    assert np.array_equal(A.max_cross_products(signs), G.max(axis=1))
    bad = A._violators(signs, limit)
    assert np.array_equal(bad, np.flatnonzero(np.tril(G > limit, k=-1).any(axis=1)))
    assert bad.size > 16  # the redrawn check runs in several blocks
    signs[bad] = rng.integers(0, 2, size=(bad.size, r), dtype=np.int8) * 2 - 1
    assert np.array_equal(A._violators(signs, limit, redrawn=bad), A._violators(signs, limit))


def test_random_addresses_seeded():
    a, b = random_addresses(100, 0.5, seed=1), random_addresses(100, 0.5, seed=1)
    c = random_addresses(100, 0.5, seed=2)
    assert np.array_equal(a.signs, b.signs) and not np.array_equal(a.signs, c.signs)


def test_hadamard_orthogonal():
    code = hadamard_addresses(20)
    assert code.dim == 32
    G = code.vectors @ code.vectors.T
    assert np.allclose(G, np.eye(20))


@pytest.mark.parametrize("num,target", [(8, 0.1), (24, 0.03), (5, 0.5)])
def test_rs_addresses_meet_a_small_target(num, target):
    """Reed-Solomon addresses exist for every target: when each prime up to num + 1 needs two or more
    digits (coherence (k - 1)/q above the target), one digit over a larger prime has coherence 0."""
    from constructions.explicit_addresses import rs_addresses, rs_parameters

    q, k = rs_parameters(num, target)
    assert q**k >= num and (k - 1) / q <= target
    code = rs_addresses(num, target)
    assert code.num == num and code.coherence <= target
    G = np.abs(code.signs.astype(np.int64) @ code.signs.T.astype(np.int64))
    np.fill_diagonal(G, 0)
    assert Fraction(int(G.max()), code.dim) == code.coherence


def test_address_errors():
    with pytest.raises(ValueError):
        random_addresses(0)
    with pytest.raises(ValueError):
        random_addresses(5, coherence=1.0)


def test_layout_blocks():
    L = constructions.Layout(a=2, b=3)
    assert L.dim == 5 and L["b"] == slice(2, 5)
    M = constructions.linear(L, constructions.Layout(x=3), {("b", "x"): 2.0})
    assert M.shape == (3, 5) and np.array_equal(M[:, 2:], 2 * np.eye(3)) and not M[:, :2].any()
    with pytest.raises(ValueError):
        constructions.linear(L, constructions.Layout(x=2), {("b", "x"): 1.0})
    with pytest.raises(KeyError):
        L["c"]


@pytest.mark.parametrize("num,target", [(8, 0.5), (122, 0.5), (300, 0.5), (1000, 0.3), (2000, 0.5)])
def test_rs_coherence_without_gram_is_the_gram_maximum(num, target):
    """The Reed–Solomon code's coherence, set to (k − 1)/q from its distance and the explicit witness
    pair (no Gram matrix), is the exact maximum of the Gram matrix's off-diagonal entries."""
    from constructions._addresses import max_cross_products
    from constructions.explicit_addresses import rs_addresses, rs_parameters

    code = rs_addresses(num, target)
    q, k = rs_parameters(num, target)
    assert code.coherence == Fraction(k - 1, q) and k >= 2
    assert Fraction(int(max_cross_products(code.signs).max()), code.dim) == code.coherence
