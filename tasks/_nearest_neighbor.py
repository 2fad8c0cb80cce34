"""Nearest neighbour with a margin (paper §5.2, App. G; docs/PAPER.md §3.7): one final query, or
every query of the second half (the paper's multi-query setting; docs/MULTI_QUERY.md)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._associative_recall import check_queries
from ._base import Task, TaskError, check_int, fail_at

UNIT_TOL = 1e-9  # | ||x|| - 1 | allowed by check_inputs
MARGIN_TOL = 1e-12  # slack on the margin allowed by check_inputs
GRAM_ELEMENTS = 1 << 22  # inner products held at once by the multi-query checks
PLACE_TRIES = 1000  # draws per stored point before the multi-query sampler gives up
SPREAD_DRAWS = 32  # uniform draws per new query point (the best-separated is tried)


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

    Multi-query form (``queries="all"``; the paper's Theorem 7/8 setting). Same inputs; point k is
    a query for every ``k > n/2`` (``k = ⌊n/2⌋ + 1, …, n``: ``⌈n/2⌉`` queries, at least as many
    points before the first), answered over the points before it: output ``[B, ⌈n/2⌉]``, entry
    j the label of ``argmax_{i<k} <x_k, x_i>`` for ``k = ⌊n/2⌋ + 1 + j``, and the margin promise
    holds for every query. (The paper's sequence ``x_1, y_1, …, x_N`` with ``N = n + 1``; the
    labels of query points are inputs too, used by later queries.) Sampling: the first
    ``⌊n/2⌋ + 1`` points uniform with pairwise inner products ``≤ 1 − δ`` (half of them, from the
    second on, at exactly ``1 − δ`` to a random earlier one: tight margins), drawn again until
    they fit (TaskError after PLACE_TRIES draws: raise dim or lower the margin); each query
    reserves its own stored point ``w_j`` (a random injection) and first tries, with probability
    1/4 each, a uniform point (the best of SPREAD_DRAWS by the gap of its two nearest), a point near a random earlier point (inner product uniform in
    ``[1 − δ, 1]``), or a copy of a random earlier query that is a new point (so that earlier queries win too), kept
    if its margin holds and it keeps ``<·, x_w> ≤ 1 − δ`` for every later reserved w;
    otherwise the query is ``x_{w_j}`` itself (always valid: margin ``≥ δ`` by that invariant).
    Labels i.i.d. uniform. Default prefix split: cut at ``⌊n/2⌋ + 1``, the first query.
    """

    name = "nearest_neighbor"

    def __init__(self, *, n: int, dim: int = 8, margin: float = 0.1, num_labels: int = 2, queries: str = "last"):
        self.n = check_int("n", n, 1)
        self.dim = check_int("dim", dim, 2)
        if isinstance(margin, (bool, np.bool_)) or not isinstance(margin, numbers.Real):
            raise TaskError(f"margin must be a real number in (0, 2], got {margin!r}")
        margin = float(margin)
        if not (math.isfinite(margin) and 0.0 < margin <= 2.0):
            raise TaskError(f"margin must lie in (0, 2], got {margin}")
        self.margin: float = margin
        self.num_labels: int = check_int("num_labels", num_labels, 1)
        self.queries: str = check_queries(queries)
        self._params = {"n": self.n, "dim": self.dim, "margin": self.margin, "num_labels": self.num_labels}
        if self.queries != "last":
            self._params["queries"] = self.queries

    @property
    def query_points(self) -> tuple[int, ...]:
        """The points (0-based) that are queries, increasing: ``(n,)``, or ``k > n/2`` with "all"."""
        return tuple(range(self.n // 2 + 1, self.n + 1)) if self.queries == "all" else (self.n,)

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
        if self.queries == "all":
            for lo, scores in self._query_scores(points):
                top2 = -np.partition(-scores, 1, axis=2)[:, :, :2] if scores.shape[2] >= 2 else None
                if top2 is not None:
                    fail_at(
                        top2[:, :, 0] - top2[:, :, 1] < self.margin - MARGIN_TOL,
                        points[lo:],
                        "nearest_neighbor margin violated at a query (queries='all')",
                    )
        elif n >= 2 and points.shape[0]:
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

    def _query_scores(self, points):
        """Yield ``(first example, scores [b, Q, k_max])`` in chunks: ``<x_k, x_i>`` for each query
        k over the points ``i < k`` (``-inf`` at ``i >= k``), ``k_max = n``."""
        ks = np.asarray(self.query_points)
        later = np.arange(self.n)[None, :] >= ks[:, None]  # [Q, n]
        chunk = max(1, GRAM_ELEMENTS // (len(ks) * self.n))
        for lo in range(0, points.shape[0], chunk):
            p = points[lo : lo + chunk]
            scores = np.einsum("bqd,bid->bqi", p[:, ks], p[:, : self.n])
            yield lo, np.where(later[None], -np.inf, scores)

    def _solve(self, inputs):
        if self.queries == "all":
            best = np.concatenate([np.argmax(s, axis=2) for _, s in self._query_scores(inputs["points"])])
            return (
                np.take_along_axis(inputs["labels"], best, axis=1)
                if best.size
                else best.reshape(0, len(self.query_points))
            )
        best = np.argmax(self._scores(inputs["points"]), axis=1)
        return inputs["labels"][np.arange(best.shape[0]), best]

    def _sample(self, rng, batch):
        if self.queries == "all":
            return self._sample_all(rng, batch)
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

    def _sample_all(self, rng, batch):
        """The multi-query sampler (class docstring)."""
        n, dim, delta = self.n, self.dim, self.margin
        first = n // 2 + 1
        limit = 1.0 - delta + 1e-14
        points = np.empty((batch, n + 1, dim))
        rows = np.arange(batch)
        for i in range(first):
            todo = rows
            for _ in range(PLACE_TRIES):
                cand = _unit(rng.standard_normal((todo.size, dim)))
                if i:
                    anchor = points[todo, rng.integers(0, i, size=todo.size)]
                    tight = rng.random(todo.size) < 0.5
                    cand[tight] = _at_inner(anchor[tight], cand[tight], 1.0 - delta)
                    ok = np.max(np.einsum("bid,bd->bi", points[todo, :i], cand), axis=1) <= limit
                else:
                    ok = np.ones(todo.size, dtype=bool)
                points[todo[ok], i] = cand[ok]
                todo = todo[~ok]
                if not todo.size:
                    break
            if todo.size:
                raise TaskError(
                    f"nearest_neighbor queries='all' could not place {first} points with inner products "
                    f"<= 1 - margin in dimension {dim}; raise dim or lower the margin"
                )
        reserved = np.argsort(rng.random((batch, first)), axis=1)[:, : n + 1 - first]  # [B, Q]
        fresh = np.zeros((batch, n + 1 - first), dtype=bool)  # query j is a new point (not a copy)
        for j, k in enumerate(range(first, n + 1)):
            query = points[rows, reserved[:, j]].copy()
            kind = rng.integers(0, 4, size=batch)  # 0 uniform, 1 near an earlier point, 2 an earlier query, 3 none
            near = points[rows, rng.integers(0, k, size=batch)]
            cand = _at_inner(near, _unit(rng.standard_normal((batch, dim))), rng.uniform(1.0 - delta, 1.0, size=batch))
            cand[kind == 0] = self._spread_point(rng, points[kind == 0, :k], int(np.sum(kind == 0)))
            if k > first:  # a copy of an earlier query that is not itself a copy (else it would tie)
                pick = first + np.argmax(rng.random((batch, k - first)) * fresh[:, : k - first], axis=1)
                copy = (kind == 2) & fresh[rows, pick - first]
                cand[copy] = points[rows[copy], pick[copy]]
            scores = np.einsum("bid,bd->bi", points[:, :k], cand)
            top2 = -np.partition(-scores, 1, axis=1)[:, :2] if k >= 2 else np.array([[1.0, -np.inf]] * batch)
            future = points[rows[:, None], reserved[:, j + 1 :]]  # [B, Q-j-1, dim]
            keeps = np.all(np.einsum("bfd,bd->bf", future, cand) <= limit, axis=1)
            use = (kind < 3) & (top2[:, 0] - top2[:, 1] >= delta) & keeps
            query[use] = cand[use]
            fresh[:, j] = use & (kind < 2)
            points[:, k] = query
        labels = rng.integers(0, self.num_labels, size=(batch, n))
        return {"points": points, "labels": labels}

    def _spread_point(self, rng, earlier: np.ndarray, count: int) -> np.ndarray:
        """``[count, dim]``: per row the best of SPREAD_DRAWS uniform points, by the gap between
        its two largest inner products with ``earlier [count, k, dim]``."""
        draws = _unit(rng.standard_normal((count, SPREAD_DRAWS, self.dim)))
        scores = np.einsum("bid,bsd->bsi", earlier, draws)
        gap = -np.diff(-np.partition(-scores, 1, axis=2)[:, :, :2], axis=2)[:, :, 0] if earlier.shape[1] >= 2 else 0
        return draws[np.arange(count), np.argmax(gap, axis=1) if earlier.shape[1] >= 2 else 0]

    def enumerate(self, batch_size: int = 4096):
        """Raises TaskError: continuous inputs cannot be enumerated."""
        raise TaskError("nearest_neighbor has continuous inputs, and continuous inputs cannot be enumerated")

    def _default_cut(self):
        return self.n // 2 + 1 if self.queries == "all" else self.n


def _at_inner(anchor: np.ndarray, direction: np.ndarray, cos) -> np.ndarray:
    """Unit points at inner product ``cos`` with the unit ``anchor`` rows, toward ``direction``
    (its component orthogonal to the anchor; a random row's, probability 0 of vanishing)."""
    u = direction - np.einsum("bd,bd->b", direction, anchor)[:, None] * anchor
    u -= np.einsum("bd,bd->b", u, anchor)[:, None] * anchor
    u = _unit(u)
    cos = np.asarray(cos, dtype=np.float64)
    return _unit(cos[..., None] * anchor + np.sqrt(np.maximum(0.0, 1.0 - cos**2))[..., None] * u)


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
