"""The communication matrix of a task under an Alice/Bob split, by brute force.

``M[a, c] = f(x)`` where ``x`` is the input whose Alice positions hold row part ``a`` and whose
Bob positions hold column part ``c``. Some tasks constrain their inputs (associative recall: keys
distinct, the query one of them), so some entries are undefined (``-1``): the matrix is partial.

Everything here is computed from the reference solver (``task.solve``) over ``task.enumerate``,
never from a construction.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["CommMatrix", "communication_matrix"]


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
        """Number of distinct rows (as full vectors, undefined entries included)."""
        return int(np.unique(self.values, axis=0).shape[0])


def communication_matrix(task, split, batch_size: int = 1 << 16, max_inputs: int = 1 << 24) -> CommMatrix:
    """Build the matrix of ``task`` under ``split`` (a :class:`tasks.Split` or a kind name)."""
    if isinstance(split, str):
        split = task.split(split)
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
