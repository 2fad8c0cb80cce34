"""Associative recall as nearest neighbour over hypercube keys (Theorem 7, MQAR case)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions.associative_recall import hypercube_keys
from verify import check

import numpy_forward
from testkit import built, examples, samples_to_catch


def model(n, K, V):
    return built("associative_recall", "tf2", n=n, num_keys=K, num_values=V, seed=0)


@pytest.mark.parametrize("n,K,V", [(1, 1, 2), (1, 3, 2), (2, 2, 3), (2, 4, 2), (3, 3, 2), (3, 4, 3), (4, 5, 2)])
def test_exhaustive_all_key_orders_and_values(n, K, V):
    row = check(model(n, K, V), mode="exhaustive")
    assert row["inputs_checked"] == math.perm(K, n) * V**n * n
    assert row["failures"] == 0 and row["status"] == "pass"
    assert row["min_margin"] == pytest.approx(2.0)


def test_hypercube_keys_are_unit_with_margin_2_over_d():
    for K in (2, 3, 8, 100):
        h = hypercube_keys(K)
        d = h.shape[1]
        assert d == max(1, math.ceil(math.log2(K)))
        assert np.allclose(np.linalg.norm(h, axis=1), 1.0)
        G = h @ h.T
        np.fill_diagonal(G, -np.inf)
        assert G.max() == pytest.approx(1 - 2 / d)


N_VALUES = [(16, 16, 2), (256, 1024, 16)]


@settings(max_examples=examples(25))  # fewer than the profile's: every example runs n up to 256
@given(data=st.data(), nkv=st.sampled_from(N_VALUES))
def test_hypothesis_adversarial_keys(data, nkv):
    """Keys one bit apart from the query (the margin 2/d' exactly); the query first or last."""
    n, K, V = nkv
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    target = data.draw(st.sampled_from([0, n - 1, int(rng.integers(0, n))]))
    q = int(rng.integers(0, K))
    d = hypercube_keys(K).shape[1]
    near = [q ^ (1 << b) for b in range(d) if q ^ (1 << b) < K]  # Hamming neighbours of q
    rest = [c for c in rng.permutation(K).tolist() if c != q and c not in near]
    others = (near + rest)[: n - 1]
    keys = np.array(others[:target] + [q] + others[target:])
    values = rng.integers(0, V, size=n)
    x = np.empty(2 * n + 1, dtype=np.int64)
    x[0:-1:2], x[1::2], x[-1] = keys, K + values, q
    expected = tasks.get("associative_recall", n=n, num_keys=K, num_values=V).solve(x[None])
    assert model(n, K, V).predict(x[None])[0] == expected[0] == values[target]


def test_sampled_large():
    assert check(model(256, 1024, 16), samples=48)["status"] == "pass"


def test_reuses_the_nearest_neighbour_core():
    """Same layers as the nearest-neighbour model at the hypercube margin; only the embedding differs."""
    m = model(8, 8, 2)
    nn = constructions.build("nearest_neighbor", arch="tf2", n=8, dim=3, margin=2 / 3, num_labels=2)
    a, b = m.arrays(), nn.arrays()
    assert set(a) - {"embed/token"} == set(b) - {"embed/input"}
    for k in a:
        if not k.startswith("embed/token"):
            assert np.array_equal(a[k], b[k]), k
    assert np.array_equal(a["embed/token"][:8], hypercube_keys(8) @ b["embed/input"][:3])


def test_size_and_log_growth():
    widths = {}
    for n in (64, 1024):
        m = model(n, n, 2)
        size = m.size()
        r = m.meta["construction"]["address_code"]["dim"]
        assert size["params"] == sum(a.size for a in m.arrays().values())
        assert size["width"] == math.ceil(math.log2(n)) + 3 + 2 + 4 * r and size["heads"] == 1
        widths[n] = size["width"]
    assert widths[1024] < 2 * widths[64]


def test_tampered_key_embedding_fails_with_counterexample():
    m = model(3, 4, 2)
    E = m.arrays()["embed/token"].copy()
    E[0] = E[3]  # key 0 now embeds as key 3's hypercube point
    row = check(m.with_arrays(**{"embed/token": E}), mode="exhaustive")
    assert row["status"] == "fail" and row["counterexample"] is not None
    ce = np.array(row["counterexample"]["input"])
    assert {0, 3} <= set(ce[0:-1:2].tolist()) and ce[-1] in (0, 3)


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "fixed:9.16"])
def test_lower_precision(precision):
    row = check(model(2, 4, 3), mode="exhaustive", precision=precision)
    assert row["status"] == "pass", row["counterexample"]


def test_lower_precision_large():
    # samples_to_catch() = 459 samples: a format wrong on 1% of inputs fails with probability >= 99%
    assert check(model(256, 1024, 16), samples=samples_to_catch(), precision="fixed:9.16")["status"] == "pass"


def test_numpy_forward_from_spec_agrees(tmp_path):
    m, path = model(4, 5, 2), tmp_path / "ar.npz"
    m.save(path)
    task = tasks.get("associative_recall", n=4, num_keys=5, num_values=2)
    x = task.sample(np.random.default_rng(3), 100)
    assert np.array_equal(numpy_forward.predict(path, x), task.solve(x))


def test_bad_parameters_and_inputs():
    with pytest.raises(constructions.ConstructionError, match="no repeated keys"):
        constructions.build("associative_recall", arch="tf2", n=4, num_keys=3)
    with pytest.raises(constructions.ConstructionError, match="num_values"):
        constructions.build("associative_recall", arch="tf2", n=4, num_values=0)
    m = model(3, 4, 2)
    with pytest.raises(constructions.ModelInputError, match="repeated keys"):
        m.predict(np.array([[1, 4, 1, 5, 2, 4, 1]]))
    with pytest.raises(constructions.ModelInputError, match="not one of the keys"):
        m.predict(np.array([[1, 4, 0, 5, 2, 4, 3]]))
    with pytest.raises(constructions.ModelInputError, match="even positions"):
        m.predict(np.array([[1, 4, 5, 5, 2, 4, 1]]))
