"""Any ONNX sequence model, run by onnxruntime, in the shape the checking engine reads:
:class:`OnnxModel` and :func:`open_onnx` (docs/MODEL.md, *Checking any ONNX model*).

The convention a graph must follow (checked when it is opened, each misfit a one-line
:class:`ModelFormatError`):

* one input (initializers aside): int64 or int32 tokens ``[batch, length]``, the task's own token
  array (for nearest neighbour: float features ``[batch, 2n+1, d + V]``, the encoding of
  docs/MODEL.md, *Inputs*); a fixed ``length`` (or ``d``) must be the task's;
* one output: float logits ``[batch, classes]``, or ``[batch, length, classes]`` (per-position
  logits, as a trained language model gives them: the last position is read), with at least the
  task's number of classes; class ``c`` is the task's output ``c``.

A graph written by :func:`constructions._onnx.save_onnx` carries its task and input encoding in its
metadata; one from elsewhere is given its task by the caller. ``onnxruntime`` is imported
only here, ``onnx`` here and in constructions/_onnx.py (both the optional ``export`` extra).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from ._encoders import ModelInputError, input_encoder
from ._formats import require
from ._meta import ModelFormatError
from ._onnx import ONNX_FORMAT, onnx_props

if TYPE_CHECKING:  # a type name only: constructions does not import tasks
    from tasks import Inputs, Task

__all__ = ["OnnxModel", "open_onnx", "onnx_metadata", "FOREIGN_ENCODINGS"]

FOREIGN_ENCODINGS = {"nearest_neighbor": "nearest_neighbor_features"}  # every other task: "tokens"
_INT = ("INT64", "INT32")
_FLOAT = ("DOUBLE", "FLOAT", "FLOAT16")


@dataclasses.dataclass(frozen=True)
class OnnxMeta:
    """What the checking engine reads of a model's metadata: the task and how inputs are encoded."""

    task: str
    task_params: dict
    input_encoding: str
    build: dict = dataclasses.field(default_factory=dict)


def _read(path: str):
    onnx = require("onnx")
    try:
        return onnx.load(path)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError and others
        raise ModelFormatError(f"{path} is not an ONNX model ({type(e).__name__})") from None


