"""Structural certificates of the index-lookup and associative-recall RNNs
(verify/certify/_rnn_lookup.py, verify/certify/_rnn_recall.py): proved on the built models, in the
formats they are exact in; never passed where the exhaustive check finds a failing input."""

import dataclasses

import numpy as np
import pytest

import constructions
import tasks
from constructions import Model
from verify import VerifyError, check
from verify.certify import can_certify, certify

LOOKUP = ("index_lookup", {"n": 4, "alphabet_size": 3})
RECALL = ("associative_recall", {"n": 3})


@pytest.mark.parametrize("precision", ["float64", "float16", "fixed:1.0"])
@pytest.mark.parametrize(("n", "s"), [(1, 2), (5, 3), (40, 4)])
def test_index_lookup_rnn_is_certified(n, s, precision):
    m = constructions.build("index_lookup", arch="rnn", n=n, alphabet_size=s)
    assert can_certify(m)
    row = certify(m, precision)
    assert row["status"] == "pass" and row["failures"] == 0 and row["min_margin"] == 1.0
    assert row["inputs_checked"] == (s**n * n if n * np.log2(s) < 50 else f"{s}^{n}·{n}")
    assert row["certificate"]["units"]["units"] == m.weights.wh.shape[0]


@pytest.mark.parametrize("precision", ["float64", "bfloat16", "exact fixed"])
@pytest.mark.parametrize(
    "params", [{"n": 1}, {"n": 3, "num_values": 3}, {"n": 3, "num_keys": 5, "num_values": 1}, {"n": 24}]
)
def test_associative_recall_rnn_is_certified(params, precision):
    m = constructions.build("associative_recall", arch="rnn", **params)
    if precision == "exact fixed":  # the smallest fixed format its docstring proves exact
        precision = m.meta["construction"]["exact_fixed_format"]
    assert can_certify(m)
    row = certify(m, precision)
    assert row["status"] == "pass" and row["failures"] == 0, row["certificate"]["unproved"]
    assert row["min_margin"] >= 1.0
    if params["n"] < 8:
        assert row["inputs_checked"] == tasks.get("associative_recall", **params).num_inputs


@pytest.mark.parametrize(("task", "params"), [LOOKUP, RECALL])
def test_too_narrow_format_agrees_with_exhaustive(task, params):
    """fixed:0.0 clips sums the models need (|partial sums| up to 2): the certificate passes only
    where the exhaustive check does, and a counterexample it gives is real."""
    m = constructions.build(task, arch="rnn", **params)
    row = certify(m, "fixed:0.0")
    failures = check(m, mode="exhaustive", precision="fixed:0.0")["failures"]
    assert (row["status"] == "pass") == (failures == 0)
    if row["counterexample"] is not None:
        assert not row["counterexample"]["margin"] > 0


def _mutants(task, params, count, seed):
    base = constructions.build(task, arch="rnn", **params)
    rng = np.random.default_rng(seed)
    names = ["win", "wh", "b", "h0", "readout_w", "readout_b"]
    for _ in range(count):
        name = names[rng.integers(len(names))]
        a = getattr(base.weights, name).copy()
        i = tuple(int(rng.integers(s)) for s in a.shape)
        a[i] = (
            rng.choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]) if rng.random() < 0.6 else a[i] + rng.uniform(-0.6, 0.6)
        )
        yield name, i, Model(dataclasses.replace(base.weights, **{name: a}), base.meta)


@pytest.mark.parametrize(("task", "params"), [LOOKUP, RECALL])
def test_mutation_loop_soundness(task, params):
    """Single-entry perturbations: a pass implies the exhaustive check passes; a counterexample is real."""
    seen = {"pass": 0, "fail": 0, "refused": 0}
    for k, (name, i, m) in enumerate(_mutants(task, params, 20, seed=1)):
        precision = ("float64", "fixed:2.1")[k % 2]
        try:
            row = certify(m, precision)
        except VerifyError:
            seen["refused"] += 1
            continue
        failures = check(m, mode="exhaustive", precision=precision)["failures"]
        if row["status"] == "pass":
            assert failures == 0, (name, i, precision)
        elif row["counterexample"] is not None:
            assert failures > 0 and not row["counterexample"]["margin"] > 0, (name, i, precision)
        seen[row["status"]] += 1
    assert seen["pass"] and seen["fail"], seen
