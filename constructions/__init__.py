"""Hand-built weights for every construction of the paper, on one shared Transformer and RNN.

Public API (docs/DESIGN.md §5.3)::

    model = constructions.build("index_lookup", arch="tf1", n=64, alphabet_size=4, seed=0)
    model.predict(inputs, precision="float64"); model.size(); model.save("m.npz")
    constructions.load("m.npz"); constructions.available()
    model.save("m.onnx"); model.save("m.safetensors")      # also loadable; docs/MODEL.md, *Other formats*
    constructions.open_onnx("any.onnx", task)              # any ONNX sequence model, run by onnxruntime

For code that composes the forward pass with its own (the checking engine, the precision search,
benchmarks): ``model.forward(precision)`` (the pure batched forward and its prepared weights),
``model.runner(precision)`` (the compiled forward on encoded inputs), ``model.chunk_size(length)``,
``model.traced_runner()`` (the forward with the arithmetic as a traced argument),
:func:`batch_sharding`, :func:`builder_for`, the number formats (:class:`FixedArithmetic`, ...)
and :func:`pytree_dataclass` for new ones; for stepping an RNN state by state (the finite-state
certificates), the one recurrence itself: :func:`rnn_states`, :func:`rnn_logits` on weights
encoded by :func:`encode_weights`.

64-bit JAX: float64 and the exact int64 fixed-point grid need ``jax_enable_x64``, which this package
switches on only inside its own computations (:func:`float64_scope`); the rest of the process keeps
JAX's 32-bit default. Code that runs ``model.forward``'s function in its own jitted code does so
inside ``with constructions.float64_scope():``.
"""

# construction modules register themselves on import
from . import (  # noqa: F401  # noqa: F401
    associative_recall,
    dfa,
    dyck_rnn,
    dyck_tf2,
    equality,
    index_lookup,
    nearest_neighbor,
    rnn_associative_recall,
    rnn_halves,
    rnn_index_lookup,
    split_equality,
    threshold,
)
from ._addresses import AddressCode, hadamard_addresses, random_addresses
from ._layout import Layout, linear, linear_in
from ._meta import ModelMeta, model_meta
from ._model import (
    FORMAT,
    Model,
    ModelFormatError,
    ModelInputError,
    batch_sharding,
    check_precision,
    load,
    product_terms,
    register_input_encoder,
)
from ._onnx_model import OnnxModel, onnx_metadata, open_onnx
from ._precision import Arithmetic, FixedArithmetic, FloatArithmetic, float64_scope, parse_precision, pytree_dataclass
from ._registry import ConstructionError, available, build, builder_for, register
from ._rnn import RNNWeights, rnn_logits, rnn_states
from ._safetensors import SAFETENSORS_FORMAT  # noqa: F401  (registers the .safetensors format)
from ._transformer import MLP, Attention, Layer, Norm, TransformerWeights, encode_weights

__all__ = [
    "AddressCode",
    "Arithmetic",
    "Attention",
    "ConstructionError",
    "FORMAT",
    "FixedArithmetic",
    "FloatArithmetic",
    "Layer",
    "Layout",
    "MLP",
    "Norm",
    "Model",
    "ModelFormatError",
    "ModelInputError",
    "ModelMeta",
    "OnnxModel",
    "RNNWeights",
    "TransformerWeights",
    "available",
    "batch_sharding",
    "build",
    "builder_for",
    "check_precision",
    "encode_weights",
    "float64_scope",
    "hadamard_addresses",
    "linear",
    "linear_in",
    "load",
    "model_meta",
    "onnx_metadata",
    "open_onnx",
    "parse_precision",
    "product_terms",
    "pytree_dataclass",
    "random_addresses",
    "register",
    "register_input_encoder",
    "rnn_logits",
    "rnn_states",
]
