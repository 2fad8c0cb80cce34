"""The communication matrix of a task under an Alice/Bob split, by brute force.

``M[a, c] = f(x)`` where ``x`` is the input whose Alice positions hold row part ``a`` and whose
Bob positions hold column part ``c``. Some tasks constrain their inputs (associative recall: keys
distinct, the query one of them), so some entries are undefined (``-1``): the matrix is partial.

Everything here is computed from the reference solver (``task.solve``), never from a construction:
:func:`communication_matrix` over ``task.enumerate``; :func:`product_matrix`, for tasks whose
every string over the vocabulary is an input (bit strings, brackets), row block by row block
without enumerating the inputs one by one (so equality at n = 20, a 1024 x 1024 matrix, is fast);
:func:`matrix` picks between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import cast

import numpy as np

import tasks

__all__ = ["CommMatrix", "communication_matrix", "product_matrix", "matrix", "resolve_split", "all_strings"]


@dataclasses.dataclass(frozen=True)
class CommMatrix:
    """A (possibly partial) communication matrix.

    Attributes:
        rows: int64 ``[R, |alice|]``, the distinct Alice parts (sorted lexicographically).
        cols: int64 ``[C, |bob|]``, the distinct Bob parts (sorted lexicographically).
        values: int64 ``[R, C]``, ``f`` at the combined input, ``-1`` where no valid input exists.
        split: the :class:`tasks.Split` used.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    split: object

    @property
    def total(self) -> bool:
        """True if every (row, column) pair is a valid input."""
        return bool((self.values >= 0).all())

    def distinct_rows(self) -> int:
        """Number of distinct rows (as full vectors, undefined entries included).

        For a total matrix this is the number of messages an optimal one-way protocol needs; for a
        partial one it is only an upper bound (rows that differ where one is undefined may share a
        message; :func:`bounds.one_way_certificate` handles that case).
        """
        return int(np.unique(self.values, axis=0).shape[0])


SplitLike = tasks.Split | str | Iterable[int]  # a Split, a kind name, or Alice's positions


def resolve_split(task: tasks.Task, split: SplitLike) -> tasks.Split:
    """A :class:`tasks.Split` from a Split, a kind name (``"prefix"``, ``"halves"``, ``"odd_even"``)
    or an explicit collection of Alice's positions."""
    if isinstance(split, str):
        return task.split(split)
    if hasattr(split, "alice") and hasattr(split, "bob"):  # a Split, or any record with the two fields
        return cast(tasks.Split, split)
    alice = tuple(sorted(int(i) for i in split))
    if len(set(alice)) != len(alice) or any(not 0 <= i < task.seq_len for i in alice):
        raise ValueError(f"Alice's positions must be distinct positions in [0, {task.seq_len})")
    bob = tuple(i for i in range(task.seq_len) if i not in set(alice))
    return tasks.Split(alice, bob, "custom")


def all_strings(vocab: int, length: int) -> np.ndarray:
    """int64 ``[vocab^length, length]``: every string, lexicographic (position 0 most significant)."""
    count = vocab**length
    idx = np.arange(count, dtype=np.int64)[:, None]
    place = vocab ** np.arange(length - 1, -1, -1, dtype=np.int64)[None, :]
    return (idx // place) % vocab


def product_matrix(task: tasks.Task, split: SplitLike, block_inputs: int = 1 << 18) -> CommMatrix:
    """The matrix of a task whose inputs are *all* strings over its vocabulary (checked:
    ``num_inputs == vocab_size ** seq_len``): rows and columns are every string on Alice's and Bob's
    positions, in lexicographic order; values from ``task.solve`` in blocks of rows."""
    split = resolve_split(task, split)
    V, L = task.vocab_size, task.seq_len
    if V is None or task.num_inputs != V**L:
        raise ValueError(f"{task.name}: not every string is an input; use communication_matrix")
    rows, cols = all_strings(V, len(split.alice)), all_strings(V, len(split.bob))
    values = np.empty((rows.shape[0], cols.shape[0]), dtype=np.int64)
    step = max(1, block_inputs // max(1, cols.shape[0]))
    alice, bob = list(split.alice), list(split.bob)
    for start in range(0, rows.shape[0], step):
        r = rows[start : start + step]
        x = np.empty((r.shape[0], cols.shape[0], L), dtype=np.int64)
        x[:, :, alice] = r[:, None, :]
        x[:, :, bob] = cols[None, :, :]
        values[start : start + r.shape[0]] = task.solve(x.reshape(-1, L)).reshape(r.shape[0], -1)
    return CommMatrix(rows, cols, values, split)


def matrix(task: tasks.Task, split: SplitLike) -> CommMatrix:
    """:func:`product_matrix` where it applies, else :func:`communication_matrix`."""
    split = resolve_split(task, split)
    if task.vocab_size is not None and task.num_inputs == task.vocab_size**task.seq_len:
        return product_matrix(task, split)
    return communication_matrix(task, split)


def communication_matrix(
    task: tasks.Task, split: SplitLike, batch_size: int = 1 << 16, max_inputs: int = 1 << 24
) -> CommMatrix:
    """Build the matrix of ``task`` under ``split`` (a :class:`tasks.Split` or a kind name)."""
    split = resolve_split(task, split)
    total = task.num_inputs
    if total is None:
        raise ValueError(f"{task.name} has continuous inputs: no finite communication matrix")
    if total > max_inputs:
        raise ValueError(f"{task.name} has {total} inputs, more than {max_inputs} to enumerate")
    alice, bob = list(split.alice), list(split.bob)
    a_parts, b_parts, outs = [], [], []
    for x in task.enumerate(batch_size):
        x = np.asarray(x)
        a_parts.append(x[:, alice])
        b_parts.append(x[:, bob])
        outs.append(task.solve(x))
    a_all, b_all, out = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(outs)
    rows, ri = np.unique(a_all, axis=0, return_inverse=True)
    cols, ci = np.unique(b_all, axis=0, return_inverse=True)
    values = np.full((rows.shape[0], cols.shape[0]), -1, dtype=np.int64)
    values[ri.reshape(-1), ci.reshape(-1)] = out
    return CommMatrix(rows, cols, values, split)
