"""experiments/export.py: a trained one-layer flax Transformer as a saved model (docs/MODEL.md,
version 2), and ``verify --load`` on the committed trained model (experiments/results/trained)."""

import dataclasses
import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import constructions
import tasks
from experiments import export, models
from verify import main

import numpy_forward

SEED = 7
FAILURES_N2 = 0  # measured (docs/EXPERIMENTS.md)
TRAINED = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "results" / "trained"


@functools.cache  # the tests share these (read-only) parameters
def _flax(n_train: int, width: int, seed: int):
    """A random (initialised, untrained) one-layer tf for index lookup at ``n_train``, perturbed so
    that the layer norms' gains and biases are not the initial 1 and 0."""
    module = models.build("tf", vocab=64 + n_train, max_len=n_train + 1, width=width, layers=1, classes=64)
    with jax.enable_x64(False):
        tok = jnp.zeros((2, n_train + 1), jnp.int32)
        # jitted: one compiled program, reused for the next seed (eager flax compiles every operation)
        params = jax.jit(module.init)(jax.random.PRNGKey(seed), tok, jnp.full(2, n_train + 1, jnp.int32))["params"]
    rng = np.random.default_rng(seed)
    flat = {k: v + rng.normal(0, 0.3, v.shape).astype(np.float32) for k, v in export.flat_params(params).items()}
    return module, flat


def _flax_logits(module, flat, x):
    tree: dict = {}
    for k, v in flat.items():
        node = tree
        *path, last = k.split("/")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = jnp.asarray(v)
    with jax.enable_x64(False):
        lengths = jnp.full(x.shape[0], x.shape[1], jnp.int32)
        logits = jax.jit(module.apply)({"params": tree}, jnp.asarray(x, jnp.int32), lengths)
        return np.asarray(logits, dtype=np.float64)


@pytest.mark.parametrize("n", [9, 3])
def test_exported_model_computes_the_flax_models_logits(n, tmp_path):
    module, flat = _flax(9, 32, SEED)
    m = export.to_model(flat, n=n, meta={"note": "random"})
    path = tmp_path / "m.npz"
    m.save(path)
    loaded = constructions.load(path)
    assert loaded.meta["format"] == "separations-model/2" and loaded.task_params == {"n": n, "alphabet_size": 64}
    x = tasks.get("index_lookup", n=n, alphabet_size=64).sample(np.random.default_rng(SEED), 64)
    want = _flax_logits(module, flat, x)  # float32 flax
    got = loaded.logits(x)  # float64 shared forward
    scale = np.abs(want).max()
    assert np.abs(got - want).max() < 1e-5 * (1 + scale)
    arrays, meta = numpy_forward.read(path)  # the independent numpy forward of docs/MODEL.md
    ref = np.array([numpy_forward.transformer_logits(arrays, meta, xi) for xi in x])
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    # the comparison can fail: another seed's parameters give other logits
    other = export.to_model(_flax(9, 32, SEED + 1)[1], n=n)
    assert np.abs(other.logits(x) - want).max() > 1e-2


def test_export_refuses_what_it_cannot_convert():
    _, flat = _flax(5, 16, SEED)
    with pytest.raises(export.ExportError, match="n must be"):
        export.to_model(flat, n=6)
    two = {**flat, "attn1/query/kernel": flat["attn0/query/kernel"]}
    with pytest.raises(export.ExportError, match="one-layer"):
        export.to_model(two, n=5)


def test_saver_writes_parameters_and_row(tmp_path):
    module, flat = _flax(5, 16, SEED)
    export.saver(tmp_path / "p.npz", tmp_path / "row.json")(module, flat, {"test_acc": 0.5})
    back = export.load_params(tmp_path / "p.npz")
    assert set(back) == set(flat) and all(np.array_equal(back[k], flat[k]) for k in flat)
    assert json.loads((tmp_path / "row.json").read_text()) == {"test_acc": 0.5}


def _verify(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out)[0] if out.strip() else None, err


