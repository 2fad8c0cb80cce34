"""Trained one-layer Transformers as saved models (docs/MODEL.md, version 2), for ``verify --load``.

:func:`to_model` converts the flax parameters of a trained ``tf`` model (experiments/models.py,
``Transformer``: GPT-2-style pre-LayerNorm, learned absolute positions, flax multi-head attention,
GELU MLP) of an index-lookup cell into a :class:`constructions.Model`:

* tokens: the training data are the ``tasks`` index-lookup inputs themselves (experiments/data.py:
  symbols ``0..63``, the index token ``64 + t``), which is also what ``verify`` feeds for
  ``index_lookup`` with alphabet 64. So ``embed/token`` is the first ``64 + n`` rows of the trained
  table and ``embed/position`` its first ``n + 1`` rows, for any ``n`` up to the training n (a model
  for a smaller n is the same network run on shorter inputs);
* attention: flax's query/key/value kernels ``[D, H, d]`` become ``Wq, Wk, Wv [H, d, D]``, their
  biases ``bq, bk, bv [H, d]``; the ``1/sqrt(d)`` scaling of the scores is folded into ``Wq`` and
  ``bq`` (d = 16: a division by 4, exact in floating point); the output kernel ``[H, d, D]`` is
  ``Wo`` and its bias ``bo``;
* the layer norms (flax's epsilon 1e-6) become ``ln_attn``, ``ln_mlp`` and ``ln_final``; the MLP
  ``mlp_in``/``mlp_out`` are ``w1, b1, w2, b2`` with ``activation = "gelu_tanh"`` (flax's
  ``nn.gelu`` default); the readout is ``readout/w, readout/b``.

The flax model reads out at the last real token; ``verify`` gives inputs of exactly ``n + 1``
tokens, so its readout position is the same. Tested against the flax model's logits on random
parameters (tests/experiments/test_export.py).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

import constructions
from constructions import MLP, Attention, Layer, Norm, TransformerWeights, model_meta
from fileio import atomic_write

ALPHABET = 64
FLAX_LN_EPS = 1e-6  # flax.linen.LayerNorm's default epsilon


class ExportError(ValueError):
    """Parameters that are not a one-layer index-lookup Transformer, or a bad n."""


def flat_params(params: Any) -> dict[str, np.ndarray]:
    """A flax parameter tree as ``{"attn0/query/kernel": array, ...}`` (numpy, float32 as trained)."""
    out = {}

    def walk(tree, prefix):
        for k, v in tree.items():
            name = f"{prefix}/{k}" if prefix else str(k)
            if hasattr(v, "items"):
                walk(v, name)
            else:
                out[name] = np.asarray(v)

    walk(params, "")
    return out


def to_model(params: Any, *, n: int, heads: int = 4, meta: dict | None = None) -> constructions.Model:
    """The saved-model form of a trained one-layer ``tf`` index-lookup model, read at ``n`` symbols
    (``n + 1`` tokens); ``params`` a flax tree or :func:`flat_params`' dict. ``meta``: extra
    provenance recorded under ``meta["construction"]`` (cell, seed, steps, accuracy)."""
    p = params if all(isinstance(v, np.ndarray) for v in params.values()) else flat_params(params)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    if "attn1/query/kernel" in p or "attn0/query/kernel" not in p:
        raise ExportError("to_model converts one-layer tf models only (flax names attn0, ln_attn0, ...)")
    vocab, D = p["embed_token/embedding"].shape
    rows = p["embed_position/embedding"].shape[0]
    if not isinstance(n, int) or not 1 <= n or ALPHABET + n > vocab or n + 1 > rows:
        raise ExportError(
            f"n must be an integer in [1, {min(vocab - ALPHABET, rows - 1)}] (the trained tables), got {n!r}"
        )
    kq, kk, kv, ko = (p[f"attn0/{k}/kernel"] for k in ("query", "key", "value", "out"))  # [D,H,d]x3, [H,d,D]
    if kq.shape[1] != heads:
        raise ExportError(f"expected {heads} heads, the query kernel has {kq.shape[1]}")
    scale = 1.0 / np.sqrt(kq.shape[2])
    to_hwd = lambda k: np.transpose(k, (1, 2, 0))  # noqa: E731  [D, H, d] -> [H, d, D]
    bias = (p["attn0/query/bias"] * scale, p["attn0/key/bias"], p["attn0/value/bias"], p["attn0/out/bias"])
    attn = Attention(to_hwd(kq) * scale, to_hwd(kk), to_hwd(kv), ko, bias=bias)
    mlp = MLP(p["mlp_in0/kernel"], p["mlp_in0/bias"], p["mlp_out0/kernel"], p["mlp_out0/bias"])
    norm = lambda name: Norm(p[f"{name}/scale"], p[f"{name}/bias"])  # noqa: E731
    weights = TransformerWeights(
        p["embed_token/embedding"][: ALPHABET + n],
        p["embed_position/embedding"][: n + 1],
        (Layer(attn, mlp, norm("ln_attn0"), norm("ln_mlp0")),),
        p["readout/kernel"],
        p["readout/bias"],
        norm_final=norm("ln_final"),
        norm_eps=FLAX_LN_EPS,
        activation="gelu_tanh",
    )
    m = model_meta(
        "transformer",
        "index_lookup",
        {"n": n, "alphabet_size": ALPHABET},
        seq_len=n + 1,
        vocab_size=ALPHABET + n,
        build={"arch": "tf1", "task": "index_lookup"},
        construction={"trained": True, "source": "experiments/export.py", **(meta or {})},
    )
    m = constructions.ModelMeta.from_dict({**m.to_dict(), "layer_norm_eps": FLAX_LN_EPS, "activation": "gelu_tanh"})
    return constructions.Model(weights, m)


def save_params(path: str | os.PathLike, params: Any) -> None:
    """Write a flax parameter tree as an ``.npz`` of :func:`flat_params` (float32 as trained)."""
    flat = flat_params(params)

    def write(fh) -> None:
        np.savez(fh, **flat)

    atomic_write(os.fspath(path), write)


def load_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(os.fspath(path), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def saver(params_path: str | os.PathLike, row_path: str | os.PathLike | None = None):
    """A ``save_params`` hook for :func:`experiments.train.run`: writes the trained parameters
    (:func:`save_params`) and, if given, the result row as JSON."""

    def hook(module, params, row) -> None:
        save_params(params_path, params)
        if row_path is not None:
            text = json.dumps(row, indent=1, sort_keys=True) + "\n"
            atomic_write(os.fspath(row_path), lambda fh: fh.write(text.encode()))

    return hook


def protocol_check(path: str | os.PathLike, samples: int, seed: int, precisions: list[str]) -> dict:
    """Theorem 4's protocol (``bounds.tf1_protocol``) run on the saved index-lookup model at
    ``path`` for ``samples`` inputs drawn with ``numpy.random.default_rng(seed)`` from the task's
    sampler (uniform over all inputs), Alice holding the n symbols and Bob the index token: per
    fixed-point format, the bits exchanged per input (counted from the transcript, and the
    formula), how many outputs agree with the model's float64 predictions, and how many are right."""
    import bounds
    import tasks

    model = constructions.load(path)
    task = tasks.get(model.task, **model.task_params)
    x = task.sample(np.random.default_rng(seed), samples)
    want, pred = task.solve(x), model.predict(x)
    n = int(model.task_params["n"])
    out: dict[str, Any] = {"model": os.fspath(path), "seed": seed, "inputs": samples}
    out["model_float64_right"] = int((pred == want).sum())
    for precision in precisions:
        run = bounds.tf1_protocol(model, x, range(n), precision)
        got = np.argmax(run.logits, axis=-1)
        out[precision] = {
            "bits": int(sum(m.length for m in run.messages)),
            "formula_bits": int(run.info["formula_bits"]),
            "agree_with_model": int((got == pred).sum()),
            "right": int((got == want).sum()),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.export params.npz out.npz --n N [--row row.json]`` converts trained
    parameters (:func:`saver`'s file); ``python -m experiments.export --protocol model.npz
    --samples K --seed S fixed:I.F ...`` runs :func:`protocol_check` and prints JSON."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m experiments.export")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--n", type=int)
    ap.add_argument("--row")
    ap.add_argument("--protocol", action="store_true")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_intermixed_args(argv)
    if args.protocol:
        print(json.dumps(protocol_check(args.paths[0], args.samples, args.seed, args.paths[1:]), indent=1))
        return 0
    if len(args.paths) != 2 or args.n is None:
        ap.error("give params.npz out.npz --n N")
    meta = None
    if args.row:
        with open(args.row) as fh:
            row = json.load(fh)
        keep = ("key", "label", "seed", "lr", "batch", "length_buckets", "steps", "steps_run", "early_stopped")
        meta = {k: row[k] for k in keep + ("test_acc", "best_val_acc")} | {"trained_n": row["n"]}
    to_model(load_params(args.paths[0]), n=args.n, meta=meta).save(args.paths[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
