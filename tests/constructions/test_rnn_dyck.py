"""The constant-size Dyck-(k, D) RNN (constructions/dyck_rnn.py) against the reference solver."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constructions
from constructions.dyck_rnn import dyck_dfa, dyck_width
from verify import check

import numpy_forward
from testkit import built, examples
from testkit import task as cached_task


def model(n, types=2, depth=2):
    return built("dyck", "rnn", n=n, types=types, depth=depth)


def task(n, types=2, depth=2):
    return cached_task("dyck", n=n, types=types, depth=depth)


@pytest.mark.parametrize("n", list(range(1, 11)))
def test_dyck22_exhaustive_every_string(n):
    row = check(model(n), mode="exhaustive")
    assert row["inputs_checked"] == 4**n
    assert row["status"] == "pass" and row["failures"] == 0
    assert row["min_margin"] == 1.0
    assert row["width"] == 12


def test_width_is_constant_in_n():
    widths = {n: model(n).size()["width"] for n in (1, 2, 10, 1000, 100_000)}
    assert set(widths.values()) == {12}
    params = {n: model(n).size()["params"] for n in (1, 100_000)}
    assert params[1] == params[100_000]  # the weights do not depend on n at all
    for n in (2, 100_000):
        assert np.array_equal(model(n).arrays()["rnn/wh"], model(2).arrays()["rnn/wh"])


@pytest.mark.parametrize("types,depth,n", [(1, 1, 8), (1, 3, 9), (3, 1, 6), (3, 2, 6), (2, 3, 8)])
def test_other_bounded_dyck_exhaustive(types, depth, n):
    m = model(n, types, depth)
    assert m.size()["width"] == dyck_width(types, depth)
    row = check(m, mode="exhaustive")
    assert row["inputs_checked"] == (2 * types) ** n and row["status"] == "pass"


@pytest.mark.parametrize("types,depth", [(2, 2), (1, 4), (3, 2), (2, 3)])
def test_stack_dfa_is_minimal(types, depth):
    dfa = dyck_dfa(types, depth)
    assert dfa.minimize().num_states == dfa.num_states == sum(types**d for d in range(depth + 1)) + 1


# ---- Hypothesis: long strings from the paper's generator and its corruptions -------------------


def positive(rng, n, types=2, depth=2):
    """One valid string by the generator of paper App. H.1 / tasks' Dyck docstring (pure Python,
    fast enough for n = 100,000): open if the stack is empty, close if it is full or must be
    emptied in time, otherwise open or close with probability 1/2."""
    coins = rng.random(n) < 0.5
    kinds = rng.integers(0, types, size=n)
    out, stack = [], []
    for i in range(n):
        d = len(stack)
        must_close = d == depth or d == n - i
        if d == 0 or (not must_close and coins[i]):
            stack.append(int(kinds[i]))
            out.append(2 * stack[-1])
        else:
            out.append(2 * stack.pop() + 1)
    return np.array(out, dtype=np.int64)


def corrupt(rng, x, types=2):
    """The negative sampler's corruption: c ~ U{1..max(1, n//10)} positions, each either changes
    its bracket type or flips open/close (the label is then whatever the reference says)."""
    x = x.copy()
    n = x.size
    c = int(rng.integers(1, max(1, n // 10) + 1))
    for i in rng.choice(n, size=c, replace=False):
        if types >= 2 and rng.random() < 0.5:
            x[i] = 2 * ((x[i] // 2 + rng.integers(1, types)) % types) + x[i] % 2
        else:
            x[i] ^= 1
    return x


N_VALUES = [2, 10, 1000, 100_000]


@settings(max_examples=examples(16))  # fewer than the profile's: every example runs n up to 100,000
@given(
    n=st.sampled_from(N_VALUES),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["positive", "corrupted", "one_flip", "swap_type", "task_sampler"]),
    where=st.floats(0, 1, exclude_max=True),
)
def test_hypothesis_long_strings(n, seed, kind, where):
    rng = np.random.default_rng(seed)
    if kind == "task_sampler" and n <= 1000:  # the task's own samplers (slow at n = 100,000)
        t = task(n)
        x = np.concatenate([t.sample_positive(rng, 2), t.sample_negative(rng, 2)])
    else:
        x = np.stack([positive(rng, n) for _ in range(2)])
        i = int(where * n)  # a Hypothesis-chosen position
        if kind == "corrupted":
            x = np.stack([corrupt(rng, row) for row in x])
        elif kind == "one_flip":
            x[:, i] ^= 1
        elif kind == "swap_type":
            x[:, i] = 2 * (1 - x[:, i] // 2) + x[:, i] % 2
    expected = task(n).solve(x)
    if kind == "positive":
        assert expected.all()
    assert np.array_equal(model(n).predict(x), expected)


# ---- precision, states, files -------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fixed:0.0", "float16", "bfloat16"])
def test_exhaustive_in_small_formats(precision):
    row = check(model(8), mode="exhaustive", precision=precision)
    assert row["status"] == "pass" and row["min_margin"] == 1.0


def sink_after(row, depth=2):
    """True if the prefix can no longer be completed: a bracket closed that is not on top of
    the stack, or more than ``depth`` unclosed brackets (explicit stack, independent of the DFA)."""
    stack = []
    for c in row:
        if c % 2 == 0:
            stack.append(c // 2)
            if len(stack) > depth:
                return True
        elif not stack or stack.pop() != c // 2:
            return True
    return False


def test_hidden_state_is_one_hot_or_zero_and_zero_iff_sink():
    x = np.concatenate(list(task(8).enumerate(4096)))
    h = model(8).hidden_states(x)  # [4^8, 9, 12]
    assert set(np.unique(h)) <= {0.0, 1.0}
    assert (h.sum(axis=2) <= 1).all()
    for L in (3, 8):
        zero = h[:, L].sum(axis=1) == 0
        assert np.array_equal(zero, np.array([sink_after(r[:L]) for r in x]))


def test_numpy_forward_and_save_load(tmp_path):
    m = model(10)
    path = tmp_path / "dyck.npz"
    m.save(path)
    x = task(10).sample(np.random.default_rng(3), 300)
    assert np.array_equal(numpy_forward.predict(path, x), task(10).solve(x))
    loaded = constructions.load(path)
    assert loaded.size() == m.size()
    assert check(loaded, mode="exhaustive")["status"] == "pass"


# ---- failures must be caught ------------------------------------------------------------------


def test_tampered_transition_fails_with_counterexample():
    m = model(6)
    wh = m.arrays()["rnn/wh"].copy()
    units = [tuple(u) for u in m.meta["construction"]["units"]]
    # unit of the empty stack after ")": redirect its "(" transition from stack "(" to stack "[("
    src = units.index((0, 1))
    wrong = units.index((5, 0))  # states breadth-first, bottom first: (), (, [, ((, ([, [(, [[, sink
    right = units.index((1, 0))
    assert wh[src, right] == 1 and wh[src, wrong] == 0
    wh[src, right], wh[src, wrong] = 0.0, 1.0
    row = check(m.with_arrays(**{"rnn/wh": wh}), mode="exhaustive")
    assert row["status"] == "fail" and row["failures"] > 0
    ce = row["counterexample"]
    assert ce["got"] != ce["expected"] or ce["margin"] <= 0
    assert 0 in ce["input"]  # the damaged transition reads "("


def test_paper_notes_one_unit_per_state_recipe_is_wrong():
    """docs/PAPER.md §11.3: h'_q' = ReLU(Σ_{δ(q,c)=q'} (h_q + x_c − 1)), width 8. As one Elman
    step this is Wh[q,q'] = #{c: δ(q,c)=q'}, Win[c,q'] = #{q: δ(q,c)=q'}, b[q'] = −#{(q,c)}. It
    rejects "()": into the empty stack go ("(", ")") and ("[", "]"), and 1 + (−1) = 0."""
    dfa = dyck_dfa(2, 2)
    S, A = dfa.num_states, dfa.alphabet_size
    T = dfa.table()
    wh = np.array([[np.sum(T[q] == q2) for q2 in range(S)] for q in range(S)], dtype=float)
    win = np.array([[np.sum(T[:, c] == q2) for q2 in range(S)] for c in range(A)], dtype=float)
    b = -np.array([np.sum(T == q2) for q2 in range(S)], dtype=float)
    h0 = np.eye(S)[0]
    acc = np.eye(S)[0]
    arrays = {
        "rnn/wh": wh,
        "rnn/win": win,
        "rnn/b": b,
        "rnn/h0": h0,
        "readout/w": np.stack([-acc, acc], 1),
        "readout/b": np.array([0.5, 0.0]),
    }
    naive = constructions.Model.from_arrays(arrays, model(2).meta)
    assert naive.predict(np.array([[0, 1]]))[0] == 0  # "()" rejected
    row = check(naive, mode="exhaustive")
    assert row["status"] == "fail" and row["counterexample"]["expected"] == 1


@pytest.mark.parametrize(
    "params,match",
    [
        ({"n": 4, "types": 0}, "types must be at least 1"),
        ({"n": 4, "depth": 0}, "depth must be at least 1"),
        ({"n": 0}, "n must be at least 1"),
        ({"n": 4, "types": 2.5}, "types must be an integer"),
        ({"n": 4, "types": 8, "depth": 5}, f"needs {dyck_width(8, 5)} units, more than"),
        ({"n": 4, "bogus": 1}, "does not take bogus"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(constructions.ConstructionError, match=match) as info:
        constructions.build("dyck", arch="rnn", **params)
    assert "\n" not in str(info.value)