def _view(model, n: int):
    """The committed network read at ``n`` symbols: the first ``64 + n`` token rows and ``n + 1``
    position rows (what experiments/export.py writes for that n)."""
    arrays = model.arrays()
    arrays["embed/token"] = arrays["embed/token"][: 64 + n]
    arrays["embed/position"] = arrays["embed/position"][: n + 1]
    meta = {**model.meta, "task_params": {"n": n, "alphabet_size": 64}, "seq_len": n + 1, "vocab_size": 64 + n}
    return constructions.Model.from_arrays(arrays, meta)


def test_verify_load_runs_the_committed_trained_model(capsys, tmp_path):
    """The committed TF-(1,64) trained at n = 50 (docs/EXPERIMENTS.md, *Trained models through
    verify*): sampled at its training length, and exhaustively at n = 2 (out of its training
    lengths 10..50)."""
    side = json.loads((TRAINED / "index_lookup_tf1_n50.json").read_text())
    path = TRAINED / "index_lookup_tf1_n50.npz"
    model = constructions.load(path)
    assert model.metadata.construction["test_acc"] == side["test_acc"] >= 0.99
    at3 = constructions.load(TRAINED / "index_lookup_tf1_n50_at_n3.npz")
    assert all(np.array_equal(a, _view(model, 3).arrays()[k]) for k, a in at3.arrays().items())
    code, row, err = _verify(capsys, "--load", str(path), "--samples", "300", "--seed", "1", "--json")
    assert row is not None, err
    assert row["inputs_checked"] == 300 and row["n"] == 50 and row["mode"] == "sampled"
    assert row["failures"] == 3  # measured: 297 of these 300 right (the CLI's seed 1)
    assert code == 1 and row["status"] == "fail"
    _view(model, 2).save(tmp_path / "n2.npz")
    code, row, err = _verify(capsys, "--load", str(tmp_path / "n2.npz"), "--exhaustive", "--json")
    assert row is not None, err
    assert row["inputs_checked"] == 2 * 64**2 and row["mode"] == "exhaustive"
    assert row["failures"] == FAILURES_N2 and code == (0 if FAILURES_N2 == 0 else 1)


@pytest.mark.parametrize("extra", [["--precision", "fixed:8.8", "--samples", "10"], ["--certify"]])
def test_verify_refuses_what_version_2_does_not_define(extra, capsys):
    code = main(["--load", str(TRAINED / "index_lookup_tf1_n50_at_n3.npz"), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and ("float formats only" in err or "no proof method" in err)


def test_theorem_4_protocol_runs_the_trained_model_for_every_kind_of_split():
    """bounds.tf1_protocol on the trained version-2 model (layer norms, biases, GELU): the bits are
    the formula's, and the output does not depend on the split (each party normalises its own
    rows; the partial sums are exact), so it is the same grid emulation for every split."""
    import bounds

    model = _view(constructions.load(TRAINED / "index_lookup_tf1_n50.npz"), 6)
    x = tasks.get("index_lookup", n=6, alphabet_size=64).sample(np.random.default_rng(SEED), 40)
    runs = [bounds.tf1_protocol(model, x, alice, "fixed:8.12") for alice in ([0, 1, 2, 3, 4, 5], [1, 3, 6], [], [6])]
    for run in runs:
        assert sum(m.length for m in run.messages) == run.info["formula_bits"]
        assert np.array_equal(run.logits, runs[0].logits)
    assert runs[0].info["formula_bits"] == 7 + 4 * (2 * 22 + 2 * (21 + 3) + 2 * 16 * 21)
    pred = model.predict(x)
    assert np.mean(np.argmax(runs[0].logits, axis=-1) == pred) >= 0.95  # measured: 40 of 40
    # the version-2 parts are used: without the layer norms the protocol computes something else
    plain = constructions.Model(
        dataclasses.replace(model.weights, norm_final=None),
        model.meta,
    )
    other = bounds.tf1_protocol(plain, x, [0, 1, 2, 3, 4, 5], "fixed:8.12")
    assert not np.array_equal(other.logits, runs[0].logits)
