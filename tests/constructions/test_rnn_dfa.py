"""The DFA -> ReLU RNN compiler (constructions/dfa.py) against direct DFA simulation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions import ConstructionError
from constructions.dfa import DFA, compile_dfa, dfa_model

from testkit import examples

LENGTHS = [0, 1, 7]  # few lengths: each new shape is a new compilation
BATCH = 64


def simulate(table, start, accepting, x):
    """Accept/reject of each row of x, by walking the table (independent of constructions.dfa)."""
    out = []
    for row in np.asarray(x):
        q = start
        for c in row:
            q = table[q][c]
        out.append(q in accepting)
    return np.array(out, dtype=np.int64)


def dead_after(table, accepting, start, x):
    """True where the state after x can no longer reach an accepting state."""
    S = len(table)
    live = set(accepting)
    changed = True
    while changed:
        changed = False
        for q in range(S):
            if q not in live and any(t in live for t in table[q]):
                live.add(q)
                changed = True
    out = []
    for row in np.asarray(x):
        q = start
        for c in row:
            q = table[q][c]
        out.append(q not in live)
    return np.array(out)


@st.composite
def dfas(draw, max_states=5, alphabets=(1, 2, 3)):
    # small ranges on purpose: equal widths reuse one compilation
    S = draw(st.integers(1, max_states))
    A = draw(st.sampled_from(alphabets))
    table = [[draw(st.integers(0, S - 1)) for _ in range(A)] for _ in range(S)]
    start = draw(st.integers(0, S - 1))
    accepting = draw(st.sets(st.integers(0, S - 1)))
    return table, start, accepting


@settings(max_examples=examples(30))  # fewer than the profile's: every example builds and runs a new model
@given(spec=dfas(), L=st.sampled_from(LENGTHS), seed=st.integers(0, 2**32 - 1))
def test_random_dfa_agrees_with_simulation(spec, L, seed):
    table, start, accepting = spec
    dfa = DFA(len(table), len(table[0]), table, start, accepting)
    model = dfa_model(dfa, seq_len=L)
    S, A = dfa.num_states, dfa.alphabet_size
    assert model.size()["width"] <= S * A + 1
    x = np.random.default_rng(seed).integers(0, A, size=(BATCH, L))
    expected = simulate(table, start, accepting, x)
    logits = model.logits(x)
    assert np.array_equal(np.argmax(logits, axis=1), expected)
    # exact logits (1 - a, a): the margin is exactly 1
    assert np.array_equal(logits, np.stack([1 - expected, expected], axis=1).astype(float))
    # the state is one-hot, or zero exactly when the DFA sits in a dead state
    h = model.hidden_states(x)[:, -1]
    assert set(np.unique(h)) <= {0.0, 1.0}
    assert np.array_equal(h.sum(axis=1) == 0, dead_after(table, accepting, start, x))
    assert (h.sum(axis=1) <= 1).all()


@settings(max_examples=examples(8))  # fewer still: a new model per example, run on the fixed-point grid
@given(spec=dfas(max_states=3, alphabets=(2,)), seed=st.integers(0, 2**32 - 1))
def test_random_dfa_exact_in_one_bit_fixed_point(spec, seed):
    table, start, accepting = spec
    dfa = DFA(len(table), len(table[0]), table, start, accepting)
    model = dfa_model(dfa, seq_len=7)
    x = np.random.default_rng(seed).integers(0, dfa.alphabet_size, size=(BATCH, 7))
    expected = simulate(table, start, accepting, x)
    logits = model.logits(x, precision="fixed:0.0")  # the grid {-1, 0, 1}
    assert np.array_equal(logits, np.stack([1 - expected, expected], axis=1).astype(float))
    h = model.hidden_states(x, precision="fixed:0.0")
    assert set(np.unique(h)) <= {0.0, 1.0}


@given(spec=dfas(), seed=st.integers(0, 2**32 - 1))
def test_minimize_preserves_language_and_is_minimal(spec, seed):
    table, start, accepting = spec
    dfa = DFA(len(table), len(table[0]), table, start, accepting)
    small = dfa.minimize()
    assert small.num_states <= len(dfa.reachable())
    assert small.minimize().num_states == small.num_states
    x = np.random.default_rng(seed).integers(0, dfa.alphabet_size, size=(200, 6))
    assert np.array_equal(small.accepts(x), simulate(table, start, accepting, x).astype(bool))
    assert np.array_equal(dfa.accepts(x), simulate(table, start, accepting, x).astype(bool))
    # every pair of minimal states is told apart by some string of length < number of states
    k = small.num_states
    words = [np.zeros((1, 0), dtype=np.int64)]
    for length in range(1, k):
        grid = np.stack(np.meshgrid(*[np.arange(small.alphabet_size)] * length, indexing="ij"), -1)
        words.append(grid.reshape(-1, length))
    for p in range(k):
        for q in range(p + 1, k):
            told = False
            for w in words:
                a = DFA(k, small.alphabet_size, small.transitions, p, set(small.accepting)).accepts(w)
                b = DFA(k, small.alphabet_size, small.transitions, q, set(small.accepting)).accepts(w)
                if (a != b).any():
                    told = True
                    break
            assert told, (p, q)


def test_compiled_layout_and_weights_are_small_integers():
    dfa = DFA(3, 2, [[1, 0], [2, 0], [2, 2]], 0, {1})  # state 2 is dead
    c = compile_dfa(dfa)
    w = c.weights
    for a in (w.win, w.wh, w.b, w.h0, w.readout_w, w.readout_b):
        assert set(np.unique(a)) <= {-1.0, 0.0, 1.0}
    assert all(q != 2 for q, _ in c.units)  # the dead state has no unit
    assert c.layout.names == ["after[0]", "after[1]", "start"]
    assert c.width == len(c.units) == c.layout.dim


def test_start_unit_only_when_needed():
    # q0 = 0 is no transition target: a start unit is added and never fires again
    dfa = DFA(2, 1, [[1], [1]], 0, {0})
    c = compile_dfa(dfa)
    assert c.units[-1] == (0, None)
    model = dfa_model(dfa, seq_len=3)
    h = model.hidden_states(np.zeros((1, 3), dtype=np.int64))[0]
    assert h[0, -1] == 1 and (h[1:, -1] == 0).all()
    assert model.predict(np.zeros((1, 3), dtype=np.int64))[0] == 0
    # the empty language: one unit, always 0, always reject
    empty = DFA(2, 2, [[1, 1], [1, 1]], 0, set())
    m = dfa_model(empty, seq_len=4)
    assert m.size()["width"] == 1
    x = np.random.default_rng(0).integers(0, 2, size=(16, 4))
    assert (m.predict(x) == 0).all() and (m.hidden_states(x) == 0).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            dict(num_states=2, alphabet_size=2, transitions={(0, 0): 1, (0, 1): 0, (1, 0): 1}),
            "missing transition: state 1 on symbol 1",
        ),
        (
            dict(num_states=2, alphabet_size=2, transitions=[[0, 1], [None, 1]]),
            "missing transition: state 1 on symbol 0",
        ),
        (dict(num_states=2, alphabet_size=2, transitions=[[0, 1], [1]]), "missing transition: state 1 on symbol 1"),
        (dict(num_states=2, alphabet_size=2, transitions=[[0, 1]]), "1 rows, expected one per state"),
        (dict(num_states=2, alphabet_size=2, transitions=[[0, 5], [0, 1]]), r"\(0, 1\) -> 5: state out of range"),
        (dict(num_states=2, alphabet_size=2, transitions=[[0, 1], [0, 1]], start=2), "start state 2 is out of range"),
        (dict(num_states=2, alphabet_size=2, transitions=[[0, 1], [0, 1]], accepting={3}), "accepting state 3"),
        (dict(num_states=2, alphabet_size=0, transitions=[[], []]), "non-empty alphabet"),
        (dict(num_states=0, alphabet_size=2, transitions=[]), "at least one state"),
        (dict(num_states=1, alphabet_size=2, transitions={(0, 2): 0}), "symbol 2: symbol out of range"),
        (dict(num_states=1, alphabet_size=1, transitions=[[0.5]]), "must be an integer"),
        (dict(num_states=1, alphabet_size=1, transitions=[[0, 0]]), "more than the 1 symbols"),
    ],
)
def test_bad_dfa_gets_one_line_error(kwargs, match):
    with pytest.raises(ConstructionError, match=match) as info:
        DFA(**kwargs)
    assert "\n" not in str(info.value)


def test_compile_rejects_non_dfa():
    with pytest.raises(ConstructionError, match="takes a DFA"):
        compile_dfa([[0]])
