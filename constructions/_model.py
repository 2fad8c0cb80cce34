"""The built model: weights + metadata, with ``predict``, ``logits``, ``size``, ``save``; and ``load``.

File format (docs/MODEL.md is the contract): one ``.npz`` (a zip of ``.npy`` arrays, written with
fixed timestamps and sorted entries so that the same model gives the same bytes) holding

* Transformer: ``embed/token [V,D]`` or ``embed/input [d_in,D]``, ``embed/position [L_max,D]``,
  ``layer{i}/attn/wq|wk [H,w,D]``, ``layer{i}/attn/wv|wo [H,wv,D]``, ``layer{i}/mlp/w1 [D,F]``,
  ``b1 [F]``, ``w2 [F,D]``, ``b2 [D]``, ``readout/w [D,C]``, ``readout/b [C]``;
* RNN: ``rnn/win [V,m]``, ``rnn/wh [m,m]``, ``rnn/b [m]``, ``rnn/h0 [m]``, ``readout/w``, ``readout/b``;
* ``meta``: a one-element unicode array holding a JSON object.
"""

from __future__ import annotations

import io
import json
import os
import types
import zipfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from fileio import atomic_write, check_writable

from ._compiled import (
    batch_sharding,
    compiled_forward,
    compiled_states,
    forward_function,
    preparer,
    round_up,
    traced_forward,
)
from ._encoders import ModelInputError, input_encoder, register_input_encoder
from ._fileformat import check_shapes, check_values, read_model_file
from ._formats import other_format
from ._meta import FORMAT, ModelFormatError, ModelMeta
from ._precision import Arithmetic, float64_scope, parse_precision

if TYPE_CHECKING:  # a type name only: constructions does not import tasks
    from tasks import Inputs
from ._rnn import RNNWeights
from ._transformer import MLP, Attention, Layer, Norm, TransformerWeights, example_elements, make_plan, require_float

__all__ = [
    "Model",
    "ModelMeta",
    "load",
    "ModelFormatError",
    "ModelInputError",
    "FORMAT",
    "register_input_encoder",
    "batch_sharding",
    "check_precision",
    "product_terms",
]

_ELEMENT_BUDGET = 1 << 24  # intermediate elements per compiled batch chunk


PathLike = str | os.PathLike


# --- the model --------------------------------------------------------------------------------


