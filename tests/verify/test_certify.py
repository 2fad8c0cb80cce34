"""Certified mode (verify/certify/): sound enclosures, proofs that match the exhaustive check,
and a tampered model that sampling misses but the certificate refuses."""

import json

import numpy as np
import pytest

import constructions
import tasks
from verify import check, main
from verify.certify import VerifyError, certify, index_lookup_boxes

from testkit import built


def model(n, s, addresses="random"):
    return built("index_lookup", "tf1", n=n, alphabet_size=s, seed=0, addresses=addresses)


def _cells(x, n, s):
    t = x[:, n] - s
    return t, x[np.arange(len(x)), t]


@pytest.mark.parametrize("precision", ["float64", "fixed:6.10", "fixed:4.5", "fixed:2.3"])
@pytest.mark.parametrize("n,s", [(1, 2), (6, 3), (40, 4)])
def test_enclosures_contain_the_model_logits(precision, n, s):
    """Soundness on concrete inputs: every logit the forward pass computes lies in its cell's box."""
    m = model(n, s)
    x = tasks.get("index_lookup", n=n, alphabet_size=s).sample(np.random.default_rng(5), 400)
    t, c = _cells(x, n, s)
    box = index_lookup_boxes(m, precision)
    lg = m.logits(x, precision=precision)
    assert np.all(box.lo[t, c] <= lg) and np.all(lg <= box.hi[t, c])


@pytest.mark.parametrize("precision", ["float64", "fixed:6.10", "fixed:3.4"])
@pytest.mark.parametrize("n,s", [(1, 2), (5, 2), (4, 3), (7, 3)])
def test_certificate_covers_every_input(precision, n, s):
    row = certify(model(n, s), precision)
    task = tasks.get("index_lookup", n=n, alphabet_size=s)
    assert row["mode"] == "certified" and row["status"] == "pass"
    assert row["inputs_checked"] == task.num_inputs == s**n * n
    assert row["certificate"]["cells_proved"] == n * s and row["failures"] == 0
    exhaustive = check(model(n, s), mode="exhaustive", precision=precision)
    assert exhaustive["status"] == "pass"
    # the certified margin is a lower bound of the observed one
    assert row["min_margin"] <= exhaustive["min_margin"] + 1e-12


def test_certificate_is_sound_on_perturbed_models():
    """Whenever the certificate passes, the exhaustive check must pass too (noisy weights, low
    precision, shrunken β): the certificate may refuse a correct model, never accept a wrong one."""
    rng = np.random.default_rng(0)
    base = model(6, 2)
    arrays = base.arrays()
    seen = {"pass": 0, "fail": 0}
    for trial in range(14):
        noisy = {k: v + rng.normal(0, 0.15 * (trial % 4), v.shape) * (v != 0) for k, v in arrays.items()}
        m = constructions.Model.from_arrays(noisy, base.meta)
        precision = ["float64", "fixed:3.3", "fixed:2.2", "fixed:5.8"][trial % 4]
        row = certify(m, precision)
        ex = check(m, mode="exhaustive", precision=precision)
        seen[row["status"]] += 1
        if row["status"] == "pass":
            assert ex["status"] == "pass", (trial, precision)
        if ex["status"] == "fail":
            assert row["status"] == "fail"
    assert seen["pass"] and seen["fail"]  # both outcomes occurred, so the test has teeth


def test_large_n_counts_inputs_as_formula():
    row = certify(model(1024, 16))
    assert row["status"] == "pass"
    assert row["inputs_checked"] == "16384·16^1023"  # n·s cells of s^(n-1) inputs = s^n·n
    assert row["certificate"]["inputs_covered_log2"] == pytest.approx(10 + 1024 * 4)
    assert row["min_margin"] > 1.9


