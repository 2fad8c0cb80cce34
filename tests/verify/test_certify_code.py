"""The index-lookup certificate from the Reed–Solomon ⊗ Hadamard code (verify/certify/_index_code.py):
its bound against the exact Gram maxima, agreement with the general certificate, mutants it must
fail, the refusals outside its hypotheses, and the command line."""

import json

import numpy as np
import pytest

from constructions.explicit_addresses import rs_addresses
from verify import main
from verify.certify import VerifyError, _index_code, certify, index_lookup_boxes
from verify.certify._arithmetic import _Float64, _midrad
from verify.certify._index_code import CodeStructure, code_signs
from verify.certify._index_lookup import _CodePlan, _IndexPlan

from testkit import built


def rs_model(n, s=4):
    return built("index_lookup", "tf1", n=n, alphabet_size=s, seed=0, addresses="rs")


@pytest.mark.parametrize("num", [1, 7, 121, 300])
def test_code_signs_are_the_builders_codewords(num):
    """The certifier's own codewords (Horner mod q, popcount Hadamard rows) equal the builder's."""
    code = rs_addresses(num)
    q, k = (int(v) for v in code.scheme.split("q=")[1].split(")")[0].split(",k="))
    assert np.array_equal(code_signs(np.arange(num), q, k, code.dim // q), code.signs)


@pytest.mark.parametrize("n", [2, 16, 200])
def test_bound_covers_every_gram_row_maximum(n):
    """``gram_upper(t) >= max_{k≠t} q_t·p_k`` (computed here by brute force over all pairs), and the
    bound is attained up to rounding somewhere (the witness pair has k − 1 agreements)."""
    m = rs_model(n)
    w, ia = m.weights, _Float64()
    att = w.layers[0].attn
    code = CodeStructure(ia, w.position, n, att.wk[0], att.wv[0])
    q = (w.embed[4 : 4 + n] + w.position[n]) @ att.wq[0].T  # the queries' midpoints (exact here)
    p = w.position[:n] @ att.wk[0].T
    G = q @ p.T
    np.fill_diagonal(G, -np.inf)
    up = code.gram_upper(q, np.arange(n))
    exact = G.max(1)
    assert np.all(up >= exact * (1 - 1e-12))
    assert np.isclose(up.max(), exact.max(), rtol=1e-9)


@pytest.mark.parametrize("n,s", [(16, 4), (200, 8)])
def test_agrees_with_the_general_certificate(n, s):
    m = rs_model(n, s)
    code, general = certify(m, method="code"), certify(m, method="general")
    assert code["certificate"]["method"] == "code" and general["certificate"]["method"] == "general"
    assert code["status"] == general["status"] == "pass"
    assert code["cells_checked"] == general["cells_checked"] == n * s
    assert code["inputs_checked"] == general["inputs_checked"]
    assert code["min_margin"] == pytest.approx(general["min_margin"], abs=1e-9)
    a, b = index_lookup_boxes(m, method="code"), index_lookup_boxes(m, method="general")
    assert np.allclose(a.lo, b.lo, atol=1e-9) and np.allclose(a.hi, b.hi, atol=1e-9)
    assert certify(m)["certificate"]["method"] == "code"  # auto picks it


def test_lowered_scale_fails():
    """Query scale β cut to a fifth: the hypotheses still hold, the certificate fails (as the
    general one does), and the model's own forward pass shows a wrong answer."""
    m = rs_model(16)
    wq = m.arrays()["layer0/attn/wq"] * 0.2
    bad = m.with_arrays(**{"layer0/attn/wq": wq})
    row, general = certify(bad, method="code"), certify(bad, method="general", witnesses=False)
    assert row["certificate"]["method"] == "code"
    assert row["status"] == general["status"] == "fail"
    assert row["counterexample"] is not None and row["counterexample"]["got"] != row["counterexample"]["expected"]


def test_tampered_query_row_fails():
    """Index token 5 queries position 40's address: every cell of t = 5 is unproved."""
    n, s = 64, 4
    m = rs_model(n, s)
    E = m.arrays()["embed/token"].copy()
    E[s + 5] = E[s + 40]
    row = certify(m.with_arrays(**{"embed/token": E}), method="code", witnesses=False)
    assert row["status"] == "fail" and row["certificate"]["method"] == "code"
    assert [5, 0] in row["certificate"]["unproved_cells"]


def test_changed_address_row_refused_or_failed():
    """Position 9 given position 30's address: the position keys are no longer the code, so the code
    method refuses (with the deviation), and auto falls back to the general certificate, which fails."""
    m = rs_model(64)
    P = m.arrays()["embed/position"].copy()
    P[9] = P[30]
    bad = m.with_arrays(**{"embed/position": P})
    with pytest.raises(VerifyError, match="not c·σ"):
        certify(bad, method="code")
    row = certify(bad, witnesses=False)
    assert row["certificate"]["method"] == "general" and row["status"] == "fail"


def test_deviation_enters_the_bound():
    """A perturbation below the refusal threshold is measured (δ > 0) and the bound grows with it."""
    n = 64
    m = rs_model(n)
    w, ia = m.weights, _Float64()
    att = w.layers[0].attn
    P = w.position.copy()
    P[3] += 1e-8 * np.sign(P[3])
    clean = CodeStructure(ia, w.position, n, att.wk[0], att.wv[0])
    moved = CodeStructure(ia, P, n, att.wk[0], att.wv[0])
    assert moved.delta >= 0.99e-8 > clean.delta
    q = _midrad(ia.point((w.embed[4 : 4 + n] + w.position[n]) @ att.wq[0].T))[0]
    assert np.all(moved.gram_upper(q, np.arange(n)) > clean.gram_upper(q, np.arange(n)))


def test_refusals_outside_the_hypotheses():
    rnd = built("index_lookup", "tf1", n=64, alphabet_size=4, seed=0, addresses="random")
    with pytest.raises(VerifyError, match="Reed–Solomon|not q·2"):
        certify(rnd, method="code")
    assert certify(rnd)["certificate"]["method"] == "general"  # auto
    m = rs_model(16)
    with pytest.raises(VerifyError, match="float64 only"):
        certify(m, "fixed:8.8", method="code")
    with pytest.raises(VerifyError, match="methods"):
        certify(m, method="fast")
    assert isinstance(_IndexPlan(m, _Float64(), None), _CodePlan)
    assert not isinstance(_IndexPlan(m, _Float64(), None, "general"), _CodePlan)


def test_command_line(capsys):
    code = main(
        [
            "--task", "index_lookup", "--arch", "tf1", "--n", "128", "--alphabet-size", "4",
            "--param", "addresses=rs", "--certify", "--json",
        ]
    )  # fmt: skip
    row = json.loads(capsys.readouterr().out)[0]
    assert code == 0 and row["status"] == "pass" and row["certificate"]["method"] == "code"
    assert row["certificate"]["cost_per_cell"] == "O(r)" and "RS[q=" in row["certificate"]["attention"]


def test_budget_admits_the_code_certificate_and_refuses_absurd_sizes(capsys):
    """At n = 2^20 the code certificate is estimated at the model's arrays plus chunks (the general
    plan's two extra copies and prepared forward pass are not counted), and a request at n = 2^28
    is still refused before anything is built."""
    from verify import _budget

    params = {"n": 1 << 20, "alphabet_size": 64, "addresses": "rs", "coherence": 0.5, "seed": 0}
    est = lambda **kw: _budget.estimate(
        "index_lookup", "tf1", {**params, **kw}, mode="certified", inputs=None, seq_len=(1 << 20) + 1
    )  # noqa: E731
    code, fixed = (
        est(),
        _budget.estimate(
            "index_lookup", "tf1", params, mode="certified", inputs=None, seq_len=(1 << 20) + 1, precision="fixed:8.8"
        ),
    )
    arrays = 8 * code["model_params"]
    assert arrays <= code["bytes"] <= arrays * 1.25 + 2**30 < 10 * 2**30
    assert fixed["bytes"] > 4 * arrays  # the general plan, in a fixed format
    assert est(n=1 << 28)["bytes"] > 2**40
    rc = main(["--task", "index_lookup", "--arch", "tf1", "--n", str(1 << 28), "--alphabet-size", "64",
               "--param", "addresses=rs", "--certify", "--max-memory", "64G"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "refused before building" in err and err.count("\n") == 1


def test_threads_give_the_sequential_row(monkeypatch):
    """Chunks proved in threads (verify/certify/_threads.py), and the code's pass over the positions
    in threads, give the row of the sequential loop: a passing model, and a tampered one whose
    unproved cells (kept in proof order) and counterexample must come out the same."""
    monkeypatch.setattr(_index_code, "_PASS", 16)  # 13 chunks of positions
    monkeypatch.setattr(_CodePlan, "_ROWS", 8)  # 25 chunks of query positions
    n, s = 200, 4
    m = rs_model(n, s)
    E = m.arrays()["embed/token"].copy()
    E[s + 5], E[s + 150] = E[s + 40], E[s + 7]
    bad = m.with_arrays(**{"embed/token": E})
    for model, status in ((m, "pass"), (bad, "fail")):
        for method in ("code", "general"):
            rows = [certify(model, method=method, chunk_cells=8 * s, workers=k) for k in (1, 3)]
            for r in rows:
                r.pop("seconds")
            assert rows[0]["status"] == status and rows[0]["certificate"]["method"] == method
            assert rows[0] == rows[1]
    with pytest.raises(VerifyError, match="workers must be at least 1"):
        certify(m, workers=0)
