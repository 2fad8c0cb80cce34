"""The safetensors export in TransformerLens and PyTorch themselves (docs/MODEL.md, *Other formats*):
the documented recipe — ``HookedTransformerConfig(**config["transformer_lens"])``,
``load_state_dict``, ``model(tokens)[:, -1]`` — and a ``torch.nn.RNN`` built from ``config["torch_rnn"]``
give our logits, for the constructions and for random weights of the same shapes.

Neither library is a dependency (torch is large, and TransformerLens 4 removed ``HookedTransformer``),
so this file is skipped unless ``torch`` and ``transformer_lens`` < 4 are installed; the numpy
transcription in test_safetensors_export.py checks the same mapping everywhere. Measured once
with transformer_lens 3.9.0 and torch 2.13 (CPU): 0 for every construction, at most 4e-15 with
random weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import constructions
import tasks

torch = pytest.importorskip("torch")
pytest.importorskip("transformer_lens")
pytest.importorskip("safetensors")
try:  # TransformerLens 4 raises ImportError for the removed name
    from transformer_lens import HookedTransformer, HookedTransformerConfig
except ImportError:
    pytest.skip("TransformerLens 4 has no HookedTransformer", allow_module_level=True)

CASES = [
    ("index_lookup", "tf1", {"n": 4, "alphabet_size": 3}),
    ("equality", "tf2", {"n": 6}),
    ("associative_recall", "tf2", {"n": 3}),
    ("nearest_neighbor", "tf2", {"n": 4, "dim": 2, "margin": 0.5}),
    (
        "threshold",
        "tf2",
        {"n": 4, "index_sets": [[0, 1], [3]], "truth_tables": [[0, 1, 1, 0], [1, 0]], "c": 0, "causal": False},
    ),
    ("index_lookup", "rnn", {"n": 4, "alphabet_size": 3}),
    ("dyck", "rnn", {"n": 6}),
]


def their_logits(path, config_path, x: np.ndarray, embed: str | None) -> np.ndarray:
    """Logits ``[B, C]`` computed by TransformerLens / torch from the files alone (the documented recipe)."""
    from safetensors.torch import load_file

    cfg = json.loads(config_path.read_text())
    tensors = load_file(str(path))
    x = torch.from_numpy(x)
    with torch.no_grad():
        if "torch_rnn" in cfg:
            rnn = torch.nn.RNN(**cfg["torch_rnn"]).double()
            readout = torch.nn.Linear(**cfg["readout"]).double()
            rnn.load_state_dict({k.removeprefix("rnn."): v for k, v in tensors.items() if k.startswith("rnn.")})
            readout.load_state_dict(
                {k.removeprefix("readout."): v for k, v in tensors.items() if k.startswith("readout.")}
            )
            onehot = torch.nn.functional.one_hot(x.long(), cfg["torch_rnn"]["input_size"]).double()
            _, h = rnn(onehot, tensors["h0"][None, None].expand(1, x.shape[0], -1).contiguous())
            return readout(h[0]).numpy()
        model = HookedTransformer(HookedTransformerConfig(**{**cfg["transformer_lens"], "dtype": torch.float64}))
        missing, unexpected = model.load_state_dict(
            {k: v for k, v in tensors.items() if k != "embed.W_in"}, strict=False
        )
        assert not unexpected and all(m.endswith(("mask", "IGNORE")) or m == "embed.W_E" for m in missing)
        if embed == "input":
            resid = x @ tensors["embed.W_in"] + tensors["pos_embed.W_pos"][: x.shape[1]]
            return model(resid, start_at_layer=0)[:, -1].numpy()
        return model(x.long())[:, -1].numpy()


@pytest.mark.parametrize("generic", [False, True], ids=["construction", "random-weights"])
@pytest.mark.parametrize("name,arch,params", CASES, ids=[f"{t}-{a}" for t, a, _ in CASES])
def test_transformer_lens_and_torch_give_our_logits(name, arch, params, generic, tmp_path):
    model = constructions.build(name, arch=arch, **params)
    if generic:
        rng = np.random.default_rng(1)
        arrays = {k: rng.normal(size=a.shape) / np.sqrt(a.shape[-1]) for k, a in model.arrays().items()}
        model = constructions.Model.from_arrays(arrays, model.metadata)
    model.save(tmp_path / "m.safetensors")
    inputs = tasks.get(name, **model.task_params).sample(np.random.default_rng(0), 64)
    x = model.encode_inputs(inputs)
    got = their_logits(tmp_path / "m.safetensors", tmp_path / "m.config.json", x, model.metadata.embed)
    assert np.max(np.abs(got - model.logits(inputs))) <= 1e-12
