"""RNNs that meet the lower bounds: index lookup, equality, disjointness, associative recall.

Exhaustive at small n (float64 and the fixed-point format each module claims), sampled at
n = 1024 (a sparse exact-integer forward pass written here from docs/MODEL.md, plus the dense
engine on a few inputs), state bits against bounds.min_width_rnn, tampering, bad input.
"""

import math

import numpy as np
import pytest
import scipy.sparse

import bounds
import constructions
import tasks
from verify import check

import numpy_forward
from testkit import built


def build(task, params):
    return built(task, "rnn", **params)


SMALL = [
    ("index_lookup", {"n": 7, "alphabet_size": 2}),
    ("index_lookup", {"n": 4, "alphabet_size": 3}),
    ("index_lookup", {"n": 3, "alphabet_size": 5}),
    ("equality", {"n": 2}),
    ("equality", {"n": 14}),
    ("disjointness", {"n": 2}),
    ("disjointness", {"n": 14}),
    ("associative_recall", {"n": 1, "num_keys": 1, "num_values": 2}),
    ("associative_recall", {"n": 3}),
    ("associative_recall", {"n": 3, "num_keys": 4, "num_values": 3}),
    ("associative_recall", {"n": 2, "num_keys": 3, "num_values": 1}),
]


@pytest.mark.parametrize("task,params", SMALL, ids=[f"{t}-{p}" for t, p in SMALL])
def test_exhaustive_small_n_float_and_fixed(task, params):
    m = build(task, params)
    t = tasks.get(task, **params)
    for precision in ("float64", m.meta["construction"]["exact_fixed_format"]):
        row = check(m, mode="exhaustive", precision=precision)
        assert row["inputs_checked"] == t.num_inputs
        assert row["status"] == "pass", (precision, row["counterexample"])
        assert row["min_margin"] >= 1.0
    x = np.concatenate(list(t.enumerate(4096)))[:4096]
    assert set(np.unique(m.hidden_states(x))) <= {0.0, 1.0}  # every state is m bits


# ---- n = 1024 ---------------------------------------------------------------------------------


def sparse_logits(arrays, x):
    """h = relu(h Wh + Win[x_t] + b), logits = h Wr + br (docs/MODEL.md), with Wh sparse and
    exact int64 arithmetic (every weight of these constructions is an integer)."""
    ints = {k: v.astype(np.int64) for k, v in arrays.items()}
    for k, v in arrays.items():
        assert np.array_equal(ints[k], v), k
    whT = scipy.sparse.csr_matrix(ints["rnn/wh"].T)
    h = np.tile(ints["rnn/h0"], (x.shape[0], 1))
    for t in range(x.shape[1]):
        h = np.maximum((whT @ h.T).T + ints["rnn/win"][x[:, t]] + ints["rnn/b"], 0)
        assert h.max() <= 1
    return h @ ints["readout/w"] + ints["readout/b"]


# (task, params, inputs for the dense engine): the dense forward costs width² per step, so the
# widest models (4100 and 2058 units) are checked densely at smaller n only
LARGE = [
    ("index_lookup", {"n": 1024, "alphabet_size": 2}, 2),
    ("index_lookup", {"n": 1024, "alphabet_size": 16}, 0),
    ("index_lookup", {"n": 128, "alphabet_size": 16}, 8),
    ("equality", {"n": 1024}, 16),
    ("disjointness", {"n": 1024}, 16),
    ("associative_recall", {"n": 1024}, 0),
    ("associative_recall", {"n": 128}, 8),
]


@pytest.mark.parametrize("task,params,dense", LARGE, ids=[f"{t}-{p}" for t, p, _ in LARGE])
def test_sampled_large_n(task, params, dense):
    m = build(task, params)
    t = tasks.get(task, **params)
    x = t.sample(np.random.default_rng(1024), 48)
    expected = t.solve(x)
    logits = sparse_logits(m.arrays(), x)
    right = logits[np.arange(len(x)), expected]
    others = logits.copy()
    others[np.arange(len(x)), expected] = np.iinfo(np.int64).min
    assert (right - others.max(axis=1) >= 1).all()
    if dense:
        row = check(m, mode="sampled", samples=dense, seed=7)
        assert row["status"] == "pass" and row["inputs_checked"] == dense
        assert np.array_equal(m.predict(x[:dense]), expected[:dense])


# ---- the bounds are met -------------------------------------------------------------------------


def ratio(task, params):
    m = build(task, params)
    state_bits = m.size()["state_bits"]  # every unit is 0 or 1: the model declares one bit each
    assert state_bits == m.size(bits=1)["state_bits"] == m.size()["width"] == m.meta["construction"]["state_bits"]
    need = bounds.min_width_rnn(task, params["n"], 1, params.get("alphabet_size", 2))
    return state_bits / need, state_bits, need


