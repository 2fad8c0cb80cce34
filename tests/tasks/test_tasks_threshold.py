"""THRES_{k,n}: truth-table convention, builders (EQ, DISJ, DNF, CNF), validation."""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks


def brute_threshold(bits, index_sets, truth_tables, c):
    total = 0
    for positions, table in zip(index_sets, truth_tables):
        if positions:
            total += table[sum(bits[p] << m for m, p in enumerate(positions))]
    return int(total - c > 0)


def all_inputs(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int64)


def test_truth_table_is_little_endian_in_listed_order():
    # g(x) = x_2 AND NOT x_0, with index set listed as [2, 0]: code = x_2 + 2 x_0, so the only
    # true code is 1 (x_2 = 1, x_0 = 0).
    task = tasks.get("threshold", n=3, index_sets=[[2, 0]], truth_tables=[[0, 1, 0, 0]], c=0)
    assert task.solve([[0, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 1]]).tolist() == [1, 0, 0, 1]
    assert task.k == 2


def test_hand_worked_majority():
    # Majority of 3 bits: Th_1 of the identity functions g_j = x_j.
    task = tasks.get("threshold", n=3, index_sets=[[0], [1], [2]], truth_tables=[[0, 1]] * 3, c=1)
    x = all_inputs(3)
    assert task.solve(x).tolist() == [int(sum(r) >= 2) for r in x.tolist()]


def test_empty_sets_contribute_zero_and_negative_c():
    task = tasks.get("threshold", n=2, index_sets=[[], [1]], truth_tables=[[0], [0, 1]], c=-1)
    assert task.solve(all_inputs(2)).tolist() == [1, 1, 1, 1]
    assert task.k == 1
    assert tasks.get("threshold", n=2, index_sets=[], truth_tables=[], c=0).k == 0


@pytest.mark.parametrize(
    "name, builder",
    [("equality", tasks.threshold_params_equality), ("disjointness", tasks.threshold_params_disjointness)],
)
def test_builders_agree_with_dedicated_solvers_on_all_inputs_n10(name, builder):
    params = builder(10)
    thres = tasks.get("threshold", **params)
    other = tasks.get(name, n=10)
    x = np.concatenate(list(thres.enumerate(batch_size=300)))
    assert len(x) == 1024
    np.testing.assert_array_equal(thres.solve(x), other.solve(x))
    assert thres.k == 2 and params["c"] == 4


@given(n=st.integers(1, 8), k=st.integers(1, 4), count=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_random_dnf_and_cnf_match_formula_semantics(n, k, count, seed):
    k, count = min(k, n), min(count, n)
    rng = np.random.default_rng(seed)
    dnf = tasks.threshold_params_random_dnf(n, k, count, rng)
    cnf = tasks.threshold_params_random_cnf(n, k, count, rng)
    x = all_inputs(n)
    rows = x.tolist()

    def literals(params, special_value):
        # Recover each term's literals from its truth table (positions sorted, polarities from the
        # unique code holding special_value), then evaluate the formula directly.
        out = []
        for positions, table in zip(params["index_sets"], params["truth_tables"]):
            assert len(positions) == k and positions == sorted(set(positions))
            special = [code for code, v in enumerate(table) if v == special_value]
            assert len(special) == 1
            out.append([(p, (special[0] >> m) & 1) for m, p in enumerate(positions)])
        return out

    dnf_terms = literals(dnf, 1)
    expected_dnf = [int(any(all(r[p] == pol for p, pol in term) for term in dnf_terms)) for r in rows]
    assert tasks.get("threshold", **dnf).solve(x).tolist() == expected_dnf
    assert dnf["c"] == 0

    cnf_clauses = literals(cnf, 0)
    # for a clause the special code is where every literal is FALSE: literal is x_p iff bit 0 there
    expected_cnf = [int(all(any(r[p] != bad for p, bad in clause) for clause in cnf_clauses)) for r in rows]
    assert tasks.get("threshold", **cnf).solve(x).tolist() == expected_cnf
    assert cnf["c"] == count - 1
    json.dumps(dnf), json.dumps(cnf)


def test_builders_are_deterministic_given_rng():
    a = tasks.threshold_params_random_dnf(12, 3, 6, np.random.default_rng(1))
    b = tasks.threshold_params_random_dnf(12, 3, 6, np.random.default_rng(1))
    assert a == b


@given(data=st.data(), n=st.integers(1, 7))
def test_arbitrary_thresholds_match_brute_force(data, n):
    num_sets = data.draw(st.integers(0, n))
    index_sets = [data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=min(n, 3))) for _ in range(num_sets)]
    truth_tables = [
        data.draw(st.lists(st.integers(0, 1), min_size=2 ** len(s), max_size=2 ** len(s))) if s else [0]
        for s in index_sets
    ]
    c = data.draw(st.integers(-1, num_sets + 1))
    task = tasks.get("threshold", n=n, index_sets=index_sets, truth_tables=truth_tables, c=c)
    x = all_inputs(n)
    assert task.solve(x).tolist() == [brute_threshold(r, index_sets, truth_tables, c) for r in x.tolist()]


