"""The certification plan for associative recall with two layers (nearest neighbour over keys).

Inputs ``k_0 v_0 … k_{n−1} v_{n−1} q`` (keys distinct, the query one of them; tokens: keys
``[0, K)``, values ``K + v``). Cells ``(i, c, y)``: the queried pair i, its key ``c = k_i = q`` and
its value y fixed; the other keys any keys ≠ c (distinct: a relaxation keeps only ≠ c), the other
values free. The answer is y throughout, the cells partition the inputs, and each holds
``(K−1)!/(K−n)!·V^(n−1)`` of them.

Layer 1 at the last position (the query c at 2n): the target key is position 2i (it holds c);
every other key position holds a token ≠ c (key positions) or a value token, bounded by the
largest token term *excluding c* plus the row maximum of the Gram matrix of the query against the
position keys (verify/certify/_attention.py); the query's own key is enclosed directly. The
attention output, the MLP and the residual give the stream after layer 1 at the last position per
``(i, c)``.

Layer 1 elsewhere (once per model): at position p with token x_p, the attention output is a
sub-convex combination of the values the visible positions can hold (any tokens of their parity),
so it lies in the hull of those values and 0 (widened by the softmax's rounding); the MLP and the
residual then give a box per ``(p, x_p)``. Layer 2 at the last position: its query from the
per-cell box; each key position's score and value from the hull over its tokens, except the
target 2i + 1 (the value token K + y) and the last position (per cell); per-key weight bounds
(:func:`_uniformish`), then the MLP and the readout as affine forms (verify/certify/_affine.py).
The target of layer 2 is the task's: position 2i + 1 holds the answer; the certificate does not
assume which position the model reads, it only fails to prove cells where the bounds are loose.
"""

from __future__ import annotations

import math

import numpy as np

from constructions import Model

from .._engine import VerifyError
from ._affine import _proved, _tail
from ._arithmetic import Box, _arith_details, _Fixed, _step
from ._attention import _dot_points, _Keys, _mix_fixed, _mix_float, _softmax_delta, _tables, _uniformish
from ._registry import exact_count, register_certifier


def _mid(b: Box):
    return 0.5 * np.asarray(b.lo, dtype=np.float64) + 0.5 * np.asarray(b.hi, dtype=np.float64)


def _hull(b: Box, axis: int) -> Box:
    return Box(b.lo.min(axis), b.hi.max(axis))


