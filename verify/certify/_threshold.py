"""The certification plan for THRES (two layers): ``1[Σ_j g_j(x) > c]`` for k-sparse ``g_j``.

Cells: the value ``G = Σ_j g_j(x)`` of the count, one cell per integer G between the least and the
largest value the tables allow (``Σ_j min T_j … Σ_j max T_j``). Every input lies in exactly one
cell, and the task's answer on a cell is ``1[G > c]`` (its definition). A cell that no input reaches
is harmless: proving it proves nothing false, and the enclosure may even show it empty.

Layer 1 (verify/certify/_bit_cases.py): each head at each position has one target key read off the
arrays; the residual stream after layer 1 at position p is enclosed for every *case* (the bits at p
and its targets), all other bits free.

Layer 2 — hypothesis, checked on the arrays: every head's query map or key map is zero, so every
score at the last position is exactly 0 and the head averages its values ``v_p`` (the layer-2
value map of the stream at p) with weights that do not depend on the input (within the softmax's
rounding). What is needed is then the range of ``Σ_p v_p(x)`` over the inputs of a cell. For a real
λ and an assignment of some functions j to positions p whose case determines them
(``I_j ⊆ where[p]``), write

    ``Σ_p v_p(x) = λ·G(x) + Σ_p [v_p(x) − λ·Σ_{j→p} g_j(x)] − λ·Σ_{j unassigned} g_j(x)``.

Each bracket depends only on the case of p, so its range is the min/max over the case boxes; on a
cell ``G(x) = G``, so ``Σ_p v_p ∈ λ·G + Σ_p [bracket range] + λ·[unassigned range]``. This holds for
*every* λ and assignment; the plan tries λ = 0 (plain intervals) and a λ fitted to the boxes (the
slope of v_p between the cases with ``g_j = 1`` and ``g_j = 0`` at the position that depends on g_j
most), with a greedy assignment, and keeps the intersection of the enclosures. The head's output
``Σ_p α_p v_p`` follows (``α_p`` within the softmax's rounding of 1/n: float64 by
:func:`_softmax_delta`, fixed:I.F exactly ``floor(2^F·2^F / clip(n·2^F))``), then ``Wo``, the
residual at the last position (the hull of its cases), the MLP and the readout as affine forms
(verify/certify/_affine.py); a positive margin proves every input of the cell.

Counting: the cells partition the inputs; when all are proved the certificate covers all 2^n. When
some are not, the inputs of the proved cells are counted exactly where the index sets are disjoint
(a product of the tables' counts) and reported as 0 otherwise (an under-count, never an over-count).
"""

from __future__ import annotations

import numpy as np

from constructions import Model

from .._engine import VerifyError
from ._affine import _margins, _proved, _tail
from ._arithmetic import PAD, TINY, Box, _arith_details, _dn, _Fixed, _gamma, _step, _up
from ._attention import _softmax_delta
from ._bit_cases import _BitLayer1
from ._registry import exact_count, register_certifier


def _sum_dn(t):
    """A float <= the exact sum of the floats ``t`` (last axis)."""
    g = _gamma(t.shape[-1] + 4)
    return _dn(t.sum(-1) - g * np.abs(t).sum(-1) * PAD - TINY)


def _sum_up(t):
    g = _gamma(t.shape[-1] + 4)
    return _up(t.sum(-1) + g * np.abs(t).sum(-1) * PAD + TINY)


