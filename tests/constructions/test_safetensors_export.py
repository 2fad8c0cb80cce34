"""safetensors export (constructions/_safetensors.py, docs/MODEL.md *safetensors*): every registered
construction round-trips bit for bit and byte-reproducibly; the config.json beside it holds the
documented ``HookedTransformerConfig`` (or ``torch.nn.RNN``) arguments; and the named tensors,
read the way TransformerLens (or PyTorch) reads them, give our logits.

The two readers below are written from those libraries' documented semantics (neither library is
installed here): ``HookedTransformer`` with no layer norm, no attention scaling and ReLU —
``resid = W_E[tokens] + W_pos[:L]``; per block ``q = resid @ W_Q[h] + b_Q[h]`` (likewise k, v),
``pattern = softmax(mask(q kᵀ))``, ``resid += Σ_h (pattern v_h) @ W_O[h] + b_O``,
``resid += relu(resid @ W_in + b_in) @ W_out + b_out``; ``logits = resid @ W_U + b_U`` — and
``torch.nn.RNN(nonlinearity="relu")``: ``h = relu(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`` on one-hot x.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_onnx_export import SMALL, model_of

import constructions
import tasks

st = pytest.importorskip("safetensors.numpy")


def tl_logits(t: dict, cfg: dict, tokens: np.ndarray | None = None, resid: np.ndarray | None = None) -> np.ndarray:
    """Logits ``[B, C]`` at the last position, as HookedTransformer computes them (module docstring),
    from ``tokens``, or from a given residual stream (its ``start_at_layer=0``)."""
    if resid is None:
        resid = t["embed.W_E"][tokens] + t["pos_embed.W_pos"][: tokens.shape[1]]
    L = resid.shape[1]
    causal = cfg["attention_dir"] == "causal"
    visible = np.tril(np.ones((L, L), bool)) if causal else np.ones((L, L), bool)
    for i in range(cfg["n_layers"]):
        p = f"blocks.{i}."
        q, k, v = (
            np.einsum("bld,hde->bhle", resid, t[p + "attn.W_" + x]) + t[p + "attn.b_" + x][None, :, None] for x in "QKV"
        )
        scores = np.where(visible, np.einsum("bhqe,bhke->bhqk", q, k), -np.inf)
        e = np.exp(scores - scores.max(-1, keepdims=True))
        pattern = e / e.sum(-1, keepdims=True)
        z = np.einsum("bhqk,bhke->bhqe", pattern, v)
        resid = resid + np.einsum("bhqe,hed->bqd", z, t[p + "attn.W_O"]) + t[p + "attn.b_O"]
        hidden = np.maximum(resid @ t[p + "mlp.W_in"] + t[p + "mlp.b_in"], 0)
        resid = resid + hidden @ t[p + "mlp.W_out"] + t[p + "mlp.b_out"]
    return (resid @ t["unembed.W_U"] + t["unembed.b_U"])[:, -1]


def torch_rnn_logits(t: dict, cfg: dict, tokens: np.ndarray) -> np.ndarray:
    """Logits of ``torch.nn.RNN(relu)`` on one-hot tokens, then ``nn.Linear`` (module docstring)."""
    onehot = np.eye(cfg["torch_rnn"]["input_size"])[tokens]
    h = np.broadcast_to(t["h0"], (tokens.shape[0], t["h0"].shape[0]))
    for s in range(tokens.shape[1]):
        h = np.maximum(
            onehot[:, s] @ t["rnn.weight_ih_l0"].T
            + t["rnn.bias_ih_l0"]
            + h @ t["rnn.weight_hh_l0"].T
            + t["rnn.bias_hh_l0"],
            0,
        )
    return h @ t["readout.weight"].T + t["readout.bias"]


@pytest.mark.parametrize("name,arch,params", SMALL, ids=[f"{t}-{a}" for t, a, _ in SMALL])
def test_round_trip_and_readers(name, arch, params, tmp_path):
    model = model_of(name, arch, params)
    path = tmp_path / "m.safetensors"
    model.save(path)
    again = constructions.load(path)
    assert again.metadata == model.metadata
    a, b = model.arrays(), again.arrays()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a)
    again.save(tmp_path / "again.safetensors")
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()

    cfg = json.loads((tmp_path / "m.config.json").read_text())
    assert cfg["separations"]["meta"] == dict(model.meta)
    tensors = st.load_file(str(path))
    assert all(v.dtype == np.float64 for v in tensors.values())
    inputs = tasks.get(name, **model.task_params).sample(np.random.default_rng(0), 32)
    want = model.logits(inputs)
    if arch == "rnn":
        got = torch_rnn_logits(tensors, cfg, model.encode_inputs(inputs))
    elif model.metadata.embed == "token":
        tl = cfg["transformer_lens"]
        assert (tl["normalization_type"], tl["use_attn_scale"], tl["act_fn"]) == (None, False, "relu")
        for key, value in tl.items():  # every shape in the config is the tensors' own
            if key in ("n_heads", "d_model", "d_head"):
                assert tensors["blocks.0.attn.W_Q"].shape[("n_heads", "d_model", "d_head").index(key)] == value
        assert tensors["blocks.0.mlp.W_in"].shape[1] == tl["d_mlp"]
        assert tensors["embed.W_E"].shape == (tl["d_vocab"], tl["d_model"])
        assert tensors["unembed.W_U"].shape == (tl["d_model"], tl["d_vocab_out"])
        got = tl_logits(tensors, tl, model.encode_inputs(inputs))
    else:  # feature inputs (docs/MODEL.md): resid = features @ embed.W_in + W_pos[:L], then the blocks
        x = model.encode_inputs(inputs)
        resid = x @ tensors["embed.W_in"] + tensors["pos_embed.W_pos"][: x.shape[1]]
        got = tl_logits(tensors, cfg["transformer_lens"], resid=resid)
    assert np.max(np.abs(got - want)) <= 1e-9


def test_padding_and_biases_must_be_zero(tmp_path):
    """A tensor edited outside our forward pass (a nonzero attention bias) is refused, not dropped."""
    model = model_of(*SMALL[0])
    path = tmp_path / "m.safetensors"
    model.save(path)
    tensors = st.load_file(str(path))
    header = json.loads((tmp_path / "m.config.json").read_text())["separations"]
    tensors["blocks.0.attn.b_Q"] = tensors["blocks.0.attn.b_Q"] + 1.0
    st.save_file(tensors, str(path), metadata={"separations": json.dumps(header)})
    with pytest.raises(constructions.ModelFormatError, match="b_Q is not zero"):
        constructions.load(path)


def test_the_documented_config_is_the_written_one(tmp_path):
    """docs/MODEL.md shows the HookedTransformerConfig arguments of one model: they are the file's."""
    import pathlib
    import re

    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "MODEL.md").read_text()
    shown = json.loads(re.search(r"```json\n(\{.*?\})\n```", doc, re.S).group(1))
    model = constructions.build("index_lookup", arch="tf1", n=4, alphabet_size=3)
    model.save(tmp_path / "m.safetensors")
    assert json.loads((tmp_path / "m.config.json").read_text())["transformer_lens"] == shown
