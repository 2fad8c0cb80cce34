"""The streaming engine: same report as a plain loop, one compilation, padding, progress, devices.

The reference here is the obvious loop: draw (or enumerate) the inputs batch by batch exactly as
the engine documents, run ``Model.logits`` and compute margins in numpy. The engine (a producer
thread, fixed padded device batches, tallies computed on the device, the batch axis sharded over
devices) must give the same counts, the same smallest margin and the same first counterexample.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import constructions
import tasks
import verify
from verify import VerifyError, check
from verify._engine import ProgressBar, _tally_step, terminal_progress

from testkit import built

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tampered(n=7, s=2):
    """Index lookup with two addresses swapped: fails exactly on queries of those positions."""
    m = built("index_lookup", "tf1", n=n, alphabet_size=s, seed=0)
    P = m.arrays()["embed/position"].copy()
    P[[1, 4]] = P[[4, 1]]
    return m.with_arrays(**{"embed/position": P})


def reference(model, batches, precision="float64"):
    """The plain loop: failures, min margin, first counterexample."""
    task = verify.task_of(model)
    failures = checked = 0
    low, first = float("inf"), None
    for x in batches:
        want = task.solve(x)
        logits = model.logits(x, precision=precision)
        rows = np.arange(len(want))
        others = logits.copy()
        others[rows, want] = -np.inf
        margin = logits[rows, want] - others.max(axis=1)
        bad = ~(margin > 0)
        if bad.any() and first is None:
            i = int(np.flatnonzero(bad)[0])
            first = {
                "input": x[i].tolist(),
                "expected": int(want[i]),
                "got": int(np.argmax(logits[i])),
                "margin": float(margin[i]),
            }
        failures += int(bad.sum())
        checked += len(want)
        low = min(low, float(margin.min()))
    return {"inputs_checked": checked, "failures": failures, "min_margin": low, "counterexample": first}


def same(row, ref):
    for key in ("inputs_checked", "failures", "min_margin", "counterexample"):
        assert row[key] == ref[key], key


@pytest.mark.parametrize("precision", ["float64", "fixed:8.12"])
def test_exhaustive_matches_plain_loop(precision):
    m = tampered()
    task = verify.task_of(m)
    row = check(m, mode="exhaustive", precision=precision, batch=100)  # 896 inputs: a ragged last batch
    assert row["status"] == "fail" and row["failures"] > 0
    same(row, reference(m, task.enumerate(100), precision))
    queried = {c["input"][-1] - 2 for c in [row["counterexample"]]}
    assert queried <= {1, 4}


def test_sampled_matches_plain_loop_and_seed():
    m = tampered(40, 3)
    task = verify.task_of(m)
    row = check(m, mode="sampled", samples=1000, seed=5, batch=300)
    rng = np.random.default_rng(5)
    ref = reference(m, [task.sample(rng, k) for k in (300, 300, 300, 100)])
    same(row, ref)
    assert row["failures"] > 0 and row["seed"] == 5
    other = check(m, mode="sampled", samples=1000, seed=6, batch=300)
    assert other["counterexample"] != row["counterexample"]


def test_passing_model_and_margin():
    m = constructions.build("index_lookup", arch="tf1", n=5, alphabet_size=3, seed=0)
    row = check(m, mode="exhaustive", batch=64)
    assert row["status"] == "pass" and row["inputs_checked"] == 3**5 * 5 and row["failures"] == 0
    assert row["min_margin"] == pytest.approx(2.0) and row["counterexample"] is None


def test_one_compilation_whatever_the_count():
    m = constructions.build("index_lookup", arch="tf1", n=6, alphabet_size=2, seed=3)
    forward, _ = m.forward("float64")
    step = _tally_step(forward)
    before = step._cache_size()
    for samples in (1000, 1500, 2047):  # different totals, ragged last batches, one shape
        assert check(m, mode="sampled", samples=samples, batch=512)["inputs_checked"] == samples
    assert step._cache_size() == before + 1


def test_progress_reports_every_batch():
    calls = []
    row = check(tampered(), mode="exhaustive", batch=128, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (row["inputs_checked"], row["inputs_checked"])
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) == 7


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_terminals_only():
    assert terminal_progress("x", True, io.StringIO()) is None  # not a terminal: quiet
    assert terminal_progress("x", False, FakeTTY()) is None
    out = FakeTTY()
    bar = ProgressBar("equality", out, delay=0.0)
    bar(500, 1000)
    assert "equality" in out.getvalue() and "50.0%" in out.getvalue() and "500/1,000" in out.getvalue()
    bar(1000, 1000)
    assert out.getvalue().endswith("\r\033[K")  # erased at the end
    quiet = FakeTTY()
    ProgressBar("x", quiet, delay=60.0)(1, 10)  # short runs print nothing
    assert quiet.getvalue() == ""


def test_cli_json_is_quiet(capsys):
    code = verify.main(
        ["--task", "index_lookup", "--arch", "tf1", "--n", "6", "--alphabet-size", "2", "--exhaustive", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and json.loads(out)[0]["status"] == "pass"
    assert (
        verify.main(
            [
                "--task",
                "index_lookup",
                "--arch",
                "tf1",
                "--n",
                "6",
                "--alphabet-size",
                "2",
                "--samples",
                "50",
                "--no-progress",
            ]
        )
        == 0
    )


def test_errors_are_one_line():
    m = tampered()
    with pytest.raises(VerifyError, match="batch must be at least 1"):
        check(m, batch=0)
    with pytest.raises(VerifyError, match="samples must be at least 1"):
        check(m, samples=0)
    with pytest.raises(VerifyError, match="unknown mode"):
        check(m, mode="magic")
    with pytest.raises(VerifyError, match="output classes"):
        check(m, task=tasks.get("index_lookup", n=7, alphabet_size=3))


class Exploding:
    """A task whose sampler fails on its second batch: the error must reach the caller."""

    def __init__(self, task):
        self.task, self.calls = task, 0

    def __getattr__(self, name):
        return getattr(self.task, name)

    def sample(self, rng, k):
        self.calls += 1
        if self.calls == 2:
            raise tasks.TaskError("sampler broke")
        return self.task.sample(rng, k)


def test_producer_errors_propagate():
    m = tampered()
    with pytest.raises(tasks.TaskError, match="sampler broke"):
        check(m, mode="sampled", samples=1000, batch=100, task=Exploding(verify.task_of(m)))


SHARDED = r"""
import json, numpy as np, jax, constructions, verify
assert len(jax.local_devices()) == 4, jax.local_devices()
m = constructions.build("index_lookup", arch="tf1", n=7, alphabet_size=2, seed=0)
P = m.arrays()["embed/position"].copy(); P[[1, 4]] = P[[4, 1]]
m = m.with_arrays(**{"embed/position": P})
e = constructions.build("equality", arch="tf2", n=10, seed=0)
rows = [verify.check(m, mode="exhaustive", precision=p, batch=100) for p in ("float64", "fixed:8.12")]
rows += [verify.check(m, mode="sampled", samples=999, seed=2, batch=256), verify.check(e, mode="exhaustive")]
x = np.random.default_rng(0).integers(0, 2, size=(37, 10))
print(json.dumps({"rows": rows, "logits": e.logits(x, precision="fixed:8.12").tolist(),
                  "float": m.logits(np.c_[np.zeros((5, 7), int), 2 + np.arange(5)]).tolist()}))
"""


def test_four_devices_give_the_same_report():
    """The batch axis sharded over 4 (forced host) devices: identical counts, margins, failures."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    m = tampered()
    e = constructions.build("equality", arch="tf2", n=10, seed=0)
    mine = [check(m, mode="exhaustive", precision=p, batch=100) for p in ("float64", "fixed:8.12")]
    mine += [check(m, mode="sampled", samples=999, seed=2, batch=256), check(e, mode="exhaustive")]
    for theirs, ours in zip(got["rows"], mine):
        assert theirs["devices"] == 4 and ours["devices"] == 1
        for key in ("inputs_checked", "failures", "counterexample", "status"):
            assert theirs[key] == ours[key], key
        assert theirs["min_margin"] == pytest.approx(ours["min_margin"], rel=1e-12)
    assert mine[0]["failures"] > 0 and mine[3]["status"] == "pass"
    x = np.random.default_rng(0).integers(0, 2, size=(37, 10))
    assert got["logits"] == e.logits(x, precision="fixed:8.12").tolist()  # bit-identical on the grid
    np.testing.assert_allclose(got["float"], m.logits(np.c_[np.zeros((5, 7), int), 2 + np.arange(5)]), rtol=1e-12)
