"""The fast forward pass against a naive one, written from docs/MODEL.md and the Arithmetic ops.

``Model.logits`` hoists example-independent work, computes only the residual coordinates and
positions that are read, looks small vocabularies up by selection, tabulates attention rows by
query token and takes long sequences' queries in blocks. None of that may change a result: here a
slow, literal reading of the documented semantics — one example at a time, every layer at every
position and every coordinate, each operation an ``Arithmetic`` call in the documented order — is
compared with ``Model.logits``:

* ``fixed:I.F``: bit-identical (equal integers on the grid), also in a narrow format where values
  clip (``fixed:1.6``);
* ``float64``: equal to 1e-9 (summation order inside a matrix product may differ);
* ``float32``: equal to the format's precision.

Models: index lookup at a few (n, s); random two-layer multi-head Transformers with token inputs
(generic weights, and weights whose first-layer queries/keys read positions only and values read
tokens only, so that every specialised path of the first layer runs), causal and not; a random
one-layer multi-head model; a feature-input model; random RNNs. Batch sizes are varied because the
path taken for the first layer depends on the batch (without a fixed input length, attention rows
are tabulated by query token per batch only for batches at least half the vocabulary). Every (model, format, batch shape) is a
compilation, so the grid of cases is kept small.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import constructions
from constructions import MLP, Attention, Layer, Model, RNNWeights, TransformerWeights, parse_precision

from testkit import built

# --------------------------------------------------------------------------- the naive reference


def naive_transformer(ar, weights, meta, x):
    """Logits (float64 ``[C]``) of one example, literally as docs/MODEL.md writes the forward pass.

    ``weights`` are already encoded in the format. With token inputs the first layer's projections
    are the per-table products ``(E Wᵀ)[tokens] + (P Wᵀ)[0:L]`` (each product rounded once, then
    added); feature inputs are encoded like parameters. Every layer runs at every position.
    """
    E, P = weights.embed, weights.position
    token = meta.get("embed", "token") == "token"
    L = x.shape[0]
    if token:
        X = ar.add(E[x], P[:L])
    else:
        X = ar.add(ar.einsum("li,id->ld", ar.encode(x), E), P[:L])
    mask = np.tril(np.ones((L, L), bool)) if meta.get("causal", True) else np.ones((L, L), bool)
    for i, layer in enumerate(weights.layers):
        a, m = layer.attn, layer.mlp
        if i == 0 and token:
            Q, K, V = (
                ar.add(ar.einsum("vd,hwd->hvw", E, w)[:, x], ar.einsum("ld,hwd->hlw", P, w)[:, :L])
                for w in (a.wq, a.wk, a.wv)
            )
        else:
            Q, K, V = (ar.einsum("ld,hwd->hlw", X, w) for w in (a.wq, a.wk, a.wv))
        scores = ar.einsum("hqw,hkw->hqk", Q, K)
        alpha = ar.softmax(scores, mask[None])
        heads = ar.einsum("hqk,hkv->hqv", alpha, V)
        X = ar.add(X, ar.einsum("hqv,hvd->qd", heads, a.wo))  # Σ over heads and value dims, rounded once
        hidden = ar.relu(ar.add(ar.einsum("ld,df->lf", X, m.w1), m.b1))
        X = ar.add(X, ar.add(ar.einsum("lf,fd->ld", hidden, m.w2), m.b2))
    logits = ar.add(ar.einsum("d,dc->c", X[L - 1], weights.readout_w), weights.readout_b)
    return ar.decode(logits)


def naive_rnn(ar, weights, x):
    """Logits of one example: ``h = relu(h Wh + Win[x_t] + b)`` step by step, then the readout."""
    h = weights.h0
    for t in range(x.shape[0]):
        h = ar.relu(ar.add(ar.add(ar.einsum("m,mk->k", h, weights.wh), weights.win[x[t]]), weights.b))
    return ar.decode(ar.add(ar.einsum("m,mc->c", h, weights.readout_w), weights.readout_b))


_NAIVE = {}


@constructions.float64_scope()
def naive_logits(model, inputs, precision):
    """The naive forward, one example at a time (``vmap`` of the per-example function, jitted only
    so that the test runs in seconds: the function itself is the literal one above)."""
    ar = parse_precision(precision)
    key = (id(model), precision)
    if key not in _NAIVE:
        w = jax.tree_util.tree_map(lambda a: ar.encode(np.asarray(a, np.float64)), model.weights)
        one = (
            (lambda x: naive_rnn(ar, w, x))
            if model.arch == "rnn"
            else (lambda x: naive_transformer(ar, w, model.meta, x))
        )
        _NAIVE[key] = (model, jax.jit(jax.vmap(one)))  # keep the model alive: ids stay unique
    return np.asarray(_NAIVE[key][1](jnp.asarray(model.encode_inputs(inputs))))


def assert_same(model, inputs, precision, batch_size=None):
    fast = model.logits(inputs, precision=precision, batch_size=batch_size)
    slow = naive_logits(model, inputs, precision)
    assert fast.shape == slow.shape
    if precision.startswith("fixed:"):
        assert np.array_equal(fast, slow), np.abs(fast - slow).max()
    elif precision == "float64":
        np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-9)
    else:
        scale = max(1.0, float(np.abs(slow).max()))
        np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-4 * scale)
    return fast


# --------------------------------------------------------------------------- random models


def _meta(causal, embed, vocab, seq_len, classes):
    return {
        "arch": "transformer",
        "task": "index_lookup",
        "task_params": {"n": 1, "alphabet_size": 2},
        "causal": causal,
        "readout": "last",
        "embed": embed,
        "input_encoding": "tokens" if embed == "token" else "equivalence_test_features",
        "seq_len": seq_len,
        "vocab_size": vocab,
        "classes": classes,
    }


@functools.cache
def random_transformer(
    seed,
    *,
    layers=2,
    heads=2,
    D=7,
    w=3,
    wv=2,
    F=5,
    V=5,
    L=6,
    C=3,
    causal=True,
    embed="token",
    d_in=3,
    positional_first=False,
    scale=0.6,
    fixed_length=True,
):
    """A random Transformer. ``positional_first``: the token embedding lives in coordinates the
    first layer's queries and keys do not read (as in the constructions), values read only tokens."""
    rng = np.random.default_rng(seed)
    g = lambda *s: rng.normal(size=s) * scale  # noqa: E731
    E = g(V if embed == "token" else d_in, D)
    P = g(L, D)
    out = []
    for i in range(layers):
        wq, wk, wv_, wo = g(heads, w, D), g(heads, w, D), g(heads, wv, D), g(heads, wv, D)
        if positional_first and i == 0:
            half = D // 2  # tokens write [0, half), positions [half, D)
            E[:, half:] = 0
            P[:, :half] = 0
            wq[:, :, :half] = 0
            wk[:, :, :half] = 0
            wv_[:, :, half:] = 0
        out.append(Layer(Attention(wq, wk, wv_, wo), MLP(g(D, F), g(F), g(F, D), g(D))))
    weights = TransformerWeights(E, P, tuple(out), g(D, C), g(C))
    return Model(weights, _meta(causal, embed, V, L if fixed_length else None, C))


