"""The certification plan for equality and disjointness: two layers, cells by the first pair that decides.

The answer of these tasks is decided by the pairs ``(x_i, x_{i+n/2})`` (split_equality: the pairs
``(x_{a_i}, x_{b_i})`` of its split): the first pair that *hits*
(differs, for equality; is (1, 1), for disjointness) makes the answer, and with no hit it is the
other one. Cells: "no pair hits" (−1) and, for each ``i``, "pair ``i`` is the first that hits"
(earlier pairs miss, later pairs free) — a partition of ``{0,1}^n`` into ``n/2 + 1`` product sets,
each with a constant answer, so the counts of covered inputs add up exactly (``2^n`` when all are
proved).

Soundness: layer 1's attention pattern does not depend on the bits (each head and position has one
target key, read off the arrays; all other keys are bounded as in verify/certify/_attention.py with
any bit), so the residual stream after layer 1 at a position is enclosed for each assignment of
the bits it can depend on (its own and its targets'), all other bits free. The hull of the cases
that agree with a cell's status of the position's pair (miss / hit / free) encloses that position's
stream for every input of the cell. Layer 2 reads at the last position with per-key weight bounds
from those boxes (:func:`_uniformish`), then the MLP and the readout as affine forms
(verify/certify/_affine.py); a positive margin proves every input of the cell.
"""

from __future__ import annotations

import numpy as np

from constructions import Model

from .._engine import VerifyError, task_of
from ._affine import _Aff, _margins, _proved, _tail
from ._arithmetic import Box, _arith, _arith_details, _Fixed, _step
from ._attention import _dot_points, _uniformish
from ._bit_cases import _BitLayer1
from ._registry import certifier_of, check_family, exact_count, register_certifier

# the pair predicate whose presence (at some i, pair (x_i, x_{i+n/2})) decides the answer
PAIR_TASKS = {
    "equality": lambda a, b: a != b,
    "disjointness": lambda a, b: a == 1 and b == 1,
    "split_equality": lambda a, b: a != b,  # pairs (a_i, b_i) of the task's split (Lemma 5)
}


