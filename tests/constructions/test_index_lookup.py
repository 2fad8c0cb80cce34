"""Theorem 1: the one-layer index-lookup Transformer, checked against the reference solver."""

import math

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import constructions
import tasks
from verify import check

import numpy_forward
from testkit import built


def model(n, s):
    return built("index_lookup", "tf1", n=n, alphabet_size=s, seed=0)


@pytest.mark.parametrize("n,s", [(1, 2), (2, 2), (5, 2), (9, 2), (4, 3), (7, 3)])
def test_exhaustive_small(n, s):
    row = check(model(n, s), mode="exhaustive")
    assert row["inputs_checked"] == s**n * n
    assert row["failures"] == 0 and row["status"] == "pass"
    assert row["min_margin"] == pytest.approx(2.0)  # the readout's designed margin


@pytest.mark.parametrize("n,s", [(5, 2), (4, 3)])
def test_exhaustive_hadamard_addresses(n, s):
    m = constructions.build("index_lookup", arch="tf1", n=n, alphabet_size=s, addresses="hadamard")
    assert m.meta["construction"]["address_code"]["coherence"] == "0"
    assert check(m, mode="exhaustive")["failures"] == 0


N_VALUES = [1, 3, 64, 1000, 4096]


CLASSES = ("first", "last", "middle", "first half", "second half")
KINDS = ("constant", "random", "one_different")