@register_certifier(task="threshold", family="transformer", layers=2)
class _ThresholdPlan:
    """THRES with two layers: cells by the count G, layer 1 per case, layer 2 a uniform average
    whose sum over positions is bounded by the decomposition of the module docstring."""

    def __init__(self, model: Model, ia, task):
        self.n = n = int(task.n)
        self.l1 = _BitLayer1(model, ia, n)
        self.ia, self.task, self.step = ia, task, _step(ia)
        w = model.weights
        a2 = w.layers[1].attn
        wq, wk = ia.encode(a2.wq), ia.encode(a2.wk)
        if not all(np.all(wq[h] == 0) or np.all(wk[h] == 0) for h in range(wq.shape[0])):
            raise VerifyError(
                "certified threshold needs layer 2 to average uniformly at the last position "
                "(each head's query or key map zero); use --samples or --exhaustive"
            )
        if w.readout_b.shape[0] < 2:
            raise VerifyError(f"readout has {w.readout_b.shape[0]} classes, the task 2")
        self.Wv2 = ia.encode(a2.wv)  # [H2, wv, D]
        self.tail2 = _tail(ia, a2, w.layers[1].mlp, (w.readout_w, w.readout_b))
        self.funcs = [(list(I), np.asarray(T, dtype=np.int64)) for I, T in zip(task.index_sets, task.truth_tables) if I]
        self.gmin = sum(int(T.min()) for _, T in self.funcs)
        self.gmax = sum(int(T.max()) for _, T in self.funcs)
        self.cells = np.arange(self.gmin, self.gmax + 1)
        self.num_inputs_log2 = float(n)
        self._sums: dict[bool, tuple] = {}  # soft -> (Hlo, Hhi per cell and value column, Vabs, xlast)
        self.empty = 0

    # -- the plan protocol (verify/certify/_registry.py) ----------------------------------------
    def chunks(self, chunk_cells: int):
        """One chunk: the counts ``G = gmin … gmax`` (at most m + 1 cells)."""
        return iter([self.cells.tolist()])

    def prove(self, chunk: list):
        G = np.asarray(chunk, dtype=np.int64)
        expected = (G > self.task.c).astype(np.int64)
        gap = _proved(lambda keep, soft: self.logits(G, keep, False), expected, self.step, False)
        if not (gap > 0).all():  # retry with soft counts in layer 1
            gap = np.maximum(gap, _margins(self.logits(G, True, True), expected, self.step))
        empty = self._empty(G)
        self.empty = int(empty.sum())
        return np.where(empty, np.inf, gap)

    def covered(self, chunk: list, ok) -> int:
        if ok.all():
            return 2**self.n  # every input has a count between gmin and gmax
        return self._count([g for g, k in zip(chunk, ok) if k])

    def inputs_covered(self, proved: int, covered: int):
        return exact_count(covered)

    def witnesses(self, cells, rng):
        """Inputs of the first unproved counts: random strings of random densities walked bit by
        bit towards each count (a flip is kept when it does not move the count away)."""
        n, out = self.n, []
        for g in cells[:4]:
            x = (rng.random((1024, n)) < rng.random((1024, 1))).astype(np.int64)
            dist = np.abs(self.count(x) - g)
            for _ in range(4 * n):
                y = x.copy()
                y[np.arange(len(y)), rng.integers(0, n, len(y))] ^= 1
                dy = np.abs(self.count(y) - g)
                keep = dy <= dist
                x[keep], dist[keep] = y[keep], dy[keep]
            out.append(x[dist == 0])
        return np.concatenate(out + [x[:1]])[:4096]

    def details(self) -> dict:
        return {
            "cell": "the count G = sum_j g_j(x), one cell per G from sum_j min T_j to sum_j max T_j (answer 1[G > c])",
            "attention": "layer 1: one target key per head and position, derived from the arrays, each "
            "position enclosed per case of the bits it reads; layer 2: uniform average (query or key map "
            "zero, checked), sum over positions bounded by lambda*G + per-position brackets",
            "hypotheses": ["layer 2: every head's query or key map is zero (checked on the arrays)"],
            "cells_shown_empty": self.empty,
            **_arith_details(self.ia),
        }

    # -- the reference count ---------------------------------------------------------------------
    def count(self, x):
        """``G(x) = Σ_j g_j(x)`` ``[B]`` from the task's index sets and tables."""
        G = np.zeros(len(x), dtype=np.int64)
        for I, T in self.funcs:
            G += T[sum(x[:, p] << m for m, p in enumerate(I))]
        return G

    def _count(self, counts) -> int:
        """Inputs with ``G ∈ counts``: exact for disjoint index sets, else 0 (an under-count)."""
        used = [p for I, _ in self.funcs for p in I]
        if len(used) != len(set(used)):
            return 0
        poly = [1]  # poly[g]: assignments of the used bits with count g
        for _, T in self.funcs:
            ones = int(T.sum())
            zero = len(T) - ones
            new = [0] * (len(poly) + 1)
            for g, c in enumerate(poly):
                new[g] += c * zero
                new[g + 1] += c * ones
            poly = new
        free = 2 ** (self.n - len(used))
        return sum(poly[g] * free for g in counts if 0 <= g < len(poly))

    # -- layer 2 ---------------------------------------------------------------------------------
    def _empty(self, G):
        """Cells the enclosure shows empty (no input has that count)."""
        Hlo, Hhi, _, _ = self.head_sums(False)
        idx = np.asarray(G) - self.gmin
        return np.any(Hlo[idx] > Hhi[idx], axis=1)

    def sums(self, soft: bool):
        """Per value column: ``(λ [M], Blo [M], Bhi [M], Tlo, Thi, Vabs [M])`` — the enclosures
        ``λ·G + [Blo, Bhi]`` and ``[Tlo, Thi]`` (plain intervals) of ``Σ_p v_p`` — and the hull of
        the last position's stream ``[D]`` (format units)."""
        pr, where, cb, X = self.l1.cases(soft)
        n = self.n
        start = np.searchsorted(pr, np.arange(n + 1))  # rows of position p: start[p]:start[p+1]
        V = [self.ia.matmul(X, self.Wv2[h].T) for h in range(self.Wv2.shape[0])]
        lo = np.concatenate([v.lo for v in V], -1).astype(np.float64)  # [R, M] format units
        hi = np.concatenate([v.hi for v in V], -1).astype(np.float64)
        gj = self._function_rows(pr, where, cb, start)  # j -> [(p, rows, values)]
        M = lo.shape[1]
        plo, phi = np.minimum.reduceat(lo, start[:-1]), np.maximum.reduceat(hi, start[:-1])  # [n, M]
        Tlo, Thi = _sum_dn(plo.T), _sum_up(phi.T)
        Vabs = _sum_up(np.maximum(np.abs(plo), np.abs(phi)).T)
        lam, Blo, Bhi = np.zeros(M), Tlo.copy(), Thi.copy()
        for d in range(M):
            best, lam[d] = self._slopes(lo[:, d], hi[:, d], gj)
            Blo[d], Bhi[d] = self._decompose(lo[:, d], hi[:, d], plo[:, d], phi[:, d], best, lam[d], gj)
        last = slice(start[n - 1], start[n])
        xlast = Box(X.lo[last].min(0), X.hi[last].max(0))
        return lam, Blo, Bhi, Tlo, Thi, Vabs, xlast

    def _function_rows(self, pr, where, cb, start):
        """For each function j, the positions p whose case determines it and its value per row."""
        inv: dict[int, set] = {}
        for p in range(self.n):
            for q in where[p]:
                inv.setdefault(int(q), set()).add(p)
        out = []
        for I, T in self.funcs:
            cands = sorted(set.intersection(*(inv.get(q, set()) for q in I)))
            entries = []
            for p in cands:
                rows = np.arange(start[p], start[p + 1])
                u = [int(np.flatnonzero(where[p] == q)[0]) for q in I]
                code = sum(cb[rows, ui] << m for m, ui in enumerate(u))
                entries.append((p, rows, T[code]))
            out.append((entries, int(T.min()), int(T.max())))
        return out

    def _slopes(self, lo, hi, gj):
        """Candidate λ: per function its candidate positions by how much v_p moves with g_j, and the
        median of the coefficients of a least-squares fit of v_p on the g_j of the functions whose
        best candidate is p (with an intercept)."""
        mid = 0.5 * lo + 0.5 * hi
        best, groups = [], {}
        for entries, gmin, gmax in gj:
            cand = []
            for p, rows, g in entries:
                if gmin != gmax and g.min() != g.max():
                    cand.append((abs(mid[rows][g == 1].mean() - mid[rows][g == 0].mean()), p, rows, g))
            cand.sort(key=lambda e: -e[0])
            best.append(cand)
            if cand:
                groups.setdefault(cand[0][1], []).append((cand[0][2], cand[0][3]))
        coef = []
        for fs in groups.values():
            rows = fs[0][0]
            A = np.stack([g for _, g in fs] + [np.ones(len(rows))], 1).astype(np.float64)
            coef += list(np.linalg.lstsq(A, mid[rows], rcond=None)[0][:-1])
        return best, (float(np.median(coef)) if coef else 0.0)

    def _decompose(self, lo, hi, plo, phi, best, lam, gj):
        """``(Blo, Bhi)`` with ``Σ_p v_p ∈ λ·G + [Blo, Bhi]`` for every input of count G, by a
        greedy assignment of functions to positions (each assignment is sound; this one keeps the
        brackets narrow)."""
        cnt = np.zeros(len(lo), dtype=np.int64)  # Σ_{j→p} g_j per row (exact); λ·cnt rounds once
        blo, bhi = plo.copy(), phi.copy()  # current bracket range per position
        umin = umax = 0  # Σ min g_j, Σ max g_j over the unassigned functions (exact integers)
        for (_, gmin, gmax), cand in zip(gj, best):
            cost = abs(lam) * (gmax - gmin)
            choice = None
            for _, p, rows, g in cand if gmin != gmax else ():
                a = lam * (cnt[rows] + g)
                nlo = _dn(lo[rows] - _up(a)).min()
                nhi = _up(hi[rows] - _dn(a)).max()
                grow = (nhi - nlo) - (bhi[p] - blo[p])
                if grow < cost and (choice is None or grow < choice[0]):
                    choice = (grow, p, rows, g, nlo, nhi)
            if choice is None:  # a constant function, or no position that narrows with it
                umin, umax = umin + gmin, umax + gmax
                continue
            _, p, rows, g, blo[p], bhi[p] = choice
            cnt[rows] += g
        # −λ·Σ_{unassigned} g_j with the sum in [umin, umax]
        ulo, uhi = min(-lam * umin, -lam * umax), max(-lam * umin, -lam * umax)
        Blo = _dn(_sum_dn(blo) + _dn(ulo))
        Bhi = _up(_sum_up(bhi) + _up(uhi))
        return Blo, Bhi

    def head_sums(self, soft: bool):
        """``(Hlo, Hhi, Vabs, xlast)``: bounds ``[C, M]`` (format units) of ``Σ_p v_p`` over the
        inputs of each cell (Hlo > Hhi somewhere: the cell is empty), ``Σ_p max|v_p|`` ``[M]`` and
        the last position's stream hull. Computed once per ``soft``."""
        if soft not in self._sums:
            lam, Blo, Bhi, Tlo, Thi, Vabs, xlast = self.sums(soft)
            Gf = self.cells.astype(np.float64)[:, None]
            lg = lam[None] * Gf
            Hlo = np.maximum(_dn(_dn(lg) + Blo[None]), Tlo[None])
            Hhi = np.minimum(_up(_up(lg) + Bhi[None]), Thi[None])
            if isinstance(self.ia, _Fixed):  # Σ_p v_p is an integer
                Hlo, Hhi = np.ceil(Hlo), np.floor(Hhi)
            self._sums[soft] = (Hlo, Hhi, Vabs, xlast)
        return self._sums[soft]

    def logits(self, G, keep_eps: bool, soft: bool):
        """Logit forms ``[C, 2]`` of the cells G."""
        ia, n = self.ia, self.n
        Hlo, Hhi, Vabs, xlast = self.head_sums(soft)
        idx = np.asarray(G) - self.gmin
        Hlo, Hhi = Hlo[idx], Hhi[idx]
        ok = Hlo <= Hhi
        Hlo, Hhi = np.where(ok, Hlo, 0.0), np.where(ok, Hhi, 0.0)  # an empty cell: any box
        if isinstance(ia, _Fixed):
            S, top = ia.S, ia.hi
            a = (S * S) // max(min(n * S, top), 1)  # every weight: floor(e·2^F / clip(Σe)), e = 2^F
            zlo = np.array([[(a * int(h)) // S for h in row] for row in Hlo], dtype=np.float64)
            zhi = np.array([[(a * int(h)) // S for h in row] for row in Hhi], dtype=np.float64)
            z = Box(np.clip(zlo, -top, top) / S, np.clip(zhi, -top, top) / S)
        else:
            delta = float(_softmax_delta(np.zeros(1), n)[0])
            alo, ahi = (1.0 / n) * (1 - delta) * (1 - 2.0**-50), (1.0 / n) * (1 + delta) * (1 + 2.0**-50)
            # Σ_p α_p v_p = αlo·Σ_p v_p + Σ_p (α_p − αlo)·v_p, the model's sum within γ_n
            spread = ((ahi - alo) + _gamma(n + 4) * ahi) * Vabs[None] * PAD + TINY
            z = Box(_dn(np.minimum(alo * Hlo, alo * Hhi) - spread), _up(np.maximum(alo * Hlo, alo * Hhi) + spread))
        C = len(idx)
        xb = Box(np.repeat(xlast.lo[None], C, 0) / ia.scale, np.repeat(xlast.hi[None], C, 0) / ia.scale)
        return self.tail2.logits(Box(z.lo[:, None], z.hi[:, None]), xb, keep_eps)


def threshold_boxes(model: Model, precision: str = "float64") -> tuple[np.ndarray, Box]:
    """The cells (counts G) and their logit boxes ``[C, 2]`` in real units (for tests)."""
    from .._engine import task_of
    from ._arithmetic import _arith
    from ._registry import certifier_of, check_family

    check_family(model, certifier_of(_ThresholdPlan))
    plan = _ThresholdPlan(model, _arith(precision), task_of(model))
    return plan.cells, plan.tail2.range(plan.logits(plan.cells, True, False))
