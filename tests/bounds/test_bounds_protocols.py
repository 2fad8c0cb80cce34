"""Theorems 2 and 4 as programs: the protocols reproduce our models' outputs bit for bit."""

import itertools

import numpy as np
import pytest
import sympy as sp

import bounds
import constructions
import tasks
from bounds import BoundError, GridOverflow, rnn_protocol, tf1_protocol
from bounds._grid import signed_bits, signed_from_bits, unsigned_bits, unsigned_from_bits
from constructions import MLP, Attention, Layer, Model, RNNWeights, TransformerWeights


def all_tokens(V, L):
    return np.stack(np.meshgrid(*[np.arange(V)] * L, indexing="ij"), -1).reshape(-1, L)


def random_rnn(seed, V=3, m=5, C=3, L=5, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    w = RNNWeights(
        rng.normal(size=(V, m)) * scale,
        rng.normal(size=(m, m)) * 0.8 * scale,
        rng.normal(size=m) * 0.3 + shift,
        np.abs(rng.normal(size=m)),
        rng.normal(size=(m, C)),
        rng.normal(size=C),
    )
    meta = {
        "arch": "rnn",
        "task": "dyck",
        "task_params": {"n": L},
        "readout": "last",
        "input_encoding": "tokens",
        "vocab_size": V,
        "seq_len": L,
    }
    return Model(w, meta)


def random_tf1(seed, V=3, L=5, D=4, H=2, w=3, wv=2, F=6, C=3, scale=1.5):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.normal(size=s) * scale  # noqa: E731
    att = Attention(r(H, w, D), r(H, w, D), r(H, wv, D), r(H, wv, D))
    weights = TransformerWeights(r(V, D), r(L, D), (Layer(att, MLP(r(D, F), r(F), r(F, D), r(D))),), r(D, C), r(C))
    meta = {
        "arch": "transformer",
        "task": "dyck",
        "task_params": {"n": L},
        "causal": True,
        "readout": "last",
        "embed": "token",
        "input_encoding": "tokens",
        "seq_len": L,
        "vocab_size": V,
    }
    return Model(weights, meta)


# --- bit codes ----------------------------------------------------------------------------------


def test_codes_round_trip_and_refuse_what_does_not_fit():
    rng = np.random.default_rng(0)
    for width in (1, 2, 7, 13, 40, 62):
        half = 1 << (width - 1)
        v = np.concatenate([rng.integers(-half + 1, half + 1, size=50), [-half + 1, half, 0]])
        bits = signed_bits(v[None], width)
        assert bits.shape == (1, v.size * width) and set(np.unique(bits)) <= {0, 1}
        assert np.array_equal(signed_from_bits(bits, width)[0], v)
        u = rng.integers(0, 1 << width, size=20)
        assert np.array_equal(unsigned_from_bits(unsigned_bits(u[None], width), width)[0], u)
        with pytest.raises(GridOverflow, match="no .*-bit code"):
            signed_bits(np.array([[-half]]), width)
        with pytest.raises(GridOverflow, match="does not fit"):
            unsigned_bits(np.array([[1 << width]]), width)
    assert signed_bits(np.array([[5]]), 4).tolist() == [[0, 1, 0, 1]]  # most significant bit first
    assert signed_bits(np.array([[-3]]), 4).tolist() == [[1, 1, 0, 1]]  # two's complement


# --- Theorem 2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fixed:4.8", "fixed:2.3"])
def test_rnn_protocol_reproduces_a_random_rnn_at_every_cut(precision):
    model = random_rnn(1, scale=3.0, shift=2.0)
    x = all_tokens(3, 5)
    ref = model.logits(x, precision=precision)
    states = model.hidden_states(x, precision=precision)
    grid = bounds.parse_fixed(precision)
    saturated = False
    for cut in range(6):
        run = rnn_protocol(model, x, cut, precision)
        assert np.array_equal(run.logits, ref)
        assert np.array_equal(run.info["alice_state"], states[:, cut])
        assert run.bits == run.messages[0].length == 5 * grid.bits  # exactly w·b bits
        saturated |= bool((run.info["alice_state"] == 2.0**grid.int_bits).any())
    if precision == "fixed:2.3":
        assert saturated  # the clip ceiling +2^I travels through the b-bit code


def _small_params(task):
    return {
        "index_lookup": {"n": 4, "alphabet_size": 2},
        "dyck": {"n": 6},
        "equality": {"n": 6},
        "disjointness": {"n": 6},
        "associative_recall": {"n": 2, "num_values": 2},
    }.get(task)


RNNS = [t for t, a in constructions.available() if a == "rnn" and _small_params(t) is not None]


@pytest.mark.parametrize("task", RNNS)
def test_rnn_protocol_on_our_rnn_constructions(task, built):
    model = built(task, "rnn", **_small_params(task))
    t = tasks.get(task, **_small_params(task))
    x = np.concatenate(list(t.enumerate(4096)))
    precision = "fixed:8.16"
    ref = model.logits(x, precision=precision)
    cut = t.split("prefix").bob[0] if t.split("prefix").bob else t.seq_len
    for c in sorted({0, cut, t.seq_len}):
        run = rnn_protocol(model, x, c, precision)
        assert np.array_equal(run.logits, ref)
        assert run.bits == model.size()["width"] * 25
    run = rnn_protocol(model, x, cut, precision)
    # our RNNs are exact at this precision and n; Bob's answer is then the task's answer, so
    # (Theorem 2) the w·b-bit state is a one-way protocol and must carry the certified bits
    assert np.array_equal(run.predictions, t.solve(x))
    cert = bounds.one_way_certificate(t, t.split("prefix", cut))
    assert cert.exact and run.bits >= cert.bits


# --- Theorem 4 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fixed:8.12", "fixed:3.3"])
def test_tf1_protocol_index_lookup_every_split(precision, built):
    n, s = 4, 2
    model, t = built("index_lookup", "tf1", n=n, alphabet_size=s), tasks.get("index_lookup", n=n, alphabet_size=s)
    x = np.concatenate(list(t.enumerate(4096)))
    ref = model.logits(x, precision=precision)
    grid = bounds.parse_fixed(precision)
    size = model.size()
    L, b, h, D = n + 1, grid.bits, size["heads"], size["width"]
    w = size["head_dim"]
    airtight = D * b + h * (4 * w * b + 4 * b + 2 * (L - 1).bit_length())  # docs/PAPER.md §4.4 step sum
    n_, b_, h_, w_, D_ = sp.symbols("n b h w D", positive=True)
    assert bounds.tf1_cost("airtight").subs({n_: L, b_: b, h_: h, w_: w, D_: D}) == airtight
    for k in range(L + 1):
        for alice in itertools.combinations(range(L), k):
            run = tf1_protocol(model, x, alice, precision)
            assert np.array_equal(run.logits, ref), alice
            assert run.bits == run.info["formula_bits"] <= airtight
            if 0 < k < L:
                wv = model.weights.layers[0].attn.wv.shape[1]
                assert run.bits == max(1, (t.vocab_size - 1).bit_length()) + h * (
                    2 * (b + 1) + 2 * (b + 3) + wv * 2 * b
                )
    if precision == "fixed:8.12":
        assert np.array_equal(ref.argmax(axis=1), t.solve(x))  # and the model is right there


@pytest.mark.parametrize("seed,precision", [(0, "fixed:4.8"), (1, "fixed:3.4")])
def test_tf1_protocol_random_multihead_model(seed, precision):
    model = random_tf1(seed)
    x = all_tokens(3, 5)
    ref = model.logits(x, precision=precision)
    rng = np.random.default_rng(seed)
    differs = 0
    for _ in range(6):
        alice = np.flatnonzero(rng.random(5) < 0.5).tolist()
        assert np.array_equal(tf1_protocol(model, x, alice, precision).logits, ref)
        naive = tf1_protocol(model, x, alice, precision, round_partials=True)
        differs += int((naive.logits != ref).any(axis=1).sum())
    assert differs > 0  # rounding the partial sums before adding them is not the model


def test_tf1_protocol_feature_inputs():
    n, dim, V = 3, 4, 2
    L, din, D, H, w, wv, F = 2 * n + 1, dim + V, 5, 2, 3, 2, 4
    rng = np.random.default_rng(3)
    r = lambda *s: rng.normal(size=s)  # noqa: E731
    att = Attention(r(H, w, D), r(H, w, D), r(H, wv, D), r(H, wv, D))
    model = Model(
        TransformerWeights(r(din, D), r(L, D), (Layer(att, MLP(r(D, F), r(F), r(F, D), r(D))),), r(D, 2), r(2)),
        {
            "arch": "transformer",
            "task": "nearest_neighbor",
            "task_params": {"n": n, "dim": dim, "margin": 0.1, "num_labels": V},
            "causal": True,
            "readout": "last",
            "embed": "input",
            "input_encoding": "nearest_neighbor_features",
            "seq_len": L,
        },
    )
    x = tasks.get("nearest_neighbor", n=n, dim=dim, margin=0.1, num_labels=V).sample(np.random.default_rng(1), 300)
    for precision in ("fixed:3.4",):
        ref = model.logits(x, precision=precision)
        for alice in ([0, 2, 4, 6], [1, 3, 5], [6], []):
            run = tf1_protocol(model, x, alice, precision)
            assert np.array_equal(run.logits, ref)
            if alice and len(alice) < L:
                assert run.bits_by_step()["last token"] == D * (bounds.parse_fixed(precision).bits + 1)


def test_protocols_refuse_what_they_cannot_run():
    rnn, tf = random_rnn(0), random_tf1(0)
    x = all_tokens(3, 5)[:4]
    with pytest.raises(BoundError, match="runs an RNN"):
        rnn_protocol(tf, x, 2, "fixed:4.8")
    with pytest.raises(BoundError, match="one-layer Transformer"):
        tf1_protocol(rnn, x, [0], "fixed:4.8")
    with pytest.raises(BoundError, match="fixed:I.F grid"):
        rnn_protocol(rnn, x, 2, "float64")
    with pytest.raises(BoundError, match="cut must be"):
        rnn_protocol(rnn, x, 9, "fixed:4.8")
    with pytest.raises(BoundError, match="positions must lie"):
        tf1_protocol(tf, x, [7], "fixed:4.8")
    low = random_rnn(0)
    low = Model(
        RNNWeights(
            low.weights.win,
            low.weights.wh,
            low.weights.b,
            -100 * np.ones(5),
            low.weights.readout_w,
            low.weights.readout_b,
        ),
        low.meta,
    )
    with pytest.raises(GridOverflow, match="RNN state entry"):  # h0 at the clip floor -2^I
        rnn_protocol(low, x, 0, "fixed:2.3")
