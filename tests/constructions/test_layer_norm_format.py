"""Version 2 of the saved-model format: layer norms, attention biases and the GELU activation
(docs/MODEL.md), in the shared JAX forward against the independent numpy forward
(tests/numpy_forward.py), and the loader's refusals of malformed entries."""

import json

import numpy as np
import pytest

import constructions
from constructions import MLP, Attention, Layer, ModelFormatError, Norm, TransformerWeights

import numpy_forward

SEED = 20240917


def _random_model(*, norm: bool, activation: str, seed: int = SEED, causal: bool = True, scale: float = 1.0):
    """A random token Transformer, V = 9, L_max = 7, D = 6, H = 2 heads of w = 3 (wv = 5), F = 7,
    C = 4, two layers; layer norms and attention biases when ``norm``."""
    rng = np.random.default_rng(seed)
    V, L, D, H, w, wv, F, C = 9, 7, 6, 2, 3, 5, 7, 4
    r = lambda *s: rng.normal(0, scale, s)  # noqa: E731
    nrm = (lambda: Norm(1 + 0.3 * r(D), 0.3 * r(D))) if norm else (lambda: None)
    layers = []
    for _ in range(2):
        bias = (r(H, w), r(H, w), r(H, wv), r(D)) if norm else None
        attn = Attention(r(H, w, D), r(H, w, D), r(H, wv, D), r(H, wv, D), bias=bias)
        layers.append(Layer(attn, MLP(r(D, F), r(F), r(F, D), r(D)), nrm(), nrm()))
    eps = 1e-5 if norm else None
    weights = TransformerWeights(
        r(V, D), r(L, D), tuple(layers), r(D, C), r(C), norm_final=nrm(), norm_eps=eps, activation=activation
    )
    meta = constructions.model_meta(
        "transformer",
        "index_lookup",
        {"n": L - 1, "alphabet_size": V - L + 1},
        seq_len=None,
        vocab_size=V,
        build={},
        construction={},
        causal=causal,
    ).to_dict()
    meta.update(layer_norm_eps=eps, activation=activation)
    return constructions.Model(weights, meta)


CASES = [(True, "gelu_tanh", True), (True, "relu", False), (False, "gelu_tanh", True), (True, "gelu_tanh", False)]


@pytest.mark.parametrize("norm,activation,causal", CASES, ids=[f"norm={a}-{b}-causal={c}" for a, b, c in CASES])
def test_version_2_forward_matches_the_numpy_forward(norm, activation, causal, tmp_path):
    m = _random_model(norm=norm, activation=activation, causal=causal)
    path = tmp_path / "m.npz"
    m.save(path)
    arrays, meta = numpy_forward.read(path)
    assert meta["format"] == "separations-model/2"
    assert (meta.get("layer_norm_eps") is not None) == norm and meta.get("activation", "relu") == activation
    loaded = constructions.load(path)
    rng = np.random.default_rng(SEED + 1)
    for L in (1, 4, 7):
        x = rng.integers(0, 9, size=(32, L))
        want = np.array([numpy_forward.transformer_logits(arrays, meta, xi) for xi in x])
        got = loaded.logits(x)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        assert np.array_equal(got, m.logits(x))
        assert np.abs(loaded.logits(x, precision="float32") - want).max() < 1e-5 * (1 + np.abs(want).max())
    # the version-2 parts matter: without them the logits differ (so the comparison can fail)
    plain = dict(meta, activation="relu", layer_norm_eps=None)
    other = np.array([numpy_forward.transformer_logits(arrays, plain, xi) for xi in x])
    assert np.abs(other - want).max() > 1e-3


def test_version_1_files_stay_version_1(tmp_path):
    m = constructions.build("index_lookup", arch="tf1", n=4, alphabet_size=2)
    assert m.meta["format"] == "separations-model/1"
    assert "layer_norm_eps" not in m.meta and "activation" not in m.meta
    assert m.weights.norm_eps is None and m.weights.activation == "relu"


