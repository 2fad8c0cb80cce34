"""verify/_myhill_nerode.py: RNN state counts against the communication matrix's requirement."""

import itertools

import numpy as np
import pytest

import bounds
import constructions
import tasks
from verify._myhill_nerode import distinguishable, myhill_nerode, pairwise_distinguishable_rows, state_count_check

MODELS = [
    ("dyck", {"n": 6}),
    ("dyck", {"n": 5, "types": 3, "depth": 1}),
    ("index_lookup", {"n": 4, "alphabet_size": 2}),
    ("index_lookup", {"n": 3, "alphabet_size": 3}),
    ("equality", {"n": 8}),
    ("disjointness", {"n": 6}),
    ("associative_recall", {"n": 3}),
    ("associative_recall", {"n": 2, "num_keys": 3, "num_values": 2}),
]


@pytest.mark.parametrize("task,params", MODELS, ids=[f"{t}-{p}" for t, p in MODELS])
def test_every_rnn_has_enough_states_at_every_cut(task, params):
    m = constructions.build(task, arch="rnn", **params)
    rows = myhill_nerode(m)
    assert [r["cut"] for r in rows] == list(range(1, tasks.get(task, **params).seq_len))
    for r in rows:
        assert r["status"] == "pass", r
        assert r["model_states"] >= r["required_states"] and r["consistent"]
        if r["matrix_total"]:
            assert r["required_states"] == r["distinct_rows"]


def test_the_lower_bound_cuts_need_exponentially_many_states():
    # equality at the halves: all 2^(n/2) first halves are pairwise distinguishable
    r = state_count_check(constructions.build("equality", arch="rnn", n=8), cut=4)
    assert r["required_states"] == 2**4 and r["model_states"] >= 2**4
    # index lookup before the index token: all s^n strings
    r = state_count_check(constructions.build("index_lookup", arch="rnn", n=4, alphabet_size=3), cut=4)
    assert r["required_states"] == 3**4 == r["model_states"]
    # associative recall before the query, K = n: every key is queryable, the matrix is total
    # and its rows are the V^n key -> value maps
    r = state_count_check(constructions.build("associative_recall", arch="rnn", n=3), cut=6)
    assert r["matrix_total"] and r["required_states"] == 2**3 == r["distinct_rows"]
    # K > n: partial (a query must be one of the keys); the V^n maps on one key set remain
    r = state_count_check(constructions.build("associative_recall", arch="rnn", n=2, num_keys=3), cut=4)
    assert not r["matrix_total"] and r["required_states"] == 2**2 and r["model_states"] >= 4
    assert r["distinct_rows"] > r["required_states"]  # distinct rows would overcount here


def test_greedy_clique_is_the_maximum_on_a_small_partial_matrix():
    t = tasks.get("associative_recall", n=2, num_keys=3, num_values=2)
    mat = bounds.communication_matrix(t, t.split("prefix", cut=4))
    dist = distinguishable(mat.values)
    best = 0
    R = dist.shape[0]
    for size in range(1, R + 1):
        if any(
            all(dist[a, b] for a, b in itertools.combinations(c, 2)) for c in itertools.combinations(range(R), size)
        ):
            best = size
        else:
            break
    assert len(pairwise_distinguishable_rows(mat.values)) == best


def test_distinguishable_on_hand_made_matrices():
    total = np.array([[0, 1], [0, 1], [1, 1]])
    assert len(pairwise_distinguishable_rows(total)) == 2
    partial = np.array([[0, -1], [-1, 1], [1, 0]])
    d = distinguishable(partial)
    assert not d[0, 1] and d[0, 2] and d[1, 2] and not d.diagonal().any()
    assert len(pairwise_distinguishable_rows(partial)) == 2  # though all 3 rows differ


def test_too_few_states_fail():
    m = constructions.build("equality", arch="rnn", n=6)
    start = {b["block"]: b["start"] for b in m.meta["construction"]["hidden_layout"]}["data"]
    wh = m.arrays()["rnn/wh"].copy()
    wh[start, start + 1] = 0.0  # the FIFO forgets everything past its first unit
    bad = m.with_arrays(**{"rnn/wh": wh})
    r = state_count_check(bad, cut=3)
    assert r["status"] == "fail" and r["model_states"] < r["required_states"] == 8
    assert not r["consistent"] and r["clash"] is not None


def test_merged_states_are_inconsistent():
    m = constructions.build("dyck", arch="rnn", n=4)
    units = [tuple(u) for u in m.meta["construction"]["units"]]
    wh = m.arrays()["rnn/wh"].copy()
    wh[units.index((0, 1)), units.index((1, 0))] = 0.0  # "(" from the empty stack now dies
    bad = m.with_arrays(**{"rnn/wh": wh})
    r = state_count_check(bad, cut=1)  # "(" and ")" now share the zero state; "(" + ")" tells them apart
    assert r["status"] == "fail" and not r["consistent"]
    assert sorted(r["clash"]["prefixes"]) == [[0], [1]] or [0] in r["clash"]["prefixes"]


def test_rejects_transformers():
    m = constructions.build("index_lookup", arch="tf1", n=4, alphabet_size=2)
    with pytest.raises(TypeError, match="RNNs"):
        state_count_check(m, cut=2)
