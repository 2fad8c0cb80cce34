"""An independent forward pass for saved models, written from docs/MODEL.md alone.

It imports only numpy and json (not the package), so a test that compares it with
``Model.predict`` checks both the JAX code and the file-format specification.
"""

import json

import numpy as np


def read(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")[0]))
    return arrays, meta


def _softmax_rows(s, mask):
    s = np.where(mask, s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    e = np.where(mask, np.exp(s), 0.0)
    return e / e.sum(axis=-1, keepdims=True)


def _norm(arrays, name, meta, X):
    """Version 2: the layer norm ``name`` of each row (identity without meta['layer_norm_eps'])."""
    eps = meta.get("layer_norm_eps")
    if eps is None:
        return X
    mu = X.mean(axis=-1, keepdims=True)
    sd = np.sqrt(((X - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    return (X - mu) / sd * arrays[name + "/g"] + arrays[name + "/b"]


def _act(meta, a):
    if meta.get("activation", "relu") == "relu":
        return np.maximum(a, 0)
    assert meta["activation"] == "gelu_tanh", meta["activation"]
    return 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3)))


def transformer_logits(arrays, meta, x):
    """x: int tokens [L] (embed 'token') or float features [L, d_in]; returns logits [C], or
    [Q, C] at meta['readout_positions'] when meta['readout'] is 'positions'."""
    L = x.shape[0]
    if meta.get("embed", "token") == "token":
        X = arrays["embed/token"][x] + arrays["embed/position"][:L]
    else:
        X = x @ arrays["embed/input"] + arrays["embed/position"][:L]
    causal = meta.get("causal", True)
    mask = np.tril(np.ones((L, L), bool)) if causal else np.ones((L, L), bool)
    i = 0
    while f"layer{i}/attn/wq" in arrays:
        p = f"layer{i}/"
        wq, wk, wv, wo = (arrays[p + "attn/" + k] for k in ("wq", "wk", "wv", "wo"))
        out = np.zeros_like(X)
        N = _norm(arrays, p + "ln_attn", meta, X)
        bq, bk, bv = (
            arrays.get(p + "attn/" + k, np.zeros(w.shape[:2])) for k, w in zip(("bq", "bk", "bv"), (wq, wk, wv))
        )
        for h in range(wq.shape[0]):
            Q, K, V = N @ wq[h].T + bq[h], N @ wk[h].T + bk[h], N @ wv[h].T + bv[h]
            out += _softmax_rows(Q @ K.T, mask) @ V @ wo[h]
        X = X + out + arrays.get(p + "attn/bo", 0.0)
        hid = _act(meta, _norm(arrays, p + "ln_mlp", meta, X) @ arrays[p + "mlp/w1"] + arrays[p + "mlp/b1"])
        X = X + hid @ arrays[p + "mlp/w2"] + arrays[p + "mlp/b2"]
        i += 1
    X = _norm(arrays, "ln_final", meta, X)
    if meta.get("readout", "last") == "positions":
        return X[meta["readout_positions"]] @ arrays["readout/w"] + arrays["readout/b"]
    return X[-1] @ arrays["readout/w"] + arrays["readout/b"]


def rnn_logits(arrays, meta, x):
    h = arrays["rnn/h0"]
    for t in x:
        h = np.maximum(h @ arrays["rnn/wh"] + arrays["rnn/win"][t] + arrays["rnn/b"], 0)
    return h @ arrays["readout/w"] + arrays["readout/b"]


def predict(path, inputs):
    arrays, meta = read(path)
    fn = rnn_logits if meta["arch"] == "rnn" else transformer_logits
    return np.array([np.argmax(fn(arrays, meta, np.asarray(x)), axis=-1) for x in inputs], dtype=np.int64)
