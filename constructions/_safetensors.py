"""Our models as safetensors, named for TransformerLens and PyTorch: :func:`save_safetensors`,
:func:`load_safetensors` (docs/MODEL.md, *safetensors*).

A Transformer's arrays take the names of a TransformerLens ``HookedTransformer`` state dict
(``embed.W_E``, ``pos_embed.W_pos``, ``blocks.{i}.attn.W_Q`` ..., ``unembed.W_U``) in its shapes
(``W_Q [n_heads, d_model, d_head]`` is our ``wq`` transposed per head); a ``HookedTransformer``
has one head count, head width and MLP width for all layers, so smaller layers are padded with
zeros (a zero head adds nothing: its values are 0; a zero MLP unit is ``relu(0) = 0``), and the
attention biases it expects are written as zeros. An RNN's arrays take the names of a
``torch.nn.RNN(nonlinearity="relu", batch_first=True)`` on one-hot tokens plus a linear readout.

Beside ``m.safetensors`` goes ``m.config.json``: the ``HookedTransformerConfig`` arguments
(``transformer_lens``) or the ``torch.nn.RNN`` ones (``torch_rnn``), and our metadata. The
safetensors header holds everything :func:`load_safetensors` needs (the metadata and the true
per-layer shapes), so the file alone gives back the same arrays, bit for bit.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ._formats import register_format, require, write_bytes
from ._meta import ModelFormatError, ModelMeta

if TYPE_CHECKING:
    from ._model import Model

__all__ = ["SAFETENSORS_FORMAT", "save_safetensors", "load_safetensors", "config_path", "to_tensors"]

SAFETENSORS_FORMAT = "separations-safetensors/1"


def config_path(path: str) -> str:
    """``m.safetensors`` -> ``m.config.json`` (two models in one folder never share a config)."""
    stem = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    return stem + ".config.json"


def _pad(a: np.ndarray, shape: tuple) -> np.ndarray:
    out = np.zeros(shape, dtype=np.float64)
    out[tuple(slice(0, s) for s in a.shape)] = a
    return out


def to_tensors(model: Model) -> tuple[dict[str, np.ndarray], dict, dict]:
    """``(tensors, config, shapes)``: the named arrays, the config.json object, and the true
    per-layer shapes (what the padding hides)."""
    a = model.arrays()
    meta = model.metadata
    if model.family == "rnn":
        m = a["rnn/h0"].shape[0]
        tensors = {
            "rnn.weight_ih_l0": a["rnn/win"].T,  # [m, V]: one-hot(x) @ W_ihᵀ = win[x]
            "rnn.weight_hh_l0": a["rnn/wh"].T,  # [m, m]: h @ W_hhᵀ = h @ wh
            "rnn.bias_ih_l0": a["rnn/b"],
            "rnn.bias_hh_l0": np.zeros(m),
            "h0": a["rnn/h0"],
            "readout.weight": a["readout/w"].T,  # [C, m]
            "readout.bias": a["readout/b"],
        }
        V, C = a["rnn/win"].shape[0], a["readout/b"].shape[0]
        config: dict[str, Any] = {
            "torch_rnn": {
                "input_size": V,
                "hidden_size": m,
                "num_layers": 1,
                "nonlinearity": "relu",
                "batch_first": True,
            },
            "readout": {"in_features": m, "out_features": C},
        }
        return {k: np.ascontiguousarray(v) for k, v in tensors.items()}, config, {}
    layers = []
    i = 0
    while f"layer{i}/attn/wq" in a:
        H, w, _ = a[f"layer{i}/attn/wq"].shape
        layers.append(
            {"heads": H, "d_qk": w, "d_v": a[f"layer{i}/attn/wv"].shape[1], "d_mlp": a[f"layer{i}/mlp/w1"].shape[1]}
        )
        i += 1
    H = max(s["heads"] for s in layers)
    dh = max(max(s["d_qk"], s["d_v"]) for s in layers)
    F = max(s["d_mlp"] for s in layers)
    L_max, D = a["embed/position"].shape
    C = a["readout/b"].shape[0]
    token = meta.embed_kind == "token"
    tensors = {"embed.W_E" if token else "embed.W_in": a["embed/token" if token else "embed/input"]}
    tensors["pos_embed.W_pos"] = a["embed/position"]
    for i in range(len(layers)):
        p, q = f"layer{i}/", f"blocks.{i}."
        for ours, theirs in (("wq", "W_Q"), ("wk", "W_K"), ("wv", "W_V")):
            tensors[q + "attn." + theirs] = _pad(a[p + "attn/" + ours].transpose(0, 2, 1), (H, D, dh))
        tensors[q + "attn.W_O"] = _pad(a[p + "attn/wo"], (H, dh, D))
        for b in ("b_Q", "b_K", "b_V"):
            tensors[q + "attn." + b] = np.zeros((H, dh))
        tensors[q + "attn.b_O"] = np.zeros(D)
        tensors[q + "mlp.W_in"] = _pad(a[p + "mlp/w1"], (D, F))
        tensors[q + "mlp.b_in"] = _pad(a[p + "mlp/b1"], (F,))
        tensors[q + "mlp.W_out"] = _pad(a[p + "mlp/w2"], (F, D))
        tensors[q + "mlp.b_out"] = a[p + "mlp/b2"]
    tensors["unembed.W_U"] = a["readout/w"]
    tensors["unembed.b_U"] = a["readout/b"]
    config = {
        "transformer_lens": {
            "n_layers": len(layers),
            "d_model": int(D),
            "n_ctx": int(L_max),
            "d_head": int(dh),
            "n_heads": int(H),
            "d_mlp": int(F),
            "d_vocab": int(tensors["embed.W_E" if token else "embed.W_in"].shape[0]),
            "d_vocab_out": int(C),
            "act_fn": "relu",
            "normalization_type": None,
            "use_attn_scale": False,
            "attention_dir": "causal" if meta.causal else "bidirectional",
            "positional_embedding_type": "standard",
            "default_prepend_bos": False,
            "dtype": "float64",
        },
        "readout": (
            f"logits[:, {list(meta.readout_positions or ())}]: the query positions"
            if meta.readout == "positions"
            else "logits[:, -1]: the last position"
        ),
    }
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}, config, {"layers": layers}


def save_safetensors(model: Model, path: str) -> None:
    """Write ``path`` (.safetensors) and its config (:func:`config_path`), each atomically."""
    st = require("safetensors.numpy")
    tensors, config, shapes = to_tensors(model)
    meta = model.metadata.to_dict()
    ours = {"format": SAFETENSORS_FORMAT, "meta": meta, "shapes": shapes}
    # one header key: safetensors writes several in no fixed order, and the same model must give the same bytes
    header = {"separations": json.dumps(ours, sort_keys=True, allow_nan=False)}
    config = {**config, "separations": ours}
    write_bytes(path, st.save(tensors, metadata=header))
    write_bytes(config_path(path), (json.dumps(config, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())


def _unpad(t: np.ndarray, shape: tuple, name: str) -> np.ndarray:
    """The leading ``shape`` block of ``t``, the rest checked to be zero padding."""
    if t.ndim != len(shape) or any(s > n for s, n in zip(shape, t.shape)):
        raise ModelFormatError(f"{name}: shape {t.shape} is smaller than the recorded {shape}")
    rest = t.copy()
    rest[tuple(slice(0, s) for s in shape)] = 0
    if np.any(rest != 0):
        raise ModelFormatError(f"{name}: nonzero entries outside the recorded shape {shape}")
    return t[tuple(slice(0, s) for s in shape)]


def _zero(t: np.ndarray, name: str) -> None:
    if np.any(t != 0):
        raise ModelFormatError(f"{name} is not zero: our forward pass has no such bias (docs/MODEL.md)")


def load_safetensors(path: str) -> tuple[dict, ModelMeta]:
    """The arrays and metadata of the model written by :func:`save_safetensors`, from the
    .safetensors file alone (``constructions.load`` makes the model of them)."""
    st = require("safetensors")
    stn = require("safetensors.numpy")
    if not os.path.exists(path):
        raise ModelFormatError(f"{path}: no such file")
    try:
        with st.safe_open(path, framework="numpy") as f:
            header = f.metadata() or {}
        t = stn.load_file(path)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own errors
        raise ModelFormatError(f"{path} is not a safetensors file ({type(e).__name__})") from None
    try:
        ours = json.loads(header.get("separations", "{}"))
    except ValueError:
        ours = {}
    if not isinstance(ours, dict) or ours.get("format") != SAFETENSORS_FORMAT:
        raise ModelFormatError(f"{path} was not written by separations (no {SAFETENSORS_FORMAT!r} header)")
    meta = ModelMeta.from_dict(ours["meta"], require_format=True)
    try:
        if meta.family == "rnn":
            _zero(t["rnn.bias_hh_l0"], "rnn.bias_hh_l0")
            arrays = {
                "rnn/win": t["rnn.weight_ih_l0"].T,
                "rnn/wh": t["rnn.weight_hh_l0"].T,
                "rnn/b": t["rnn.bias_ih_l0"],
                "rnn/h0": t["h0"],
                "readout/w": t["readout.weight"].T,
                "readout/b": t["readout.bias"],
            }
        else:
            token = meta.embed_kind == "token"
            arrays = {
                "embed/token" if token else "embed/input": t["embed.W_E" if token else "embed.W_in"],
                "embed/position": t["pos_embed.W_pos"],
                "readout/w": t["unembed.W_U"],
                "readout/b": t["unembed.b_U"],
            }
            D = arrays["embed/position"].shape[1]
            for i, s in enumerate(ours["shapes"]["layers"]):
                p, q = f"layer{i}/", f"blocks.{i}."
                H, w, wv, F = s["heads"], s["d_qk"], s["d_v"], s["d_mlp"]
                for ours, theirs, width in (("wq", "W_Q", w), ("wk", "W_K", w), ("wv", "W_V", wv)):
                    arrays[p + "attn/" + ours] = _unpad(t[q + "attn." + theirs], (H, D, width), q + theirs).transpose(
                        0, 2, 1
                    )
                arrays[p + "attn/wo"] = _unpad(t[q + "attn.W_O"], (H, wv, D), q + "attn.W_O")
                for b in ("b_Q", "b_K", "b_V", "b_O"):
                    _zero(t[q + "attn." + b], q + "attn." + b)
                arrays[p + "mlp/w1"] = _unpad(t[q + "mlp.W_in"], (D, F), q + "mlp.W_in")
                arrays[p + "mlp/b1"] = _unpad(t[q + "mlp.b_in"], (F,), q + "mlp.b_in")
                arrays[p + "mlp/w2"] = _unpad(t[q + "mlp.W_out"], (F, D), q + "mlp.W_out")
                arrays[p + "mlp/b2"] = t[q + "mlp.b_out"]
    except KeyError as e:
        raise ModelFormatError(f"{path}: missing tensor {e.args[0]!r}") from None
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}, meta


def _load(path: str) -> tuple[dict, ModelMeta]:
    return load_safetensors(path)


register_format(".safetensors", save_safetensors, _load)
