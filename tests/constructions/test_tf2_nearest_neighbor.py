"""Theorem 7: the two-layer nearest-neighbour Transformer, checked against the reference solver."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions.nearest_neighbor import required_coherence
from verify import check

import numpy_forward
from testkit import built, examples, samples_to_catch

DIM, MARGIN = 8, 0.1


def model(n, dim=DIM, margin=MARGIN, mode="flag"):
    return built("nearest_neighbor", "tf2", n=n, dim=dim, margin=margin, self_suppression=mode)


def adversarial(rng, n, dim, margin, winner, top, rivals="one"):
    """One instance whose nearest point ``winner`` has inner product ``top`` with the query and
    whose rival(s) sit at exactly ``top − margin`` (the gap equals the margin); the winner's label
    differs from every other label, so any wrong answer shows."""
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    cos = rng.uniform(-1.0, top - margin, size=n)
    if rivals == "all":
        cos[:] = top - margin
    elif n > 1:
        cos[(winner + 1 + int(rng.integers(0, n - 1))) % n] = top - margin
    cos[winner] = top
    u = rng.standard_normal((n, dim))
    for _ in range(2):
        u -= (u @ q)[:, None] * q[None]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    pts = cos[:, None] * q[None] + np.sqrt(np.maximum(0.0, 1 - cos**2))[:, None] * u
    labels = np.zeros(n, dtype=np.int64)
    labels[winner] = 1
    return {"points": np.concatenate([pts, q[None]])[None], "labels": labels[None]}


N_VALUES = [1, 8, 64, 512]


@settings(max_examples=examples(25))  # fewer than the profile's: every example runs n up to 512
@given(data=st.data(), n=st.sampled_from(N_VALUES))
def test_hypothesis_gap_equal_to_margin(data, n):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    winner = {"first": 0, "last": n - 1}.get(data.draw(st.sampled_from(["first", "last", "any"])))
    winner = int(rng.integers(0, n)) if winner is None else winner
    top = data.draw(st.sampled_from([-1 + MARGIN, 0.0, 1.0 - 1e-9, float(rng.uniform(-1 + MARGIN, 1))]))
    x = adversarial(rng, n, DIM, MARGIN, winner, top, data.draw(st.sampled_from(["one", "all"])))
    task = tasks.get("nearest_neighbor", n=n, dim=DIM, margin=MARGIN)
    expected = task.solve(x)  # also validates the instance (unit points, margin within 1e-12)
    assert expected[0] == 1
    assert model(n).predict(x)[0] == expected[0]


@pytest.mark.parametrize("n,samples", [(1, 100), (8, 300), (64, 300), (512, 32)])
def test_sampled(n, samples):
    row = check(model(n), samples=samples, seed=n)
    assert row["status"] == "pass" and row["min_margin"] == pytest.approx(2.0)


def test_more_labels_and_small_margin():
    m = constructions.build("nearest_neighbor", arch="tf2", n=32, dim=4, margin=0.01, num_labels=5)
    assert check(m, samples=400)["status"] == "pass"


def test_paper_address_mode_small_n():
    """The paper's self-suppression −C<a_q, a_p>: needs certified μ < δ/4 (not δ/100)."""
    m = model(8, 8, 1.0, "address")
    c = m.meta["construction"]
    assert c["required_coherence"] == pytest.approx(required_coherence(1.0)) == pytest.approx(0.25)
    mu = c["address_code"]["coherence_float"]
    assert mu < 0.25 and c["score_gap_layer1"] == pytest.approx(1.0 - 4 * mu)
    assert check(m, samples=100)["status"] == "pass"
    rng = np.random.default_rng(7)
    for winner, top in [(0, -1 + 1.0), (7, 1.0), (3, 0.5)]:
        x = adversarial(rng, 8, 8, 1.0, winner, top, "all")
        assert m.predict(x)[0] == 1
    with pytest.raises(constructions.ConstructionError, match="margin/4"):
        constructions.build(
            "nearest_neighbor", arch="tf2", n=8, dim=8, margin=1.0, self_suppression="address", coherence=0.3
        )


