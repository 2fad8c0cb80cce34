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
        for h in range(wq.shape[0]):
            Q, K, V = X @ wq[h].T, X @ wk[h].T, X @ wv[h].T
            out += _softmax_rows(Q @ K.T, mask) @ V @ wo[h]
        X = X + out
        hid = np.maximum(X @ arrays[p + "mlp/w1"] + arrays[p + "mlp/b1"], 0)
        X = X + hid @ arrays[p + "mlp/w2"] + arrays[p + "mlp/b2"]
        i += 1
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