def class_range(where, n):
    """The positions of a class: ``range`` over which the queried position is drawn."""
    half = max(1, n // 2)
    return {
        "first": range(0, 1),
        "last": range(n - 1, n),
        "middle": range((n - 1) // 2, (n - 1) // 2 + 1),
        "first half": range(0, half),
        "second half": range(n // 2, n),
    }[where]


@st.composite
def queries(draw, n, s):
    """A batch of inputs of length n over s symbols that queries every position class (the first,
    the last and the middle position, one in each half) with every kind of string (constant,
    random, all equal but the queried symbol): ``(classes, t, inputs)``, t the queried positions."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    classes, ts, rows = [], [], []
    for where in CLASSES:
        r = class_range(where, n)
        for kind in KINDS:
            t = draw(st.integers(r.start, r.stop - 1))
            if kind == "constant":
                x = np.full(n, draw(st.integers(0, s - 1)))
            elif kind == "random":
                x = rng.integers(0, s, size=n)
            else:  # everything equal except the queried symbol
                x = np.zeros(n, dtype=np.int64)
                x[t] = s - 1
            classes.append(where)
            ts.append(t)
            rows.append(np.concatenate([x, [s + t]]))
    return classes, np.array(ts), np.array(rows)


@given(data=st.data(), n=st.sampled_from(N_VALUES), s=st.sampled_from([2, 3, 64]))
def test_hypothesis_large_n(data, n, s):
    _, _, inputs = data.draw(queries(n, s))
    want = tasks.get("index_lookup", n=n, alphabet_size=s).solve(inputs)
    assert np.array_equal(model(n, s).predict(inputs), want)


@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_queries_reach_every_position_class(n):
    """Every batch of the strategy above queries each class inside its range: the first position
    is 0, the last n - 1, the middle (n - 1) // 2, the halves [0, n/2) and [n/2, n)."""
    classes, t, inputs = find(queries(n, 2), lambda q: True)
    assert sorted(set(classes)) == sorted(CLASSES) and np.array_equal(inputs[:, -1], 2 + t)
    with pytest.raises(NoSuchExample):
        find(queries(n, 2), lambda q: any(ti not in class_range(c, n) for c, ti in zip(q[0], q[1])))
    assert [t[classes.index(c)] for c in ("first", "last", "middle")] == [0, n - 1, (n - 1) // 2]
    if n >= 2:  # the halves are disjoint and each is reached at its ends
        for c, r in (("first half", range(0, n // 2)), ("second half", range(n // 2, n))):
            assert class_range(c, n) == r
            for end in (r.start, r.stop - 1):
                find(queries(n, 2), lambda q, c=c, end=end: any(ci == c and ti == end for ci, ti in zip(q[0], q[1])))


def test_numpy_forward_from_spec_agrees(tmp_path):
    """A saved model run by tests/numpy_forward.py (numpy + docs/MODEL.md only) agrees with predict."""
    for n, s in [(6, 3), (40, 5)]:
        m = model(n, s)
        path = tmp_path / f"il{n}.npz"
        m.save(path)
        task = tasks.get("index_lookup", n=n, alphabet_size=s)
        x = task.sample(np.random.default_rng(1), 200)
        ref = numpy_forward.predict(path, x)
        assert np.array_equal(ref, m.predict(x))
        assert np.array_equal(ref, task.solve(x))


def test_load_roundtrip_and_byte_identical(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    constructions.build("index_lookup", arch="tf1", n=32, alphabet_size=4, seed=7).save(a)
    constructions.build("index_lookup", arch="tf1", n=32, alphabet_size=4, seed=7).save(b)
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.npz"
    constructions.build("index_lookup", arch="tf1", n=32, alphabet_size=4, seed=8).save(c)
    assert c.read_bytes() != a.read_bytes()
    m = constructions.load(a)
    assert m.size() == model_size(32, 4, 7)
    assert check(m, mode="sampled", samples=500)["status"] == "pass"


def model_size(n, s, seed):
    return constructions.build("index_lookup", arch="tf1", n=n, alphabet_size=s, seed=seed).size()


def test_tampered_address_row_fails_with_counterexample():
    m = model(9, 2)
    P = m.arrays()["embed/position"].copy()
    P[3] = P[5]  # position 3 now carries position 5's address
    bad = m.with_arrays(**{"embed/position": P})
    row = check(bad, mode="exhaustive")
    assert row["status"] == "fail" and row["failures"] > 0
    ce = row["counterexample"]
    x = np.array(ce["input"])
    assert x[-1] - 2 in (3, 5)  # the query names a damaged position
    assert ce["got"] != ce["expected"] or ce["margin"] <= 0


def test_size_from_arrays_and_log_growth():
    widths = {}
    for n in (64, 1024, 16384):
        m = constructions.build("index_lookup", arch="tf1", n=n, alphabet_size=2, seed=0)
        size = m.size()
        arrays = m.arrays()
        assert size["params"] == sum(a.size for a in arrays.values())
        r = m.meta["construction"]["address_code"]["dim"]
        assert size["width"] == arrays["embed/position"].shape[1] == 2 * r + 2
        assert size["heads"] == 1 and size["layers"] == 1
        widths[n] = size["width"]
    assert widths[16384] < 16384 / 50
    # logarithmic: multiplying n by 16 adds about a constant, far from multiplying it by 16
    assert widths[16384] < 2 * widths[1024] < 4 * widths[64]


def test_beta_is_derived_and_attention_bound_holds():
    m = model(64, 2)
    c = m.meta["construction"]
    mu = float(c["address_code"]["coherence_float"])
    assert c["beta"] == pytest.approx(math.log(4 * 64) / (1 - mu))
    assert c["attention_on_target_lower_bound"] > 0.75
    # the certified coherence really is the max |<a_i, a_j>| of the position embeddings
    P = m.arrays()["embed/position"][:64]
    G = P @ P.T
    np.fill_diagonal(G, 0)
    assert np.abs(G).max() == pytest.approx(mu)


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "float16", "fixed:8.14"])
def test_other_precisions_n64(precision):
    row = check(model(64, 4), mode="sampled", samples=2000, precision=precision)
    assert row["status"] == "pass", row["counterexample"]


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n": 0, "alphabet_size": 2}, "n must be at least 1"),
        ({"n": 4, "alphabet_size": 1}, "alphabet_size must be at least 2"),
        ({"n": 4, "alphabet_size": 2, "coherence": 1.5}, "coherence"),
        ({"n": 4, "alphabet_size": 2, "addresses": "magic"}, "addresses"),
        ({"n": 4, "alphabet_size": 2, "bogus": 1}, "does not take bogus"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(constructions.ConstructionError, match=match):
        constructions.build("index_lookup", arch="tf1", **params)


def test_bad_inputs_to_predict():
    m = model(5, 2)
    with pytest.raises(constructions.ModelInputError, match="out of range"):
        m.predict(np.array([[0, 1, 0, 1, 0, 99]]))
    with pytest.raises(constructions.ModelInputError, match="length 6"):
        m.predict(np.array([[0, 1, 2]]))
    with pytest.raises(constructions.ModelInputError, match="shape"):
        m.predict(np.array([0, 1, 0, 1, 0, 2]))
    with pytest.raises(ValueError, match="unknown precision"):
        m.predict(np.array([[0, 1, 0, 1, 0, 2]]), precision="float8")


def test_unknown_construction():
    with pytest.raises(constructions.ConstructionError, match="available"):
        constructions.build("index_lookup", arch="rnn2", n=4, alphabet_size=2)
