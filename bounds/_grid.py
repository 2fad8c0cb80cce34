"""The ``fixed:I.F`` grid in plain numpy, and the bit codes the protocols send.

Grid arithmetic (docs/MODEL.md, ``constructions/_precision.py``; re-implemented here so that a
protocol never runs the model's code): a value is an int64 count of ``2^-F``, clipped to
``[-2^(I+F), 2^(I+F)]``. Products are accumulated exactly and rounded down once; sums are exact
then clipped; ``exp`` in softmax is float64 ``exp`` rounded down. ``b = I + F + 1``.

Bit codes. A message is a flat uint8 array of 0/1, most significant bit first:

* :func:`signed_bits` — a value as a ``width``-bit two's complement pattern (``v mod 2^width``).
  The fixed:I.F grid has ``2^b + 1`` points (both clip ends ``±2^I`` included), one more than b bits
  can name (paper App. B.2 has the same off-by-one: its grid has ``2n^(2C) + 1`` points). With
  ``width = b`` a decoder must know which point goes without a code: we read the pattern ``10…0``
  as the ceiling ``+2^(width-1)``, leaving out the floor ``-2^(width-1)``. That suits ReLU states
  (never negative); a value at the floor makes the encoder raise :class:`GridOverflow`, never a
  silent wrap. Values that may sit at either end are sent with ``width = b + 1``.
* :func:`unsigned_bits` — a value in ``[0, 2^width)``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ._closed_forms import BoundError

__all__ = [
    "Grid",
    "GridOverflow",
    "parse_fixed",
    "signed_bits",
    "signed_from_bits",
    "unsigned_bits",
    "unsigned_from_bits",
]

_FIXED = re.compile(r"^fixed:(\d+)\.(\d+)$")


class GridOverflow(BoundError):
    """A value outside the range its message code can carry."""


@dataclasses.dataclass(frozen=True)
class Grid:
    """The ``fixed:I.F`` grid: int64 counts of ``2^-F`` in ``[-2^(I+F), 2^(I+F)]``."""

    int_bits: int
    frac_bits: int

    @property
    def bits(self) -> int:
        return self.int_bits + self.frac_bits + 1

    @property
    def scale(self) -> int:
        return 1 << self.frac_bits

    @property
    def hi(self) -> int:
        return 1 << (self.int_bits + self.frac_bits)

    def clip(self, v):
        return np.clip(v, -self.hi, self.hi)

    def encode(self, x) -> np.ndarray:
        """Real array -> grid counts (rounded down, clipped)."""
        return self.clip(np.floor(np.asarray(x, dtype=np.float64) * self.scale)).astype(np.int64)

    def decode(self, v) -> np.ndarray:
        return np.asarray(v, dtype=np.float64) / self.scale

    def round(self, exact) -> np.ndarray:
        """An exact sum of products (units ``2^-2F``) -> grid (rounded down once, clipped)."""
        return self.clip(np.floor_divide(exact, self.scale))

    def add(self, a, c) -> np.ndarray:
        return self.clip(a + c)

    def exp_floor(self, d) -> np.ndarray:
        """``floor(exp(d) · 2^F)`` for grid values ``d <= 0`` (float64 exp, as the model's softmax)."""
        return np.floor(np.exp(np.asarray(d, dtype=np.float64) / self.scale) * self.scale).astype(np.int64)


def parse_fixed(precision: str) -> Grid:
    """``"fixed:I.F"`` -> :class:`Grid`; a one-line :class:`BoundError` for anything else."""
    m = _FIXED.match(str(precision))
    if not m:
        raise BoundError(f"the protocols run on the fixed:I.F grid; got precision {precision!r}")
    grid = Grid(int(m.group(1)), int(m.group(2)))
    if grid.int_bits + grid.frac_bits > 30:
        raise BoundError(f"precision {precision!r}: I + F must be at most 30 for exact int64 arithmetic")
    return grid


def _bit_matrix(patterns: np.ndarray, width: int) -> np.ndarray:
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    return ((patterns.astype(np.uint64)[..., None] >> shifts) & np.uint64(1)).astype(np.uint8)


def _from_bit_matrix(bits: np.ndarray, width: int) -> np.ndarray:
    bits = np.asarray(bits, dtype=np.uint64).reshape(bits.shape[:-1] + (-1, width))
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    return (bits << shifts).sum(axis=-1, dtype=np.uint64)


def signed_bits(values, width: int, what: str = "value") -> np.ndarray:
    """int values ``[..., k]`` -> uint8 bits ``[..., k·width]``; values in ``(-2^(width-1), 2^(width-1)]``."""
    if not 1 <= width <= 63:
        raise BoundError(f"code width must be in [1, 63], got {width}")
    v = np.asarray(values, dtype=np.int64)
    half = 1 << (width - 1)
    bad = (v <= -half) | (v > half)
    if bad.any():
        raise GridOverflow(
            f"{what} {int(v[bad].flat[0])} (grid units) has no {width}-bit code: the fixed:I.F grid "
            f"has 2^b + 1 points and the floor -2^(b-1) is the one left without a code"
        )
    patterns = np.mod(v, 1 << width) if width < 63 else v.view(np.uint64)
    bits = _bit_matrix(np.asarray(patterns), width)
    return bits.reshape(v.shape[:-1] + (-1,))


def signed_from_bits(bits, width: int) -> np.ndarray:
    """Inverse of :func:`signed_bits`: uint8 ``[..., k·width]`` -> int64 ``[..., k]``."""
    u = _from_bit_matrix(np.asarray(bits), width).astype(np.int64)
    half = 1 << (width - 1)
    return np.where(u > half, u - (1 << width), u)


def unsigned_bits(values, width: int, what: str = "value") -> np.ndarray:
    """int values ``[..., k]`` in ``[0, 2^width)`` -> uint8 bits ``[..., k·width]``."""
    if not 1 <= width <= 63:
        raise BoundError(f"code width must be in [1, 63], got {width}")
    v = np.asarray(values, dtype=np.int64)
    bad = (v < 0) | (v >= (1 << width))
    if bad.any():
        raise GridOverflow(f"{what} {int(v[bad].flat[0])} does not fit in {width} unsigned bits")
    return _bit_matrix(v, width).reshape(v.shape[:-1] + (-1,))


def unsigned_from_bits(bits, width: int) -> np.ndarray:
    """Inverse of :func:`unsigned_bits`."""
    return _from_bit_matrix(np.asarray(bits), width).astype(np.int64)
