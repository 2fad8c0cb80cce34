"""Finite-state certificates of RNNs (verify/certify/_rnn_states.py): the Dyck RNN proved for every length,
tampered models failed with real counterexamples, drifting models refused, and a mutation loop
checking soundness (and exactness at length n) against the exhaustive check."""

import dataclasses
import functools

import numpy as np
import pytest

import constructions
import tasks
from constructions import Model
from verify import VerifyError, check
from verify.certify._rnn_states import certify_rnn, prove, reference_dfa, rnn_automaton


@functools.cache
def dyck(n, types=2, depth=2):
    return constructions.build("dyck", arch="rnn", n=n, types=types, depth=depth)


def _with(model, **arrays):
    w = dataclasses.replace(model.weights, **arrays)
    return Model(w, model.meta)


def _resized(model, n):
    """The same weights claiming the task at length n."""
    meta = {**model.meta, "seq_len": n, "task_params": {**model.meta["task_params"], "n": n}}
    return Model(model.weights, meta)


def _unit(model, tokens):
    """The coordinate of a compiled Dyck RNN that fires after ``tokens`` (one-hot states), found by
    running the model (tokens 2j open, 2j+1 close)."""
    free = Model(model.weights, {**model.meta, "seq_len": None})
    h = free.hidden_states(np.array([tokens]))[0, -1]
    assert h.sum() == 1
    return int(np.argmax(h))


def _exhaustive_failures(model, n, precision="float64"):
    """Failures of the engine's exhaustive check at length n (a tie counts as a failure)."""
    return check(_resized(model, n), mode="exhaustive", precision=precision)["failures"]


def test_reference_dfa_is_the_minimal_stack_automaton():
    for (k, D), states in {(2, 2): 8, (1, 3): 5, (3, 1): 5, (2, 3): 16}.items():
        ref = reference_dfa(tasks.get("dyck", n=6, types=k, depth=D))
        assert ref.num_states == states == sum(k**d for d in range(D + 1)) + 1


@pytest.mark.parametrize("precision", ["float64", "float32", "bfloat16", "float16", "fixed:0.0", "fixed:2.3"])
@pytest.mark.parametrize("types,depth", [(2, 2), (1, 3), (3, 1)])
def test_dyck_rnn_is_certified_for_every_length(types, depth, precision):
    m = dyck(6, types, depth)
    row = certify_rnn(m, precision)
    cert = row["certificate"]
    assert row["status"] == "pass" and row["failures"] == 0 and row["counterexample"] is None
    assert cert["proved_for"] == "every length" and cert["state_map_is_function"]
    assert row["min_margin"] == cert["min_margin_every_length"] == 1.0
    # one state per live stack + the zero vector for the sink, at least the Myhill–Nerode count
    ref = reference_dfa(tasks.get("dyck", n=6, types=types, depth=depth))
    assert cert["reference_states"] == ref.num_states
    assert cert["reachable_states"] >= ref.num_states
    assert row["inputs_checked"] == (2 * types) ** 6 and row["mode"] == "certified"


def test_the_certificate_holds_at_a_length_never_enumerated():
    """Proved at n=6 for every length: the same weights are right on all 4^10 inputs of length 10."""
    assert certify_rnn(dyck(6), "fixed:0.0")["certificate"]["proved_for"] == "every length"
    assert _exhaustive_failures(dyck(6), 10, "fixed:0.0") == 0


def _check_counterexample(model, row, precision="float64", misclassified=True):
    """The row's counterexample has length n and really fails: margin <= 0 in the model's own
    forward against the task's answer (and, if ``misclassified``, a wrong prediction)."""
    cx = row["counterexample"]
    assert cx is not None and len(cx["input"]) == model.task_params["n"]
    x = np.array([cx["input"]])
    task = tasks.get("dyck", **model.task_params)
    expected = int(task.solve(x)[0])
    lg = model.logits(x, precision=precision)[0]
    assert cx["expected"] == expected and cx["got"] == int(np.argmax(lg))
    assert not lg[expected] > lg[1 - expected]
    if misclassified:
        assert model.predict(x, precision=precision)[0] != expected


