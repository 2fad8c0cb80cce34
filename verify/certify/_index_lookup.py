"""The certification plan for index lookup: one layer, any number of heads, readout at the last position.

Cut the inputs into ``n·s`` *cells*: the index ``t`` and the symbol ``c = s_t`` are fixed, the
other ``n − 1`` symbols are free. Every input of a cell has the answer ``c`` (task definition),
the cells partition the input set, and each holds ``s^(n−1)`` inputs. For one cell we compute
an enclosure of every value the forward pass of docs/MODEL.md can take:

* the query at the last position depends only on ``t``: a point (fixed) or a tiny box (float);
* the score of data position ``k ≠ t`` is ``q·(E Wkᵀ)[x_k] + q·(P Wkᵀ)[k]``; its largest
  possible value over ``k ≠ t`` and all symbols is bounded by the largest token term plus the
  row maximum of the Gram matrix ``q_t·(P Wkᵀ)[k]``, computed for all ``n²`` pairs (float32
  BLAS, with a rigorous error bound); the score of ``t`` itself and of the last position are
  enclosed directly;
* from these: a lower bound on the weight ``α_t`` and an upper bound on the weight of everything
  else — the attention weights are computed once per query, from the arrays;
* the attention output is ``α_t·V[t, c] + (rest)``, the rest a sub-convex combination of the
  values every other position can hold; then ``Wo``, the residual, the MLP and the readout by
  interval arithmetic.

The cell is *proved* when the lower end of the logit of ``c`` exceeds the upper end of every
other logit; the worst such gap is the certified ``min_margin`` (a lower bound over all inputs).

Chunks are ranges of indices ``t0 <= t < t1`` (all symbols). A chunk is first tried at once: the
attention outputs and the last position's stream replaced by their hulls over ``t`` give one logit
enclosure per symbol ``c`` valid for every cell ``(t, c)`` of the chunk (the answer is ``c``
throughout), so a positive margin there proves all of them; otherwise each cell is proved on its own.
With a Reed–Solomon ⊗ Hadamard address code in float64 (checked from the arrays) the Gram row
maximum is replaced by the code's distance bound and no table of all positions is formed:
:class:`_CodePlan`, verify/certify/_index_code.py (O(r) per cell).
Soundness of the arithmetic: verify/certify/_arithmetic.py; of the attention bounds:
verify/certify/_attention.py; of the forms after attention: verify/certify/_affine.py.
"""

from __future__ import annotations

import math

import numpy as np

from constructions import Model

from .._engine import VerifyError, task_of
from ._affine import _Aff, _proved, _tail
from ._arithmetic import Box, _arith, _arith_details, _Fixed, _step
from ._attention import _Keys, _mix_fixed, _mix_float, _tables
from ._index_code import CodeStructure, _Proj, _rows, code_plan_error, structured_attention
from ._registry import certifier_of, check_family, register_certifier

METHODS = ("auto", "general", "code")


def _check_tables(model: Model) -> tuple[int, int]:
    """``(n, s)``; refuses tables too short for the task."""
    p = model.task_params
    n, s = int(p["n"]), int(p.get("alphabet_size", 4))
    w = model.weights
    if w.position.shape[0] < n + 1 or w.embed.shape[0] < s + n:
        raise VerifyError("model's embedding tables are too short for its task")
    if w.readout_b.shape[0] < s:
        raise VerifyError(f"readout has {w.readout_b.shape[0]} classes, the task {s}")
    return n, s


