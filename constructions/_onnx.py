"""Our models as ONNX graphs: :func:`to_onnx`, :func:`save_onnx`, and :func:`load_onnx` back.

The graph is the forward pass of docs/MODEL.md written once more, node by node, with the ``onnx``
helper API from the model's own arrays (no tracing): token embedding ``Gather`` plus the position
rows, per layer the head projections as ``Einsum``, the scores, the causal mask (``Where`` with
``-inf``), the softmax with the row maximum subtracted (``ReduceMax``, ``Sub``, ``Exp``,
``ReduceSum``, ``Div``: the same steps as ``FloatArithmetic.softmax``), the residual ReLU MLP, and
the readout at the last position (at each of ``meta.readout_positions`` for a multi-query model); an RNN is one ``Scan`` over the positions whose body is the
recurrence ``h = relu(h Wh + Win[x] + b)``. Why this route and not tracing (jax2onnx) or
onnxscript: the forward pass here has many shapes of the same function (tables by query token,
live coordinates, query blocks) that are speed, not meaning; the documented function is short,
and writing it from the documentation keeps the graph readable in a viewer and lets the tests
compare two independent writings of it (onnxruntime against ``Model.logits``, float64 to 1e-9).

Convention (docs/MODEL.md, *ONNX*): one input, ``tokens`` int64 ``[batch, length]`` (or
``features`` float64 ``[batch, length, d_in]`` for feature inputs), one output ``logits`` float64
``[batch, classes]`` (``[batch, Q, classes]`` for a multi-query model); every weight array is an initializer under its file-format name, so
:func:`load_onnx` rebuilds the same model; the metadata is in the model's ``metadata_props``.

``onnx`` is imported only when these functions run (the optional ``export`` extra).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ._formats import register_format, require, write_bytes
from ._meta import ModelFormatError, ModelMeta

if TYPE_CHECKING:
    from ._model import Model

__all__ = ["ONNX_FORMAT", "OPSET", "to_onnx", "save_onnx", "load_onnx", "require"]

ONNX_FORMAT = "separations-onnx/1"
OPSET = 17


class _Graph:
    """Nodes and initializers of one (sub)graph, with fresh value names."""

    def __init__(self, onnx, prefix: str = ""):
        self.onnx, self.prefix = onnx, prefix
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def init(self, name: str, array) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, array) -> str:
        return self.init(f"const/{self.prefix}{len(self.inits)}", array)

    def op(self, kind: str, *inputs: str, out: str | None = None, **attrs) -> str:
        self.count += 1
        name = out or f"{self.prefix}{kind.lower()}_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(kind, list(inputs), [name], **attrs))
        return name


def _transformer(g: _Graph, model: Model, x: str, B: str) -> str:
    """Logits ``[batch, C]`` of the Transformer forward pass on input ``x``."""
    arrays = model.arrays()
    meta = model.metadata
    L = g.op("Shape", x, start=1, end=2)  # [1]
    Lscalar = g.op("Squeeze", L, g.const(np.array([0], np.int64)))
    pos = g.op("Slice", g.init("embed/position", arrays["embed/position"]), g.const(np.array([0], np.int64)), L)
    if meta.embed_kind == "token":
        X = g.op("Gather", g.init("embed/token", arrays["embed/token"]), x, axis=0)  # [B, L, D]
    else:
        X = g.op("Einsum", x, g.init("embed/input", arrays["embed/input"]), equation="bli,id->bld")
    X = g.op("Add", X, pos)
    mask = None
    if meta.causal:
        r = g.op("Range", g.const(np.array(0, np.int64)), Lscalar, g.const(np.array(1, np.int64)))
        rows = g.op("Unsqueeze", r, g.const(np.array([1], np.int64)))
        cols = g.op("Unsqueeze", r, g.const(np.array([0], np.int64)))
        mask = g.op("GreaterOrEqual", rows, cols)  # [L, L]: query j sees keys k <= j
    if mask is not None:
        minus_inf, zero = g.const(np.array(-np.inf)), g.const(np.array(0.0))
    last_axis = g.const(np.array([-1], np.int64))
    i = 0
    while f"layer{i}/attn/wq" in arrays:
        p = f"layer{i}/"
        wq, wk, wv, wo = (g.init(p + "attn/" + k, arrays[p + "attn/" + k]) for k in ("wq", "wk", "wv", "wo"))
        Q, K, V = (g.op("Einsum", X, w, equation="bld,hwd->bhlw") for w in (wq, wk, wv))
        S = g.op("Einsum", Q, K, equation="bhqw,bhkw->bhqk")  # no 1/sqrt(w) scaling
        if mask is not None:
            S = g.op("Where", mask, S, minus_inf)
        E = g.op("Exp", g.op("Sub", S, g.op("ReduceMax", S, axes=[-1], keepdims=1)))
        if mask is not None:
            E = g.op("Where", mask, E, zero)
        alpha = g.op("Div", E, g.op("ReduceSum", E, last_axis, keepdims=1))
        heads = g.op("Einsum", alpha, V, equation="bhqk,bhkv->bhqv")
        X = g.op("Add", X, g.op("Einsum", heads, wo, equation="bhqv,hvd->bqd"), out=f"{p}resid_mid")
        w1, b1, w2, b2 = (g.init(p + "mlp/" + k, arrays[p + "mlp/" + k]) for k in ("w1", "b1", "w2", "b2"))
        hidden = g.op("Relu", g.op("Add", g.op("MatMul", X, w1), b1))
        X = g.op("Add", X, g.op("Add", g.op("MatMul", hidden, w2), b2), out=f"{p}resid_post")
        i += 1
    if meta.readout == "positions":  # every query position of a multi-query task: logits [B, Q, C]
        read = g.op("Gather", X, g.const(np.array(meta.readout_positions, np.int64)), axis=1)  # [B, Q, D]
        return _readout(g, arrays, read)
    last = g.op("Gather", X, g.op("Sub", Lscalar, g.const(np.array(1, np.int64))), axis=1)  # [B, D]
    return _readout(g, arrays, last)


def _readout(g: _Graph, arrays: dict, h: str) -> str:
    w, b = g.init("readout/w", arrays["readout/w"]), g.init("readout/b", arrays["readout/b"])
    return g.op("Add", g.op("MatMul", h, w), b, out="logits")


def _rnn(g: _Graph, model: Model, x: str, B: str) -> str:
    """Logits ``[batch, C]`` of the RNN: a ``Scan`` over the positions of ``x`` (axis 1)."""
    onnx = g.onnx
    arrays = model.arrays()
    win, wh, b = (g.init(k, arrays[k]) for k in ("rnn/win", "rnn/wh", "rnn/b"))
    h0 = g.init("rnn/h0", arrays["rnn/h0"])
    m = arrays["rnn/h0"].shape[0]
    start = g.op("Expand", h0, g.op("Concat", B, g.const(np.array([m], np.int64)), axis=0))  # [B, m]
    body = _Graph(onnx, prefix="step/")
    # h_t = relu(h_{t-1} Wh + Win[x_t] + b), the sums in constructions._rnn's order
    pre = body.op("Add", body.op("Add", body.op("MatMul", "h", wh), body.op("Gather", win, "x_t", axis=0)), b)
    body.op("Relu", pre, out="h_next")
    f64, i64 = onnx.TensorProto.DOUBLE, onnx.TensorProto.INT64
    step = onnx.helper.make_graph(
        body.nodes,
        "rnn_step",
        [
            onnx.helper.make_tensor_value_info("h", f64, ["batch", m]),
            onnx.helper.make_tensor_value_info("x_t", i64, ["batch"]),
        ],
        [onnx.helper.make_tensor_value_info("h_next", f64, ["batch", m])],
    )
    hL = g.op("Scan", start, x, body=step, num_scan_inputs=1, scan_input_axes=[1], out="h_last")
    return _readout(g, arrays, hL)


def to_onnx(model: Model) -> Any:
    """The ``onnx.ModelProto`` of ``model``'s float64 forward pass (module docstring)."""
    onnx = require("onnx")
    meta = model.metadata
    g = _Graph(onnx)
    length: Any = meta.seq_len if meta.seq_len else "length"
    if model.family == "transformer" and meta.embed_kind == "input":
        d_in = int(model.weights.embed.shape[0])
        x_info = onnx.helper.make_tensor_value_info("features", onnx.TensorProto.DOUBLE, ["batch", length, d_in])
    else:
        x_info = onnx.helper.make_tensor_value_info("tokens", onnx.TensorProto.INT64, ["batch", length])
    B = g.op("Shape", x_info.name, start=0, end=1)
    logits = (_rnn if model.family == "rnn" else _transformer)(g, model, x_info.name, B)
    C = model.num_classes
    if meta.readout == "positions":
        Q = len(meta.readout_positions or ())
        shape: list[Any] = ["batch", Q, C]
        where = f"logits [batch, {Q}, {C}] at the query positions {list(meta.readout_positions or ())}"
    else:
        shape, where = ["batch", C], f"logits [batch, {C}] at the last position"
    graph = onnx.helper.make_graph(
        g.nodes,
        f"{meta.task}_{model.variant}",
        [x_info],
        [onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.DOUBLE, shape)],
        initializer=g.inits,
        doc_string=f"{model!r}: {x_info.name} -> {where} (docs/MODEL.md)",
    )
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="separations"
    )
    proto.ir_version = 8  # onnx 1.13+ and onnxruntime 1.14+ read it
    props = {
        "format": ONNX_FORMAT,
        "task": meta.task,
        "task_params": json.dumps(meta.task_params, sort_keys=True, allow_nan=False),
        "sizes": json.dumps(model.size(), sort_keys=True, allow_nan=False),
        "meta": json.dumps(meta.to_dict(), sort_keys=True, allow_nan=False),
    }
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save_onnx(model: Model, path: str) -> None:
    """Write :func:`to_onnx` of ``model`` to ``path`` (atomically; same model, same bytes)."""
    write_bytes(path, to_onnx(model).SerializeToString(deterministic=True))


def onnx_props(proto) -> dict[str, str]:
    """The model's ``metadata_props`` as a dict."""
    return {p.key: p.value for p in proto.metadata_props}


def load_onnx(path: str) -> tuple[dict, ModelMeta]:
    """The arrays and metadata of the model saved by :func:`save_onnx`, from its initializers and
    metadata (the same arrays, bit for bit; ``constructions.load`` makes the model of them). A
    graph from elsewhere is not one of our models: check it with ``verify --load PATH --task ...``
    (:func:`constructions.open_onnx`)."""
    onnx = require("onnx")
    try:
        proto = onnx.load(path)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError and others
        raise ModelFormatError(f"{path} is not an ONNX model ({type(e).__name__})") from None
    props = onnx_props(proto)
    if props.get("format") != ONNX_FORMAT or "meta" not in props:
        raise ModelFormatError(
            f"{path} was not written by separations (no {ONNX_FORMAT!r} metadata); "
            "check a foreign model with: verify --load PATH --task T [task options]"
        )
    meta = ModelMeta.from_dict(json.loads(props["meta"]), require_format=True)
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer if not t.name.startswith("const/")}
    return arrays, meta


register_format(".onnx", save_onnx, load_onnx)
