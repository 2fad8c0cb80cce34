"""Equality and disjointness: hand examples, exhaustive brute-force agreement, samplers."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks


def brute_equality(bits):
    h = len(bits) // 2
    return int(bits[:h] == bits[h:])


def brute_disjoint(bits):
    h = len(bits) // 2
    return int(not any(bits[i] == 1 and bits[i + h] == 1 for i in range(h)))


def test_hand_worked_examples():
    eq = tasks.get("equality", n=6)
    assert eq.solve([[1, 0, 1, 1, 0, 1], [1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]]).tolist() == [1, 0, 1]
    disj = tasks.get("disjointness", n=6)
    assert disj.solve([[1, 0, 1, 0, 1, 0], [1, 0, 1, 0, 0, 1], [0, 0, 0, 1, 1, 1]]).tolist() == [1, 0, 1]


def test_enumeration_is_lexicographic():
    task = tasks.get("equality", n=4)
    got = np.concatenate(list(task.enumerate(batch_size=5))).tolist()
    assert got == [list(p) for p in itertools.product([0, 1], repeat=4)]


@pytest.mark.parametrize("n", [2, 4, 8, 12])
def test_exhaustive_agreement_and_counts(n):
    eq, disj = tasks.get("equality", n=n), tasks.get("disjointness", n=n)
    x = np.concatenate(list(eq.enumerate(batch_size=1000)))
    np.testing.assert_array_equal(x, np.concatenate(list(disj.enumerate(batch_size=333))))
    rows = x.tolist()
    assert eq.solve(x).tolist() == [brute_equality(r) for r in rows]
    assert disj.solve(x).tolist() == [brute_disjoint(r) for r in rows]
    assert eq.solve(x).sum() == 2 ** (n // 2)  # one positive per first half
    assert disj.solve(x).sum() == 3 ** (n // 2)  # three allowed patterns per pair


@given(half=st.integers(1, 40), data=st.data())
def test_random_inputs_match_brute_force(half, data):
    n = 2 * half
    rows = data.draw(st.lists(st.lists(st.integers(0, 1), min_size=n, max_size=n), min_size=1, max_size=6))
    assert tasks.get("equality", n=n).solve(rows).tolist() == [brute_equality(r) for r in rows]
    assert tasks.get("disjointness", n=n).solve(rows).tolist() == [brute_disjoint(r) for r in rows]


@pytest.mark.parametrize("name", ["equality", "disjointness"])
def test_samplers_give_both_labels_often(name):
    task = tasks.get(name, n=40)
    y = task.solve(task.sample(np.random.default_rng(3), 2000))
    assert 0.4 < y.mean() < 0.6


def test_equality_near_misses_are_one_flip_away():
    task = tasks.get("equality", n=20)
    x = task.sample(np.random.default_rng(5), 1000)
    distance = (x[:, :10] != x[:, 10:]).sum(axis=1)
    assert (distance == 1).sum() > 150  # about a quarter are near misses


def test_bits_out_of_range():
    with pytest.raises(tasks.TaskError, match=r"equality token ids must lie in \[0, 2\)"):
        tasks.get("equality", n=4).solve([[0, 1, 2, 0]])
    # bool arrays are accepted
    assert tasks.get("disjointness", n=2).solve(np.array([[True, True]])).tolist() == [0]
