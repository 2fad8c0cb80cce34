"""Hand-built weights for every construction of the paper, on one shared Transformer and RNN.

Public API (docs/DESIGN.md §5.3)::

    model = constructions.build("index_lookup", arch="tf1", n=64, alphabet_size=4, seed=0)
    model.predict(inputs, precision="float64"); model.size(); model.save("m.npz")
    constructions.load("m.npz"); constructions.available()

Importing this package switches on ``jax_enable_x64`` (a global JAX setting): the float64 format
and the exact int64 fixed-point grid need it. Code that relies on JAX's 32-bit default should set
dtypes explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)

from ._addresses import AddressCode, hadamard_addresses, random_addresses  # noqa: E402
from ._layout import Layout, linear, linear_in  # noqa: E402
from ._meta import ModelMeta, model_meta  # noqa: E402
from ._model import (FORMAT, Model, ModelFormatError, ModelInputError, check_precision, load,  # noqa: E402
                     product_terms, register_input_encoder)
from ._precision import Arithmetic, FixedArithmetic, FloatArithmetic, parse_precision  # noqa: E402
from ._registry import ConstructionError, available, build, register  # noqa: E402
from ._rnn import RNNWeights  # noqa: E402
from ._transformer import MLP, Attention, Layer, TransformerWeights  # noqa: E402

# construction modules register themselves on import
from . import index_lookup, equality, threshold, nearest_neighbor, associative_recall  # noqa: E402,F401
from . import dfa, dyck_rnn, rnn_associative_recall, rnn_halves, rnn_index_lookup  # noqa: E402,F401

__all__ = [
    "AddressCode", "Arithmetic", "Attention", "ConstructionError", "FORMAT", "FixedArithmetic",
    "FloatArithmetic", "Layer", "Layout", "check_precision", "MLP", "Model", "ModelFormatError", "ModelInputError", "ModelMeta",
    "RNNWeights", "TransformerWeights", "available", "build", "hadamard_addresses", "linear",
    "linear_in", "load", "model_meta", "parse_precision", "product_terms", "random_addresses", "register", "register_input_encoder",
]