@pytest.mark.parametrize("precision", ["float64", "fixed:0.0"])
def test_a_transition_used_only_at_depth_two_is_caught(precision):
    """Cut the edge "((" --)--> "(": only strings that reach depth 2 with "((" see it."""
    m = dyck(8)
    src, dst = _unit(m, [0, 0]), _unit(m, [0, 0, 1])  # after "((" and after "(()"
    wh = m.weights.wh.copy()
    assert wh[src, dst] == 1.0
    wh[src, dst] = 0.0
    bad = _with(m, wh=wh)
    row = certify_rnn(bad, precision)
    assert row["status"] == "fail" and row["failures"] > 0
    assert row["certificate"]["proved_for"] is None
    _check_counterexample(bad, row, precision)
    assert 0 in row["counterexample"]["input"] and row["counterexample"]["expected"] == 1
    shortest = row["certificate"]["shortest_counterexample"]
    assert shortest["input"] == [0, 0, 1, 1]  # the shortest string through the cut edge
    # the same weights at length 2 never use the edge: right at n=2, but not for every length
    short = certify_rnn(_resized(bad, 2), precision)
    assert short["status"] == "pass" and short["certificate"]["proved_for"] == "length n"
    assert _exhaustive_failures(bad, 2, precision) == 0
    assert certify_rnn(_resized(bad, 2), precision, every_length=True)["status"] == "fail"


def test_a_readout_change_is_caught():
    m = dyck(8)
    unit = _unit(m, [2, 3])  # the empty stack reached by "]"
    rw = m.weights.readout_w.copy()
    rw[unit] = 0.0  # strings ending in "]" are now rejected
    bad = _with(m, readout_w=rw)
    row = certify_rnn(bad, "float64")
    assert row["status"] == "fail"
    _check_counterexample(bad, row)
    assert row["counterexample"]["input"][-1] == 3
    assert row["failures"] == 1 and row["min_margin"] == -1.0


def test_drifting_states_are_refused():
    """An extra unit counting the tokens: infinitely many states in float64; refused, not passed."""
    m = dyck(8)
    w = m.weights
    k = w.wh.shape[0]
    wh = np.zeros((k + 1, k + 1))
    wh[:k, :k] = w.wh
    wh[k, k] = 1.0
    grown = dataclasses.replace(
        w,
        wh=wh,
        win=np.concatenate([w.win, np.ones((w.win.shape[0], 1))], 1),
        b=np.zeros(k + 1),
        h0=np.append(w.h0, 0.0),
        readout_w=np.concatenate([w.readout_w, np.zeros((1, 2))]),
    )
    drift = Model(grown, m.meta)
    with pytest.raises(VerifyError, match="do not close"):
        certify_rnn(drift, "float64", max_states=500)
    # in fixed:0.0 the counter saturates at 1: a finite machine again, and a correct one
    row = certify_rnn(drift, "fixed:0.0")
    assert row["status"] == "pass" and row["certificate"]["reachable_states"] > 13


def test_product_layers_are_exact_at_length_n():
    """P_n contains exactly the (RNN state, task state) pairs that strings of length n reach."""
    m = dyck(5)
    auto = rnn_automaton(m, "float64")
    ref = reference_dfa(tasks.get("dyck", n=5))
    proof = prove(auto, ref, 5)
    x = np.concatenate(list(tasks.get("dyck", n=5).enumerate()))
    hs = m.hidden_states(x)[:, -1]
    index = {auto.states[i].tobytes(): i for i in range(auto.num_states)}
    h = np.array([index[v.tobytes()] for v in hs])
    q = ref.delta[0, x[:, 0]]
    for i in range(1, 5):
        q = ref.delta[q, x[:, i]]
    reached = {(int(a), int(b)) for a, b in zip(h, q)}
    at_n = {tuple(map(int, proof.pairs[p])) for p in np.flatnonzero(proof.at_n)}
    assert reached == at_n


