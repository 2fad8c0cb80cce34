"""split_equality (Lemma 5): the named layouts, the solver against brute force, the sampler, the split."""

import itertools

import numpy as np
import pytest

import tasks


def brute(bits, alice):
    bob = [p for p in range(len(bits)) if p not in alice]
    return int([bits[p] for p in sorted(alice)] == [bits[p] for p in bob])


def test_layouts():
    assert tasks.alice_positions(8, "halves") == (0, 1, 2, 3)
    assert tasks.alice_positions(8, "interleaved") == (0, 2, 4, 6)
    r = tasks.alice_positions(8, "random:3")
    assert len(set(r)) == 4 and r == tuple(sorted(r)) and r == tasks.alice_positions(8, "random:3")
    assert tasks.alice_positions(6, [5, 0, 3]) == (0, 3, 5)


@pytest.mark.parametrize(
    "alice", ["x", "random:", "random:" + "9" * 16, "random:٨", [0, 1], [0, 0, 1], [0, 1, 6], [0.5, 1, 2], 7]
)
def test_bad_alice(alice):
    with pytest.raises(tasks.TaskError, match="alice"):
        tasks.get("split_equality", n=6, alice=alice)


@pytest.mark.parametrize("n", [2, 6, 10])
@pytest.mark.parametrize("layout", ["halves", "interleaved", "random:0", "random:7"])
def test_exhaustive_against_brute_force(n, layout):
    t = tasks.get("split_equality", n=n, alice=layout)
    x = np.concatenate(list(t.enumerate(1000)))
    assert x.tolist() == [list(p) for p in itertools.product([0, 1], repeat=n)]
    y = t.solve(x)
    assert y.tolist() == [brute(row, t.alice) for row in x.tolist()]
    assert y.sum() == 2 ** (n // 2)  # one positive per assignment of Alice's bits


def test_halves_is_equality_and_params_rebuild():
    x = np.random.default_rng(0).integers(0, 2, size=(500, 12))
    t = tasks.get("split_equality", n=12)
    assert np.array_equal(t.solve(x), tasks.get("equality", n=12).solve(x))
    for alice in ("interleaved", [1, 2, 4, 7, 8, 11]):
        t = tasks.get("split_equality", n=12, alice=alice)
        assert tasks.get(t.name, **t.params) == t
    assert tasks.get("split_equality", n=8, alice="interleaved") == tasks.get("split_equality", n=8, alice=[0, 2, 4, 6])


def test_pairs_and_the_alice_split():
    t = tasks.get("split_equality", n=8, alice=[1, 2, 4, 7])
    assert t.pairs.tolist() == [[1, 0], [2, 3], [4, 5], [7, 6]]
    assert t.split("alice") == tasks.Split((1, 2, 4, 7), (0, 3, 5, 6), "alice")
    assert t.split("halves").alice == (0, 1, 2, 3)
    with pytest.raises(tasks.TaskError, match="cut is only accepted"):
        t.split("alice", cut=2)


@pytest.mark.parametrize("layout", ["interleaved", "random:2"])
def test_sampler_is_balanced(layout):
    t = tasks.get("split_equality", n=40, alice=layout)
    y = t.solve(t.sample(np.random.default_rng(3), 2000))
    assert 0.4 < y.mean() < 0.6