def _tampered(tmp_path, n=1024, s=4, samples=1000, seed=0):
    """Index token t* (never drawn by the sampler with this seed) queries the address of t* + n/2."""
    task = tasks.get("index_lookup", n=n, alphabet_size=s)
    drawn = set((task.sample(np.random.default_rng(seed), samples)[:, n] - s).tolist())
    t_star = max(set(range(n)) - drawn)
    m = model(n, s)
    E = m.arrays()["embed/token"].copy()
    E[s + t_star] = E[s + (t_star + n // 2) % n]
    path = tmp_path / "tampered.npz"
    m.with_arrays(**{"embed/token": E}).save(path)
    return path, t_star


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tampered_model_passes_sampling_but_not_the_certificate(capsys, tmp_path):
    path, t_star = _tampered(tmp_path)
    code, out, err = run(capsys, "--load", str(path), "--samples", "1000", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["status"] == "pass"
    code, out, err = run(capsys, "--load", str(path), "--certify", "--json")
    assert code == 1, err
    row = json.loads(out)[0]
    assert row["mode"] == "certified" and row["status"] == "fail"
    assert {t for t, _ in row["certificate"]["unproved_cells"]} == {t_star}
    assert row["failures"] == 4  # the four cells (t*, c)
    ce = row["counterexample"]
    assert ce is not None and ce["input"][-1] == 4 + t_star and ce["got"] != ce["expected"]
    x = np.array([ce["input"]])
    assert constructions.load(path).predict(x)[0] == ce["got"]  # a real failing input
    code, out, _ = run(capsys, "--load", str(path), "--certify")
    assert code == 1 and "FAIL" in out


def test_certify_cli_pass_and_errors(capsys):
    code, out, err = run(
        capsys,
        "--task",
        "index_lookup",
        "--arch",
        "tf1",
        "--n",
        "300",
        "--alphabet-size",
        "8",
        "--certify",
        "--precision",
        "fixed:6.8",
        "--json",
    )
    assert code == 0, err
    row = json.loads(out)[0]
    assert row["mode"] == "certified" and row["precision"] == "fixed:6.8" and row["status"] == "pass"
    code, _, err = run(
        capsys,
        "--task",
        "index_lookup",
        "--arch",
        "tf1",
        "--n",
        "8",
        "--alphabet-size",
        "2",
        "--certify",
        "--precision",
        "float16",
    )
    assert code == 2 and err.count("\n") == 1 and "certified mode covers float64 and fixed" in err


def test_certify_refuses_other_tasks_and_layers():
    m = model(4, 2)
    two = constructions.Model(
        constructions.TransformerWeights(
            m.weights.embed, m.weights.position, m.weights.layers * 2, m.weights.readout_w, m.weights.readout_b
        ),
        m.meta,
    )
    with pytest.raises(VerifyError, match="1-layer"):
        certify(two)
    with pytest.raises(VerifyError, match="float64 and fixed"):
        certify(m, "bfloat16")


# --- two layers: equality and disjointness --------------------------------------------------------


def pair_model(task, n):
    return built(task, "tf2", n=n, seed=0)


def _pair_cell(task, x):
    from verify.certify import PAIR_TASKS

    h = x.shape[1] // 2
    hit = np.array([[PAIR_TASKS[task](a, b) for a, b in zip(r[:h], r[h:])] for r in x])
    return np.where(hit.any(1), hit.argmax(1), -1)


@pytest.mark.parametrize("precision", ["float64", "fixed:6.10"])
@pytest.mark.parametrize("task,n", [("equality", 2), ("equality", 8), ("disjointness", 2), ("disjointness", 8)])
def test_pair_certificate_matches_exhaustive_and_is_sound(task, n, precision):
    from verify.certify import pair_boxes

    m = pair_model(task, n)
    row = certify(m, precision)
    assert row["status"] == "pass" and row["inputs_checked"] == 2**n
    assert row["certificate"]["cells_proved"] == n // 2 + 1
    assert check(m, mode="exhaustive", precision=precision)["status"] == "pass"
    x = np.concatenate(list(tasks.get(task, n=n).enumerate(4096)))
    cells, box = pair_boxes(m, precision)
    lg = m.logits(x, precision=precision)
    c = _pair_cell(task, x) + 1  # row of the cell in the boxes
    assert cells[0] == -1 and np.all(box.lo[c] <= lg) and np.all(lg <= box.hi[c])


def test_pair_certificate_large_n():
    row = certify(pair_model("disjointness", 1024), "fixed:11.10")
    assert row["status"] == "pass" and row["inputs_checked"] == "2^1024" and row["min_margin"] == 2.0


def test_tampered_two_layer_model_refused():
    """One position's partner query weakened to 40%: it still fetches its partner on random and
    near-miss inputs (sampling passes) but not when every other bit disagrees."""
    n = 512
    m = pair_model("equality", n)
    P = m.arrays()["embed/position"].copy()
    lay = {b["block"]: slice(b["start"], b["start"] + b["size"]) for b in m.meta["construction"]["residual_layout"]}
    P[n - 3, lay["partner"]] *= 0.4
    bad = m.with_arrays(**{"embed/position": P})
    assert check(bad, mode="sampled", samples=1000, seed=0)["status"] == "pass"
    row = certify(bad)
    assert row["status"] == "fail" and row["failures"] >= 1
    ce = row["counterexample"]
    assert ce is not None and ce["got"] != ce["expected"]
    x = np.array([ce["input"]])
    assert bad.predict(x)[0] != tasks.get("equality", n=n).solve(x)[0]  # a real failing input
    assert certify(m)["status"] == "pass"


@pytest.mark.parametrize("addresses", ["quadratic", "rs"])
@pytest.mark.parametrize("precision", ["float64", "fixed:16.4"])
def test_other_addressings_certified(addresses, precision):
    m = model(200, 8, addresses)
    row = certify(m, precision)
    assert row["status"] == "pass" and row["inputs_checked"] == "1600·8^199"
    assert check(model(5, 3, addresses), mode="exhaustive", precision=precision)["status"] == "pass"
    assert certify(model(5, 3, addresses), precision)["inputs_checked"] == 3**5 * 5


# --- the registry: certify() dispatches to whatever plan is registered ----------------------------


@pytest.fixture
def without_threshold_plans():
    """The THRES plans taken out of the registry for one test (put back after)."""
    import verify.certify as vc

    taken = [c for c in vc.registered() if c.task == "threshold"]
    for c in taken:
        vc.unregister_certifier(c.plan)
    yield
    for c in taken:
        vc.register_certifier(task=c.task, family=c.family, layers=c.layers)(c.plan)


def test_registry_defines_certifiable_and_a_new_plan_needs_no_dispatch_edit(without_threshold_plans):
    import verify.certify as vc

    assert set(vc.CERTIFIABLE) == {c.task for c in vc.registered()}
    assert len(vc.CERTIFIABLE) == len({c.task for c in vc.registered()}) >= 3
    m = constructions.build("threshold", arch="tf2", **tasks.threshold_params_equality(8))  # its plan taken out here
    assert m.task not in vc.CERTIFIABLE
    with pytest.raises(VerifyError, match="threshold has no certificate"):
        certify(m)
    margins = {"a": 0.5, "b": 0.25, "c": 1.0}

    class Dummy:
        """Three cells of one input each, proved with the margins above."""

        def __init__(self, model, ia, task):
            self.num_inputs_log2 = 1.5

        def chunks(self, chunk_cells):
            return [["a", "b"], ["c"]]

        def prove(self, chunk):
            return np.array([margins[c] for c in chunk])

        def covered(self, chunk, ok):
            return int(ok.sum())

        def inputs_covered(self, proved, covered):
            return f"{covered} inputs", float(np.log2(covered)) if covered else float("-inf")

        def witnesses(self, cells, rng):
            raise AssertionError("not asked for (witnesses=False)")

        def details(self):
            return {"cell": "one input"}

    vc.register_certifier(task=m.task, family="transformer", layers=len(m.weights.layers))(Dummy)
    try:
        assert m.task in vc.CERTIFIABLE and set(vc.CERTIFIABLE) == {c.task for c in vc.registered()}
        row = certify(m, "fixed:4.4")
        assert row["status"] == "pass" and row["inputs_checked"] == len(margins) and row["failures"] == 0
        assert row["min_margin"] == min(margins.values()) and row["certificate"]["cell"] == "one input"
        margins["c"] = -1.0
        row = certify(m, witnesses=False)
        assert row["status"] == "fail" and row["certificate"]["unproved_cells"] == ["c"]
        assert row["inputs_checked"] == 2 and row["counterexample"] is None
    finally:
        vc.unregister_certifier(Dummy)
    assert m.task not in vc.CERTIFIABLE
    with pytest.raises(VerifyError, match="threshold has no certificate"):
        certify(m)


def test_overflowing_bounds_prove_nothing_and_say_so():
    """A model whose MLP weights are scaled by 1e300 overflows the boxes to inf and nan. A nan bound
    proves nothing and the least bound reported is then -inf (it was +inf: min() skips nan), and
    numpy's overflow warnings do not reach the user."""
    import dataclasses
    import warnings

    m = constructions.build("index_lookup", arch="tf1", n=4, alphabet_size=2)
    layer = m.weights.layers[0]
    mlp = dataclasses.replace(layer.mlp, w1=layer.mlp.w1 * 1e300, w2=layer.mlp.w2 * 1e300, b1=layer.mlp.b1 * 1e300)
    huge = constructions.Model(
        dataclasses.replace(m.weights, layers=(dataclasses.replace(layer, mlp=mlp),)), m.metadata
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = certify(huge, "float64")
    assert row["status"] == "fail" and row["certificate"]["cells_proved"] < row["certificate"]["cells"]
    assert row["min_margin"] == -np.inf