@pytest.mark.parametrize("mode,n,margin", [("flag", 64, MARGIN), ("address", 8, 1.0)])
def test_attention_on_nearest_meets_the_derived_bound(mode, n, margin):
    """Recompute the query's layer-1 attention with numpy from the arrays, on tight instances."""
    m = model(n, DIM, margin, mode)
    A, c = m.arrays(), m.meta["construction"]
    assert c["attention_on_nearest_lower_bound"] == pytest.approx(0.8)
    rng = np.random.default_rng(0)
    for winner, top in [(0, -1 + margin), (n - 1, 1.0), (n // 2, 0.0)]:
        x = adversarial(rng, n, DIM, margin, winner, top, "all")
        X = m.encode_inputs(x)[0] @ A["embed/input"] + A["embed/position"][: 2 * n + 1]
        s = (X[-1] @ A["layer0/attn/wq"][0].T) @ (X @ A["layer0/attn/wk"][0].T).T
        alpha = np.exp(s - s.max())
        alpha /= alpha.sum()
        assert alpha[2 * winner] >= 0.8 - 1e-9


def test_size_and_log_growth():
    widths = {}
    for n in (64, 1024):
        m = model(n)
        size, arrays = m.size(), m.arrays()
        r = m.meta["construction"]["address_code"]["dim"]
        assert size["params"] == sum(a.size for a in arrays.values())
        assert size["width"] == DIM + 3 * 1 + 2 + 4 * r  # point, label/ans/bits, type, qflag, 4 address blocks
        assert size["heads"] == 1 and size["layers"] == 2
        widths[n] = size["width"]
    assert widths[1024] < 2 * widths[64]
    # the flag construction's width does not depend on the margin
    assert model(64, DIM, 0.001).size()["width"] == widths[64]


def test_tampered_next_address_fails_with_counterexample():
    m = model(8)
    P = m.arrays()["embed/position"].copy()
    nxt = next(b for b in m.meta["construction"]["residual_layout"] if b["block"] == "next")
    cols = slice(nxt["start"], nxt["start"] + nxt["size"])
    P[0, cols], P[2, cols] = P[2, cols].copy(), P[0, cols].copy()  # points 0 and 1 point at each other's labels
    row = check(m.with_arrays(**{"embed/position": P}), samples=500)
    assert row["status"] == "fail" and row["counterexample"] is not None


def test_tampered_scale_fails():
    m = model(64)
    wq = m.arrays()["layer0/attn/wq"] * 0.02  # β₁ far below ln(8n)/δ: attention no longer picks the nearest
    row = check(m.with_arrays(**{"layer0/attn/wq": wq}), samples=500)
    assert row["status"] == "fail" and row["failures"] > 0


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "fixed:9.16"])
def test_lower_precision(precision):
    # samples_to_catch() = 459 samples: a format wrong on 1% of inputs fails with probability >= 99%
    row = check(model(64), samples=samples_to_catch(), precision=precision)
    assert row["status"] == "pass", row["counterexample"]


def test_numpy_forward_from_spec_agrees(tmp_path):
    m, path = model(8), tmp_path / "nn.npz"
    m.save(path)
    arrays, meta = numpy_forward.read(path)
    task = tasks.get("nearest_neighbor", n=8, dim=DIM, margin=MARGIN)
    x = task.sample(np.random.default_rng(2), 100)
    feats = m.encode_inputs(x)
    assert feats.shape == (100, 17, DIM + 2)
    ref = np.array([int(np.argmax(numpy_forward.transformer_logits(arrays, meta, f))) for f in feats])
    assert np.array_equal(ref, task.solve(x))
    assert np.array_equal(constructions.load(path).predict(x), ref)


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n": 4, "margin": 0.0}, r"margin must lie in \(0, 2\]"),
        ({"n": 4, "margin": -0.5}, "margin must lie"),
        ({"n": 0}, "n must be at least 1"),
        ({"n": 4, "dim": 0}, "dim must be at least 1"),
        ({"n": 4, "self_suppression": "magic"}, "self_suppression"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(constructions.ConstructionError, match=match):
        constructions.build("nearest_neighbor", arch="tf2", **params)


def test_bad_inputs():
    m = model(8)
    x = tasks.get("nearest_neighbor", n=8, dim=DIM, margin=MARGIN).sample(np.random.default_rng(0), 2)
    bad = {"points": x["points"] * 1.01, "labels": x["labels"]}
    with pytest.raises(constructions.ModelInputError, match="non-unit points"):
        m.predict(bad)
    with pytest.raises(constructions.ModelInputError, match="shape"):
        m.predict({"points": x["points"][:, :5], "labels": x["labels"]})
    with pytest.raises(constructions.ModelInputError, match="labels must lie"):
        m.predict({"points": x["points"], "labels": x["labels"] + 5})
