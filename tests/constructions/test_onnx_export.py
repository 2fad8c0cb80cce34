"""ONNX export (constructions/_onnx.py, docs/MODEL.md *ONNX*): for every registered construction at a
small size, the exported graph passes the ONNX checker, onnxruntime's float64 logits equal
``Model.logits`` to 1e-9 on every input (a few hundred sampled ones where there are too many or
they are continuous), and ``load`` gives back the same arrays, metadata and file bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import constructions
import tasks

from testkit import built

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# one small instance of every registered (task, arch); test_every_construction_is_covered keeps it complete
SMALL = [
    ("index_lookup", "tf1", {"n": 4, "alphabet_size": 3}),
    ("index_lookup", "rnn", {"n": 4, "alphabet_size": 3}),
    ("equality", "tf2", {"n": 6}),
    ("equality", "rnn", {"n": 6}),
    ("disjointness", "tf2", {"n": 6}),
    ("disjointness", "rnn", {"n": 6}),
    ("threshold", "tf2", {"n": 4, "index_sets": [[0, 1], [3]], "truth_tables": [[0, 1, 1, 0], [1, 0]], "c": 0}),
    ("nearest_neighbor", "tf2", {"n": 4, "dim": 2, "margin": 0.5}),
    ("associative_recall", "tf2", {"n": 3}),
    ("associative_recall", "rnn", {"n": 3}),
    ("dyck", "rnn", {"n": 6}),
    ("dyck", "tf2", {"n": 6}),
    ("split_equality", "tf2", {"n": 6, "alice": "interleaved"}),
]
# the multi-query readout (logits at every query position, [batch, queries, classes])
MULTI_QUERY = [
    ("associative_recall", "tf2", {"n": 3, "queries": "all"}),
    ("nearest_neighbor", "tf2", {"n": 4, "dim": 2, "margin": 0.5, "queries": "all"}),
]
EXHAUSTIVE_UP_TO = 5000
SAMPLES = 300
TOL = 1e-9


def _inputs(t):
    """Every input of task ``t`` if there are few, else SAMPLES drawn ones (seed 0)."""
    if t.num_inputs is not None and t.num_inputs <= EXHAUSTIVE_UP_TO:
        batches = list(t.enumerate(EXHAUSTIVE_UP_TO))
        return batches[0] if len(batches) == 1 else np.concatenate(batches)
    return t.sample(np.random.default_rng(0), SAMPLES)


def model_of(name, arch, params):
    """The session's shared model (testkit.built), or a fresh one for list-valued parameters."""
    hashable = all(not isinstance(v, list) for v in params.values())
    return built(name, arch, **params) if hashable else constructions.build(name, arch=arch, **params)


def test_every_construction_is_covered():
    assert sorted({(t, a) for t, a, _ in SMALL}) == constructions.available()


@pytest.mark.parametrize(
    "name,arch,params",
    SMALL + MULTI_QUERY,
    ids=[f"{t}-{a}" for t, a, _ in SMALL] + [f"{t}-{a}-all-queries" for t, a, _ in MULTI_QUERY],
)
def test_onnxruntime_agrees_with_our_forward(name, arch, params, tmp_path):
    model = model_of(name, arch, params)
    path = tmp_path / "m.onnx"
    model.save(path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (x_info,), (y_info,) = session.get_inputs(), session.get_outputs()
    assert (x_info.type, y_info.type) == (
        "tensor(double)" if model.metadata.embed == "input" else "tensor(int64)",
        "tensor(double)",
    )
    inputs = _inputs(tasks.get(name, **model.task_params))
    x = model.encode_inputs(inputs)
    got = session.run(None, {x_info.name: x.astype(np.float64 if x.dtype.kind == "f" else np.int64)})[0]
    want = model.logits(inputs)
    queries = (len(model.metadata.readout_positions),) if model.metadata.readout == "positions" else ()
    assert got.shape == want.shape == (x.shape[0], *queries, model.num_classes)
    diff = float(np.max(np.abs(got - want)))
    print(f"{name}/{arch}: {x.shape[0]} inputs, max |onnxruntime - ours| = {diff:.3g}")
    assert diff <= TOL

    props = {p.key: p.value for p in proto.metadata_props}
    assert props["format"] == "separations-onnx/1" and props["task"] == name
    assert json.loads(props["task_params"]) == model.task_params
    assert json.loads(props["sizes"]) == model.size()
    assert json.loads(props["meta"]) == dict(model.meta)

    again = constructions.load(path)  # the arrays come back bit for bit
    assert again.metadata == model.metadata
    a, b = model.arrays(), again.arrays()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a)
    again.save(tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == path.read_bytes()


def test_load_refuses_a_foreign_graph(tmp_path):
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "id",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [1, 2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, [1, 2])],
    )
    onnx.save(onnx.helper.make_model(g), tmp_path / "id.onnx")
    with pytest.raises(constructions.ModelFormatError, match="not written by separations"):
        constructions.load(tmp_path / "id.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(constructions.ModelFormatError):
        constructions.load(tmp_path / "junk.onnx")


GENERIC = [
    ("equality", "tf2", {"n": 6}),
    (
        "threshold",
        "tf2",
        {"n": 4, "index_sets": [[0, 1], [3]], "truth_tables": [[0, 1, 1, 0], [1, 0]], "c": 0, "causal": False},
    ),
    ("nearest_neighbor", "tf2", {"n": 4, "dim": 2, "margin": 0.5}),
    ("index_lookup", "rnn", {"n": 4, "alphabet_size": 3}),
]


@pytest.mark.parametrize("name,arch,params", GENERIC, ids=[f"{t}-{a}" for t, a, _ in GENERIC])
def test_generic_weights_agree(name, arch, params, tmp_path):
    """The constructions' clean-up layers make their logits exact small numbers; random weights of
    the same shapes (causal and not, token and feature inputs, an RNN) make every intermediate
    value a generic float, where only the summation order can differ."""
    model = model_of(name, arch, params)
    rng = np.random.default_rng(1)
    arrays = {k: rng.normal(size=a.shape) / np.sqrt(max(a.shape[-1], 1)) for k, a in model.arrays().items()}
    generic = constructions.Model.from_arrays(arrays, model.metadata)
    generic.save(tmp_path / "g.onnx")
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    inputs = tasks.get(name, **model.task_params).sample(np.random.default_rng(0), 64)
    x = generic.encode_inputs(inputs)
    got = session.run(None, {session.get_inputs()[0].name: x.astype(np.float64 if x.dtype.kind == "f" else np.int64)})[
        0
    ]
    want = generic.logits(inputs)
    scale = max(1.0, float(np.max(np.abs(want))))
    print(f"{name}/{arch} generic: max |diff| = {np.max(np.abs(got - want)):.3g} (logits up to {scale:.3g})")
    assert np.max(np.abs(got - want)) <= TOL * scale
    assert not np.allclose(want, want[:1])  # the inputs are told apart: a graph ignoring them would fail


def test_the_export_extra_is_imported_only_when_used():
    import pathlib
    import subprocess
    import sys

    code = "import sys, constructions, verify; print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'safetensors')))"
    root = pathlib.Path(__file__).resolve().parents[2]  # `-c` imports from the working folder: this checkout
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
