"""The fixed:I.F forward pass equals an exact-rational reference written from docs/MODEL.md alone.

The reference below uses ``fractions.Fraction`` for every value and imports nothing from the
package's arithmetic: each parameter rounded down to a multiple of 2^-F and clipped to ±2^I; each
matrix product formed exactly and rounded once; additions clipped; softmax with the maximum
subtracted, ``e = floor(exp(d)·2^F)/2^F`` with exp in float64, an exact normaliser and weights
``floor(e·2^F / Z)/2^F``; first-layer projections from the per-table products; the head outputs
summed over heads and value coordinates before the one rounding of ``Wo``.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import constructions
import tasks
from constructions import MLP, Attention, Layer, Model, RNNWeights, TransformerWeights


class Grid:
    def __init__(self, I, F):
        self.S, self.top = 1 << F, Fraction(1 << I)

    def clip(self, x):
        return max(-self.top, min(self.top, x))

    def rd(self, x):
        return self.clip(Fraction(math.floor(x * self.S), self.S))

    def enc(self, a):
        a = np.asarray(a, dtype=np.float64)
        return np.vectorize(lambda v: self.rd(Fraction(float(v))), otypes=[object])(a) if a.size else a.astype(object)

    def dot(self, xs, ys):
        return self.rd(sum((x * y for x, y in zip(xs, ys)), Fraction(0)))

    def add(self, a, b):
        return self.clip(a + b)

    def softmax(self, scores):
        m = max(scores)
        e = [Fraction(math.floor(math.exp(float(self.clip(s - m))) * self.S), self.S) for s in scores]
        z = self.clip(sum(e, Fraction(0)))
        zu = max(int(z * self.S), 1)
        return [Fraction((int(ek * self.S) * self.S) // zu, self.S) for ek in e]


def ref_transformer(arrays, meta, tokens, g: Grid):
    """Exact logits [C] of a token-input Transformer on the fixed grid."""
    L = len(tokens)
    E, P = g.enc(arrays["embed/token"]), g.enc(arrays["embed/position"][:L])
    X = [[g.add(E[t][d], P[p][d]) for d in range(E.shape[1])] for p, t in enumerate(tokens)]
    causal = meta.get("causal", True)
    i = 0
    while f"layer{i}/attn/wq" in arrays:
        pre = f"layer{i}/"
        W = {k: g.enc(arrays[pre + "attn/" + k]) for k in ("wq", "wk", "wv", "wo")}
        H = W["wq"].shape[0]
        proj = {}
        for k in ("wq", "wk", "wv"):
            if i == 0:  # per-table products, each rounded once, then added
                te = [
                    [[g.dot(E[v], W[k][h][j]) for j in range(W[k].shape[1])] for v in range(E.shape[0])]
                    for h in range(H)
                ]
                tp = [[[g.dot(P[p], W[k][h][j]) for j in range(W[k].shape[1])] for p in range(L)] for h in range(H)]
                proj[k] = [
                    [[g.add(te[h][tokens[p]][j], tp[h][p][j]) for j in range(W[k].shape[1])] for p in range(L)]
                    for h in range(H)
                ]
            else:
                proj[k] = [
                    [[g.dot(X[p], W[k][h][j]) for j in range(W[k].shape[1])] for p in range(L)] for h in range(H)
                ]
        out = []
        for p in range(L):
            vis = range(p + 1) if causal else range(L)
            heads = []
            for h in range(H):
                alpha = g.softmax([g.dot(proj["wq"][h][p], proj["wk"][h][k]) for k in vis])
                heads.append(
                    [
                        g.rd(sum((a * proj["wv"][h][k][v] for a, k in zip(alpha, vis)), Fraction(0)))
                        for v in range(W["wv"].shape[1])
                    ]
                )
            D = len(X[p])
            o = [
                g.rd(
                    sum(
                        (heads[h][v] * W["wo"][h][v][d] for h in range(H) for v in range(W["wo"].shape[1])), Fraction(0)
                    )
                )
                for d in range(D)
            ]
            out.append([g.add(X[p][d], o[d]) for d in range(D)])
        w1, b1, w2, b2 = (g.enc(arrays[pre + "mlp/" + k]) for k in ("w1", "b1", "w2", "b2"))
        X = []
        for x in out:
            hid = [max(Fraction(0), g.add(g.dot(x, w1[:, f]), b1[f])) for f in range(w1.shape[1])]
            X.append([g.add(x[d], g.add(g.dot(hid, w2[:, d]), b2[d])) for d in range(len(x))])
        i += 1
    wr, br = g.enc(arrays["readout/w"]), g.enc(arrays["readout/b"])
    return [g.add(g.dot(X[-1], wr[:, c]), br[c]) for c in range(wr.shape[1])]


def ref_rnn(arrays, tokens, g: Grid):
    wh, win, b, h = (g.enc(arrays["rnn/" + k]) for k in ("wh", "win", "b", "h0"))
    h = list(h)
    for t in tokens:
        h = [max(Fraction(0), g.add(g.add(g.dot(h, wh[:, k]), win[t][k]), b[k])) for k in range(len(h))]
    wr, br = g.enc(arrays["readout/w"]), g.enc(arrays["readout/b"])
    return [g.add(g.dot(h, wr[:, c]), br[c]) for c in range(wr.shape[1])]


def reference(model, x, precision):
    I, F = (int(v) for v in precision.split(":")[1].split("."))
    g = Grid(I, F)
    arrays = model.arrays()
    run = (
        (lambda t: ref_rnn(arrays, t, g))
        if model.arch == "rnn"
        else (lambda t: ref_transformer(arrays, model.meta, t, g))
    )
    return np.array([[float(v) for v in run(list(row))] for row in np.asarray(x)])


FORMATS = ["fixed:3.4", "fixed:2.6", "fixed:5.10", "fixed:1.3", "fixed:8.2"]


def _meta(arch, V, L, C, causal=True):
    return {
        "arch": arch,
        "task": "index_lookup",
        "task_params": {"n": L - 1, "alphabet_size": 2},
        "causal": causal,
        "readout": "last",
        "embed": "token",
        "input_encoding": "tokens",
        "seq_len": L,
        "vocab_size": V,
    }


def random_transformer(seed, layers, heads, causal=True):
    rng = np.random.default_rng(seed)
    V, L, D, w, wv, F, C = 5, 5, 4, 3, 2, 3, 3
    r = lambda *s: rng.normal(0, 1.5, s)  # noqa: E731  (large enough that clipping happens)
    lay = tuple(
        Layer(
            Attention(r(heads, w, D), r(heads, w, D), r(heads, wv, D), r(heads, wv, D)),
            MLP(r(D, F), r(F), r(F, D), r(D)),
        )
        for _ in range(layers)
    )
    return Model(TransformerWeights(r(V, D), r(L, D), lay, r(D, C), r(C)), _meta("transformer", V, L, C, causal))


def random_rnn(seed):
    rng = np.random.default_rng(seed)
    V, L, m, C = 4, 6, 3, 3
    r = lambda *s: rng.normal(0, 1.0, s)  # noqa: E731
    return Model(RNNWeights(r(V, m), r(m, m), r(m), r(m), r(m, C), r(C)), _meta("rnn", V, L, C))


@pytest.mark.parametrize(
    "seed,layers,heads,causal", [(0, 1, 1, True), (1, 1, 2, True), (2, 2, 1, True), (3, 2, 2, False), (4, 2, 2, True)]
)
@pytest.mark.parametrize("precision", FORMATS)
def test_random_transformers_equal_exact_reference(seed, layers, heads, causal, precision):
    m = random_transformer(seed, layers, heads, causal)
    x = np.random.default_rng(seed).integers(0, 5, (6, 5))
    assert np.array_equal(m.logits(x, precision=precision), reference(m, x, precision))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("precision", FORMATS)
def test_random_rnns_equal_exact_reference(seed, precision):
    m = random_rnn(seed)
    x = np.random.default_rng(seed).integers(0, 4, (6, 6))
    assert np.array_equal(m.logits(x, precision=precision), reference(m, x, precision))


def _constructions():
    out = [
        ("index_lookup", "tf1", {"n": 3, "alphabet_size": 2}),
        ("index_lookup", "tf1", {"n": 3, "alphabet_size": 3, "addresses": "quadratic"}),
        ("index_lookup", "tf1", {"n": 3, "alphabet_size": 2, "addresses": "rs"}),
    ]
    for task, arch in constructions.available():  # two-layer and recurrent constructions, where registered
        if (task, arch) in {("equality", "tf2"), ("disjointness", "tf2"), ("index_lookup", "rnn"), ("equality", "rnn")}:
            out.append((task, arch, {"n": 4} if task != "index_lookup" else {"n": 3, "alphabet_size": 2}))
    return out


@pytest.mark.parametrize("task,arch,params", _constructions())
@pytest.mark.parametrize("precision", ["fixed:4.6", "fixed:2.3"])
def test_constructions_equal_exact_reference(task, arch, params, precision, built):
    m = built(task, arch, **params)
    t = tasks.get(task, **m.task_params)
    x = np.concatenate(list(t.enumerate(64)))[:24]
    assert np.array_equal(m.logits(x, precision=precision), reference(m, x, precision))


def test_reference_rounds_down_and_clips():
    g = Grid(2, 3)
    assert g.rd(Fraction(13, 100)) == Fraction(1, 8) and g.rd(Fraction(-13, 100)) == Fraction(-1, 4)
    assert g.rd(Fraction(9)) == 4 and g.rd(Fraction(-9)) == -4
    assert list(itertools.accumulate(g.softmax([Fraction(0), Fraction(-1)])))[-1] <= 1