@functools.cache
def random_rnn(seed, V=4, m=6, C=3, L=7):
    rng = np.random.default_rng(seed)
    g = lambda *s: rng.normal(size=s) * 0.5  # noqa: E731
    w = RNNWeights(g(V, m), g(m, m), g(m), g(m), g(m, C), g(C))
    return Model(
        w,
        {
            "arch": "rnn",
            "task": "dyck",
            "task_params": {"n": L},
            "input_encoding": "tokens",
            "seq_len": L,
            "vocab_size": V,
        },
    )


@constructions.register_input_encoder("equivalence_test_features")
def _features(meta, inputs):  # the test's own encoding for feature models
    return np.asarray(inputs, np.float64)


def random_tokens(model, batch, seed, length=None):
    length = length or model.meta["seq_len"]
    return np.random.default_rng(seed).integers(0, model.meta["vocab_size"], size=(batch, length))


# --------------------------------------------------------------------------- the tests
# (each model x format x batch shape is a compilation: the grid below is kept small on purpose)


def index_model(n, s):
    return built("index_lookup", "tf1", n=n, alphabet_size=s, seed=0)


@pytest.mark.parametrize(
    "n,s,runs",
    [
        # (format, batch size); the attention rows of every query token are tabulated once per model
        (24, 3, [("float64", None), ("fixed:8.14", 8), ("float32", None)]),
        (64, 20, [("fixed:8.14", None)]),  # a vocabulary above the selection threshold: gathers
    ],
)
def test_index_lookup_equals_naive(n, s, runs):
    import tasks

    m = index_model(n, s)
    x = tasks.get("index_lookup", n=n, alphabet_size=s).sample(np.random.default_rng(n), 96)
    x[0, -1] = s  # the first and the last position are queried
    x[1, -1] = s + n - 1
    for precision, batch_size in runs:
        assert_same(m, x, precision, batch_size)


