"""Lemma 5: Theorem 6's two-layer model with the addresses renumbered, for any balanced split."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions._pair_xor import pair_addresses
from verify import check
from verify.certify import certify

from testkit import built, examples


def blocks(n, k=2):
    """Alice holds alternate blocks of k positions."""
    return [p for p in range(n) if (p // k) % 2 == 0]


def random_layouts(count):
    return [f"random:{s}" for s in range(count)]


def test_halves_is_the_equality_model():
    a = built("split_equality", "tf2", n=16, seed=2).arrays()
    b = built("equality", "tf2", n=16, seed=2).arrays()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_pair_addresses_renumber_and_keep_partners_visible():
    t = tasks.get("split_equality", n=10, alice="random:4")
    own, partner = pair_addresses(t.pairs, 10)
    assert sorted(own.tolist()) == list(range(10))  # a renumbering of the n addresses
    for a, b in t.pairs:
        e, late = min(a, b), max(a, b)
        assert partner[e] == partner[late] == own[e]  # the pair shares address own[e]
    with pytest.raises(ValueError, match="perfect matching"):
        pair_addresses(np.array([[0, 1], [1, 2]]), 4)


SPLITS = {  # one compiled forward per n, shared by its splits
    8: ["interleaved", blocks(8), *random_layouts(6)],
    12: ["interleaved", blocks(12), blocks(12, 3), *random_layouts(5)],
    16: ["interleaved", blocks(16), blocks(16, 4), *random_layouts(2)],
}


@pytest.mark.parametrize("n", sorted(SPLITS))
def test_exhaustive_many_splits(n):
    for alice in SPLITS[n]:
        m = constructions.build("split_equality", arch="tf2", n=n, alice=alice, seed=n)
        row = check(m, mode="exhaustive")
        assert row["inputs_checked"] == 2**n and row["failures"] == 0, alice
        assert row["min_margin"] == pytest.approx(2.0)


@settings(max_examples=examples(10))
@given(data=st.data())
def test_hypothesis_adversarial_n1024(data):
    n = 1024
    layout = data.draw(st.sampled_from(["interleaved", "random:0", "random:1"]))
    t = tasks.get("split_equality", n=n, alice=layout)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = np.empty(n, dtype=np.int64)
    x[list(t.alice)] = x[list(t.bob)] = rng.integers(0, 2, size=n // 2)
    kind = data.draw(st.sampled_from(["equal", "one", "first", "last"]))
    if kind != "equal":
        x[{"one": data.draw(st.integers(0, n - 1)), "first": 0, "last": n - 1}[kind]] ^= 1
    assert built("split_equality", "tf2", n=n, alice=layout).predict(x[None])[0] == t.solve(x[None])[0]


def test_sampled_n1024():
    assert check(built("split_equality", "tf2", n=1024, alice="random:0"), samples=64, seed=1)["status"] == "pass"


@pytest.mark.parametrize("precision", ["float64", "fixed:7.6"])
def test_certified_n64(precision):
    row = certify(built("split_equality", "tf2", n=64, alice="random:3"), precision)
    assert row["status"] == "pass" and row["mode"] == "certified" and row["min_margin"] > 0


def test_a_model_of_another_split_fails():
    """The interleaved model, claiming to be the random:0 model's task, is caught by every mode."""
    n = 8
    good = constructions.build("split_equality", arch="tf2", n=n, alice="random:0")
    other = constructions.build("split_equality", arch="tf2", n=n, alice="interleaved")
    tampered = good.with_arrays(**{"embed/position": other.arrays()["embed/position"]})
    assert check(tampered, mode="exhaustive")["failures"] > 0
    assert certify(tampered)["status"] == "fail"
