"""Theorem 13: THRES_{k,n} with two layers and k heads; disjointness as an instance."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
import tasks
from constructions.threshold import disjointness_instance, expand_table, schedule
from verify import check

import numpy_forward
from testkit import built, examples, samples_to_catch


def disj(n):
    return built("disjointness", "tf2", n=n, seed=0)


@pytest.mark.parametrize("n", [2, 4, 6, 8, 10, 12, 14, 16])
def test_disjointness_exhaustive_every_even_n_up_to_16(n):
    m = disj(n)
    row = check(m, mode="exhaustive")
    assert row["inputs_checked"] == 2**n and row["failures"] == 0 and row["status"] == "pass"
    assert row["min_margin"] == pytest.approx(2.0)
    assert m.size()["heads"] == 2 and m.meta["construction"]["slots_per_position"] == 1  # k = 2 heads


def test_disjointness_instance_is_the_tasks_instance():
    for n in (2, 8, 30):
        p = tasks.threshold_params_disjointness(n)
        assert disjointness_instance(n) == {k: p[k] for k in ("index_sets", "truth_tables", "c")}


@pytest.mark.parametrize("n", [2, 6, 10])
def test_thres_equality_instance_agrees_with_dedicated_equality_model(n):
    """On every input both models equal the solver, hence each other."""
    thres = constructions.build("threshold", arch="tf2", **tasks.threshold_params_equality(n))
    eq = constructions.build("equality", arch="tf2", n=n)
    x = np.concatenate(list(tasks.get("equality", n=n).enumerate(4096)))
    assert x.shape[0] == 2**n
    ref = tasks.get("equality", n=n).solve(x)
    assert np.array_equal(thres.predict(x), ref)
    assert np.array_equal(eq.predict(x), ref)


def _instances():
    rng = np.random.default_rng(2024)
    return [
        ("dnf", 2, tasks.threshold_params_random_dnf(12, 2, 8, rng)),
        ("dnf", 3, tasks.threshold_params_random_dnf(12, 3, 6, rng)),
        ("cnf", 2, tasks.threshold_params_random_cnf(12, 2, 10, rng)),
        ("cnf", 3, tasks.threshold_params_random_cnf(12, 3, 5, rng)),
    ]


@pytest.mark.parametrize("kind,k,params", _instances(), ids=lambda v: str(v) if not isinstance(v, dict) else "")
def test_random_dnf_cnf_exhaustive_n12(kind, k, params):
    m = constructions.build("threshold", arch="tf2", **params)
    row = check(m, mode="exhaustive")
    assert row["inputs_checked"] == 2**12 and row["failures"] == 0 and row["status"] == "pass"
    s = m.meta["construction"]["slots_per_position"]
    assert m.meta["construction"]["k"] == k and m.size()["heads"] == s * k


def test_crowded_instance_needs_slots_causally_and_k_heads_without_mask():
    """Every set contains the last position: causally all functions share one host."""
    n = 8
    sets = [[j, n - 1] for j in range(4)] + [[n - 1]]
    tables = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 1], [0, 1]]
    params = {"n": n, "index_sets": sets, "truth_tables": tables, "c": 1}
    hosts, s = schedule(sets, n, causal=True)
    assert s == 5 and all(h[0] == n - 1 for h in hosts)
    causal = constructions.build("threshold", arch="tf2", **params)
    free = constructions.build("threshold", arch="tf2", causal=False, **params)
    assert causal.size()["heads"] == 10 and free.size()["heads"] == 2 and free.meta["causal"] is False
    for m in (causal, free):
        assert check(m, mode="exhaustive")["failures"] == 0


def test_schedule_respects_causality_and_is_tight():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 20))
        m = int(rng.integers(0, n + 1))
        sets = [
            sorted(rng.choice(n, size=int(rng.integers(0, min(n, 3) + 1)), replace=False).tolist()) for _ in range(m)
        ]
        hosts, s = schedule(sets, n)
        used = {}
        for I, h in zip(sets, hosts):
            assert (h is None) == (not I)
            if h:
                assert h[0] >= max(I) and 0 <= h[1] < s
                used[h] = used.get(h, 0) + 1
        assert all(v == 1 for v in used.values())
        # Hall: some suffix of positions [t, n) must host more than (s-1)(n-t) functions
        late = [max(I) for I in sets if I]
        if late:
            assert any(sum(v >= t for v in late) > (s - 1) * (n - t) for t in range(n))


def test_expand_table_ignores_extra_bits():
    assert expand_table([0, 1], 1, 3).tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert expand_table([0], 0, 2).tolist() == [0, 0, 0, 0]


def test_empty_sets_and_extreme_thresholds():
    n = 6
    for c in (-1, 0, 2, 5):
        params = {"n": n, "index_sets": [[], [1], [0, 5], []], "truth_tables": [[0], [0, 1], [0, 1, 1, 1], [0]], "c": c}
        assert check(constructions.build("threshold", arch="tf2", **params), mode="exhaustive")["failures"] == 0


N_VALUES = [64, 512, 2048]


@settings(max_examples=examples(25))  # fewer than the profile's: every example runs n up to 2048
@given(data=st.data(), n=st.sampled_from(N_VALUES))
def test_disjointness_hypothesis_single_intersection(data, n):
    half = n // 2
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    pattern = rng.integers(0, 3, size=half)  # disjoint: (0,0), (1,0), (0,1)
    x = np.concatenate([pattern == 1, pattern == 2]).astype(np.int64)
    kind = data.draw(st.sampled_from(["disjoint", "first", "last", "one", "zeros"]))
    if kind == "zeros":
        x[:] = 0
    elif kind != "disjoint":
        i = {"first": 0, "last": half - 1}.get(kind, data.draw(st.integers(0, half - 1)))
        x[i] = x[i + half] = 1  # exactly one intersecting index
    assert disj(n).predict(x[None])[0] == tasks.get("disjointness", n=n).solve(x[None])[0]


def test_disjointness_sampled_n2048():
    assert check(disj(2048), samples=32, seed=1)["status"] == "pass"


def test_size_and_log_growth():
    widths = {}
    for n in (64, 1024):
        m = disj(n)
        size, arrays = m.size(), m.arrays()
        r = m.meta["construction"]["address_code"]["dim"]
        assert size["params"] == sum(a.size for a in arrays.values())
        assert size["width"] == 1 + 3 * r + 4 + 2 + 3  # bit, address, 2 fetch addresses, table, got, g/mean/out
        widths[n] = size["width"]
    assert widths[1024] < 2 * widths[64]


def test_tampered_truth_table_fails_with_counterexample():
    m = disj(8)
    P = m.arrays()["embed/position"].copy()
    table = next(b for b in m.meta["construction"]["residual_layout"] if b["block"] == "table0")
    host = m.meta["construction"]["hosts"][2][0]
    P[host, table["start"] + 3] = 1.0  # NAND(1,1) := 1 for the pair (2, 6)
    row = check(m.with_arrays(**{"embed/position": P}), mode="exhaustive")
    assert row["status"] == "fail" and row["failures"] > 0
    x = np.array(row["counterexample"]["input"])
    assert x[2] == x[6] == 1


@pytest.mark.parametrize("precision,n", [("float32", 512), ("float16", 64), ("fixed:9.14", 128)])
def test_lower_precision(precision, n):
    # samples_to_catch() = 459 samples: a format wrong on 1% of inputs fails with probability >= 99%
    row = check(disj(n), samples=samples_to_catch(), precision=precision)
    assert row["status"] == "pass", row["counterexample"]


def test_lower_precision_random_dnf():
    params = _instances()[1][2]
    m = constructions.build("threshold", arch="tf2", **params)
    for precision in ("float32", "fixed:8.14"):
        # 459 samples (samples_to_catch): a format wrong on 1% of inputs fails with probability >= 99%
        assert check(m, samples=samples_to_catch(), precision=precision)["status"] == "pass"


def test_numpy_forward_from_spec_agrees(tmp_path):
    params = _instances()[0][2]
    m, path = constructions.build("threshold", arch="tf2", **params), tmp_path / "thr.npz"
    m.save(path)
    task = tasks.get("threshold", **params)
    x = task.sample(np.random.default_rng(1), 100)
    assert np.array_equal(numpy_forward.predict(path, x), task.solve(x))


@pytest.mark.parametrize(
    "task,params,match",
    [
        ("disjointness", {"n": 5}, "even n"),
        (
            "threshold",
            {"n": 4, "index_sets": [[0, 4]], "truth_tables": [[0, 1, 1, 0]], "c": 0},
            r"positions in \[0, 4\)",
        ),
        ("threshold", {"n": 4, "index_sets": [[1, 1]], "truth_tables": [[0, 1, 1, 0]], "c": 0}, "repeats"),
        ("threshold", {"n": 4, "index_sets": [[1]], "truth_tables": [[0, 1, 1]], "c": 0}, "2\\^1 bits"),
        ("threshold", {"n": 1, "index_sets": [[0], [0]], "truth_tables": [[0, 1], [1, 0]], "c": 0}, "at most n=1"),
        ("threshold", {"n": 4, "index_sets": [[]], "truth_tables": [[1]], "c": 0}, "empty index set"),
        ("threshold", {"n": 4, "index_sets": [[1]], "truth_tables": [[0, 1]], "c": 0.5}, "c must be an integer"),
    ],
)
def test_bad_parameters(task, params, match):
    with pytest.raises(constructions.ConstructionError, match=match):
        constructions.build(task, arch="tf2", **params)