def task_pairs(task, n: int) -> np.ndarray:
    """int64 ``[n/2, 2]``: the pairs whose first hit decides the answer, ``(i, i + n/2)`` or the
    task's own (``split_equality``: ``(a_i, b_i)``)."""
    pairs = getattr(task, "pairs", None)
    if pairs is not None:
        return np.asarray(pairs, dtype=np.int64)
    return np.stack([np.arange(n // 2), np.arange(n // 2) + n // 2], axis=1)


_STATUS = ("neg", "pos", "any")


class _PairPlan:
    """Equality / disjointness with two layers.

    Layer 1 is token-independent in its pattern: every head at position p has one *target* key
    (derived from the arrays: the visible position of largest score), so the residual stream after
    layer 1 at p is enclosed for each assignment of the bits at p and its targets (a *case*), all
    other bits free. Cells: "no pair hits" and, for each i, "pair i is the first that hits"
    (earlier pairs miss, later pairs free) — a partition of {0,1}^n into n/2 + 1 product sets, each
    with a constant answer. Per cell and position, the layer-1 box is the hull of the cases that
    agree with the cell on the position's pair; layer 2 (the last position's query) is bounded per
    key from those boxes, its output then goes through the MLP and the readout.
    """

    def __init__(self, model: Model, ia, task):
        self.n = n = int(model.task_params["n"])
        self.h = n // 2
        self.hit = PAIR_TASKS[model.task]
        pairs = task_pairs(task, n)
        self.first, self.second = pairs[:, 0], pairs[:, 1]
        self.pair_of = np.empty(n, dtype=np.int64)
        self.pair_of[self.first] = self.pair_of[self.second] = np.arange(self.h)
        w = model.weights
        self.l1 = _BitLayer1(model, ia, n)  # checks the tables' lengths
        self.ia = ia
        a2 = w.layers[1].attn
        self.W2 = {k: ia.encode(getattr(a2, k)) for k in ("wq", "wk", "wv")}
        self.tail2 = _tail(ia, a2, w.layers[1].mlp, (w.readout_w, w.readout_b))
        combos = [(a, b) for a in (0, 1) for b in (0, 1)]
        self.sets = {
            "neg": [c for c in combos if not self.hit(*c)],
            "pos": [c for c in combos if self.hit(*c)],
            "any": combos,
        }
        self.task, self.step = task, _step(ia)
        self.num_inputs_log2 = float(n)
        # layer-1 boxes, computed on the first chunk (soft: when needed)
        self._X1: Box | None = None
        self._X1_soft: Box | None = None

    # -- the plan protocol (verify/certify/_registry.py) ----------------------------------------
    def chunks(self, chunk_cells: int):
        """Cells −1, 0, …, n/2 − 1 in chunks of 2^22 / n (``chunk_cells`` is not used)."""
        cells, per = np.arange(-1, self.h), max(1, (1 << 22) // self.n)
        return (cells[c0 : c0 + per].tolist() for c0 in range(0, len(cells), per))

    def prove(self, chunk: list):
        cells, step = np.asarray(chunk), self.step
        if self._X1 is None:
            self._X1 = self.layer1()
        X1 = self._X1
        expected = self.expected(self.task, cells)
        gap = _proved(lambda keep, soft: self.logits(X1, cells, keep), expected, step, False)
        if not (gap > 0).all():  # retry with soft counts in layer 1
            if self._X1_soft is None:
                self._X1_soft = self.layer1(soft=True)
            gap = np.maximum(gap, _margins(self.logits(self._X1_soft, cells, True), expected, step))
        return gap

    def covered(self, chunk: list, ok) -> int:
        return sum(self._covered_cell(c) for c, k in zip(chunk, ok) if k)

    def inputs_covered(self, proved: int, covered: int):
        return exact_count(covered)

    def witnesses(self, cells, rng):
        return _pair_witnesses(self, cells, rng)

    def details(self) -> dict:
        return {
            "cell": "no pair (x_i, x_{i+n/2}) hits, or pair i is the first that hits (earlier pairs miss, "
            "later pairs free)",
            "attention": "layer 1: one target key per head and position, derived from the arrays; "
            "layer 2: per-key weight bounds at the last position",
            **_arith_details(self.ia),
        }

    # -- layer 1 -----------------------------------------------------------------------------
    def layer1(self, soft: bool = False) -> Box:
        """Boxes ``[n, 3, D]`` (format units) of the residual stream after layer 1, per position
        and status (neg / pos / any) of the position's pair: the hull of the cases
        (verify/certify/_bit_cases.py) that agree with the status."""
        ia, n, H = self.ia, self.n, self.l1.H
        pr, where, cb, X = self.l1.cases(soft)
        R = len(pr)
        # which statuses of the position's own pair each case agrees with
        i = self.pair_of[pr]
        known_lo = np.full(R, -1)
        known_hi = np.full(R, -1)
        for u in range(H + 1):
            pos_u = where[pr, u]
            known_lo = np.where(pos_u == self.first[i], cb[:, u], known_lo)
            known_hi = np.where(pos_u == self.second[i], cb[:, u], known_hi)
        D = X.shape[1]
        lo = np.full((n, 3, D), np.inf)
        hi = np.full((n, 3, D), -np.inf)
        for si, name in enumerate(_STATUS):
            ok = np.zeros(R, dtype=bool)
            for x, y in self.sets[name]:
                ok |= ((known_lo == -1) | (known_lo == x)) & ((known_hi == -1) | (known_hi == y))
            np.minimum.at(lo[:, si], pr[ok], X.lo[ok])
            np.maximum.at(hi[:, si], pr[ok], X.hi[ok])
        if not np.all(np.isfinite(lo)):
            raise VerifyError("a position has no case of some status (inconsistent pair structure)")
        if isinstance(ia, _Fixed):
            lo, hi = lo.astype(np.int64), hi.astype(np.int64)
        return Box(lo, hi)

    # -- cells ---------------------------------------------------------------------------------
    def statuses(self, cells):
        """Status index ``[C, n]`` of each position's pair in cells ``c`` (−1: no pair hits)."""
        pair = self.pair_of
        c = np.asarray(cells)[:, None]
        return np.where((c < 0) | (pair[None] < c), 0, np.where(pair[None] == c, 1, 2))

    def expected(self, task, cells):
        x = np.zeros((len(cells), self.n), dtype=np.int64)
        neg, pos = self.sets["neg"][0], self.sets["pos"][0]
        x[:, self.first], x[:, self.second] = neg
        for r, c in enumerate(cells):
            if c >= 0:
                x[r, self.first[c]], x[r, self.second[c]] = pos
        return task.solve(x).astype(np.int64)

    def _covered_cell(self, c: int) -> int:
        """The number of inputs of cell ``c``."""
        nn, np_ = len(self.sets["neg"]), len(self.sets["pos"])
        return nn**self.h if c < 0 else nn**c * np_ * 4 ** (self.h - 1 - c)

    def logits(self, X1: Box, cells, keep_eps: bool = True) -> _Aff:
        """Logit forms ``[C, classes]`` of the given cells from the layer-1 boxes."""
        ia, n = self.ia, self.n
        st = self.statuses(cells)  # [C, n]
        last = st[:, n - 1]
        xq = X1[n - 1]  # [3, D]
        W = self.W2
        zs = []
        for g in range(W["wq"].shape[0]):
            K = ia.matmul(X1, W["wk"][g].T)  # [n, 3, w]
            V = ia.matmul(X1, W["wv"][g].T)  # [n, 3, wv]
            q = ia.matmul(xq, W["wq"][g].T)  # [3, w]
            sc = [  # sc[a][b]: [n]
                [
                    _dot_points(
                        ia,
                        Box(np.broadcast_to(q.lo[a], K.lo[:, b].shape), np.broadcast_to(q.hi[a], K.hi[:, b].shape)),
                        K[:, b],
                    )
                    for b in range(3)
                ]
                for a in range(3)
            ]
            slo = np.stack([np.stack([sc[a][b].lo for b in range(3)], 1) for a in range(3)])  # [3, n, 3]
            shi = np.stack([np.stack([sc[a][b].hi for b in range(3)], 1) for a in range(3)])
            j = np.arange(n)[None, :]
            sl, sh = slo[last[:, None], j, st], shi[last[:, None], j, st]  # [C, n]
            vl, vh = V.lo[j, st], V.hi[j, st]  # [C, n, wv]
            zs.append(_uniformish(ia, sl, sh, Box(vl, vh)))
        z = Box(np.concatenate([x.lo for x in zs], -1) / ia.scale, np.concatenate([x.hi for x in zs], -1) / ia.scale)
        xb = X1[n - 1][last]
        return self.tail2.logits(Box(z.lo[:, None], z.hi[:, None]), Box(xb.lo / ia.scale, xb.hi / ia.scale), keep_eps)


for _task in PAIR_TASKS:  # equality, disjointness, split_equality
    register_certifier(task=_task, family="transformer", layers=2)(_PairPlan)


def pair_boxes(model: Model, precision: str = "float64") -> tuple[list, Box]:
    """Cells (−1, 0, …, n/2 − 1) and their logit boxes ``[n/2 + 1, C]`` (for tests)."""
    ia = _arith(precision)
    check_family(model, certifier_of(_PairPlan, model.task))
    plan = _PairPlan(model, ia, task_of(model))
    cells = list(range(-1, plan.h))
    return cells, plan.tail2.range(plan.logits(plan.layer1(), np.array(cells)))


def _pair_witnesses(plan, cells, rng, budget: int = 4096):
    """Inputs of unproved cells: every pair on one background combo that misses, one pair varied
    (and the cell's first hit in place), plus random members of the cells."""
    h, out, first, second = plan.h, [], plan.first, plan.second
    neg, pos = plan.sets["neg"], plan.sets["pos"]
    for c in cells[:4]:
        for bg in neg:
            for alt in plan.sets["any"]:
                if alt == bg:
                    continue
                pairs = np.arange(h) if h <= 1024 else np.sort(rng.choice(h, 1024, replace=False))
                for i in pairs:
                    if i == c or (i < c and alt in pos) or (c < 0 and alt in pos):
                        continue
                    x = np.empty(plan.n, dtype=np.int64)
                    x[first], x[second] = bg
                    if c >= 0:
                        x[first[c]], x[second[c]] = pos[0]
                    x[first[i]], x[second[i]] = alt
                    out.append(x)
        for _ in range(8):
            x = rng.integers(0, 2, plan.n)
            for i in range(h):
                if c < 0 or i < c:
                    x[first[i]], x[second[i]] = neg[rng.integers(len(neg))]
                elif i == c:
                    x[first[i]], x[second[i]] = pos[rng.integers(len(pos))]
            out.append(x)
    return np.stack(out[:budget])  # the first unproved cells first