def onnx_metadata(path: str) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX file at ``path`` (``task``, ``task_params`` as JSON, ...
    for a file we wrote; often empty for one from elsewhere)."""
    return onnx_props(_read(path))


def _dims(value_info) -> tuple[str, list]:
    """``(element type name, [int or None per axis])`` of a graph input or output."""
    onnx = require("onnx")
    t = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return onnx.TensorProto.DataType.Name(t.elem_type), dims


class OnnxModel:
    """An ONNX graph checked as a model of ``task`` (module docstring). ``logits``/``predict`` run
    it on task inputs; ``forward``, ``chunk_size``, ``encode_inputs`` and ``size`` are what the
    checking engine uses (as for :class:`constructions.Model`)."""

    family = "onnx"
    variant = "onnx"

    def __init__(self, path: str, task: Task):
        ort = require("onnxruntime")
        proto = _read(path)
        props = onnx_props(proto)
        ours = props.get("format") == ONNX_FORMAT and props.get("task") == task.name
        encoding = json.loads(props["meta"]).get("input_encoding", "tokens") if ours else None
        encoding = encoding or FOREIGN_ENCODINGS.get(task.name, "tokens")
        build = json.loads(props["meta"]).get("build", {}) if ours else {}
        self.path = path
        self.metadata = OnnxMeta(task.name, dict(task.params), encoding, build)
        self._sizes = json.loads(props["sizes"]) if ours and "sizes" in props else None
        self._encode_meta = {
            "task": task.name,
            "task_params": dict(task.params),
            "seq_len": task.seq_len,
            "vocab_size": task.vocab_size,
            "input_encoding": encoding,
        }
        probe = self.encode_inputs(task.sample(np.random.default_rng(0), 1))
        features = probe.ndim == 3
        want = "float features [batch, length, d]" if features else "int64 tokens [batch, length]"
        inits = {t.name for t in proto.graph.initializer}
        inputs = [i for i in proto.graph.input if i.name not in inits]
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs) or "none"
            raise ModelFormatError(f"{path}: expected one input, {want}; the graph has {len(inputs)} ({names})")
        kind, dims = _dims(inputs[0])
        if kind not in (_FLOAT if features else _INT) or len(dims) != probe.ndim:
            raise ModelFormatError(
                f"{path}: input {inputs[0].name!r} is {kind.lower()} of rank {len(dims)}; {task.name} needs {want}"
            )
        for axis in range(1, probe.ndim):
            if dims[axis] is not None and dims[axis] != probe.shape[axis]:
                raise ModelFormatError(
                    f"{path}: input {inputs[0].name!r} has size {dims[axis]} on axis {axis}; "
                    f"{task.name} {task.params} gives {probe.shape[axis]}"
                )
        if len(proto.graph.output) != 1:
            raise ModelFormatError(
                f"{path}: expected one output, logits [batch, classes]; the graph has {len(proto.graph.output)}"
            )
        okind, odims = _dims(proto.graph.output[0])
        if okind not in _FLOAT or len(odims) not in (2, 3):
            raise ModelFormatError(
                f"{path}: output {proto.graph.output[0].name!r} is {okind.lower()} of rank {len(odims)}; "
                "expected float logits [batch, classes] or [batch, length, classes]"
            )
        self._input = inputs[0].name
        self._input_dtype = np.dtype(_NUMPY[kind])
        self._per_position = len(odims) == 3
        self._params = int(sum(int(np.prod(t.dims)) for t in proto.graph.initializer))
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        try:
            self._session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
            out = self._run(probe)
        except Exception as e:  # noqa: BLE001 - onnxruntime's own exception types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelFormatError(f"{path}: onnxruntime cannot run it on a {task.name} input: {first}") from None
        if out.ndim != 2 or out.shape[0] != 1:
            raise ModelFormatError(f"{path}: one input gave logits of shape {out.shape}; expected [1, classes]")
        self.num_classes = int(out.shape[1])
        if self.num_classes < task.num_classes:
            raise ModelFormatError(f"{path}: {self.num_classes} output classes; {task.name} needs {task.num_classes}")

    # -- identity
    @property
    def task(self) -> str:
        return self.metadata.task

    @property
    def task_params(self) -> dict:
        return dict(self.metadata.task_params)

    def __repr__(self) -> str:
        return f"OnnxModel({self.path!r}, {self.task}, classes={self.num_classes})"

    # -- running
    def encode_inputs(self, inputs: Inputs) -> np.ndarray:
        """Task inputs -> the graph's input (the encoding of docs/MODEL.md, *Inputs*)."""
        return input_encoder(self.metadata.input_encoding)(self._encode_meta, inputs)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """float64 logits ``[B, classes]`` of encoded inputs ``x``."""
        out = self._session.run(None, {self._input: np.asarray(x).astype(self._input_dtype)})[0]
        out = np.asarray(out)
        return (out[:, -1] if self._per_position else out).astype(np.float64)

    def logits(self, inputs: Inputs) -> np.ndarray:
        """float64 ``[B, classes]``: the graph's logits (at the last position) on task inputs."""
        return self._run(self.encode_inputs(inputs))

    def predict(self, inputs: Inputs) -> np.ndarray:
        return np.argmax(self.logits(inputs), axis=1).astype(np.int64)

    def chunk_size(self, length: int, precision: str = "float64") -> int:
        return 1024 * len(jax.local_devices())

    def forward(self, precision: str = "float64") -> tuple[Any, None]:
        """``(f, None)``: ``f(None, x) -> logits [B, C]`` float64, traceable (onnxruntime runs on
        the host through ``jax.pure_callback``). The graph computes in its own number types, so
        only ``float64`` (the type its logits are compared in) is accepted."""
        if str(precision) != "float64":
            raise ModelInputError(
                f"an ONNX model computes in its own number types; --precision {precision} is for our models"
            )
        C = self.num_classes

        def f(_prepared, x):
            return jax.pure_callback(self._run, jax.ShapeDtypeStruct((x.shape[0], C), jnp.float64), x)

        return f, None

    def size(self, bits: int | None = None) -> dict:
        """The sizes recorded by our exporter, else only ``params`` (every initializer entry)."""
        if self._sizes is not None:
            return {**self._sizes, "arch": "onnx"}
        keys = ("layers", "heads", "width", "head_dim", "mlp_width", "params_no_embed", "precision_bits", "state_bits")
        return {"arch": "onnx", "params": self._params, **dict.fromkeys(keys)}


_NUMPY = {"INT64": "int64", "INT32": "int32", "DOUBLE": "float64", "FLOAT": "float32", "FLOAT16": "float16"}


def open_onnx(path: str, task: Task) -> OnnxModel:
    """The ONNX model at ``path`` as a model of ``task`` (a ``tasks.Task``), its graph checked
    against the convention (module docstring)."""
    return OnnxModel(str(path), task)
