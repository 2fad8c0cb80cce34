"""The associative-recall certificate (verify/certify/_recall.py): passes on the built models and
agrees with the exhaustive check, its enclosures contain the model's logits on every input, it is
sound on perturbed models, and a model with two colliding keys that sampling misses fails it."""

import json

import numpy as np
import pytest

import constructions
import tasks
from verify import check, main
from verify.certify import certify, recall_boxes

from testkit import built


def model(n, K, V):
    return built("associative_recall", "tf2", n=n, num_keys=K, num_values=V, seed=0)


@pytest.mark.parametrize("n,K,V,precision", [(2, 3, 2, "float64"), (3, 4, 3, "float64"), (3, 4, 2, "fixed:8.12")])
def test_certificate_covers_every_input_and_agrees_with_exhaustive(n, K, V, precision):
    m = model(n, K, V)
    row = certify(m, precision)
    task = tasks.get("associative_recall", n=n, num_keys=K, num_values=V)
    assert row["mode"] == "certified" and row["status"] == "pass"
    assert row["inputs_checked"] == task.num_inputs and row["certificate"]["cells"] == n * K * V
    ex = check(m, mode="exhaustive", precision=precision)
    assert ex["status"] == "pass"
    assert row["min_margin"] <= ex["min_margin"] + 1e-12


@pytest.mark.parametrize("n,K,V,precision", [(2, 3, 2, "float64"), (3, 4, 2, "fixed:4.6")])
def test_enclosures_contain_the_model_logits_on_every_input(n, K, V, precision):
    """Every logit the forward pass computes lies in the box of its cell (i, c, y)."""
    m = model(n, K, V)
    task = tasks.get("associative_recall", n=n, num_keys=K, num_values=V)
    box = recall_boxes(m, precision)
    x = np.concatenate(list(task.enumerate()))
    i = np.argmax(x[:, 0 : 2 * n : 2] == x[:, 2 * n, None], axis=1)
    cell = (i, x[:, 2 * n], task.solve(x))
    lg = m.logits(x, precision=precision)
    assert np.all(box.lo[cell] <= lg) and np.all(lg <= box.hi[cell])


def test_recall_certificate_sound_on_one_weight_perturbations():
    base = model(2, 3, 2)
    arrays = base.arrays()
    rng = np.random.default_rng(3)
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
            row = certify(m, "float64", witnesses=False)
            ex = check(m, mode="exhaustive")
            seen[row["status"]] += 1
            seen["wrong"] += ex["status"] == "fail"
            if row["status"] == "pass":
                assert ex["status"] == "pass", (name, at, scale)
    assert seen["pass"] and seen["fail"] and seen["wrong"], seen


def _tampered(tmp_path, n=4, K=256, V=2, samples=1000, seed=0):
    """Key c* embedded as its neighbour c* ^ 1: wrong only when both keys are present and one is
    queried (c*: a pair that the sampler with this seed never puts in one input)."""
    task = tasks.get("associative_recall", n=n, num_keys=K, num_values=V)
    keys = task.sample(np.random.default_rng(seed), samples)[:, 0 : 2 * n : 2]
    both = {c for c in range(0, K, 2) if np.any(np.any(keys == c, 1) & np.any(keys == c + 1, 1))}
    c_star = max(set(range(0, K, 2)) - both)
    m = model(n, K, V)
    E = m.arrays()["embed/token"].copy()
    E[c_star] = E[c_star + 1]
    path = tmp_path / "tampered.npz"
    m.with_arrays(**{"embed/token": E}).save(path)
    return path, c_star


def test_tampered_model_passes_sampling_but_not_the_certificate(capsys, tmp_path):
    path, c_star = _tampered(tmp_path)
    assert main(["--load", str(path), "--samples", "1000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "pass"
    assert main(["--load", str(path), "--certify", "--json"]) == 1
    row = json.loads(capsys.readouterr().out)[0]
    assert row["mode"] == "certified" and row["status"] == "fail"
    assert {c for _, c, _ in row["certificate"]["unproved_cells"]} <= {c_star, c_star + 1}
    ce = row["counterexample"]
    assert ce is not None and ce["got"] != ce["expected"]
    x = np.array([ce["input"]])
    assert constructions.load(path).predict(x)[0] == ce["got"]  # a real failing input
    assert {c_star, c_star + 1} <= set(x[0, 0:8:2].tolist())
