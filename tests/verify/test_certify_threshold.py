"""The THRES certificate (verify/certify/_threshold.py): passes on the built models and agrees with
the exhaustive check, its enclosures contain the model's logits on every input, it is sound on
perturbed models (whenever it passes, the exhaustive check passes), and a model built for a
different instance that sampling misses fails it."""

import functools
import json

import numpy as np
import pytest

import constructions
import tasks
from verify import check, main
from verify.certify import certify, threshold_boxes

INSTANCES = {
    "disjointness": lambda n: tasks.threshold_params_disjointness(n),
    "equality": lambda n: tasks.threshold_params_equality(n),
    "dnf": lambda n: tasks.threshold_params_random_dnf(n, 2, n // 2, np.random.default_rng(0)),
    "cnf": lambda n: tasks.threshold_params_random_cnf(n, 3, n // 2, np.random.default_rng(1)),
}


@functools.cache
def model(instance, n):
    return constructions.build("threshold", arch="tf2", seed=0, **INSTANCES[instance](n))


@pytest.mark.parametrize(
    "instance,n,precision",
    [("disjointness", 8, "float64"), ("equality", 6, "float64"), ("dnf", 8, "float64"), ("cnf", 10, "fixed:6.10")],
)
def test_certificate_covers_every_input_and_agrees_with_exhaustive(instance, n, precision):
    m = model(instance, n)
    row = certify(m, precision)
    assert row["mode"] == "certified" and row["status"] == "pass", row["certificate"]
    assert row["inputs_checked"] == 2**n and row["failures"] == 0
    ex = check(m, mode="exhaustive", precision=precision)
    assert ex["status"] == "pass"
    assert row["min_margin"] <= ex["min_margin"] + 1e-12  # a lower bound of the observed margin


@pytest.mark.parametrize("instance,n,precision", [("dnf", 8, "float64"), ("cnf", 10, "fixed:3.5")])
def test_enclosures_contain_the_model_logits_on_every_input(instance, n, precision):
    """Soundness on concrete inputs: every logit the forward pass computes lies in the box of the
    cell of its count G (every input of {0,1}^n)."""
    m = model(instance, n)
    params = INSTANCES[instance](n)
    task = tasks.get("threshold", **params)
    cells, box = threshold_boxes(m, precision)
    x = np.concatenate(list(task.enumerate()))
    count = sum(
        np.array(T)[sum(x[:, p] << b for b, p in enumerate(I))]
        for I, T in zip(params["index_sets"], params["truth_tables"])
    )
    row = count - cells[0]
    assert np.array_equal(cells, np.arange(cells[0], cells[0] + len(cells)))
    lg = m.logits(x, precision=precision)
    assert np.all(box.lo[row] <= lg) and np.all(lg <= box.hi[row])


@pytest.mark.parametrize("instance,n,precision", [("dnf", 8, "float64")])
def test_threshold_certificate_sound_on_one_weight_perturbations(instance, n, precision):
    base = model(instance, n)
    arrays = base.arrays()
    rng = np.random.default_rng(n)
    names = sorted(k for k, a in arrays.items() if np.any(a))
    seen = {"pass": 0, "fail": 0, "wrong": 0}
    for trial in range(6):
        name = names[rng.integers(len(names))]
        a = arrays[name]
        pool = np.flatnonzero(a) if trial % 3 else np.arange(a.size)
        at = np.unravel_index(rng.choice(pool), a.shape)
        sign = rng.choice([-1.0, 1.0])
        for scale in (1e-6, 1e-2, 1e-1, 1.0, 10.0):
            moved = a.copy()
            moved[at] += sign * scale * np.abs(a).max()
            m = base.with_arrays(**{name: moved})
            try:
                status = certify(m, precision, witnesses=False)["status"]
            except ValueError:  # refused (e.g. layer 2 no longer a uniform average)
                status = "fail"
            ex = check(m, mode="exhaustive", precision=precision)
            seen[status] += 1
            seen["wrong"] += ex["status"] == "fail"
            if status == "pass":
                assert ex["status"] == "pass", (name, at, scale, precision)
    assert seen["pass"] and seen["fail"] and seen["wrong"], seen


def test_layer2_that_does_not_average_is_refused():
    m = model("dnf", 8)
    wq = m.arrays()["layer1/attn/wq"].copy()
    wq[0, 0, 0] = 1.0
    wk = m.arrays()["layer1/attn/wk"].copy()
    wk[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="average uniformly"):
        certify(m.with_arrays(**{"layer1/attn/wq": wq, "layer1/attn/wk": wk}))


def _tampered(tmp_path, n=64, samples=1000, seed=0):
    """The disjointness instance, with the model of pair j* built for the table NAND → constant 1
    (j*: a pair that no sampled string has as its only intersecting pair)."""
    real = tasks.threshold_params_disjointness(n)
    h = n // 2
    x = tasks.get("threshold", **real).sample(np.random.default_rng(seed), samples)
    both = x[:, :h] & x[:, h:]
    sole = set(range(h)) - set(np.argmax(both[both.sum(1) == 1], 1).tolist())
    j = max(sole)
    wrong = {**real, "truth_tables": [[1, 1, 1, 1] if i == j else t for i, t in enumerate(real["truth_tables"])]}
    m = constructions.build("threshold", arch="tf2", seed=0, **wrong, task_params=real)
    path = tmp_path / "tampered.npz"
    m.save(path)
    return path, j


def test_tampered_model_passes_sampling_but_not_the_certificate(capsys, tmp_path):
    path, j = _tampered(tmp_path)
    assert main(["--load", str(path), "--samples", "1000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "pass"
    assert main(["--load", str(path), "--certify", "--json"]) == 1
    row = json.loads(capsys.readouterr().out)[0]
    assert row["mode"] == "certified" and row["status"] == "fail"
    assert row["certificate"]["unproved_cells"] == [31]  # G = n/2 − 1: exactly one pair intersects
    ce = row["counterexample"]
    assert ce is not None and ce["got"] != ce["expected"]
    x = np.array([ce["input"]])
    assert constructions.load(path).predict(x)[0] == ce["got"]  # a real failing input
    assert x[0, j] == x[0, j + 32] == 1
