"""Associative recall: encoding, exhaustive enumeration against itertools, input constraints."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks


def brute_recall(row, n, K):
    keys, values, query = row[0 : 2 * n : 2], row[1 : 2 * n : 2], row[2 * n]
    return values[keys.index(query)] - K


def all_inputs_by_itertools(n, K, V):
    """Every input in the documented order: key tuple, value tuple, queried pair."""
    out = []
    for keys in itertools.permutations(range(K), n):
        for values in itertools.product(range(V), repeat=n):
            for q in range(n):
                row = []
                for k, v in zip(keys, values):
                    row += [k, K + v]
                out.append(row + [keys[q]])
    return out


def test_hand_worked_example():
    task = tasks.get("associative_recall", n=3, num_keys=5, num_values=3)
    # pairs (4 -> 2), (0 -> 0), (2 -> 1); queries 2, 4, 0
    x = [[4, 7, 0, 5, 2, 6, 2], [4, 7, 0, 5, 2, 6, 4], [4, 7, 0, 5, 2, 6, 0]]
    assert task.solve(x).tolist() == [1, 2, 0]


@pytest.mark.parametrize("n, K, V", [(1, 1, 1), (1, 3, 2), (2, 2, 2), (2, 4, 1), (3, 3, 2), (2, 5, 3), (3, 4, 2)])
def test_enumeration_equals_itertools_in_order(n, K, V):
    task = tasks.get("associative_recall", n=n, num_keys=K, num_values=V)
    got = np.concatenate(list(task.enumerate(batch_size=64)))
    expected = all_inputs_by_itertools(n, K, V)
    assert got.tolist() == expected
    assert len(expected) == task.num_inputs == math.perm(K, n) * V**n * n
    assert task.solve(got).tolist() == [brute_recall(r, n, K) for r in expected]


@given(data=st.data(), n=st.integers(1, 8), extra=st.integers(0, 6), V=st.integers(1, 5))
def test_random_inputs_match_brute_force(data, n, extra, V):
    K = n + extra
    task = tasks.get("associative_recall", n=n, num_keys=K, num_values=V)
    rows = []
    for _ in range(data.draw(st.integers(1, 5))):
        keys = data.draw(st.permutations(range(K)))[:n]
        values = data.draw(st.lists(st.integers(0, V - 1), min_size=n, max_size=n))
        q = data.draw(st.integers(0, n - 1))
        row = []
        for k, v in zip(keys, values):
            row += [k, K + v]
        rows.append(row + [keys[q]])
    assert task.solve(rows).tolist() == [brute_recall(r, n, K) for r in rows]


def test_sampler_uses_large_key_space_path():
    task = tasks.get("associative_recall", n=4, num_keys=10**6, num_values=3)
    x = task.sample(np.random.default_rng(0), 20)  # B*K > 2^24: per-row draws without replacement
    task.check_inputs(x)
    assert x[:, 0:8:2].max() > 1000


def test_sampler_is_uniform_over_queries_and_values():
    task = tasks.get("associative_recall", n=4, num_keys=6, num_values=3)
    x = task.sample(np.random.default_rng(1), 3000)
    query_pair = np.argmax(x[:, 0:8:2] == x[:, 8, None], axis=1)
    assert np.bincount(query_pair, minlength=4).min() > 600
    assert np.bincount(task.solve(x), minlength=3).min() > 850


def test_input_constraints():
    task = tasks.get("associative_recall", n=2, num_keys=3, num_values=2)
    with pytest.raises(tasks.TaskError, match=r"repeated keys; first offence: example 1"):
        task.solve([[0, 3, 1, 4, 1], [2, 3, 2, 4, 2]])
    with pytest.raises(tasks.TaskError, match=r"query is not one of the keys; first offence: example 0"):
        task.solve([[0, 3, 1, 4, 2]])
    with pytest.raises(
        tasks.TaskError,
        match=r"keys and the query \(even positions\) must lie in \[0, 3\); first offence: example 0, position 2",
    ):
        task.solve([[0, 3, 4, 4, 0]])
    with pytest.raises(tasks.TaskError, match=r"keys and the query .* position 4"):
        task.solve([[0, 3, 1, 4, 3]])
    with pytest.raises(
        tasks.TaskError,
        match=r"values \(odd positions\) must be tokens in \[3, 5\); first offence: example 0, position 3",
    ):
        task.solve([[0, 3, 1, 1, 0]])
