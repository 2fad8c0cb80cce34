"""Shared machinery of every task: the error type, the split record, the ``Task`` base class,
parameter checks and mixed-radix enumeration.

Nothing here knows about a particular task.  A task module subclasses ``Task`` (continuous
inputs) or ``TokenTask`` (integer token ids ``[B, L]``) and fills in a few hooks.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import math
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "TaskError",
    "Split",
    "Task",
    "TokenTask",
    "SPLIT_KINDS",
    "check_int",
    "check_rng",
    "mixed_radix_batches",
]


class TaskError(ValueError):
    """Bad task parameters or bad inputs.

    The message is one sentence that names the offending parameter or input.
    """


@dataclasses.dataclass(frozen=True)
class Split:
    """An Alice/Bob partition of the input positions, for communication lower bounds.

    Attributes:
      alice: sorted 0-based positions Alice holds.
      bob:   sorted 0-based positions Bob holds; ``alice`` and ``bob`` partition ``range(seq_len)``.
      kind:  ``"prefix"``, ``"halves"`` or ``"odd_even"`` (split equality: ``"alice"``, its
             own split).
    """

    alice: tuple[int, ...]
    bob: tuple[int, ...]
    kind: str


SPLIT_KINDS = ("prefix", "halves", "odd_even")

Inputs = ArrayLike | Mapping[str, ArrayLike]  # a batch: token ids [B, L], or named arrays (continuous tasks)
Batch = np.ndarray | dict[str, np.ndarray]  # a batch in its canonical numpy form


# --------------------------------------------------------------------------- parameter checks


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise TaskError.

    Accepts Python and numpy integers (not bools, not floats, not strings).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TaskError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise TaskError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TaskError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got {type(rng).__name__}"
        )
    return rng


# --------------------------------------------------------------------------- enumeration


def mixed_radix_batches(radices, batch_size: int, *, _force_slow: bool = False) -> Iterator[np.ndarray]:
    """Yield the digits of the counters ``0, 1, ..., prod(radices) - 1`` in order.

    Each batch is an int64 array ``[b, len(radices)]``; digit ``k`` lies in ``[0, radices[k])`` and
    the FIRST digit is the most significant, so rows come out in lexicographic order.  Batches have
    exactly ``batch_size`` rows except possibly the last.

    Work is vectorised over the rows of a batch; no Python loop runs per counter value.  When the
    total fits comfortably in int64 one vectorised division (or shift, for power-of-two radices)
    per batch does it.  Otherwise the batch start is kept as a Python int, split into digits, and
    added column by column (with carries) to the small in-batch offsets, so enumeration can start
    even when the total count is astronomically large.
    """
    radices = [int(r) for r in radices]
    width = len(radices)
    total = math.prod(radices)
    if total == 0:
        return
    # place[k] = prod(radices[k+1:]) : the value of one unit in digit k.
    place = [1] * width
    for k in range(width - 2, -1, -1):
        place[k] = place[k + 1] * radices[k + 1]

    if total <= 2**62 and not _force_slow:
        power_of_two = all(r & (r - 1) == 0 for r in radices)
        if power_of_two:
            shifts = np.array([p.bit_length() - 1 for p in place], dtype=np.int64)
            masks = np.array([r - 1 for r in radices], dtype=np.int64)
        else:
            place_arr = np.array(place, dtype=np.int64)
            radix_arr = np.array(radices, dtype=np.int64)
        for start in range(0, total, batch_size):
            counter = np.arange(start, min(start + batch_size, total), dtype=np.int64)[:, None]
            if power_of_two:
                yield (counter >> shifts) & masks
            else:
                yield (counter // place_arr) % radix_arr
        return

    for start in range(0, total, batch_size):
        b = min(batch_size, total - start)
        start_digits = [0] * width
        rest = start
        for k in range(width - 1, -1, -1):
            rest, start_digits[k] = divmod(rest, radices[k])
        offset = np.arange(b, dtype=np.int64)
        carry = np.zeros(b, dtype=np.int64)
        out = np.empty((b, width), dtype=np.int64)
        for k in range(width - 1, -1, -1):
            r = radices[k]
            value = offset % r + start_digits[k] + carry
            offset //= r
            out[:, k] = value % r
            carry = value // r
        yield out


# --------------------------------------------------------------------------- the base classes


class Task:
    """A task: a function from inputs to a class label, with its input format.

    Subclasses set ``name`` and, in ``__init__``, ``self._params`` (a JSON-serialisable dict of
    exactly the keyword arguments ``tasks.get(name, **params)`` accepts).

    Public interface (see ``tasks/__init__.py`` for the full contract):
      name, params, seq_len, vocab_size, num_classes, num_inputs,
      solve(inputs), sample(rng, batch), enumerate(batch_size), check_inputs(inputs),
      split(kind, cut), batch_size_of(inputs).
    """

    name: str = ""
    _params: dict

    # ---- descriptive properties (subclasses override) ------------------------------------
    @property
    def params(self) -> dict:
        """Parameters as a fresh JSON-serialisable dict; ``tasks.get(task.name, **task.params)`` rebuilds the task."""
        return copy.deepcopy(self._params)

    @property
    def seq_len(self) -> int:
        """Number of input positions L."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int | None:
        """Number of token ids, or None for continuous inputs."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """Number of output values; outputs lie in ``[0, num_classes)``."""
        raise NotImplementedError

    @property
    def num_inputs(self) -> int | None:
        """Exact number of valid inputs (a Python int), or None for continuous inputs."""
        raise NotImplementedError

    # ---- public methods ------------------------------------------------------------------
    def solve(self, inputs: Inputs) -> np.ndarray:
        """Reference outputs, int64 ``[B]`` (``[B, Q]`` for a multi-query task, one per query),
        computed in plain numpy.  ``inputs`` are checked first."""
        checked = self.check_inputs(inputs)
        return np.asarray(self._solve(checked), dtype=np.int64)

    def sample(self, rng: np.random.Generator, batch: int) -> Batch:
        """Draw ``batch`` inputs.  Deterministic given the state of ``rng``."""
        check_rng(rng)
        batch = check_int("batch", batch, 0)
        return self._sample(rng, batch)

    def enumerate(self, batch_size: int = 4096) -> Iterator[np.ndarray]:
        """Iterate over ALL inputs in the task's documented order, in batches of exactly
        ``batch_size`` (the last may be smaller)."""
        batch_size = check_int("batch_size", batch_size, 1)
        return self._enumerate(batch_size)

    def check_inputs(self, inputs: Inputs) -> Batch:
        """Validate a batch of inputs; return the canonical numpy form or raise TaskError."""
        raise NotImplementedError

    def batch_size_of(self, inputs: Inputs) -> int:
        """Number of examples in a batch of inputs."""
        raise NotImplementedError

    def split(self, kind: str = "prefix", cut: int | None = None) -> Split:
        """An Alice/Bob partition of ``range(seq_len)``.

        kind:
          ``"prefix"``   Alice gets positions ``[0, cut)``, Bob ``[cut, L)``; ``cut`` defaults to the
                         task's natural cut (see the task's docstring).  ``0 <= cut <= L``.
          ``"halves"``   for the string tasks with inputs ``[B, n]`` (equality, disjointness,
                         threshold, dyck) and even n: the prefix split at n/2.
          ``"odd_even"`` Alice holds the odd positions of the paper's 1-based numbering, i.e. the
                         0-based even positions 0, 2, 4, ...; Bob the others.
        """
        length = self.seq_len
        if kind == "prefix":
            if cut is None:
                cut = self._default_cut()
            cut = check_int("cut", cut)
            if not 0 <= cut <= length:
                raise TaskError(f"cut must lie in [0, {length}] for {self.name}, got {cut}")
            return Split(tuple(range(cut)), tuple(range(cut, length)), "prefix")
        if kind == "halves":
            if cut is not None:
                raise TaskError("cut is only accepted by the 'prefix' split")
            if not self._has_halves() or length % 2:
                raise TaskError(
                    f"the 'halves' split needs a string task of even length; {self.name} has length {length}"
                )
            half = length // 2
            return Split(tuple(range(half)), tuple(range(half, length)), "halves")
        if kind == "odd_even":
            if cut is not None:
                raise TaskError("cut is only accepted by the 'prefix' split")
            return Split(tuple(range(0, length, 2)), tuple(range(1, length, 2)), "odd_even")
        raise TaskError(f"unknown split kind {kind!r}; known kinds: {', '.join(SPLIT_KINDS)}")

    # ---- hooks -------------------------------------------------------------------------------
    def _solve(self, inputs) -> np.ndarray:
        raise NotImplementedError

    def _sample(self, rng: np.random.Generator, batch: int):
        raise NotImplementedError

    def _enumerate(self, batch_size: int) -> Iterator:
        raise NotImplementedError

    def _default_cut(self) -> int:
        raise NotImplementedError

    def _has_halves(self) -> bool:
        return False

    # ---- identity ----------------------------------------------------------------------------
    def _key(self):
        return (self.name, json.dumps(self._params, sort_keys=True))

    def __eq__(self, other):
        return isinstance(other, Task) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        if len(inner) > 200:
            inner = inner[:200] + "..."
        return f"tasks.get({self.name!r}, {inner})"


class TokenTask(Task):
    """A task whose inputs are int64 token ids ``[B, L]`` with ids in ``[0, vocab_size)``.

    Subclasses provide ``_radices()`` and ``_from_digits(digits)`` for enumeration (the input
    set is the image of a mixed-radix counter), ``_check_constraints(x)`` for constraints beyond
    the vocabulary range, ``_solve``, ``_sample`` and ``_default_cut``.
    """

    @property
    def num_inputs(self) -> int:
        # equal radices grouped into powers: math.prod over 10^5 equal factors is quadratic
        return math.prod(r**k for r, k in collections.Counter(self._radices()).items())

    def check_inputs(self, inputs) -> np.ndarray:
        """Return ``inputs`` as a C-contiguous int64 array ``[B, L]`` (may share memory with the
        argument) or raise TaskError.

        Accepts any array-like of integers (or bools); a batch is always 2-D, so wrap a single
        example as ``x[None]``.
        """
        x = _as_array(inputs)
        if x.dtype.kind not in "iub":
            raise TaskError(f"{self.name} inputs must be integer token ids, got dtype {x.dtype}")
        if x.ndim != 2:
            raise TaskError(
                f"{self.name} inputs must be a batch of shape [B, {self.seq_len}], got shape {x.shape}"
                + (" (wrap a single example as x[None])" if x.ndim == 1 else "")
            )
        if x.shape[1] != self.seq_len:
            raise TaskError(f"{self.name} inputs must have length {self.seq_len}, got shape {x.shape}")
        if x.size:
            bad = (x < 0) | (x >= self.vocab_size)
            fail_at(bad, x, f"{self.name} token ids must lie in [0, {self.vocab_size})")
        x = np.ascontiguousarray(x, dtype=np.int64)
        self._check_constraints(x)
        return x

    def batch_size_of(self, inputs) -> int:
        shape = np.shape(inputs)
        if len(shape) != 2:
            raise TaskError(f"{self.name} inputs must be a batch of shape [B, {self.seq_len}], got shape {shape}")
        return int(shape[0])

    def _check_constraints(self, x: np.ndarray) -> None:
        """Task-specific checks beyond the vocabulary range; raise TaskError."""

    def _radices(self) -> list[int]:
        raise NotImplementedError

    def _from_digits(self, digits: np.ndarray) -> np.ndarray:
        return digits

    def _enumerate(self, batch_size: int) -> Iterator[np.ndarray]:
        for digits in mixed_radix_batches(self._radices(), batch_size):
            yield self._from_digits(digits)


# --------------------------------------------------------------------------- small helpers


def _as_array(inputs) -> np.ndarray:
    try:
        x = np.asarray(inputs)
    except (ValueError, TypeError) as err:
        raise TaskError(f"inputs must be a rectangular array, could not convert: {err}") from None
    if x.dtype == object:
        raise TaskError("inputs must be a rectangular numeric array, got an object array")
    return x


def fail_at(bad: np.ndarray, x: np.ndarray, message: str) -> None:
    """Raise TaskError(message + where) if any entry of the boolean array ``bad`` is set.

    ``bad`` has shape ``[B]`` or ``[B, L]`` and is reported at its first set entry.
    """
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        if len(where) == 2:
            raise TaskError(f"{message}; first offence: example {where[0]}, position {where[1]} (value {x[where]})")
        raise TaskError(f"{message}; first offence: example {where[0]}")