def test_no_reference_automaton_is_refused():
    m = constructions.build("index_lookup", arch="rnn", n=4, alphabet_size=2)
    with pytest.raises(VerifyError, match="no reference automaton"):
        certify_rnn(m)


def _mutants(count, seed=0):
    base = dyck(8)
    rng = np.random.default_rng(seed)
    names = ["win", "wh", "b", "h0", "readout_w", "readout_b"]
    for _ in range(count):
        name = names[rng.integers(len(names))]
        a = getattr(base.weights, name).copy()
        i = tuple(int(rng.integers(s)) for s in a.shape)
        a[i] = (
            rng.choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]) if rng.random() < 0.6 else a[i] + rng.uniform(-0.6, 0.6)
        )
        yield name, i, _with(base, **{name: a})


@pytest.mark.parametrize("precision", ["float64", "fixed:1.1"])
def test_mutation_loop_soundness(precision):
    """50 single-entry perturbations: a pass means the exhaustive check passes (length 8, and
    length 10 when proved for every length); a fail at length 8 is a real failure there."""
    outcome = {"every length": 0, "length n": 0, "fail": 0, "refused": 0}
    for name, i, m in _mutants(50):
        try:
            row = certify_rnn(m, precision, max_states=2000)
        except VerifyError as e:
            assert "do not close" in str(e), (name, i, str(e))
            outcome["refused"] += 1
            continue
        failures8 = _exhaustive_failures(m, 8, precision)
        if row["status"] == "pass":
            assert failures8 == 0, (name, i)
            if row["certificate"]["proved_for"] == "every length":
                assert _exhaustive_failures(m, 10, precision) == 0, (name, i)
            outcome[row["certificate"]["proved_for"]] += 1
        else:
            assert failures8 > 0, (name, i)  # part (b) is exact at length n
            _check_counterexample(m, row, precision, misclassified=False)
            outcome["fail"] += 1
    assert outcome["fail"] and outcome["every length"], outcome  # the loop exercised both sides


def test_a_step_that_disagrees_with_the_forward_pass_is_refused(monkeypatch):
    """The replay guard: if the stepwise evaluation differed from the forward pass (here a step that
    never moves), the certificate is refused rather than trusted."""
    import verify.certify._rnn_states as cr

    _, readout, start = cr._kernels("float64")
    monkeypatch.setattr(cr, "_kernels", lambda precision: (lambda w, h, c: h, readout, start))
    with pytest.raises(VerifyError, match="differs from the forward pass"):
        certify_rnn(dyck(4), "float64")


def test_certified_mode_dispatches_rnns_through_the_registry(capsys):
    """`verify --certify` reaches the RNN proofs through verify/certify/'s registry: the Dyck RNN is
    proved for every length by one command, the tight equality RNN at its length, and the
    index-lookup RNN by its structural proof (verify/certify/_rnn_lookup.py)."""
    import json

    from verify._cli import main
    from verify.certify import CERTIFIABLE, can_certify, certify

    assert "dyck" in CERTIFIABLE
    assert main(["--task", "dyck", "--arch", "rnn", "--n", "200", "--certify", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["mode"] == "certified" and row["status"] == "pass"
    assert row["certificate"]["proved_for"] == "every length"
    assert main(["--task", "dyck", "--arch", "rnn", "--n", "200", "--certify"]) == 0
    assert "right on every input of every length" in capsys.readouterr().out
    eq = constructions.build("equality", arch="rnn", n=10)
    assert can_certify(eq) and certify(eq)["status"] == "pass"
    il = constructions.build("index_lookup", arch="rnn", n=4, alphabet_size=2)
    assert can_certify(il)
    assert main(["--task", "index_lookup", "--arch", "rnn", "--n", "4", "--alphabet-size", "2", "--certify"]) == 0
    # a tampered Dyck RNN (one transition cut, as in the tests above) fails through the same path
    m = dyck(8)
    wh = np.array(m.weights.wh)
    wh[_unit(m, [0]), _unit(m, [0, 0])] = 0.0  # "((": the second open no longer reaches depth 2
    row = certify(_with(m, wh=wh))
    assert row["status"] == "fail" and row["counterexample"] is not None
