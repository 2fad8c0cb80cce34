"""What a two-party protocol run returns: its messages (as bits) and Bob's output."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Message", "ProtocolRun"]


@dataclasses.dataclass(frozen=True, eq=False)
class Message:
    """One message, for every example of a batch.

    Attributes:
        step: what it carries (e.g. ``"state"``, ``"local max"``).
        sender, receiver: ``"alice"`` or ``"bob"``.
        bits: uint8 ``[B, k]`` of 0/1, most significant bit first; k is the same for every example.
    """

    step: str
    sender: str
    receiver: str
    bits: np.ndarray

    @property
    def length(self) -> int:
        return int(self.bits.shape[1])


@dataclasses.dataclass(frozen=True, eq=False)
class ProtocolRun:
    """A batch run of a protocol.

    Attributes:
        logits: float64 ``[B, C]``, Bob's logits (decoded from the grid).
        messages: the transcript, in order.
        info: protocol-specific details (split, precision, per-step counts).
    """

    logits: np.ndarray
    messages: tuple
    info: dict

    @property
    def predictions(self) -> np.ndarray:
        """int64 ``[B]``: ``argmax`` of Bob's logits (first index on ties, as ``Model.predict``)."""
        return np.argmax(self.logits, axis=1).astype(np.int64)

    @property
    def bits(self) -> int:
        """Bits exchanged per example (the same for every example)."""
        return sum(m.length for m in self.messages)

    def bits_by_step(self) -> dict:
        out: dict[str, int] = {}
        for m in self.messages:
            out[m.step] = out.get(m.step, 0) + m.length
        return out