@register_certifier(task="associative_recall", family="transformer", layers=2)
class _RecallPlan:
    """Associative recall, two layers: per-model boxes of layer 1 at every position, then logit
    forms per chunk of pairs i (all keys c and values y)."""

    def __init__(self, model: Model, ia, task):
        self.n, self.K, self.V = n, K, V = int(task.n), int(task.num_keys), int(task.num_values)
        self.L = L = 2 * n + 1
        w = model.weights
        if w.position.shape[0] < L or w.embed.shape[0] < K + V:
            raise VerifyError("model's embedding tables are too short for its task")
        if w.readout_b.shape[0] < V:
            raise VerifyError(f"readout has {w.readout_b.shape[0]} classes, the task {V}")
        self.ia, self.task, self.step = ia, task, _step(ia)
        self.causal = model.metadata.causal
        a1, a2 = w.layers[0].attn, w.layers[1].attn
        self.H = a1.wq.shape[0]
        self.E, self.P = ia.encode(w.embed[: K + V]), ia.encode(w.position[:L])
        self.EQ, self.PQ = _tables(ia, self.E, self.P, ia.encode(a1.wq), self.H)
        self.EK, self.PK = _tables(ia, self.E, self.P, ia.encode(a1.wk), self.H)
        self.EV, self.PV = _tables(ia, self.E, self.P, ia.encode(a1.wv), self.H)
        self.keys = [_Keys(ia, self.EK[h], self.PK[h], np.arange(K + V), 2 * n) for h in range(self.H)]
        self.tail1 = _tail(ia, a1, w.layers[0].mlp)
        self.W2 = {k: ia.encode(getattr(a2, k)) for k in ("wq", "wk", "wv")}
        self.tail2 = _tail(ia, a2, w.layers[1].mlp, (w.readout_w, w.readout_b))
        self.per_cell = math.perm(K - 1, n - 1) * V ** (n - 1)
        self.num_inputs_log2 = math.log2(task.num_inputs)
        self._crude: tuple | None = None

    # -- the plan protocol (verify/certify/_registry.py) ----------------------------------------
    def chunks(self, chunk_cells: int):
        per = max(1, min(chunk_cells, (1 << 22) // (self.L * 8)) // (self.K * self.V))
        return (self._cells(i0, min(self.n, i0 + per)) for i0 in range(0, self.n, per))

    def _cells(self, i0, i1):
        return [(i, c, y) for i in range(i0, i1) for c in range(self.K) for y in range(self.V)]

    def prove(self, chunk: list):
        i0, i1 = chunk[0][0], chunk[-1][0] + 1
        expected = np.array([y for _, _, y in chunk])
        return _proved(lambda keep, soft: self.logits(i0, i1, keep, soft), expected, self.step)

    def covered(self, chunk: list, ok) -> int:
        return int(ok.sum()) * self.per_cell

    def inputs_covered(self, proved: int, covered: int):
        return exact_count(covered)

    def witnesses(self, cells, rng):
        """Inputs of the first unproved cells: the other keys the keys whose first-layer token
        term scores highest against the query (the strongest competitors, from the arrays) and
        random keys, the other values random."""
        n, K, V, out = self.n, self.K, self.V, []
        for i, c, y in cells[:16]:
            q = _mid(self.EQ[0][c])
            term = _mid(self.EK[0][np.arange(K)]) @ q
            term[c] = -np.inf
            close = np.argsort(-term)[: n - 1]
            for r in range(16):
                rest = np.setdiff1d(np.arange(K), [c])
                keys = rng.permutation(close) if r < 8 else rng.permutation(rest)[: n - 1]
                keys = np.insert(keys, i, c)
                vals = rng.integers(0, V, n)
                vals[i] = y
                x = np.empty(2 * n + 1, dtype=np.int64)
                x[0 : 2 * n : 2], x[1 : 2 * n : 2], x[2 * n] = keys, K + vals, c
                out.append(x)
        return np.stack(out)

    def details(self) -> dict:
        return {
            "cell": "queried pair i, its key c = query and its value y fixed; other keys any key != c, "
            "other values free ((K-1)!/(K-n)! * V^(n-1) inputs each)",
            "attention": "layer 1 at the last position: target key 2i, other keys bounded with tokens != c; "
            "layer 1 elsewhere: hull of the visible values and 0; layer 2: per-key weight bounds at the "
            "last position",
            "hypotheses": [
                "keys distinct and the query among them (the task's promise); the other keys are only taken != c"
            ],
            **_arith_details(self.ia),
        }

    # -- layer 1 ---------------------------------------------------------------------------------
    def _tokens(self, p):
        """The tokens position p can hold: keys at even positions and the query, values at odd."""
        return np.arange(self.K) if p % 2 == 0 else np.arange(self.K, self.K + self.V)

    def crude(self):
        """Boxes (format units) of the residual stream after layer 1 at every position p < 2n for
        every token it can hold: ``(rows [(p, token)], X [rows, D])``, computed once."""
        if self._crude is not None:
            return self._crude
        ia, n, L = self.ia, self.n, self.L
        vis = L if not self.causal else None
        zs = []
        P2 = 2 * n
        for h in range(self.H):
            ev, pv = self.EV[h], self.PV[h]
            vk = [ia.add(_hull(ev[self._tokens(k)], 0), pv[k]) for k in range(L)]  # any token at k
            lo = np.stack([b.lo for b in vk])
            hi = np.stack([b.hi for b in vk])
            if self.causal:
                lo, hi = np.minimum.accumulate(lo, 0)[:P2], np.maximum.accumulate(hi, 0)[:P2]
            else:
                lo, hi = np.repeat(lo.min(0)[None], P2, 0), np.repeat(hi.max(0)[None], P2, 0)
            lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)  # Σ α_k v_k, α >= 0, Σ α <= 1
            if not isinstance(ia, _Fixed):
                ek = np.maximum(np.abs(self.EK[h].lo), np.abs(self.EK[h].hi)).max(0)
                pk = np.maximum(np.abs(self.PK[h].lo), np.abs(self.PK[h].hi)).max(0)
                qb = [ia.add(_hull(self.EQ[h][self._tokens(p)], 0), self.PQ[h][p]) for p in range(P2)]
                qa = np.stack([np.maximum(np.abs(b.lo), np.abs(b.hi)) for b in qb])
                smax = qa @ (ek + pk) * (1 + 2.0**-40) * 2
                delta = _softmax_delta(smax, L if vis else np.arange(1, P2 + 1))
                vmax = np.maximum(np.abs(lo), np.abs(hi)).max(1)
                g = (L + 4) * 2.0**-53 / (1 - (L + 4) * 2.0**-53)
                widen = ((delta + g * (1 + delta)) * vmax * (1 + 2.0**-40) + vmax * 2.0**-48 + 2.0**-1000)[:, None]
                lo, hi = lo - widen, hi + widen
            zs.append(Box(lo, hi))
        z = Box(np.concatenate([b.lo for b in zs], -1) / ia.scale, np.concatenate([b.hi for b in zs], -1) / ia.scale)
        rows = [(p, t) for p in range(P2) for t in self._tokens(p)]
        pr = np.array([p for p, _ in rows])
        tk = np.array([t for _, t in rows])
        x0 = ia.add(Box(self.E[tk], self.E[tk]), Box(self.P[pr], self.P[pr]))
        x2, base2 = self.tail1.mlp(Box(z.lo[pr][:, None], z.hi[pr][:, None]), Box(x0.lo / ia.scale, x0.hi / ia.scale))
        X = self.tail1.residual(x2, base2, 1)
        if isinstance(ia, _Fixed):
            X = Box(np.round(X.lo * ia.S).astype(np.int64), np.round(X.hi * ia.S).astype(np.int64))
        index = {r: j for j, r in enumerate(rows)}
        self._crude = (index, pr, X)
        return self._crude

    def last(self, i0, i1, soft):
        """Boxes (format units) of the stream after layer 1 at the last position ``[T·K, D]``
        for the cells ``(i, c)``, ``i0 <= i < i1``, c fastest."""
        ia, n, K = self.ia, self.n, self.K
        ii = np.repeat(np.arange(i0, i1), K)
        cc = np.tile(np.arange(K), i1 - i0)
        R, zs = len(ii), []
        for h in range(self.H):
            keys = self.keys[h]
            q = ia.add(self.EQ[h][cc], self.PQ[h][2 * n][None])
            kn = ia.add(self.EK[h][cc], self.PK[h][2 * n][None])  # the query's own key
            vn = ia.add(self.EV[h][cc], self.PV[h][2 * n][None])
            st, others = keys.scores(q, 2 * ii, np.full(R, 2 * n), soft, exclude=cc)
            ev, pv = self.EV[h], self.PV[h]
            rows = np.arange(R)
            vt = ia.add(ev[cc][:, None], Box(pv.lo[2 * ii][:, None], pv.hi[2 * ii][:, None]))  # [R, 1, wv]
            allv = ia.add(_hull(ev, 0), _hull(pv[: 2 * n], 0))
            ho = Box(np.minimum(allv.lo[None], vn.lo), np.maximum(allv.hi[None], vn.hi))
            if isinstance(ia, _Fixed):
                up, real, cnt = others
                sn = ia.clip(np.floor_divide((q.lo * kn.lo).sum(1), ia.S))
                grp = (up, 2 * n - 1, None if cnt is None else (real, cnt))
                zs.append(_mix_fixed(ia, st[rows, cc][:, None], [grp], vt, ho, known=sn))
            else:
                up, cnt = others
                own = ia.dot(q, kn)
                smax = keys.smax(q, np.maximum(np.abs(kn.lo), np.abs(kn.hi)).max(1))
                count = 2 * n - 1 if cnt is None else np.minimum(2 * n - 1, cnt)
                zs.append(_mix_float(st.lo[rows, cc][:, None], [(up, count), (own.hi, 1)], vt, ho, smax, self.L))
        z = Box(np.concatenate([b.lo for b in zs], -1) / ia.scale, np.concatenate([b.hi for b in zs], -1) / ia.scale)
        x0 = ia.add(Box(self.E[cc], self.E[cc]), Box(self.P[2 * n][None], self.P[2 * n][None]))
        x2, base2 = self.tail1.mlp(z, Box(x0.lo / ia.scale, x0.hi / ia.scale))
        X = self.tail1.residual(x2, base2, 1)
        if isinstance(ia, _Fixed):
            X = Box(np.round(X.lo * ia.S).astype(np.int64), np.round(X.hi * ia.S).astype(np.int64))
        return ii, cc, X

    # -- layer 2 ---------------------------------------------------------------------------------
    def logits(self, i0, i1, keep_eps=True, soft=False):
        """Logit forms ``[T·K·V, C]`` of the cells ``(i, c, y)``, ``i0 <= i < i1`` (y fastest)."""
        ia, n, K, V = self.ia, self.n, self.K, self.V
        index, pr, X1 = self.crude()
        ii, cc, XL = self.last(i0, i1, soft)
        R = len(ii)
        C = R * V
        yy = np.tile(np.arange(V), R)
        ri = np.repeat(np.arange(R), V)
        tgt = np.array([index[(2 * i + 1, K + y)] for i, y in zip(ii[ri], yy)])  # row of (2i+1, K+y)
        zs = []
        for g in range(self.W2["wq"].shape[0]):
            Kp = ia.matmul(X1, self.W2["wk"][g].T)  # [rows, w]
            Vp = ia.matmul(X1, self.W2["wv"][g].T)
            Kh = Box(np.full((2 * n, Kp.shape[1]), np.inf), np.full((2 * n, Kp.shape[1]), -np.inf))
            Vh = Box(np.full((2 * n, Vp.shape[1]), np.inf), np.full((2 * n, Vp.shape[1]), -np.inf))
            for b, h in ((Kp, Kh), (Vp, Vh)):
                np.minimum.at(h.lo, pr, b.lo)
                np.maximum.at(h.hi, pr, b.hi)
            q = ia.matmul(XL, self.W2["wq"][g].T)  # [R, w]
            kl = ia.matmul(XL, self.W2["wk"][g].T)
            vl = ia.matmul(XL, self.W2["wv"][g].T)
            pair = lambda a, b: _dot_points(ia, Box(a.lo[:, None], a.hi[:, None]), Box(b.lo[None], b.hi[None]))
            s_all = pair(q, Kh)  # [R, 2n]
            s_own = _dot_points(ia, q, kl)  # [R]
            s_t = _dot_points(ia, q[ri], Kp[tgt])  # [C]
            sl = np.concatenate([s_all.lo[ri], s_own.lo[ri][:, None]], 1)
            sh = np.concatenate([s_all.hi[ri], s_own.hi[ri][:, None]], 1)
            t = 2 * ii[ri] + 1
            sl[np.arange(C), t], sh[np.arange(C), t] = s_t.lo, s_t.hi
            vlo = np.concatenate([np.broadcast_to(Vh.lo[None], (C,) + Vh.lo.shape), vl.lo[ri][:, None]], 1)
            vhi = np.concatenate([np.broadcast_to(Vh.hi[None], (C,) + Vh.hi.shape), vl.hi[ri][:, None]], 1)
            vlo[np.arange(C), t], vhi[np.arange(C), t] = Vp.lo[tgt], Vp.hi[tgt]
            zs.append(_uniformish(ia, sl, sh, Box(vlo, vhi)))
        z = Box(np.concatenate([b.lo for b in zs], -1) / ia.scale, np.concatenate([b.hi for b in zs], -1) / ia.scale)
        xb = XL[ri]
        return self.tail2.logits(Box(z.lo[:, None], z.hi[:, None]), Box(xb.lo / ia.scale, xb.hi / ia.scale), keep_eps)


def recall_boxes(model: Model, precision: str = "float64") -> Box:
    """Logit boxes ``[n, K, V, C]`` of the cells ``(i, c, y)`` in real units (for tests)."""
    from .._engine import task_of
    from ._arithmetic import _arith
    from ._registry import certifier_of, check_family

    check_family(model, certifier_of(_RecallPlan))
    plan = _RecallPlan(model, _arith(precision), task_of(model))
    return plan.tail2.range(plan.logits(0, plan.n)).reshape_to((plan.n, plan.K, plan.V, -1))
