"""Bit-level certificates of the tight equality / disjointness RNNs (verify/certify/_rnn_bits.py):
proved in the formats they are exact in, failed (with a real counterexample) where they are not,
and a mutation loop checking soundness against the exhaustive check."""

import dataclasses

import numpy as np
import pytest

import constructions
import tasks
from constructions import Model
from verify import VerifyError, check
from verify.certify._rnn_bits import boolean_network, certify_bits
from verify.certify._rnn_states import certify_rnn


@pytest.mark.parametrize("precision", ["float64", "float16", "fixed:1.0"])
@pytest.mark.parametrize("task", ["equality", "disjointness"])
@pytest.mark.parametrize("n", [2, 8, 100])
def test_tight_rnns_are_certified(task, n, precision):
    m = constructions.build(task, arch="rnn", n=n)
    row = certify_rnn(m, precision)  # dispatches to the bit-level proof
    assert row["status"] == "pass" and row["failures"] == 0 and row["min_margin"] == 1.0
    assert row["certificate"]["proved_for"] == "length n"
    assert row["inputs_checked"] == (2**n if n < 60 else f"2^{n}")
    units = row["certificate"]["units"]
    assert sum(units.values()) == m.weights.wh.shape[0] and units["control"] <= 5


def test_equality_in_fixed_0_0_fails_with_a_real_counterexample():
    """Its docstring needs fixed:1.0 (partial sums reach 2); in fixed:0.0 the proof must fail."""
    m = constructions.build("equality", arch="rnn", n=8)
    row = certify_bits(m, "fixed:0.0")
    assert row["status"] == "fail"
    x = np.array([row["counterexample"]["input"]])
    assert m.predict(x, precision="fixed:0.0")[0] != tasks.get("equality", n=8).solve(x)[0]
    assert certify_bits(constructions.build("disjointness", arch="rnn", n=8), "fixed:0.0")["status"] == "pass"


def test_a_miswired_fifo_is_caught():
    """Skip one FIFO stage: the comparison reads x_{T-N+1}; the proof fails, the failure is real."""
    m = constructions.build("disjointness", arch="rnn", n=8)
    net = boolean_network(m)
    copies = [k for k in range(len(net.reads)) if net.kind(k)[0] == "copy"]
    k = copies[-1]
    j = net.kind(k)[1]
    wh = m.weights.wh.copy()
    wh[j, k], wh[net.kind(j)[1], k] = 0.0, 1.0  # copy from two back
    bad = Model(dataclasses.replace(m.weights, wh=wh), m.meta)
    row = certify_bits(bad, "float64")
    assert row["status"] == "fail" and row["counterexample"] is not None
    assert check(bad, mode="exhaustive")["failures"] > 0


def _mutants(task, count, seed):
    base = constructions.build(task, arch="rnn", n=8)
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


@pytest.mark.parametrize("task", ["equality", "disjointness"])
@pytest.mark.parametrize("precision", ["float64", "fixed:1.1"])
def test_mutation_loop_soundness(task, precision):
    """40 single-entry perturbations: whenever the certificate passes, the exhaustive check passes."""
    seen = {"pass": 0, "fail": 0, "refused": 0}
    for name, i, m in _mutants(task, 40, seed=1):
        try:
            row = certify_bits(m, precision)
        except VerifyError:
            seen["refused"] += 1
            continue
        failures = check(m, mode="exhaustive", precision=precision)["failures"]
        if row["status"] == "pass":
            assert failures == 0, (name, i)
        elif row["counterexample"] is not None:
            assert failures > 0, (name, i)
        seen[row["status"]] += 1
    assert seen["pass"] and seen["fail"], seen
