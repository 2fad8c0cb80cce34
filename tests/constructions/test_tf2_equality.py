"""Theorem 6: the two-layer equality Transformer, checked against the reference solver."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions.equality import paper_beta, partner
from verify import check

import numpy_forward
from testkit import built, examples, samples_to_catch


def model(n):
    return built("equality", "tf2", n=n, seed=0)


@pytest.mark.parametrize("n", [2, 4, 6, 8, 10, 12, 14, 16])
def test_exhaustive_every_even_n_up_to_16(n):
    row = check(model(n), mode="exhaustive")
    assert row["inputs_checked"] == 2**n
    assert row["failures"] == 0 and row["status"] == "pass"
    assert row["min_margin"] == pytest.approx(2.0)  # the readout's designed margin


def test_exhaustive_hadamard_addresses():
    m = constructions.build("equality", arch="tf2", n=10, addresses="hadamard")
    assert check(m, mode="exhaustive")["failures"] == 0


N_VALUES = [64, 512, 2048]


@settings(max_examples=examples(25))  # fewer than the profile's: every example runs n up to 2048
@given(data=st.data(), n=st.sampled_from(N_VALUES))
def test_hypothesis_adversarial_large_n(data, n):
    half = n // 2
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = np.tile(rng.integers(0, 2, size=half), 2)
    kind = data.draw(st.sampled_from(["equal", "first", "last", "one", "random", "all_ones"]))
    if kind == "all_ones":
        x[:] = 1
    elif kind != "equal":
        i = {"first": 0, "last": n - 1, "one": data.draw(st.integers(0, n - 1))}.get(kind)
        if i is None:
            x = rng.integers(0, 2, size=n)
        else:
            x[i] ^= 1  # the halves differ in exactly this position
    got = model(n).predict(x[None])[0]
    assert got == tasks.get("equality", n=n).solve(x[None])[0]


def test_sampled_n2048():
    assert check(model(2048), samples=32, seed=3)["status"] == "pass"


def test_attention_on_partner_meets_the_derived_bound():
    """Recompute layer-1 attention with numpy from the saved arrays: weight on π(p) ≥ the bound ≥ 4/5."""
    n = 64
    m = model(n)
    c = m.meta["construction"]
    mu = c["address_code"]["coherence_float"]
    assert c["beta"] == pytest.approx(math.log(4 * (n - 1)) / (1 - mu))
    bound = c["attention_on_partner_lower_bound"]
    assert bound == pytest.approx(0.8)
    A = m.arrays()
    x = np.random.default_rng(0).integers(0, 2, size=n)
    X = A["embed/token"][x] + A["embed/position"][:n]
    S = (X @ A["layer0/attn/wq"][0].T) @ (X @ A["layer0/attn/wk"][0].T).T
    S = np.where(np.tril(np.ones((n, n), bool)), S, -np.inf)
    alpha = np.exp(S - S.max(1, keepdims=True))
    alpha /= alpha.sum(1, keepdims=True)
    on_partner = alpha[np.arange(n), partner(n)]
    assert on_partner.min() >= bound - 1e-12


def test_paper_closed_form_beta_is_about_half_its_inequality():
    p = paper_beta(100, 2)
    assert p["closed_form"] < 0.55 * p["inequality"]
    assert p["inequality"] == pytest.approx(2 * math.log(99 * (2 * 100**2 - 1)))


def test_size_from_arrays_and_log_growth():
    widths = {}
    for n in (64, 1024):
        m = model(n) if n == 64 else constructions.build("equality", arch="tf2", n=n)
        size, arrays = m.size(), m.arrays()
        r = m.meta["construction"]["address_code"]["dim"]
        assert size["params"] == sum(a.size for a in arrays.values())
        assert size["width"] == arrays["embed/position"].shape[1] == 2 * r + 5
        assert size["heads"] == 1 and size["layers"] == 2  # the residual keeps x_p: no second head
        widths[n] = size["width"]
    assert widths[1024] < 2 * widths[64]  # n grew 16-fold, the width by a constant


def test_tampered_partner_address_fails_with_counterexample():
    n = 8
    m = model(n)
    P = m.arrays()["embed/position"].copy()
    r = m.meta["construction"]["address_code"]["dim"]
    part = slice(2 + r, 2 + 2 * r)  # the partner block (layout: bit, partner_bit, address, partner, ...)
    assert m.meta["construction"]["residual_layout"][3] == {"block": "partner", "start": 2 + r, "size": r}
    P[6, part] = P[7, part]  # position 6 now compares with x_3 instead of x_2
    row = check(m.with_arrays(**{"embed/position": P}), mode="exhaustive")
    assert row["status"] == "fail" and row["failures"] > 0
    assert row["counterexample"] is not None


def test_tampered_threshold_weight_fails():
    m = model(6)
    w1 = m.arrays()["layer1/mlp/w1"] * 0.1  # the final threshold no longer fires on one difference
    row = check(m.with_arrays(**{"layer1/mlp/w1": w1}), mode="exhaustive")
    assert row["status"] == "fail" and row["counterexample"]["expected"] == 0


@pytest.mark.parametrize("precision,n", [("float32", 512), ("bfloat16", 64), ("fixed:10.14", 256)])
def test_lower_precision(precision, n):
    # samples_to_catch() = 459 samples: a format wrong on 1% of inputs fails with probability >= 99%
    row = check(model(n), samples=samples_to_catch(), precision=precision)
    assert row["status"] == "pass", row["counterexample"]


def test_numpy_forward_from_spec_agrees(tmp_path):
    m, path = model(16), tmp_path / "eq.npz"
    m.save(path)
    task = tasks.get("equality", n=16)
    x = task.sample(np.random.default_rng(1), 200)
    assert np.array_equal(numpy_forward.predict(path, x), task.solve(x))
    assert np.array_equal(constructions.load(path).predict(x), m.predict(x))


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n": 7}, "even n"),
        ({"n": 0}, "even n >= 2"),
        ({"n": 8, "coherence": 1.0}, "coherence"),
        ({"n": 8, "addresses": "magic"}, "addresses"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(constructions.ConstructionError, match=match):
        constructions.build("equality", arch="tf2", **params)
