"""Nearest neighbour with a margin (paper §5.2, App. G; docs/PAPER.md §3.7)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._base import Task, TaskError, check_int, fail_at

UNIT_TOL = 1e-9  # | ||x|| - 1 | allowed by check_inputs
MARGIN_TOL = 1e-12  # slack on the margin allowed by check_inputs


class NearestNeighbor(Task):
    """Nearest neighbour: n labelled unit vectors and a query; output the label of the point
    with the largest inner product with the query.

    Parameters:
      n:          number of labelled points, >= 1.
      dim:        dimension of the points, >= 2 (default 8).
      margin:     delta in (0, 2] (default 0.1): the best point beats every other point's inner
                  product with the query by at least delta.
      num_labels: labels lie in ``[0, num_labels)``, >= 1 (default 2).

    Inputs: a dict ``{"points": float64 [B, n+1, dim], "labels": int64 [B, n]}``.  Points
    ``0..n-1`` are labelled by ``labels``; point n is the query.  Every point has unit norm
    (tolerance 1e-9) and, with ``j* = argmax_{i<n} <q, x_i>``,
    ``<q, x_j*> >= <q, x_i> + margin - 1e-12`` for every ``i != j*``.

    Output: ``labels[j*]``; ``num_classes = num_labels``.

    Continuous inputs: ``num_inputs`` and ``vocab_size`` are None and ``enumerate`` raises.

    Positions: ``seq_len = n + 1`` and position ``i`` means point ``i`` together with its label
    (for ``i < n``); position n is the query.  The default prefix split cuts at n: Alice holds
    points 0..n-1 and all labels, Bob the query.

    Sampling (constructed, never rejection-sampled): for each example a uniform random unit query
    q; the winner ``j*`` uniform in ``[0, n)``; its inner product ``a ~ Uniform[-1 + margin, 1]``;
    every other point's inner product ``~ Uniform[-1, a - margin]``, and with probability 1/2 one
    uniformly chosen other point sits exactly at ``a - margin`` (the margin is tight).  A point
    with inner product ``c`` is ``c q + sqrt(1 - c^2) u`` for a uniform unit ``u`` orthogonal to
    q.  Labels are i.i.d. uniform.
    """

    name = "nearest_neighbor"

    def __init__(self, *, n: int, dim: int = 8, margin: float = 0.1, num_labels: int = 2):
        self.n = check_int("n", n, 1)
        self.dim = check_int("dim", dim, 2)
        if isinstance(margin, (bool, np.bool_)) or not isinstance(margin, numbers.Real):
            raise TaskError(f"margin must be a real number in (0, 2], got {margin!r}")
        margin = float(margin)
        if not (math.isfinite(margin) and 0.0 < margin <= 2.0):
            raise TaskError(f"margin must lie in (0, 2], got {margin}")
        self.margin: float = margin
        self.num_labels: int = check_int("num_labels", num_labels, 1)
        self._params = {"n": self.n, "dim": self.dim, "margin": self.margin, "num_labels": self.num_labels}

    @property
    def seq_len(self) -> int:
        return self.n + 1

    @property
    def vocab_size(self) -> None:
        return None

    @property
    def num_classes(self) -> int:
        return self.num_labels

    @property
    def num_inputs(self) -> None:
        return None

    def check_inputs(self, inputs) -> dict:
        """Return ``{"points": float64 [B, n+1, dim], "labels": int64 [B, n]}`` or raise TaskError."""
        n, dim = self.n, self.dim
        if not isinstance(inputs, dict) or set(inputs) != {"points", "labels"}:
            raise TaskError('nearest_neighbor inputs must be a dict with exactly the keys "points" and "labels"')
        try:
            points = np.asarray(inputs["points"])
            labels = np.asarray(inputs["labels"])
        except (ValueError, TypeError) as err:
            raise TaskError(f"nearest_neighbor inputs must be rectangular arrays: {err}") from None
        if points.dtype.kind not in "iuf":
            raise TaskError(f"nearest_neighbor points must be real numbers, got dtype {points.dtype}")
        if labels.dtype.kind not in "iub":
            raise TaskError(f"nearest_neighbor labels must be integers, got dtype {labels.dtype}")
        if points.ndim != 3 or points.shape[1:] != (n + 1, dim):
            raise TaskError(f"nearest_neighbor points must have shape [B, {n + 1}, {dim}], got {points.shape}")
        if labels.shape != (points.shape[0], n):
            raise TaskError(f"nearest_neighbor labels must have shape [{points.shape[0]}, {n}], got {labels.shape}")
        points = np.ascontiguousarray(points, dtype=np.float64)
        if not np.all(np.isfinite(points)):
            raise TaskError("nearest_neighbor points must be finite")
        fail_at(
            (labels < 0) | (labels >= self.num_labels),
            labels,
            f"nearest_neighbor labels must lie in [0, {self.num_labels})",
        )
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        norms = np.linalg.norm(points, axis=2)
        fail_at(np.abs(norms - 1.0) > UNIT_TOL, norms, "nearest_neighbor inputs have non-unit points")
        if n >= 2 and points.shape[0]:
            scores = self._scores(points)
            top2 = -np.partition(-scores, 1, axis=1)[:, :2]
            fail_at(top2[:, 0] - top2[:, 1] < self.margin - MARGIN_TOL, points, "nearest_neighbor margin violated")
        return {"points": points, "labels": labels}

    def batch_size_of(self, inputs) -> int:
        if not isinstance(inputs, dict) or "points" not in inputs:
            raise TaskError('nearest_neighbor inputs must be a dict with keys "points" and "labels"')
        shape = np.shape(inputs["points"])
        if len(shape) != 3:
            raise TaskError(f"nearest_neighbor points must have shape [B, {self.n + 1}, {self.dim}], got {shape}")
        return int(shape[0])

    def _scores(self, points):
        """Inner products ``<q, x_i>``, ``[B, n]``."""
        return np.einsum("bid,bd->bi", points[:, : self.n], points[:, self.n])

    def _solve(self, inputs):
        best = np.argmax(self._scores(inputs["points"]), axis=1)
        return inputs["labels"][np.arange(best.shape[0]), best]

    def _sample(self, rng, batch):
        n, dim, margin = self.n, self.dim, self.margin
        query = _unit(rng.standard_normal((batch, dim)))
        winner = rng.integers(0, n, size=batch)
        top = rng.uniform(-1.0 + margin, 1.0, size=batch)
        # Inner products of the others, then the winner's and possibly one tight competitor.
        low = rng.random((batch, n))
        cos = -1.0 + low * (top[:, None] - margin + 1.0)
        rows = np.arange(batch)
        tight = rng.random(batch) < 0.5
        if n >= 2:
            other = (winner + rng.integers(1, n, size=batch)) % n
            cos[rows[tight], other[tight]] = top[tight] - margin
        cos[rows, winner] = top
        cos = np.clip(cos, -1.0, 1.0)
        # A uniform direction orthogonal to the query for every point.
        ortho = rng.standard_normal((batch, n, dim))
        for _ in range(2):  # project twice: the second pass removes the rounding left by the first
            ortho -= np.einsum("bid,bd->bi", ortho, query)[:, :, None] * query[:, None, :]
        ortho = _unit(ortho)
        sin = np.sqrt(np.maximum(0.0, 1.0 - cos**2))
        points = np.empty((batch, n + 1, dim))
        points[:, :n] = cos[:, :, None] * query[:, None, :] + sin[:, :, None] * ortho
        points[:, n] = query
        labels = rng.integers(0, self.num_labels, size=(batch, n))
        return {"points": points, "labels": labels}

    def enumerate(self, batch_size: int = 4096):
        """Raises TaskError: continuous inputs cannot be enumerated."""
        raise TaskError("nearest_neighbor has continuous inputs, and continuous inputs cannot be enumerated")

    def _default_cut(self):
        return self.n


def _unit(v: np.ndarray) -> np.ndarray:
    """Normalise the last axis (a zero vector, probability 0, is replaced by the first basis vector)."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    zero = norm[..., 0] == 0
    if zero.any():
        v = v.copy()
        v[zero] = 0.0
        v[zero, 0] = 1.0
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / norm