@pytest.mark.parametrize(
    "causal,positional_first,precisions",
    [
        (True, True, ["float64", "fixed:10.12"]),
        (False, True, ["fixed:10.12"]),
        (True, False, ["float64", "float32", "fixed:1.6"]),
        (False, False, ["fixed:10.12"]),
    ],
)
def test_random_two_layer_tokens(causal, positional_first, precisions):
    m = random_transformer(1 + causal + 2 * positional_first, causal=causal, positional_first=positional_first)
    x = random_tokens(m, 24, seed=3)
    for precision in precisions:
        assert_same(m, x, precision)


def test_query_blocks(monkeypatch):
    """Long sequences take their queries in blocks (here forced: 3 rows per block, a ragged last
    block); every row's attention is the same as computed whole."""
    from constructions import _transformer

    monkeypatch.setattr(_transformer, "QUERY_BLOCK", 3 * 2 * 8)  # H = 2 heads, L = 8
    for seed, layers, positional_first in ((21, 2, False), (22, 3, True)):  # blocks in layer 0; in layer 1
        m = random_transformer(
            seed, layers=layers, L=8, positional_first=positional_first
        )  # shapes no other test compiles
        x = random_tokens(m, 16, seed=8)
        assert_same(m, x, "fixed:10.12" if layers == 2 else "float64")


def test_random_two_layer_large_vocabulary():
    """A vocabulary above the selection threshold: embeddings and tables are gathered."""
    m = random_transformer(5, V=21, positional_first=True)
    assert_same(m, random_tokens(m, 24, seed=3), "fixed:10.12")


@pytest.mark.parametrize(
    "positional_first,runs",
    [
        # no fixed input length, so no per-model table: the vocabulary (6) fits a batch of 30 (attention
        # rows tabulated per batch), not one of 2 (computed per example)
        (True, [("float64", None), ("float64", 2), ("fixed:10.12", None), ("fixed:10.12", 2)]),
        (False, [("fixed:10.12", None)]),
    ],
)
def test_random_one_layer_multi_head(positional_first, runs):
    m = random_transformer(7, layers=1, heads=3, V=6, L=5, positional_first=positional_first, fixed_length=False)
    x = random_tokens(m, 30, seed=4, length=5)
    for precision, batch_size in runs:
        assert_same(m, x, precision, batch_size)


def test_one_layer_without_tables(monkeypatch):
    """Attention rows computed per example (the tables' size limit forced to 0)."""
    from constructions import _transformer

    monkeypatch.setattr(_transformer, "TABLE_ELEMENTS", 0)
    m = random_transformer(9, layers=1, heads=2, V=7, L=4, positional_first=True)  # a shape no other test compiles
    x = random_tokens(m, 20, seed=9)
    for precision in ("float64", "fixed:10.12"):
        assert_same(m, x, precision)


@pytest.mark.parametrize("causal,precisions", [(True, ["float64", "float32", "fixed:10.12"]), (False, ["fixed:10.12"])])
def test_random_two_layer_features(causal, precisions):
    m = random_transformer(11, embed="input", causal=causal)
    x = np.random.default_rng(5).normal(size=(12, 6, 3))
    for precision in precisions:
        assert_same(m, x, precision)


def test_random_rnn():
    m = random_rnn(13)
    m_big = random_rnn(14, V=20)  # looked up by a gather rather than selection
    for model, precisions in ((m, ["float64", "float32", "fixed:1.6"]), (m_big, ["fixed:10.12"])):
        x = random_tokens(model, 20, seed=6)
        for precision in precisions:
            assert_same(model, x, precision)


@constructions.float64_scope()
def test_narrow_grid_really_clips():
    """The narrow format is a real test of the clipping fallbacks: values do reach the clip there."""
    ar = parse_precision("fixed:1.6")
    m = random_transformer(1 + 1, causal=True, positional_first=False)  # as in the two-layer test
    E, P = ar.encode(m.weights.embed), ar.encode(m.weights.position)
    wv = ar.encode(m.weights.layers[0].attn.wv)
    ev, pv = ar.einsum("vd,hwd->hvw", E, wv), ar.einsum("ld,hwd->hlw", P, wv)
    sums = ev[:, :, None, :] + pv[:, None, :, :]  # every token's value row plus every position's
    assert int(jnp.abs(sums).max()) > 1 << (1 + 6)


def test_reference_would_catch_a_changed_weight():
    """The comparison can fail: one changed weight changes the logits in every format tested."""
    m = random_transformer(4, causal=True, positional_first=True)  # as in the two-layer test: no new compilation
    x = random_tokens(m, 24, seed=3)
    wv = m.arrays()["layer0/attn/wv"].copy()
    wv[0, 0, 0] += 0.25
    bad = m.with_arrays(**{"layer0/attn/wv": wv})
    for precision in ("float64", "fixed:10.12"):
        assert not np.array_equal(bad.logits(x, precision=precision), naive_logits(m, x, precision))
