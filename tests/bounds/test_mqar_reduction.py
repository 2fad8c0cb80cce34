"""Theorem 8's reduction executed: DISJ on m bits through MQAR, run through our RNN with Theorem 2's
protocol (bounds.disjointness_via_mqar)."""

import itertools

import numpy as np
import pytest

import bounds
import tasks
from bounds import BoundError, disjointness_via_mqar, mqar_instance

from testkit import built

PRECISION = "fixed:4.0"  # the RNN's units are 0/1 and its sums small integers (its docstring)


def test_every_pair_of_4_bit_strings_in_every_query_order():
    m = 4
    model = built("associative_recall", "rnn", n=m)
    pairs = np.array(list(itertools.product([0, 1], repeat=2 * m)))
    a, b = pairs[:, :m], pairs[:, m:]
    order = np.argsort(np.random.default_rng(0).random(a.shape), axis=1)
    out = disjointness_via_mqar(model, a, b, PRECISION, order)  # raises on any disagreement
    assert np.array_equal(out["disjoint"], tasks.get("disjointness", n=2 * m).solve(pairs))
    assert np.array_equal(out["recovered"], np.take_along_axis(a, order, axis=1))
    w = model.size()["width"]
    assert out["message_bits"] == out["formula_bits"] == w * bounds.parse_fixed(PRECISION).bits
    assert out["message_bits"] >= out["required_bits"] == m  # Fact 1: D(DISJ_m) = m


@pytest.mark.parametrize("m", [3, 16])
def test_instance_is_a_valid_multi_query_nearest_neighbour_input_at_the_margin(m):
    rng = np.random.default_rng(m)
    a = rng.integers(0, 2, size=(8, m))
    x, nn = mqar_instance(a, num_keys=max(m, 4))
    ar = tasks.get("associative_recall", n=m, num_keys=max(m, 4), num_values=2, queries="all")
    assert np.array_equal(ar.solve(x), a)
    d = nn["points"].shape[2]
    t = tasks.get("nearest_neighbor", n=2 * m - 1, dim=d, margin=2 / d, queries="all")
    assert np.array_equal(t.solve(nn), a)
    with pytest.raises(tasks.TaskError, match="margin"):  # the margin 2/d' is exact: no slack
        tasks.get("nearest_neighbor", n=2 * m - 1, dim=d, margin=2 / d + 1e-9, queries="all").solve(nn)


def test_a_tampered_rnn_is_caught():
    m = 4
    model = built("associative_recall", "rnn", n=m)
    w = model.arrays()["readout/w"].copy()
    bad = model.with_arrays(**{"readout/w": -w})
    a = np.array([[1, 0, 1, 1]])
    with pytest.raises(BoundError, match="solvers"):
        disjointness_via_mqar(bad, a, 1 - a, PRECISION)


def test_needs_an_rnn_for_m_pairs():
    with pytest.raises(BoundError, match="n = m"):
        disjointness_via_mqar(built("associative_recall", "rnn", n=5), np.zeros((1, 4)), np.zeros((1, 4)), PRECISION)