@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(n=2, index_sets=[[0], [1], [0]], truth_tables=[[0, 1]] * 3, c=0),
            r"index_sets may hold at most n=2 sets, got 3",
        ),
        (
            dict(n=3, index_sets=[[0, 3]], truth_tables=[[0, 1, 1, 1]], c=0),
            r"index_sets\[0\] holds position 3, outside \[0, 3\)",
        ),
        (
            dict(n=3, index_sets=[[1, 1]], truth_tables=[[0, 1, 1, 1]], c=0),
            r"index_sets\[0\] repeats a position: \[1, 1\]",
        ),
        (dict(n=3, index_sets=[[0.5]], truth_tables=[[0, 1]], c=0), r"index_sets\[0\] must hold integer positions"),
        (dict(n=3, index_sets=[0, 1], truth_tables=[[0, 1]], c=0), r"index_sets\[0\] must be a list of positions"),
        (dict(n=3, index_sets="01", truth_tables=[], c=0), r"index_sets must be a list of lists"),
        (dict(n=3, index_sets=[[0]], truth_tables=[[0, 1], [1, 0]], c=0), r"one table per index set: 1 sets, 2 tables"),
        (
            dict(n=3, index_sets=[[0, 1]], truth_tables=[[0, 1]], c=0),
            r"truth_tables\[0\] must have 2\^2 = 4 entries, got 2",
        ),
        (dict(n=3, index_sets=[[0]], truth_tables=[[0, 2]], c=0), r"truth_tables\[0\] must hold bits 0/1, got 2"),
        (dict(n=3, index_sets=[[]], truth_tables=[[1]], c=0), r"empty index set and must be \[0\]"),
        (dict(n=3, index_sets=[[0]], truth_tables=[[0, 1]], c=0.5), r"c must be an integer, got 0.5"),
        (dict(n=0, index_sets=[], truth_tables=[], c=0), r"n must be >= 1, got 0"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(tasks.TaskError, match=message):
        tasks.get("threshold", **params)


def test_bad_builder_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(tasks.TaskError, match=r"threshold_params_equality needs an even n"):
        tasks.threshold_params_equality(7)
    with pytest.raises(tasks.TaskError, match=r"threshold_params_disjointness needs an even n"):
        tasks.threshold_params_disjointness(3)
    with pytest.raises(tasks.TaskError, match=r"k must be <= n=4, got 5"):
        tasks.threshold_params_random_dnf(4, 5, 2, rng)
    with pytest.raises(tasks.TaskError, match=r"num_terms must be <= n=4"):
        tasks.threshold_params_random_dnf(4, 2, 5, rng)
    with pytest.raises(tasks.TaskError, match=r"num_clauses must be >= 1, got 0"):
        tasks.threshold_params_random_cnf(4, 2, 0, rng)
    with pytest.raises(tasks.TaskError, match=r"k must be >= 1, got 0"):
        tasks.threshold_params_random_cnf(4, 0, 2, rng)
    with pytest.raises(tasks.TaskError, match=r"rng must be a numpy.random.Generator"):
        tasks.threshold_params_random_cnf(4, 2, 2, 0)


def test_params_are_canonical_python_lists():
    task = tasks.get(
        "threshold", n=3, index_sets=(np.array([2, 0]),), truth_tables=[np.array([0, 1, 0, 0])], c=np.int64(0)
    )
    assert task.params == {"n": 3, "index_sets": [[2, 0]], "truth_tables": [[0, 1, 0, 0]], "c": 0}
    json.dumps(task.params)


def test_sampler_gives_both_labels_for_a_dnf():
    params = tasks.threshold_params_random_dnf(30, 3, 10, np.random.default_rng(2))
    task = tasks.get("threshold", **params)
    y = task.solve(task.sample(np.random.default_rng(0), 1000))
    assert 0.05 < y.mean() < 0.95
