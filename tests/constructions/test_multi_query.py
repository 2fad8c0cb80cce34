"""Every query answered by one causal two-layer Transformer (Theorem 7's multi-query setting):
MQAR in flag mode at the single-query width; nearest neighbour in the shift scheme (width
O(d + log n) whatever δ) and in the paper's address mode."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions import ModelFormatError
from constructions._addresses import start_dim
from constructions._meta import ModelMeta
from constructions._nearest import core
from constructions.associative_recall import hypercube_keys
from verify import check

import numpy_forward
from testkit import built, examples


def ar(n, K, V, **kw):
    return built("associative_recall", "tf2", n=n, num_keys=K, num_values=V, queries="all", **kw)


def block(model, name):
    b = next(b for b in model.metadata.construction["residual_layout"] if b["block"] == name)
    return slice(b["start"], b["start"] + b["size"])


@pytest.mark.parametrize("n,K,V", [(1, 2, 2), (2, 3, 2), (3, 4, 3)])
def test_mqar_exhaustive_every_query_exact_at_the_margin(n, K, V):
    """Every MQAR input (keys at Hamming distance 1 among them: the margin 2/d' exactly)."""
    m = ar(n, K, V)
    row = check(m, mode="exhaustive")
    total = math.perm(K, n) * V**n * math.factorial(n)
    assert (row["inputs_checked"], row["queries_checked"]) == (total, total * n)
    assert row["failures"] == row["query_failures"] == 0 and row["status"] == "pass"
    assert row["min_margin"] == pytest.approx(2.0)
    assert m.metadata.readout == "positions"
    assert m.metadata.readout_positions == tasks.get("associative_recall", **m.task_params).query_positions


@pytest.mark.parametrize("n,K", [(3, 4), (64, 256)])
def test_mqar_width_is_the_single_query_width(n, K):
    """The claim of the module docstring: the same n addresses at μ ≤ 1/2, so the same width,
    far below the paper's start_dim(4n − 1, δ/8)."""
    multi, single = ar(n, K, 4), built("associative_recall", "tf2", n=n, num_keys=K, num_values=4)
    assert multi.size()["width"] == single.size()["width"]
    d = hypercube_keys(K).shape[1]
    paper = multi.metadata.construction["paper_address_dim"]
    assert paper == start_dim(4 * n - 1, (2 / d) / 8) > 4 * multi.size()["width"]


def test_mqar_paper_address_mode_agrees_and_is_wider():
    m = ar(2, 3, 2, self_suppression="address")
    row = check(m, mode="exhaustive")
    assert row["status"] == "pass" and row["query_failures"] == 0
    assert m.size()["width"] > ar(2, 3, 2).size()["width"]


def test_mqar_without_a_query_flag_fails():
    """Tampered: the second query's flag is negated, so the penalty turns into a bonus C for
    every flagged position but itself: it prefers the first query (another key) to its stored
    copy, and the third query prefers it. (Merely removing the flag is not enough to
    fail: the self score then ties the copy, and a query's empty ``next`` halves the fetched
    signs without flipping them — the flag is what the proof uses, not a tight requirement.)"""
    m = ar(3, 4, 3)
    P = m.arrays()["embed/position"].copy()
    q = block(m, "qflag")
    assert np.array_equal(np.flatnonzero(P[:, q][:, 0]), np.asarray(m.metadata.readout_positions))
    P[m.metadata.readout_positions[1], q] = -1.0
    row = check(m.with_arrays(**{"embed/position": P}), mode="exhaustive")
    assert row["status"] == "fail" and row["counterexample"]["query"] == 1
    assert row["query_failures"] > row["failures"] > 0


def mqar_adversarial(rng, n, K, V):
    """Stored keys in Hamming-1 pairs (every query has a neighbour at margin 2/d' exactly)."""
    d = hypercube_keys(K).shape[1]
    base = rng.permutation(K // 2)[: (n + 1) // 2] * 2
    keys = np.stack([base, base ^ 1], axis=1).reshape(-1)[:n]
    keys = keys[rng.permutation(n)]
    assert d >= 1 and len(set(keys.tolist())) == n
    values = rng.integers(0, V, size=n)
    order = rng.permutation(n)
    x = np.empty(4 * n - 1, dtype=np.int64)
    x[0 : 2 * n : 2], x[1 : 2 * n : 2] = keys, K + values
    x[2 * n :: 2], x[2 * n + 1 :: 2] = keys[order], K + values[order[:-1]]
    return x


@settings(max_examples=examples(6))
@given(seed=st.integers(0, 2**32 - 1))
def test_hypothesis_mqar_large_n_adversarial_keys(seed):
    n, K, V = 64, 256, 4
    rng = np.random.default_rng(seed)
    x = np.stack([mqar_adversarial(rng, n, K, V) for _ in range(4)])
    t = tasks.get("associative_recall", n=n, num_keys=K, num_values=V, queries="all")
    logits = ar(n, K, V).logits(x)
    want = t.solve(x)
    assert logits.shape == (4, n, V)
    right = np.take_along_axis(logits, want[:, :, None], axis=2)[:, :, 0]
    others = np.where(np.arange(V) == want[:, :, None], -np.inf, logits).max(axis=2)
    assert np.all(right - others > 1.9)


def nn(n, margin, **kw):
    return built("nearest_neighbor", "tf2", n=n, dim=8, margin=margin, queries="all", **kw)


def late_winners(task, inputs):
    P = inputs["points"]
    first = task.query_points[0]
    return sum(
        int(np.sum(np.argmax(np.einsum("bid,bd->bi", P[:, :k], P[:, k]), axis=1) >= first)) for k in task.query_points
    )


def test_nearest_neighbor_paper_address_mode_with_earlier_queries_winning():
    m = nn(16, 0.25, addresses="hadamard", self_suppression="address")
    assert m.metadata.build["self_suppression"] == "address"
    t = tasks.get("nearest_neighbor", **m.task_params)
    assert late_winners(t, t.sample(np.random.default_rng(0), 300)) > 0  # the case a flag gets wrong
    row = check(m, samples=300, seed=0)
    assert row["status"] == "pass" and row["queries_checked"] == 300 * 8
    assert row["min_margin"] == pytest.approx(2.0)


def test_nearest_neighbor_flag_mode_fails_where_an_earlier_query_wins():
    """Tampered: the same layers in flag mode, every query flagged, suppress earlier queries."""
    good = nn(16, 0.25, addresses="hadamard", self_suppression="address")
    with pytest.raises(constructions.ConstructionError, match="flag"):
        constructions.build("nearest_neighbor", "tf2", n=16, queries="all", self_suppression="flag")
    c = core(16, 8, 2, 0.25, 0, None, "flag", "hadamard", tuple(range(9, 17)))
    bad = constructions.Model(c.weights(np.vstack([c.point_rows(np.eye(8)), c.label_rows()])), good.metadata)
    row = check(bad, samples=300, seed=0)
    assert row["status"] == "fail" and row["query_failures"] > 0


def test_shift_scheme_small_margin_every_query_and_narrow():
    """δ = 0.1: the shift scheme's width is 2d + 3B + 1 + 2r with r for 2n + 1 addresses at μ ≤ 1/2,
    the paper's form would start from r = start_dim(2n + 1, δ/8)."""
    m = nn(64, 0.1)
    c = m.metadata.construction
    assert m.metadata.build["self_suppression"] == "shift" == c["self_suppression"]
    r = c["address_code"]["dim"]
    assert m.size()["width"] == 2 * 8 + 3 * 1 + 1 + 2 * r and 50 * r < start_dim(129, 0.1 / 8)
    t = tasks.get("nearest_neighbor", **m.task_params)
    assert late_winners(t, t.sample(np.random.default_rng(4), 150)) > 0
    row = check(m, samples=150, seed=4)
    assert row["status"] == "pass" and row["min_margin"] == pytest.approx(2.0)
    assert row["queries_checked"] == 150 * 32


def test_shift_scheme_single_query_and_mqar_exhaustive_at_the_margin():
    one = built("nearest_neighbor", "tf2", n=16, dim=8, margin=0.1, self_suppression="shift")
    assert one.metadata.readout == "last" and check(one, samples=200)["status"] == "pass"
    row = check(ar(2, 3, 2, self_suppression="shift"), mode="exhaustive")
    assert row["status"] == "pass" and row["queries_checked"] == math.perm(3, 2) * 2**2 * 2 * 2
    assert row["min_margin"] == pytest.approx(2.0)


def test_shift_scheme_without_the_type_offset_fails():
    """Tampered: layer 2's key loses the type offset, so the query scores its own position
    (copy ≈ 0) level with the labels and point positions compete."""
    m = nn(16, 0.25)
    wk = m.arrays()["layer1/attn/wk"].copy()
    t = block(m, "type")
    wk[:, :, t] = 0.0
    row = check(m.with_arrays(**{"layer1/attn/wk": wk}), samples=200, seed=1)
    assert row["status"] == "fail"


@settings(max_examples=examples(4))
@given(seed=st.integers(0, 2**32 - 1))
def test_hypothesis_shift_scheme_large_n_small_margin(seed):
    n, dim, margin = 256, 16, 0.05
    t = tasks.get("nearest_neighbor", n=n, dim=dim, margin=margin, queries="all")
    x = t.sample(np.random.default_rng(seed), 3)
    m = built("nearest_neighbor", "tf2", n=n, dim=dim, margin=margin, queries="all")
    assert np.array_equal(m.predict(x), t.solve(x))


def test_numpy_forward_reads_every_query(tmp_path):
    m = ar(3, 4, 3)
    path = tmp_path / "mqar.npz"
    m.save(path)
    t = tasks.get("associative_recall", **m.task_params)
    x = t.sample(np.random.default_rng(2), 30)
    ref = numpy_forward.predict(path, x)
    assert ref.shape == (30, 3) and np.array_equal(ref, t.solve(x))
    assert np.array_equal(constructions.load(path).predict(x), ref)
    arrays, meta = numpy_forward.read(path)
    want = np.stack([numpy_forward.transformer_logits(arrays, meta, row) for row in x])
    np.testing.assert_allclose(m.logits(x), want, rtol=1e-9, atol=1e-9)


def test_numpy_forward_shift_scheme_features(tmp_path):
    m = nn(16, 0.25)
    path = tmp_path / "nn.npz"
    m.save(path)
    t = tasks.get("nearest_neighbor", **m.task_params)
    x = t.sample(np.random.default_rng(5), 10)
    feats = m.encode_inputs(x)
    arrays, meta = numpy_forward.read(path)
    want = np.stack([numpy_forward.transformer_logits(arrays, meta, f) for f in feats])
    np.testing.assert_allclose(m.logits(x), want, rtol=1e-9, atol=1e-9)
    assert np.array_equal(np.argmax(want, axis=-1), t.solve(x))


def test_meta_readout_positions_validated():
    meta = ar(1, 2, 2).metadata.to_dict()
    assert ModelMeta.from_dict(meta).readout_positions == (2,)
    for bad in ([], [2, 2], [3], [-1], None):
        with pytest.raises(ModelFormatError, match="readout_positions"):
            ModelMeta.from_dict({**meta, "readout_positions": bad})
    with pytest.raises(ModelFormatError, match="readout_positions"):
        ModelMeta.from_dict({**meta, "readout": "last"})


@pytest.mark.parametrize("precision", ["float64", "fixed:8.16"])
def test_positions_readout_at_the_last_position_is_the_last_readout(precision):
    """The new readout path against the old one on the same weights, value for value."""
    import dataclasses

    m = ar(3, 4, 3)
    last = constructions.Model(m.weights, dataclasses.replace(m.metadata, readout="last", readout_positions=None))
    x = tasks.get("associative_recall", **m.task_params).sample(np.random.default_rng(6), 40)
    assert np.array_equal(m.logits(x, precision)[:, -1], last.logits(x, precision))
