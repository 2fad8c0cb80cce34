"""Index lookup: encoding, enumeration order, solver against a brute-force reference."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks


def brute_index_lookup(row, n, s):
    symbols, token = list(row[:n]), row[n]
    assert all(0 <= v < s for v in symbols) and s <= token < s + n
    return symbols[token - s]


def test_hand_worked_examples():
    task = tasks.get("index_lookup", n=4, alphabet_size=3)
    # symbols 2 0 1 1; index tokens 3..6 mean t = 0..3
    x = np.array([[2, 0, 1, 1, 3], [2, 0, 1, 1, 4], [2, 0, 1, 1, 5], [2, 0, 1, 1, 6]])
    assert task.solve(x).tolist() == [2, 0, 1, 1]


def test_enumeration_order_is_index_outer_then_lexicographic():
    task = tasks.get("index_lookup", n=2, alphabet_size=2)
    got = np.concatenate(list(task.enumerate(batch_size=3))).tolist()
    expected = [[a, b, 2 + t] for t in range(2) for a, b in itertools.product(range(2), repeat=2)]
    assert got == expected


def test_enumeration_counts_and_outputs():
    task = tasks.get("index_lookup", n=4, alphabet_size=3)
    x = np.concatenate(list(task.enumerate(batch_size=100)))
    assert len(x) == task.num_inputs == 3**4 * 4
    assert task.solve(x).tolist() == [brute_index_lookup(r, 4, 3) for r in x.tolist()]
    # every output value is equally frequent over the full input set
    assert np.bincount(task.solve(x)).tolist() == [3**3 * 4] * 3


@given(data=st.data(), n=st.integers(1, 12), s=st.integers(2, 6))
def test_solver_matches_brute_force(data, n, s):
    task = tasks.get("index_lookup", n=n, alphabet_size=s)
    rows = data.draw(
        st.lists(
            st.tuples(st.lists(st.integers(0, s - 1), min_size=n, max_size=n), st.integers(0, n - 1)),
            min_size=1,
            max_size=8,
        )
    )
    x = np.array([symbols + [s + t] for symbols, t in rows])
    assert task.solve(x).tolist() == [brute_index_lookup(r, n, s) for r in x.tolist()]


def test_sampler_covers_every_index():
    task = tasks.get("index_lookup", n=5, alphabet_size=4)
    x = task.sample(np.random.default_rng(0), 2000)
    assert set(x[:, 5].tolist()) == set(range(4, 9))
    assert set(x[:, :5].ravel().tolist()) == set(range(4))


def test_input_constraints():
    task = tasks.get("index_lookup", n=3, alphabet_size=2)
    with pytest.raises(
        tasks.TaskError,
        match=r"positions 0..2 must hold symbols in \[0, 2\); first offence: example 1, position 2 \(value 3\)",
    ):
        task.solve([[0, 1, 0, 2], [0, 1, 3, 2]])
    with pytest.raises(
        tasks.TaskError,
        match=r"position 3 must hold an index token in \[2, 5\); first offence: example 0, position 3 \(value 1\)",
    ):
        task.solve([[0, 1, 0, 1]])