def _write(path, meta, arrays):
    np.savez(path, meta=np.array([json.dumps(meta)]), **arrays)


def _refused(tmp_path, meta, arrays, match):
    _write(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(ModelFormatError, match=match) as e:
        constructions.load(tmp_path / "bad.npz")
    assert "\n" not in str(e.value)


def test_malformed_version_2_entries_are_refused_in_one_line(tmp_path):
    m = _random_model(norm=True, activation="gelu_tanh")
    meta, arrays = dict(m.meta), m.arrays()
    _write(tmp_path / "good.npz", meta, arrays)
    assert constructions.load(tmp_path / "good.npz").metadata == m.metadata
    _refused(tmp_path, meta, {**arrays, "ln_final/g": np.ones(5)}, r"ln_final/g: shape \(5,\)")
    _refused(tmp_path, meta, {**arrays, "layer1/ln_mlp/b": np.ones((6, 1))}, "layer1/ln_mlp/b: has 2 axes")
    _refused(tmp_path, meta, {**arrays, "layer0/attn/bv": np.ones((2, 3))}, r"layer0/attn/bv: shape \(2, 3\)")
    bad = arrays["layer0/ln_attn/g"].copy()
    bad[2] = np.nan
    _refused(tmp_path, meta, {**arrays, "layer0/ln_attn/g": bad}, "layer0/ln_attn/g: non-finite")
    missing = {k: v for k, v in arrays.items() if k != "layer1/attn/bo"}
    _refused(tmp_path, meta, missing, "layer1/attn/bo: missing")
    # norms only with meta.layer_norm_eps; version-2 fields only in version 2
    _refused(tmp_path, {**meta, "layer_norm_eps": None}, arrays, "not an entry of .* without layer norm")
    _refused(tmp_path, {**meta, "layer_norm_eps": 0}, arrays, "layer_norm_eps must be a number")
    _refused(tmp_path, {**meta, "activation": "swish"}, arrays, "meta.activation must be one of")
    _refused(tmp_path, {**meta, "format": "separations-model/1"}, arrays, "meta.layer_norm_eps is a field of")
    old = constructions.build("index_lookup", arch="tf1", n=4, alphabet_size=2)
    extra = {**old.arrays(), "ln_final/g": np.ones(old.weights.position.shape[1])}
    _refused(tmp_path, dict(old.meta), extra, "ln_final/g: not an entry")


def test_version_2_models_are_refused_in_fixed_point():
    m = _random_model(norm=True, activation="gelu_tanh")
    with pytest.raises(ValueError, match="float formats only"):
        m.logits(np.zeros((1, 3), dtype=np.int64), precision="fixed:8.8")


def test_weights_and_meta_must_agree():
    m = _random_model(norm=False, activation="gelu_tanh")
    with pytest.raises(ModelFormatError, match="disagree with meta"):
        constructions.Model(m.weights, {**m.meta, "activation": "relu"})


@pytest.mark.parametrize("suffix", [".onnx", ".safetensors"])
def test_other_exports_refuse_version_2(suffix, tmp_path):
    m = _random_model(norm=True, activation="gelu_tanh")
    with pytest.raises(ModelFormatError, match="version-1 models only"):
        m.save(tmp_path / f"m{suffix}")
    assert not (tmp_path / f"m{suffix}").exists()


def test_the_zip_directory_limit_admits_the_largest_version2_model():
    """The reader refuses a zip directory of more than MAX_ENTRIES entries before reading it; a
    version-2 model of MAX_LAYERS layers, every entry present, must fit under it."""
    from constructions import _fileformat as ff

    per_layer = len(ff._LAYER_ENTRIES) + len(ff._LAYER_NORM_ENTRIES)
    top = 1 + 2 + 2 + len(ff._NORM_ENTRIES)  # meta, token and position embeddings, readout w and b, final norm
    assert ff.MAX_ENTRIES >= ff.MAX_LAYERS * per_layer + top
