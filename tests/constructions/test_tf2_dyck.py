"""Dyck-(k, D ≤ 2) with two layers (constructions/dyck_tf2.py): the local characterisation
against the task's solver, the model exhaustively and at large n, tampering, sizes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions.dyck_tf2 import local_conditions
from verify import check
from verify._precision_search import dyck_near_misses

from testkit import built, examples


def every_string(n, types):
    v = 2 * types
    return np.stack(np.unravel_index(np.arange(v**n), (v,) * n), axis=1).astype(np.int64)


@pytest.mark.parametrize("types,depth,n_max", [(2, 2, 10), (1, 2, 12), (3, 2, 7), (2, 1, 9), (3, 1, 7)])
def test_characterisation_is_exact_on_every_string(types, depth, n_max):
    """(N), (H), (A), (E) hold iff the task's stack solver accepts, for every string."""
    for n in range(1, n_max + 1):
        x = every_string(n, types)
        want = tasks.get("dyck", n=n, types=types, depth=depth).solve(x).astype(bool)
        assert np.array_equal(local_conditions(x, types, depth), want), n


def test_characterisation_fails_at_depth_3():
    """The docstring's counterexample ( [ ( ) ) ]: all four conditions hold, the string is invalid."""
    x = np.array([[0, 2, 0, 1, 1, 3]])
    assert local_conditions(x, 2, 3)[0] and not tasks.get("dyck", n=6, types=2, depth=3).solve(x)[0]
    with pytest.raises(constructions.ConstructionError, match="depth <= 2"):
        constructions.build("dyck", arch="tf2", n=6, depth=3)


@pytest.mark.parametrize("n", range(1, 9))
def test_exhaustive_dyck22_recency(n):
    row = check(built("dyck", "tf2", n=n), mode="exhaustive")
    assert row["inputs_checked"] == 4**n and row["status"] == "pass"
    assert row["min_margin"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "params", [{"types": 1, "depth": 2}, {"types": 3, "depth": 2}, {"types": 2, "depth": 1}, {"addresses": "random"}]
)
@pytest.mark.parametrize("n", [1, 5, 6])
def test_exhaustive_other_languages_and_heads(params, n):
    row = check(built("dyck", "tf2", n=n, **params), mode="exhaustive")
    assert row["status"] == "pass" and row["failures"] == 0


def near_misses(n, seed):
    t = tasks.get("dyck", n=n)
    return dyck_near_misses(t, np.random.default_rng(seed), bases=1, positions=4)


def test_near_misses_are_invalid_and_one_edit_away():
    n = 64
    x = near_misses(n, 0)
    assert len(x) > 0 and not tasks.get("dyck", n=n).solve(x).any()
    assert dyck_near_misses(tasks.get("dyck", n=7), np.random.default_rng(0)) is None


@settings(max_examples=examples(3))
@given(seed=st.integers(0, 2**32 - 1), addresses=st.sampled_from(["recency", "random"]))
def test_hypothesis_large_n_near_misses_and_samples(seed, addresses):
    n = 1000
    t = tasks.get("dyck", n=n)
    rng = np.random.default_rng(seed)
    x = np.concatenate([near_misses(n, seed)[:4], t.sample(rng, 2), t.sample_positive(rng, 1)])
    m = built("dyck", "tf2", n=n, addresses=addresses)
    assert np.array_equal(m.predict(x), t.solve(x))


def test_last_position_errors_at_large_n():
    """The finest thresholds: the error at the very last position (count c/(i+1) with i = n − 1)."""
    n = 1000
    t = tasks.get("dyck", n=n)
    base = t.sample_positive(np.random.default_rng(1), 1)[0]
    rows = [base]
    for v in range(4):
        if v != base[-1]:
            y = base.copy()
            y[-1] = v
            rows.append(y)
    x = np.stack(rows)
    assert np.array_equal(built("dyck", "tf2", n=n).predict(x), t.solve(x))
    assert t.solve(x).tolist() == [1, 0, 0, 0]


def test_size_from_arrays_constant_width():
    for n in (64, 1024):
        m = built("dyck", "tf2", n=n)
        size, arrays = m.size(), m.arrays()
        assert size["params"] == sum(a.size for a in arrays.values())
        assert size["width"] == arrays["embed/position"].shape[1] == 4 * 2 + 6
        assert size["heads"] == 2 and size["layers"] == 2
    r = built("dyck", "tf2", n=64, addresses="random").meta["construction"]["address_code"]["dim"]
    assert built("dyck", "tf2", n=64, addresses="random").size()["width"] == 2 * r + 4 * 2 + 4


def test_tampered_previous_token_head_fails():
    """β = 0 in the recency head: head 1 averages the whole prefix instead of reading x_{i−1}."""
    m = built("dyck", "tf2", n=6)
    wq = m.arrays()["layer0/attn/wq"].copy()
    wq[1] = 0.0
    row = check(m.with_arrays(**{"layer0/attn/wq": wq}), mode="exhaustive")
    assert row["status"] == "fail" and row["failures"] > 0


def test_tampered_depth_threshold_fails():
    """(H) moved from c ≥ 3 to c ≥ 4 (the inv coefficient of the depth ramp): ((( ))) is accepted."""
    m = built("dyck", "tf2", n=6)
    layout = {b["block"]: b for b in m.meta["construction"]["residual_layout"]}
    w1 = m.arrays()["layer0/mlp/w1"].copy()
    inv = layout["inv"]["start"]
    k = 2
    w1[inv, 2 * k : 2 * k + 2] *= 7 / 5  # hidden units: neg (k, k), then deep (1, 1)
    row = check(m.with_arrays(**{"layer0/mlp/w1": w1}), mode="exhaustive")
    assert row["status"] == "fail" and row["counterexample"]["expected"] == 0


def test_precision_fixed_grid_needs_exactly_the_derived_bits():
    """I = ⌈log2 5n⌉ integer and F = max(4, ⌈log2 n⌉) fractional bits suffice; one fewer of
    either fails (module docstring, Precision); n = 8 was checked the same way once."""
    n = 6
    m = built("dyck", "tf2", n=n)
    I, F = (5 * n - 1).bit_length(), max(4, (n - 1).bit_length())
    status = {
        (i, f): check(m, mode="exhaustive", precision=f"fixed:{i}.{f}")["status"]
        for i, f in [(I, F), (I - 1, F), (I, F - 1)]
    }
    assert status == {(I, F): "pass", (I - 1, F): "fail", (I, F - 1): "fail"}


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n": 0}, "n must be at least 1"),
        ({"n": 8, "types": 0}, "types"),
        ({"n": 8, "addresses": "magic"}, "addresses"),
        ({"n": 8, "coherence": 1.0}, "coherence"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(constructions.ConstructionError, match=match):
        constructions.build("dyck", arch="tf2", **params)


def test_registered_and_in_default_checks():
    from verify._defaults import DEFAULT_CHECKS

    assert ("dyck", "tf2") in constructions.available()
    assert any(t == "dyck" and a == "tf2" for t, a, *_ in DEFAULT_CHECKS)
