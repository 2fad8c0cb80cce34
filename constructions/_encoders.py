"""Input encoders: a task's inputs -> what the forward pass reads (docs/MODEL.md).

Each encoder is named in the model's metadata (``input_encoding``) and validates what it reads,
with a one-line :class:`ModelInputError`; ``tokens`` is the default, other modules register theirs
(associative recall checks its key/value structure, nearest neighbour reads feature vectors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

__all__ = ["ModelInputError", "register_input_encoder", "input_encoder", "INPUT_ENCODERS"]


class ModelInputError(ValueError):
    """Inputs that the model cannot read (wrong shape, token out of range, ...)."""


# --- input encoders: task inputs -> what the forward pass reads -------------------------------

Encoder = TypeVar("Encoder", bound=Callable[[Mapping, Any], np.ndarray])
INPUT_ENCODERS: dict[str, Callable[[Mapping, Any], np.ndarray]] = {}


def register_input_encoder(name: str) -> Callable[[Encoder], Encoder]:
    """Register ``fn(meta, inputs) -> np.ndarray`` turning a task's inputs into model inputs
    (int tokens ``[B, L]`` or float features ``[B, L, d_in]``). Named in ``meta["input_encoding"]``;
    ``meta`` is the model's metadata as a read-only dict (:attr:`Model.meta`)."""

    def deco(fn: Encoder) -> Encoder:
        INPUT_ENCODERS[name] = fn
        return fn

    return deco


@register_input_encoder("tokens")
def _tokens(meta, inputs):
    x = np.asarray(inputs)
    if x.ndim != 2:
        raise ModelInputError(f"expected int tokens of shape [batch, length], got shape {x.shape}")
    if x.dtype.kind not in "iu":
        if x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
            x = x.astype(np.int64)
        else:
            raise ModelInputError(f"tokens must be integers, got dtype {x.dtype}")
    length = meta["seq_len"]
    if length is not None and x.shape[1] != length:
        raise ModelInputError(f"this model reads sequences of length {length}, got length {x.shape[1]}")
    vocab = meta["vocab_size"]
    if x.size and (x.min() < 0 or x.max() >= vocab):
        bad = x[(x < 0) | (x >= vocab)].flat[0]
        raise ModelInputError(f"token {int(bad)} out of range [0, {vocab})")
    return x.astype(np.int32)


def input_encoder(name: str) -> Callable[[Mapping, Any], np.ndarray]:
    """The encoder registered under ``name`` (a one-line :class:`ModelInputError` if none is)."""
    if name not in INPUT_ENCODERS:
        raise ModelInputError(f"unknown input encoding {name!r}")
    return INPUT_ENCODERS[name]