@pytest.mark.parametrize(
    "task,params",
    [
        ("index_lookup", {"n": 1024, "alphabet_size": 2}),
        ("index_lookup", {"n": 1024, "alphabet_size": 16}),
        ("index_lookup", {"n": 1024, "alphabet_size": 3}),
        ("equality", {"n": 1024}),
        ("disjointness", {"n": 1024}),
    ],
)
def test_state_bits_within_factor_two_of_lower_bound(task, params):
    r, state_bits, need = ratio(task, params)
    assert 1 <= r <= 2, (state_bits, need)


def test_associative_recall_two_banks_factor():
    """2K·B + ⌈log2 K⌉ bits against Prop. 9's n: the factor is 2 + ⌈log2 n⌉/n for K = n, V = 2
    (the module docstring shows why one bank per stored bit cannot work in this Elman form)."""
    n = 1024
    r, state_bits, need = ratio("associative_recall", {"n": n})
    assert need == n and state_bits == 2 * n + math.ceil(math.log2(n))
    assert 2 < r <= 2 + math.ceil(math.log2(n)) / n


def test_sizes_follow_the_stated_rules():
    for n, s in [(64, 2), (100, 3), (1024, 16)]:
        assert build("index_lookup", {"n": n, "alphabet_size": s}).size()["width"] == (n + 1) * math.ceil(math.log2(s))
    for n in (2, 64, 1024):
        assert build("disjointness", {"n": n}).size()["width"] == n // 2 + 2
        m = build("equality", {"n": n})
        moduli = m.meta["construction"]["counter_moduli"]
        assert m.size()["width"] == n // 2 + sum(moduli) + 5
        assert math.prod(moduli) >= n // 2 + 2
        assert all(math.gcd(a, b) == 1 for i, a in enumerate(moduli) for b in moduli[i + 1 :])
        assert sum(moduli) <= 2 * math.isqrt(n // 2 + 2) + 3


# ---- failures are caught ------------------------------------------------------------------------


def tamper(m, name, i, j, value):
    a = m.arrays()[name].copy()
    a[i, j] = value
    return m.with_arrays(**{name: a})


def test_tampered_models_fail_with_counterexample():
    il = build("index_lookup", {"n": 7, "alphabet_size": 2})
    eq = build("equality", {"n": 8})
    dj = build("disjointness", {"n": 8})
    ar = build("associative_recall", {"n": 3})
    lay = {m.task: {b["block"]: b["start"] for b in m.meta["construction"]["hidden_layout"]} for m in (eq, dj, ar)}
    broken = [
        tamper(il, "rnn/wh", 2, 3, 0.0),  # the shift link slot 2 -> slot 3 is cut
        tamper(eq, "rnn/wh", lay["equality"]["count[0]"], lay["equality"]["count[0]"] + 1, 0.0),  # counter stops
        tamper(dj, "rnn/wh", lay["disjointness"]["flag"], lay["disjointness"]["flag"], 0.0),  # flag forgets
        tamper(ar, "rnn/wh", lay["associative_recall"]["mem"], lay["associative_recall"]["mem"], 0.0),  # mem forgets
    ]
    for bad in broken:
        row = check(bad, mode="exhaustive")
        assert row["status"] == "fail" and row["failures"] > 0, bad.task
        ce = row["counterexample"]
        assert ce is not None and (ce["got"] != ce["expected"] or ce["margin"] <= 0)


def test_numpy_forward_agrees(tmp_path):
    for task, params in [("equality", {"n": 12}), ("associative_recall", {"n": 4, "num_keys": 6, "num_values": 3})]:
        m = build(task, params)
        path = tmp_path / f"{task}.npz"
        m.save(path)
        t = tasks.get(task, **params)
        x = t.sample(np.random.default_rng(5), 200)
        assert np.array_equal(numpy_forward.predict(path, x), t.solve(x))
        assert constructions.load(path).size() == m.size()


@pytest.mark.parametrize(
    "task,params,match",
    [
        ("index_lookup", {"n": 0, "alphabet_size": 2}, "n must be at least 1"),
        ("index_lookup", {"n": 4, "alphabet_size": 1}, "alphabet_size must be at least 2"),
        ("equality", {"n": 5}, "n must be even and at least 2"),
        ("equality", {"n": 0}, "n must be even and at least 2"),
        ("disjointness", {"n": 3}, "n must be even and at least 2"),
        ("associative_recall", {"n": 0}, "n must be at least 1"),
        ("associative_recall", {"n": 4, "num_keys": 3}, "num_keys must be at least n=4"),
        ("associative_recall", {"n": 4, "num_values": 0}, "num_values must be at least 1"),
        ("equality", {"n": 4, "alphabet_size": 2}, "does not take alphabet_size"),
    ],
)
def test_bad_parameters(task, params, match):
    with pytest.raises(constructions.ConstructionError, match=match) as info:
        constructions.build(task, arch="rnn", **params)
    assert "\n" not in str(info.value)
