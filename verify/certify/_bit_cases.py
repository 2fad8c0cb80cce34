"""Layer 1 of a two-layer Transformer on bit strings, enclosed per *case* (shared by the pair and
THRES plans).

The first layer's attention pattern is taken not to depend on the bits: every head at position p
has one *target* key, derived from the arrays (the visible position of largest score with the
query of bit 0; every other key is bounded with any bit, verify/certify/_attention.py). The
residual stream after layer 1 at p then depends, up to what the bounds absorb, only on the bits at
``where[p] = (p, target of head 0, …, target of head H−1)``. A *case* is one assignment of those
bits (consistent where two entries name the same position); :meth:`_BitLayer1.cases` encloses the
stream at p for every case, all other bits free. The plans combine these boxes per cell.
"""

from __future__ import annotations

import itertools

import numpy as np

from constructions import Model

from .._engine import VerifyError
from ._affine import _tail
from ._arithmetic import Box, _Fixed, _midrad
from ._attention import _Keys, _mix_fixed, _mix_float, _tables


class _BitLayer1:
    """Layer 1 of a model on bits ``x_0 … x_{n−1}`` (token ids 0 and 1, length n): its tables,
    key bounds and tail, read from the arrays in the arithmetic ``ia``."""

    def __init__(self, model: Model, ia, n: int):
        w = model.weights
        if w.position.shape[0] < n or w.embed.shape[0] < 2:
            raise VerifyError("model's embedding tables are too short for its task")
        self.ia, self.n = ia, n
        self.causal = model.metadata.causal
        a1 = w.layers[0].attn
        self.H = a1.wq.shape[0]
        self.E, self.P = ia.encode(w.embed[:2]), ia.encode(w.position[:n])
        self.EQ, self.PQ = _tables(ia, self.E, self.P, ia.encode(a1.wq), self.H)
        self.EK, self.PK = _tables(ia, self.E, self.P, ia.encode(a1.wk), self.H)
        self.EV, self.PV = _tables(ia, self.E, self.P, ia.encode(a1.wv), self.H)
        self.keys = [_Keys(ia, self.EK[h], self.PK[h], np.arange(2), n) for h in range(self.H)]
        self.tail1 = _tail(ia, a1, w.layers[0].mlp)

    def targets(self):
        """Per head, each position's target key: the visible position with the largest score."""
        n, out = self.n, []
        limit = np.arange(1, n + 1) if self.causal else np.full(n, n)
        for h in range(self.H):
            q, _ = _midrad(self.ia.add(self.EQ[h][0][None], self.PQ[h]))
            k, _ = _midrad(self.PK[h])
            t = np.empty(n, dtype=np.int64)
            for r0 in range(0, n, 1024):
                g = q[r0 : r0 + 1024] @ k.T
                g[np.arange(n)[None, :] >= limit[r0 : r0 + 1024, None]] = -np.inf
                t[r0 : r0 + 1024] = g.argmax(1)
            out.append(t)
        return np.stack(out, 1), limit  # [n, H], [n]

    def cases(self, soft: bool = False):
        """``(pr, where, cb, X)``: the rows ``r`` of every (position, case), ``pr [R]`` the position,
        ``where [n, H+1]`` the positions a case assigns (the position itself, then each head's target),
        ``cb [R, H+1]`` the case's bits, and ``X [R, D]`` the box (format units) of the residual stream
        after layer 1 at ``pr`` for every input that agrees with the case."""
        ia, n, H = self.ia, self.n, self.H
        tgt, limit = self.targets()
        where = np.concatenate([np.arange(n)[:, None], tgt], 1)  # [n, H+1] positions of a case
        bits = np.array(list(itertools.product((0, 1), repeat=H + 1)))  # [K, H+1]
        valid = np.ones((n, len(bits)), dtype=bool)
        for u in range(H + 1):
            for v in range(u + 1, H + 1):
                same = where[:, u : u + 1] == where[:, v : v + 1]
                valid &= ~same | (bits[None, :, u] == bits[None, :, v])
        pr, kr = np.nonzero(valid)
        cb = bits[kr]  # [R, H+1]
        a = cb[:, 0]
        R = len(pr)
        zs = []
        for hd in range(H):
            keys = self.keys[hd]
            t = tgt[pr, hd]
            b = cb[:, hd + 1]
            q = ia.add(self.EQ[hd][a], self.PQ[hd][pr])
            st, others = keys.scores(q, t, limit[pr], soft)
            ev, pv = self.EV[hd], self.PV[hd]
            vt = ia.add(ev[b][:, None], Box(pv.lo[t][:, None], pv.hi[t][:, None]))  # [R, 1, wv]
            vall = ia.add(Box(ev.lo.min(0)[None], ev.hi.max(0)[None]), pv)  # [n, wv], any token
            if self.causal:
                hl, hh = np.minimum.accumulate(vall.lo, 0), np.maximum.accumulate(vall.hi, 0)
                ho = Box(hl[limit[pr] - 1], hh[limit[pr] - 1])
            else:
                ho = Box(np.repeat(vall.lo.min(0)[None], R, 0), np.repeat(vall.hi.max(0)[None], R, 0))
            count = limit[pr] - 1
            rows = np.arange(R)
            grp: tuple
            if isinstance(ia, _Fixed):
                up, real, cnt = others
                grp = (up, count, None if cnt is None else (real, cnt))
                zs.append(_mix_fixed(ia, st[rows, b][:, None], [grp], vt, ho))
            else:
                up, cnt = others
                grp = (up, count if cnt is None else np.minimum(count, cnt))
                zs.append(_mix_float(st.lo[rows, b][:, None], [grp], vt, ho, keys.smax(q), limit[pr]))
        z = Box(np.concatenate([x.lo for x in zs], -1) / ia.scale, np.concatenate([x.hi for x in zs], -1) / ia.scale)
        x0 = ia.add(Box(self.E[a], self.E[a]), Box(self.P[pr], self.P[pr]))
        x2, base2 = self.tail1.mlp(z, Box(x0.lo / ia.scale, x0.hi / ia.scale))
        X = self.tail1.residual(x2, base2, 1)  # [R, D] real units
        if isinstance(ia, _Fixed):
            X = Box(np.round(X.lo * ia.S).astype(np.int64), np.round(X.hi * ia.S).astype(np.int64))
        return pr, where, cb, X
