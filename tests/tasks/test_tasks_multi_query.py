"""The multi-query forms (``queries="all"``) of associative recall and nearest neighbour."""

import math

import numpy as np
import pytest

import tasks
from tasks import TaskError


def test_default_is_one_query_and_unchanged_params():
    for name, params in (("associative_recall", {"n": 3}), ("nearest_neighbor", {"n": 4})):
        t = tasks.get(name, **params)
        assert "queries" not in t.params and t.queries == "last"
        assert tasks.get(name, **params, queries="last") == t
        with pytest.raises(TaskError, match="queries"):
            tasks.get(name, **params, queries="first")


def test_ar_all_enumeration_is_every_mqar_input_once():
    t = tasks.get("associative_recall", n=3, num_keys=4, num_values=2, queries="all")
    x = np.concatenate(list(t.enumerate(500)))
    assert t.num_inputs == math.perm(4, 3) * 2**3 * math.factorial(3) == x.shape[0]
    assert len({tuple(r) for r in x.tolist()}) == x.shape[0]
    assert x.shape[1] == t.seq_len == 11 and t.query_positions == (6, 8, 10)
    t.check_inputs(x)


def test_ar_all_answers_are_single_query_answers_of_each_prefix():
    """Query j asks the stored pairs for a key: the one-query task on (stored pairs, key) agrees."""
    n, K, V = 5, 9, 3
    t = tasks.get("associative_recall", n=n, num_keys=K, num_values=V, queries="all")
    one = tasks.get("associative_recall", n=n, num_keys=K, num_values=V)
    x = t.sample(np.random.default_rng(0), 200)
    y = t.solve(x)
    assert y.shape == (200, n)
    for j, p in enumerate(t.query_positions):
        single = np.concatenate([x[:, : 2 * n], x[:, p, None]], axis=1)
        assert np.array_equal(y[:, j], one.solve(single))


def test_ar_all_rejects_broken_promises():
    t = tasks.get("associative_recall", n=3, num_keys=4, num_values=2, queries="all")
    x = t.sample(np.random.default_rng(1), 1)
    again = x.copy()
    again[0, 8] = again[0, 6]  # a key asked twice
    with pytest.raises(TaskError, match="permutation"):
        t.check_inputs(again)
    wrong = x.copy()
    wrong[0, 7] = 4 + (1 - (wrong[0, 7] - 4))  # the repeated value differs from the stored one
    with pytest.raises(TaskError, match="value differs"):
        t.check_inputs(wrong)


@pytest.mark.parametrize("n,dim", [(1, 2), (2, 3), (7, 8), (40, 16)])
def test_nn_all_samples_keep_the_margin_at_every_query(n, dim):
    t = tasks.get("nearest_neighbor", n=n, dim=dim, margin=0.2, num_labels=3, queries="all")
    inp = t.sample(np.random.default_rng(n), 30)
    y = t.solve(inp)  # solve checks the promise first
    ks = t.query_points
    assert ks == tuple(range(n // 2 + 1, n + 1)) and y.shape == (30, len(ks))
    P, lab = inp["points"], inp["labels"]
    for j, k in enumerate(ks):  # a plain loop per query, independent of the vectorised solver
        for e in range(30):
            s = P[e, :k] @ P[e, k]
            best = int(np.argmax(s))
            assert y[e, j] == lab[e, best]
            if k >= 2:
                assert s[best] - np.max(np.delete(s, best)) >= 0.2 - 1e-12


def test_nn_all_sampler_reaches_earlier_queries_and_tight_margins():
    t = tasks.get("nearest_neighbor", n=41, dim=16, margin=0.2, queries="all")
    P = t.sample(np.random.default_rng(3), 50)["points"]
    winners_late = gaps_tight = 0
    for k in t.query_points:
        s = np.einsum("bid,bd->bi", P[:, :k], P[:, k])
        winners_late += int(np.sum(np.argmax(s, axis=1) >= t.query_points[0]))
        top = -np.sort(-s, axis=1)
        gaps_tight += int(np.sum(np.abs(top[:, 0] - top[:, 1] - 0.2) < 1e-9))
    assert winners_late > 0 and gaps_tight > 0


def test_nn_all_rejects_a_query_without_margin():
    t = tasks.get("nearest_neighbor", n=5, dim=4, margin=0.2, queries="all")
    inp = t.sample(np.random.default_rng(0), 1)
    inp["points"][0, 4] = inp["points"][0, 3]  # query 4 ties point 3 with the (earlier) query 3? no:
    inp["points"][0, 5] = inp["points"][0, 3]  # query 5 is now equidistant to points 3 and 4
    with pytest.raises(TaskError, match="margin"):
        t.check_inputs(inp)


def test_nn_all_default_cut_is_the_first_query():
    t = tasks.get("nearest_neighbor", n=9, queries="all")
    assert t.split().bob[0] == t.query_points[0] == 5
