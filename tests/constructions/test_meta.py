"""Typed model metadata (constructions/_meta.py, docs/MODEL.md): round trips, validation on load,
the family/variant names, and ``size()["state_bits"]``."""

import hashlib
import json
import pathlib

import numpy as np
import pytest

import constructions
from constructions import ModelFormatError, ModelMeta

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"

SMALL = [
    ("index_lookup", "tf1", {"n": 8, "alphabet_size": 3}),
    ("index_lookup", "tf1", {"n": 8, "alphabet_size": 3, "addresses": "quadratic"}),
    ("equality", "tf2", {"n": 6}),
    ("disjointness", "tf2", {"n": 6}),
    (
        "threshold",
        "tf2",
        {"n": 4, "index_sets": [[0, 1], [3]], "truth_tables": [[0, 1, 1, 0], [1, 0]], "c": 0, "causal": False},
    ),
    ("nearest_neighbor", "tf2", {"n": 4, "dim": 2, "margin": 0.5}),
    ("associative_recall", "tf2", {"n": 3}),
    ("index_lookup", "rnn", {"n": 5, "alphabet_size": 3}),
    ("equality", "rnn", {"n": 6}),
    ("disjointness", "rnn", {"n": 6}),
    ("associative_recall", "rnn", {"n": 3}),
    ("dyck", "rnn", {"n": 6}),
]


def _build(task, arch, params):
    return constructions.build(task, arch=arch, **params)


def _write(path, meta, arrays):
    np.savez(path, meta=np.array([json.dumps(meta)]), **arrays)


@pytest.mark.parametrize("task,arch,params", SMALL, ids=[f"{t}-{a}-{i}" for i, (t, a, _) in enumerate(SMALL)])
def test_every_builder_round_trips(task, arch, params, tmp_path):
    m = _build(task, arch, params)
    typed = m.metadata
    assert isinstance(typed, ModelMeta)
    assert ModelMeta.from_dict(dict(m.meta)) == typed and typed.to_dict() == dict(m.meta)
    assert m.family == m.arch == typed.family == m.meta["arch"] == ("rnn" if arch == "rnn" else "transformer")
    assert m.variant == arch == m.size()["arch"]
    assert typed.task == task and typed.task_params == m.task_params
    path = tmp_path / "m.npz"
    m.save(path)
    loaded = constructions.load(path)
    assert loaded.metadata == typed
    loaded.save(tmp_path / "again.npz")
    assert (tmp_path / "again.npz").read_bytes() == path.read_bytes()


def test_meta_view_is_read_only():
    m = _build("equality", "tf2", {"n": 4})
    with pytest.raises(TypeError):
        m.meta["task"] = "other"
    with pytest.raises(AttributeError):
        m.metadata.task = "other"


@pytest.mark.parametrize("task,arch,params", [s for s in SMALL if s[1] == "rnn"])
def test_rnn_state_bits_from_declared_bits_per_unit(task, arch, params):
    m = _build(task, arch, params)
    assert m.metadata.state_bits_per_unit == 1  # every RNN here declares 0/1 units
    s = m.size()
    assert s["state_bits"] == s["width"] == int(m.arrays()["rnn/wh"].shape[0])
    assert m.size(bits=4)["state_bits"] == 4 * s["width"]


def test_transformer_state_bits_from_precision_bits():
    m = _build("index_lookup", "tf1", {"n": 8, "alphabet_size": 2})
    width = int(m.arrays()["embed/position"].shape[1])
    assert m.size()["state_bits"] is None and m.size(bits=3)["state_bits"] == 3 * width
    shown = constructions.Model(m.weights, {**m.meta, "precision_bits": 9})
    assert shown.size()["precision_bits"] == 9 and shown.size()["state_bits"] == 9 * width


def test_partial_dict_takes_the_documented_defaults():
    m = _build("equality", "tf2", {"n": 4})
    meta = {"arch": "transformer", "task": "equality", "task_params": {"n": 4}, "vocab_size": 2, "note": [1, 2]}
    other = constructions.Model(m.weights, meta)
    t = other.metadata
    assert (t.causal, t.readout, t.embed_kind, t.input_encoding, t.seq_len, t.precision_bits) == (
        True,
        "last",
        "token",
        "tokens",
        None,
        None,
    )
    assert t.build == {} and t.construction == {} and t.extra == {"note": [1, 2]}
    assert other.meta["note"] == [1, 2] and other.variant == "tf2"
    x = np.array([[0, 1, 0, 1], [1, 1, 0, 1]])
    assert np.array_equal(other.predict(x), m.predict(x))


BAD = [
    ("arch", "cnn"),
    ("task", 3),
    ("task_params", [1]),
    ("causal", "yes"),
    ("readout", "first"),
    ("embed", "pixels"),
    ("input_encoding", None),
    ("seq_len", -1),
    ("seq_len", 2.5),
    ("vocab_size", True),
    ("precision_bits", -1),
    ("build", "seed=0"),
    ("construction", [1]),
    ("format", "other-format/1"),
]


@pytest.mark.parametrize("key,value", BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_load_names_the_bad_field(key, value, tmp_path):
    m = _build("index_lookup", "tf1", {"n": 4, "alphabet_size": 2})
    meta = {**m.meta, key: value}
    _write(tmp_path / "bad.npz", meta, m.arrays())
    with pytest.raises(ModelFormatError, match=key):
        constructions.load(tmp_path / "bad.npz")
    good = tmp_path / "good.npz"
    _write(good, dict(m.meta), m.arrays())  # the same file with the field intact loads
    assert constructions.load(good).metadata == m.metadata


def test_load_names_a_missing_field_and_a_bad_bits_per_unit(tmp_path):
    m = _build("dyck", "rnn", {"n": 4})
    for key in ("arch", "task", "task_params"):
        meta = {k: v for k, v in m.meta.items() if k != key}
        _write(tmp_path / "m.npz", meta, m.arrays())
        with pytest.raises(ModelFormatError, match=key):
            constructions.load(tmp_path / "m.npz")
    meta = {**m.meta, "construction": {**m.meta["construction"], "state_bits_per_unit": 0}}
    _write(tmp_path / "m.npz", meta, m.arrays())
    with pytest.raises(ModelFormatError, match="state_bits_per_unit"):
        constructions.load(tmp_path / "m.npz")


OLD_FILES = sorted(DATA.glob("*.npz"))


@pytest.mark.parametrize("path", OLD_FILES, ids=[p.name for p in OLD_FILES])
def test_files_saved_before_the_typed_metadata_load_and_resave_unchanged(path, tmp_path):
    """tests/data/*.npz were written by the code before ModelMeta existed (dict metadata)."""
    m = constructions.load(path)
    raw = json.loads(str(np.load(path)["meta"][0]))
    assert dict(m.meta) == raw
    m.save(tmp_path / "again.npz")
    assert hashlib.sha256((tmp_path / "again.npz").read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()
    rebuilt = constructions.build(
        m.task, arch=m.variant, **{k: v for k, v in m.metadata.build.items() if k not in ("task", "arch")}
    )
    assert rebuilt.metadata == m.metadata
    assert all(np.array_equal(a, rebuilt.arrays()[k]) for k, a in m.arrays().items())


def test_old_files_are_present():
    assert len(OLD_FILES) >= 4