class Model:
    """A built (or loaded) model.

    Attributes:
        weights: :class:`TransformerWeights` or :class:`RNNWeights` (float64 numpy arrays).
        metadata: :class:`~constructions._meta.ModelMeta`, the typed metadata (docs/MODEL.md).
    """

    def __init__(self, weights: TransformerWeights | RNNWeights, meta: ModelMeta | Mapping) -> None:
        """``meta``: a :class:`ModelMeta`, or a ``meta`` object as docs/MODEL.md describes it
        (validated; missing optional keys take their defaults)."""
        self.weights: Any = weights  # TransformerWeights or RNNWeights, as ``family`` says (not a static fact)
        self.metadata = ModelMeta.from_dict(meta)
        if isinstance(weights, TransformerWeights) and (
            weights.norm_eps != self.metadata.layer_norm_eps or weights.activation != self.metadata.activation
        ):
            raise ModelFormatError(
                f"weights (norm_eps {weights.norm_eps}, activation {weights.activation!r}) disagree with meta "
                f"(layer_norm_eps {self.metadata.layer_norm_eps}, activation {self.metadata.activation!r})"
            )
        self._meta_dict = self.metadata.to_dict()

    # -- identity
    @property
    def meta(self) -> Mapping:
        """The metadata as the read-only JSON object written to files (``meta["arch"]`` is the
        family); Python code reads the typed :attr:`metadata` instead."""
        return types.MappingProxyType(self._meta_dict)

    @property
    def family(self) -> str:
        """``"transformer"`` or ``"rnn"`` (the file-format key ``arch``)."""
        return self.metadata.family

    @property
    def arch(self) -> str:
        """Deprecated alias of :attr:`family` (``"transformer"`` or ``"rnn"``); the registered
        architecture (``"tf1"``, ``"tf2"``, ``"rnn"``) is :attr:`variant`."""
        return self.metadata.family

    @property
    def variant(self) -> str:
        """The registered architecture name: ``"tf1"``, ``"tf2"`` or ``"rnn"``."""
        return self.metadata.variant(self.num_layers)

    @property
    def task(self) -> str:
        return self.metadata.task

    @property
    def task_params(self) -> dict:
        return dict(self.metadata.task_params)

    @property
    def num_layers(self) -> int:
        return len(self.weights.layers) if self.family == "transformer" else 1

    def __repr__(self) -> str:
        s = self.size()
        return (
            f"Model({self.task}, {self.variant}, width={s['width']}, heads={s['heads']}, "
            f"layers={s['layers']}, params={s['params']})"
        )

    # -- running
    def encode_inputs(self, inputs: Inputs) -> np.ndarray:
        """Task inputs -> model inputs (validated); see ``meta["input_encoding"]``."""
        x = input_encoder(self.metadata.input_encoding)(self.meta, inputs)
        if self.family == "transformer":
            rows, length = self.weights.position.shape[0], x.shape[1] if x.ndim >= 2 else 0
            if not 1 <= length <= rows:
                raise ModelInputError(f"this model reads 1 to {rows} positions (embed/position), got length {length}")
            if self.metadata.embed_kind == "input" and (x.ndim != 3 or x.shape[2] != self.weights.embed.shape[0]):
                raise ModelInputError(f"features must have {self.weights.embed.shape[0]} entries (embed/input rows)")
        return x

    @float64_scope()
    def chunk_size(self, length: int, precision: str = "float64") -> int:
        """Examples per compiled call for inputs of ``length``: a power of two (times the device
        count) sized so that one call holds about _ELEMENT_BUDGET intermediate values."""
        if self.family == "rnn":
            per = length * self.weights.wh.shape[0] + 1
        else:
            plan = self._prepared(precision)[1]
            rows = self.metadata.readout_rows
            per = example_elements(self.weights, plan, length, self.metadata.embed_kind, len(rows) if rows else 1)
        c = max(1, min(8192, _ELEMENT_BUDGET // max(per, 1)))
        return (1 << (c.bit_length() - 1)) * len(jax.local_devices())

    @float64_scope()
    def logits(self, inputs: Inputs, precision: str = "float64", batch_size: int | None = None) -> np.ndarray:
        """float64 ``[B, C]`` logits at the readout position (``[B, Q, C]`` at the Q readout
        positions of a ``"positions"`` readout), computed in ``precision``.

        Inputs run in chunks of a fixed size (the last one padded), the batch axis split across
        all local devices."""
        x = self.encode_inputs(inputs)
        check_precision(self, precision)  # one-line error for a bad format, or one too wide for the model
        n = x.shape[0]
        if n == 0:
            rows = self.metadata.readout_rows
            return np.zeros((0, self.num_classes) if rows is None else (0, len(rows), self.num_classes))
        ndev = len(jax.local_devices())
        chunk = round_up(batch_size, ndev) if batch_size else self.chunk_size(x.shape[1], str(precision))
        size = chunk if n > chunk else round_up(n, ndev)
        run = self.runner(str(precision))
        out = []
        for start in range(0, n, size):
            part = x[start : start + size]
            short = size - part.shape[0]
            if short:  # pad the last chunk so it reuses the compiled shape
                part = np.concatenate([part, np.repeat(part[:1], short, axis=0)])
            res = run(part)
            out.append(res[: res.shape[0] - short])
        return np.concatenate(out)

    def _prepared(self, precision: str):
        """``(prepared, plan)``: encoded weights (and first-layer tables) for ``precision`` on every
        local device, and the plan of exact shortcuts read off them (transformers); cached."""
        cache = self.__dict__.setdefault("_prepared_cache", {})
        if precision not in cache:
            check_precision(self, precision)
            embed = self.metadata.embed_kind
            seq_len = self.metadata.seq_len
            prepared = preparer(self.family, precision, embed, int(seq_len) if seq_len else None, self.metadata.causal)(
                self.weights
            )
            plan = make_plan(parse_precision(precision), prepared) if self.family == "transformer" else None
            if len(cache) >= 4:  # a precision sweep keeps the last few formats, not all (tables can be large)
                cache.pop(next(iter(cache)))
            cache[precision] = (jax.device_put(prepared, batch_sharding()[1]), plan)
        return cache[precision]

    @float64_scope()
    def forward(self, precision: str = "float64") -> tuple[Callable[[Any, jax.Array], jax.Array], Any]:
        """``(f, prepared)``: the pure batched forward ``f(prepared, inputs) -> logits [B, C]`` in
        ``precision`` (traceable, not jitted) and this model's prepared weights, placed on every
        local device: for composing with other jitted code, which must run in :func:`float64_scope`."""
        prepared, plan = self._prepared(precision)
        m = self.metadata
        fn = forward_function(self.family, precision, m.embed_kind, m.causal, plan, m.readout_rows)
        return fn, prepared

    @float64_scope()
    def runner(self, precision: str = "float64") -> Callable[[ArrayLike], np.ndarray]:
        """``run(x) -> logits``: the compiled forward on encoded inputs ``x`` (numpy, batch axis
        split across local devices); one compilation per input shape."""
        prepared, plan = self._prepared(precision)
        m = self.metadata
        fn = compiled_forward(self.family, precision, m.embed_kind, m.causal, plan, m.readout_rows)
        data = batch_sharding()[0]

        @float64_scope()
        def run(x: ArrayLike) -> np.ndarray:
            return np.asarray(fn(prepared, jax.device_put(np.asarray(x), data)))

        return run

    def traced_runner(self) -> Callable[[Arithmetic, ArrayLike], np.ndarray]:
        """``run(ar, x) -> logits``: the whole forward pass (encoding the weights in ``ar``, the
        first layer's tables, the layers) on encoded inputs ``x`` (numpy), compiled once per input
        shape with the arithmetic as an argument. An :class:`Arithmetic` whose fields change from
        call to call (``FixedArithmetic(I, F)`` for any I, F, or any :func:`pytree_dataclass`
        arithmetic with array fields) runs without recompiling; no shortcut of the plan is taken,
        and a traced fixed-point format is not checked against the width limit (its static ``wide``
        field chooses the exact path of every product: constructions/_precision.py)."""
        fn = traced_forward(self.family, self.metadata.embed_kind, self.metadata.causal, self.metadata.readout_rows)

        @float64_scope()
        def run(ar: Arithmetic, x: ArrayLike) -> np.ndarray:
            return np.asarray(fn(ar, self.weights, jnp.asarray(x)))

        return run

    def predict(self, inputs: Inputs, precision: str = "float64", batch_size: int | None = None) -> np.ndarray:
        """int64 ``[B]`` (``[B, Q]`` with a ``"positions"`` readout): ``argmax`` of the logits
        (first index on ties)."""
        return np.argmax(self.logits(inputs, precision, batch_size), axis=-1).astype(np.int64)

    @float64_scope()
    def hidden_states(self, inputs: Inputs, precision: str = "float64") -> np.ndarray:
        """RNN only: float64 ``[B, L+1, m]``, the state after every prefix (row 0 is ``h0``)."""
        if self.family != "rnn":
            raise TypeError("hidden_states is defined for RNNs only")
        x = self.encode_inputs(inputs)
        check_precision(self, precision)
        return np.asarray(compiled_states(str(precision))(self.weights, jnp.asarray(x)))

    # -- sizes
    @property
    def num_classes(self) -> int:
        return int(self.weights.readout_b.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every weight array under its file-format name (float64 numpy)."""
        w = self.weights
        if self.family == "rnn":
            out = {"rnn/win": w.win, "rnn/wh": w.wh, "rnn/b": w.b, "rnn/h0": w.h0}
        else:
            key = "embed/token" if self.metadata.embed_kind == "token" else "embed/input"
            out = {key: w.embed, "embed/position": w.position}
            for i, layer in enumerate(w.layers):
                for name in ("wq", "wk", "wv", "wo"):
                    out[f"layer{i}/attn/{name}"] = getattr(layer.attn, name)
                for name in ("w1", "b1", "w2", "b2"):
                    out[f"layer{i}/mlp/{name}"] = getattr(layer.mlp, name)
                if layer.attn.bias is not None:
                    for name, b in zip(("bq", "bk", "bv", "bo"), layer.attn.bias):
                        out[f"layer{i}/attn/{name}"] = b
                for name, norm in (("ln_attn", layer.norm_attn), ("ln_mlp", layer.norm_mlp)):
                    if norm is not None:
                        out[f"layer{i}/{name}/g"], out[f"layer{i}/{name}/b"] = norm.g, norm.b
            if w.norm_final is not None:
                out["ln_final/g"], out["ln_final/b"] = w.norm_final.g, w.norm_final.b
        out["readout/w"] = w.readout_w
        out["readout/b"] = w.readout_b
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}

    def size(self, bits: int | None = None) -> dict:
        """Sizes computed from the arrays (docs/DESIGN.md §5.4).

        ``params`` counts every entry of every array, embeddings included; ``params_no_embed``
        leaves out the token/input and position embeddings (RNN: ``win``). ``arch`` is the
        registered architecture (``"tf1"``, ``"tf2"``, ``"rnn"``: :attr:`variant`). ``state_bits``
        is ``width·b`` (RNN: the whole state; Transformer: one position of the residual stream)
        with ``b`` = ``bits`` when given; else, for an RNN, the bits per unit it declares
        (``meta["construction"]["state_bits_per_unit"]``: 1 for every RNN construction here, whose
        units are 0 or 1) and, for a Transformer, the smallest precision the model was shown exact
        at (``meta["precision_bits"]``); None if none of these is known.
        """
        arrays = self.arrays()
        params = sum(int(a.size) for a in arrays.values())
        embed = sum(int(a.size) for k, a in arrays.items() if k.startswith("embed/") or k == "rnn/win")
        info = self.metadata
        b = bits
        if b is None:
            b = info.state_bits_per_unit if self.family == "rnn" else None
        if b is None:
            b = info.precision_bits
        if self.family == "rnn":
            width = int(self.weights.wh.shape[0])
            heads = layers = 0
            head_dim = mlp_width = None
            layers = 1
        else:
            width = int(self.weights.position.shape[1])
            layers = len(self.weights.layers)
            heads = max(int(l.attn.wq.shape[0]) for l in self.weights.layers)
            head_dim = max(max(int(l.attn.wq.shape[1]), int(l.attn.wv.shape[1])) for l in self.weights.layers)
            mlp_width = max(int(l.mlp.w1.shape[1]) for l in self.weights.layers)
        return {
            "arch": self.variant,
            "layers": layers,
            "heads": heads,
            "width": width,
            "head_dim": head_dim,
            "mlp_width": mlp_width,
            "params": params,
            "params_no_embed": params - embed,
            "precision_bits": info.precision_bits,
            "state_bits": None if b is None else width * int(b),
        }

    # -- files
    def save(self, path: PathLike) -> None:
        """Write the model to ``path``: ``.npz`` (docs/MODEL.md), or, by the extension, ``.onnx`` or
        ``.safetensors`` (docs/MODEL.md, *Other formats*); atomically (:func:`atomic_write`: an
        existing file is replaced only once the new one is complete) and byte-reproducibly. The model
        and the target are checked first, so a refused request leaves any existing file as it was."""
        path = os.fspath(path)
        fmt = other_format(path)
        if fmt is not None:
            if self.metadata.extended:
                raise ModelFormatError(
                    f"{path}: the .onnx and .safetensors exports write version-1 models only (no layer norm or GELU)"
                )
            return fmt[0](self, path)
        target = check_writable(path)
        entries = dict(self.arrays())
        check_shapes({k: v.shape for k, v in entries.items()}, self.metadata)
        for k, v in entries.items():
            check_values(k, v)
        entries["meta"] = np.array([json.dumps(self.metadata.to_dict(), sort_keys=True, allow_nan=False)])

        def write(fh) -> None:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in sorted(entries):
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(entries[name]), allow_pickle=False)
                    info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, buf.getvalue())

        atomic_write(target, write)

    @classmethod
    def from_arrays(cls, arrays: dict, meta: ModelMeta | Mapping) -> Model:
        """Rebuild a model from file-format arrays (validating shapes and the metadata); used by
        :func:`load`."""
        meta = ModelMeta.from_dict(meta)
        a = {k: check_values(k, np.asarray(v)) for k, v in arrays.items()}
        layers = check_shapes({k: v.shape for k, v in a.items()}, meta)
        w: RNNWeights | TransformerWeights
        if meta.family == "rnn":
            w = RNNWeights(a["rnn/win"], a["rnn/wh"], a["rnn/b"], a["rnn/h0"], a["readout/w"], a["readout/b"])
        else:
            emb = a["embed/token" if meta.embed_kind == "token" else "embed/input"]
            blocks = []
            ln = meta.layer_norm_eps is not None  # version 2: norms and attention biases (check_shapes)
            norm = lambda p: Norm(a[p + "/g"], a[p + "/b"]) if ln else None  # noqa: E731
            for i in range(layers):
                p = f"layer{i}/"
                bias = tuple(a[p + "attn/" + k] for k in ("bq", "bk", "bv", "bo")) if ln else None
                att = Attention(a[p + "attn/wq"], a[p + "attn/wk"], a[p + "attn/wv"], a[p + "attn/wo"], bias=bias)
                mlp = MLP(*(a[p + "mlp/" + k] for k in ("w1", "b1", "w2", "b2")))
                blocks.append(Layer(att, mlp, norm(p + "ln_attn"), norm(p + "ln_mlp")))
            w = TransformerWeights(
                emb,
                a["embed/position"],
                tuple(blocks),
                a["readout/w"],
                a["readout/b"],
                norm_final=norm("ln_final"),
                norm_eps=meta.layer_norm_eps,
                activation=meta.activation,
            )
        return cls(w, meta)

    def with_arrays(self, **changes) -> Model:
        """A copy with some file-format arrays replaced, e.g. ``m.with_arrays(**{"embed/position": P})``."""
        arrays = self.arrays()
        for k, v in changes.items():
            key = k.replace("__", "/")
            if key not in arrays:
                raise KeyError(f"no array {key!r}")
            arrays[key] = np.asarray(v)
        return Model.from_arrays(arrays, self.metadata)


def product_terms(model: Model) -> int:
    """The most terms summed by any matrix product of ``model``'s forward pass (docs/MODEL.md): the
    residual width ``D``, each head's query/key and value widths, each MLP width, the sequence length
    (attention mixes over the keys) and the input features; an RNN sums over its state width ``m``.
    (Skipping zero-weight coordinates only shortens the sums over ``D``, and only in formats that
    hold a ``D``-term sum, so it never changes the answer.)"""
    w = model.weights
    if model.family == "rnn":
        return int(w.wh.shape[0])
    sizes = [int(w.position.shape[1]), int(model.metadata.seq_len or w.position.shape[0])]
    if model.metadata.embed != "token":
        sizes.append(int(w.embed.shape[0]))
    for layer in w.layers:
        sizes += [int(layer.attn.wq.shape[1]), int(layer.attn.wv.shape[1]), int(layer.mlp.w1.shape[1])]
    return max(sizes)


def check_precision(model: Model, precision: str | Arithmetic) -> None:
    """Refuse, with a one-line ``ValueError``, a format in which ``model``'s forward pass is not
    defined: an unknown name, or a fixed-point format too wide for the exact emulation of its
    largest matrix product (:func:`product_terms`; int64 with split accumulators where needed). ``predict``, ``logits``, the checking engine and
    the certified mode all call it, so they refuse the same formats with the same message."""
    ar = parse_precision(precision)
    ar.check_terms(product_terms(model))
    require_float(ar, model.weights)


def load(path: PathLike, *, max_bytes: int | None = None) -> Model:
    """Read a model saved by :meth:`Model.save` (or written by anyone following docs/MODEL.md).

    The file is checked against the schema before any array is used (docs/MODEL.md, *Refusals*);
    anything else raises :class:`ModelFormatError` naming the entry and the rule. ``max_bytes``
    caps the arrays' size in memory (default: a limit computed from ``meta`` and half the RAM).
    ``.onnx`` and ``.safetensors`` files are read by their own modules (docs/MODEL.md, *Other formats*)."""
    path = os.fspath(path)
    fmt = other_format(path)
    if fmt is not None:
        arrays, meta = fmt[1](path)
        return Model.from_arrays(arrays, meta)
    arrays, meta = read_model_file(path, max_bytes)
    return Model.from_arrays(arrays, meta)