class _Cells:
    """The cells ``(t, c)`` of the indices ``t0 <= t < t1``, c fastest (a sequence)."""

    def __init__(self, t0: int, t1: int, s: int):
        self.t0, self.t1, self.s = t0, t1, s

    def __len__(self) -> int:
        return (self.t1 - self.t0) * self.s

    def __getitem__(self, i: int) -> tuple[int, int]:
        i = int(i)
        return (self.t0 + i // self.s, i % self.s)


@register_certifier(task="index_lookup", family="transformer", layers=1)
class _IndexPlan:
    """Index lookup, one layer: per-model tables, then logit forms per chunk of queries.

    ``method``: ``"general"`` (the Gram row maxima, any address code), ``"code"`` (the
    Reed–Solomon ⊗ Hadamard bound of verify/certify/_index_code.py, O(r) per cell; refused with
    the reason where its hypotheses fail) or ``"auto"`` (the default: ``"code"`` where its
    hypotheses hold, else ``"general"``). Constructing ``_IndexPlan`` returns a :class:`_CodePlan`
    when the code bound is chosen."""

    METHODS = METHODS
    PARALLEL = True  # prove() reads the tables built in __init__ and writes nothing shared; the
    # constructor takes ``workers`` (the code plan's pass over the positions runs in threads)

    def __new__(cls, model: Model, ia, task, method: str = "auto", workers: int = 1):
        if method not in METHODS:
            raise VerifyError(f"index-lookup certificate method must be one of {', '.join(METHODS)}, got {method!r}")
        if cls is not _IndexPlan or method == "general":
            return super().__new__(cls)
        _check_tables(model)
        why = code_plan_error(model, ia)
        if why is None:
            w, n = model.weights, int(model.task_params["n"])
            att = w.layers[0].attn
            try:
                code = CodeStructure(ia, w.position, n, att.wk[0], att.wv[0], quick=method == "auto", workers=workers)
            except VerifyError as e:
                why = str(e)
        if why is None:
            plan = super().__new__(_CodePlan)
            plan.code = code
            return plan
        if method == "code":
            raise VerifyError(why)
        return super().__new__(cls)

    def __init__(self, model: Model, ia, task, method: str = "auto", workers: int = 1):
        n, s = _check_tables(model)
        self.n, self.s = n, s
        L = n + 1
        w = model.weights
        self.ia = ia
        att, mlp = w.layers[0].attn, w.layers[0].mlp
        self.H = att.wq.shape[0]
        self.E, self.P = ia.encode(w.embed[: s + n]), ia.encode(w.position[:L])
        self.EQ, self.PQ = _tables(ia, self.E, self.P, ia.encode(att.wq), self.H)
        self.EK, self.PK = _tables(ia, self.E, self.P, ia.encode(att.wk), self.H)
        self.EV, self.PV = _tables(ia, self.E, self.P, ia.encode(att.wv), self.H)
        self.keys = [_Keys(ia, self.EK[h], self.PK[h], np.arange(s), n) for h in range(self.H)]
        self.tail = _tail(ia, att, mlp, (w.readout_w, w.readout_b))
        self.task, self.step = task, _step(ia)
        self.num_inputs_log2 = math.log2(n) + n * math.log2(s)
        self._per_cell = s ** (n - 1)  # inputs of one cell

    # -- the plan protocol (verify/certify/_registry.py) ----------------------------------------
    def chunks(self, chunk_cells: int):
        per = max(1, chunk_cells // self.s)
        return (_Cells(t0, min(self.n, t0 + per), self.s) for t0 in range(0, self.n, per))

    def prove(self, chunk: _Cells):
        t0, t1, s, step = chunk.t0, chunk.t1, self.s, self.step
        group = _proved(lambda keep, soft: self.grouped(t0, t1, keep), np.arange(s), step, False)
        if (group > 0).all():  # every cell of the chunk at once
            return np.tile(group, t1 - t0)
        return _proved(lambda keep, soft: self.logits(t0, t1, keep, soft), np.tile(np.arange(s), t1 - t0), step)

    def covered(self, chunk: _Cells, ok) -> int:
        return int(ok.sum()) * self._per_cell

    def inputs_covered(self, proved: int, covered: int):
        n, s = self.n, self.s
        log2 = math.log2(proved) + (n - 1) * math.log2(s) if proved else float("-inf")
        return f"{proved}·{s}^{n - 1}", log2

    def witnesses(self, cells, rng):
        return _index_witnesses(self.task, cells, rng)

    def details(self) -> dict:
        return {
            "cell": "index t and symbol s_t fixed, the other n-1 symbols free (s^(n-1) inputs each)",
            "method": "general",
            "attention": "weights bounded once per query position from the arrays (n^2 Gram, float32 + error bound)",
            "cost_per_cell": "O(n·r)",
            **_arith_details(self.ia),
        }

    # -- enclosures -----------------------------------------------------------------------------
    def logits(self, t0: int, t1: int, keep_eps: bool = True, soft: bool = False) -> _Aff:
        """Logit forms ``[T·s, C]`` of the cells ``(t, c)``, ``t0 <= t < t1``, c fastest. ``soft``
        bounds the other keys' total weight by their sum of exponentials, not count × max."""
        z, xlast = self.attention(t0, t1, soft)
        return self.tail.logits(z, xlast, keep_eps)

    def grouped(self, t0: int, t1: int, keep_eps: bool = False) -> _Aff:
        """Logit forms ``[s, C]``, one per symbol c, valid for *every* cell (t, c) of the chunk:
        the attention outputs and the last position's stream are replaced by their hulls over t.
        The answer is c throughout, so a positive margin proves all T cells of the group."""
        z, xlast = self.attention(t0, t1, False)
        zh = Box(z.lo.min(0, keepdims=True), z.hi.max(0, keepdims=True))
        xh = Box(xlast.lo.min(0, keepdims=True), xlast.hi.max(0, keepdims=True))
        return self.tail.logits(zh, xh, keep_eps)

    def attention(self, t0: int, t1: int, soft: bool = False):
        """Boxes of the attention output ``[T, s, H·wv]`` per cell and of the last position's
        residual stream ``[T, D]``, in real units."""
        ia, n, s = self.ia, self.n, self.s
        tt = np.arange(t0, t1)
        rows = s + tt
        T = len(tt)
        xlast = ia.add(Box(self.E[rows], self.E[rows]), Box(self.P[n][None], self.P[n][None]))  # [T, D]
        zs = []
        for h in range(self.H):
            keys = self.keys[h]
            q = ia.add(self.EQ[h][rows], self.PQ[h][n][None])
            kn = ia.add(self.EK[h][rows], self.PK[h][n][None])  # the index token's own key
            vn = ia.add(self.EV[h][rows], self.PV[h][n][None])
            ev, pv = self.EV[h][:s], self.PV[h][:n]
            vt = ia.add(Box(ev.lo[None], ev.hi[None]), Box(pv.lo[tt][:, None], pv.hi[tt][:, None]))  # [T, s, wv]
            other = ia.add(Box(ev.lo.min(0), ev.hi.max(0)), Box(pv.lo.min(0), pv.hi.max(0)))  # any k, any symbol
            ho = Box(np.minimum(other.lo[None], vn.lo), np.maximum(other.hi[None], vn.hi))  # [T, wv]
            st, others = keys.scores(q, tt, np.full(T, n), soft)
            if isinstance(ia, _Fixed):
                up, real, cnt = others
                sn = ia.clip(np.floor_divide((q.lo * kn.lo).sum(1), ia.S))
                zs.append(_mix_fixed(ia, st, [(up, n - 1, None if cnt is None else (real, cnt))], vt, ho, known=sn))
            else:
                up, cnt = others
                own = ia.dot(q, kn)
                smax = keys.smax(q, np.maximum(np.abs(kn.lo), np.abs(kn.hi)).max(1))
                count = n - 1 if cnt is None else np.minimum(n - 1, cnt)
                zs.append(_mix_float(st.lo, [(up, count), (own.hi, 1)], vt, ho, smax, n + 1))
        z = Box(np.concatenate([b.lo for b in zs], -1) / ia.scale, np.concatenate([b.hi for b in zs], -1) / ia.scale)
        return z, Box(xlast.lo / ia.scale, xlast.hi / ia.scale)


class _CodePlan(_IndexPlan):
    """The index-lookup plan with the off-target scores bounded from the Reed–Solomon ⊗ Hadamard
    code's distance (verify/certify/_index_code.py): no table of all positions is formed; each
    chunk computes its rows of the model's tables. Built by ``_IndexPlan(...)`` (``code`` set)."""

    code: CodeStructure
    _ROWS = 1024  # query positions per chunk at least (the per-chunk work is O(rows·s·r)); measured
    # at n = 2^16: 1,024 rows 22% less CPU than 4,096 (the chunk's [rows, r] arrays stay in cache)

    def __init__(self, model: Model, ia, task, method: str = "auto", workers: int = 1):
        self.n, self.s = _check_tables(model)
        n, s = self.n, self.s
        w = model.weights
        att, mlp = w.layers[0].attn, w.layers[0].mlp
        self.model, self.ia, self.H = model, ia, 1
        self.EK_sym = _rows(ia, w.embed[:s], att.wk[0])
        self.EV_sym = _rows(ia, w.embed[:s], att.wv[0])
        self.proj = (_Proj(att.wq[0]), _Proj(att.wk[0]), _Proj(att.wv[0]))
        self.tail = _tail(ia, att, mlp, (w.readout_w, w.readout_b))
        self.task, self.step = task, _step(ia)
        self.num_inputs_log2 = math.log2(n) + n * math.log2(s)
        self._per_cell = s ** (n - 1)

    def chunks(self, chunk_cells: int):
        per = max(self._ROWS, chunk_cells // self.s)
        return (_Cells(t0, min(self.n, t0 + per), self.s) for t0 in range(0, self.n, per))

    def attention(self, t0: int, t1: int, soft: bool = False):
        return structured_attention(self, t0, t1)

    def grouped(self, t0: int, t1: int, keep_eps: bool = False) -> _Aff:
        z, xh = structured_attention(self, t0, t1, hull=True)
        zh = Box(z.lo.min(0, keepdims=True), z.hi.max(0, keepdims=True))
        return self.tail.logits(zh, xh, keep_eps)

    def details(self) -> dict:
        return {
            "cell": "index t and symbol s_t fixed, the other n-1 symbols free (s^(n-1) inputs each)",
            "method": "code",
            "attention": self.code.details(),
            "cost_per_cell": "O(r)",
            **_arith_details(self.ia),
        }


def index_lookup_boxes(
    model: Model, precision: str = "float64", t0: int = 0, t1: int | None = None, method: str = "auto"
) -> Box:
    """Logit boxes ``[t1 − t0, s, C]`` of the cells ``(t, c)``, in real units (for tests)."""
    ia = _arith(precision)
    check_family(model, certifier_of(_IndexPlan))
    plan = _IndexPlan(model, ia, task_of(model), method)
    t1 = plan.n if t1 is None else t1
    r = plan.tail.range(plan.logits(t0, t1))
    return r.reshape_to((t1 - t0, plan.s, -1))


def _index_witnesses(task, cells, rng):
    n, s = task.n, task.alphabet_size
    out = []
    for t, c in cells[:8]:
        for x in [np.full(n, f) for f in range(s) if f != c][:8] + [rng.integers(0, s, n) for _ in range(4)]:
            x = x.copy()
            x[t] = c
            out.append(np.concatenate([x, [s + t]]))
    return np.stack(out)
