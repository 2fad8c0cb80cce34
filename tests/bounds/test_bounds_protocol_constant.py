"""The "protocol" constant of Theorem 4 (docs/BOUNDS.md §3.1): the executed protocol reproduces
every one-layer Transformer we give it, random ones of many shapes included, and never sends more
than ``⌈log2 V⌉ + h(2wb + 4b + 2 + 2⌈log2 n⌉)`` bits."""

import itertools

import numpy as np
import pytest
import sympy as sp

import bounds
import tasks
from bounds import tf1_protocol
from constructions import MLP, Attention, Layer, Model, TransformerWeights

from testkit import built


def closed_form(n, b, h, w, V):
    s = bounds._closed_forms.SYMBOLS
    expr = bounds.tf1_cost("protocol").subs({s["n"]: n, s["b"]: b, s["h"]: h, s["w"]: w, s["V"]: V, s["D"]: 10**9})
    return int(expr)


def integer_form(n, b, h, w, V):
    return (V - 1).bit_length() + h * (2 * w * b + 4 * b + 2 + 2 * (n - 1).bit_length())


def random_tf1(rng, V, L, D, H, w, wv, F=5, C=2, scale=1.5):
    r = lambda *s: rng.normal(size=s) * scale  # noqa: E731
    att = Attention(r(H, w, D), r(H, w, D), r(H, wv, D), r(H, wv, D))
    layer = Layer(att, MLP(r(D, F), r(F), r(F, D), r(D)))
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
    return Model(TransformerWeights(r(V, D), r(L, D), (layer,), r(D, C), r(C)), meta)


def test_the_closed_form_is_the_integer_form():
    for n, b, h, w, V in itertools.product((2, 64, 1000), (3, 32), (1, 3), (7,), (2, 3, 64)):
        assert closed_form(n, b, h, w, V) == integer_form(n, b, h, w, V)
    assert bounds.tf1_cost("protocol").free_symbols == {sp.Symbol(c, positive=True) for c in "nbhwV"}


SHAPES = [  # (V, L, D, H, w, wv)
    (2, 6, 3, 1, 1, 1),
    (2, 8, 5, 2, 3, 2),
    (3, 5, 4, 3, 2, 2),
    (4, 6, 6, 2, 4, 1),
    (5, 4, 2, 1, 3, 3),
    (64, 7, 9, 4, 5, 5),
]


def splits(rng, L):
    return [[], list(range(L)), [L - 1], list(range(0, L, 2)), *(sorted(rng.permutation(L)[:k]) for k in (1, 2, 3))]


@pytest.mark.parametrize("shape", SHAPES, ids=[f"V{s[0]}L{s[1]}D{s[2]}H{s[3]}w{s[4]}v{s[5]}" for s in SHAPES])
def test_random_one_layer_models_never_send_more_than_the_closed_form(shape):
    V, L, D, H, w, wv = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(0, V, size=(64, L))
    for seed, precision in itertools.product(range(3), ("fixed:3.4", "fixed:4.7", "fixed:6.12")):
        model = random_tf1(np.random.default_rng(seed), V, L, D, H, w, wv)
        b = bounds.parse_fixed(precision).bits
        bound = integer_form(L, b, H, max(w, wv), V)
        for alice in splits(rng, L):
            run = tf1_protocol(model, x, alice, precision)
            assert run.bits <= bound and run.bits == run.info["formula_bits"]
            if 0 < len(alice) < L and wv == w:
                assert run.bits == bound  # the closed form is exactly what is sent


def test_a_random_one_layer_model_bit_for_bit():
    """The protocol is the model on random weights (three heads, values narrower than queries), on
    every input of split_equality at n = 8, across the task's split and others."""
    t = tasks.get("split_equality", n=8, alice="random:2")
    rng = np.random.default_rng(7)
    model = random_tf1(rng, 2, 8, 5, 3, 3, 2)
    x = np.concatenate(list(t.enumerate(256)))  # all 2^8 inputs
    ref = model.logits(x, precision="fixed:3.5")  # clip bound 2^3 >= L, the class's hypothesis
    for alice in [t.split("alice").alice, *splits(rng, 8)]:
        run = tf1_protocol(model, x, alice, "fixed:3.5")
        assert np.array_equal(run.logits, ref), alice
        assert run.bits <= integer_form(8, 9, 3, 3, 2)


def test_our_one_layer_construction_every_split():
    n, s = 4, 2
    model = built("index_lookup", "tf1", n=n, alphabet_size=s)
    t = tasks.get("index_lookup", n=n, alphabet_size=s)
    x = np.concatenate(list(t.enumerate(4096)))
    precision = "fixed:8.12"
    b, size = bounds.parse_fixed(precision).bits, model.size()
    bound = integer_form(n + 1, b, size["heads"], size["head_dim"], t.vocab_size)
    for k in range(n + 2):
        for alice in itertools.combinations(range(n + 1), k):
            assert tf1_protocol(model, x, alice, precision).bits <= bound
