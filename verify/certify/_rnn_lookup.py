"""Certified mode for an index-lookup RNN that selects in its last step: every input of length n + 1.

The tight RNN of constructions/rnn_index_lookup.py keeps ``(n+1)·⌈log2 s⌉`` units, more than any
enumeration of states or of readout inputs can cover. Its structure is what makes it checkable: on
a symbol every unit is either set from the symbol or copies one other unit (a shift register), and
only the last token (the index) mixes the state with the input. This module proves that from the
arrays alone and then checks the answer against the task's solver, never reading
``meta["construction"]``.

Task layout and reference (from the definition of index lookup, tasks/_index_lookup.py)
    Positions ``0 … n−1`` hold symbols ``[0, s)``, position n an index token ``s + t``; the answer
    depends on the input only through ``x_n`` and ``x_t`` (checked against the solver on random
    inputs whose other positions are redrawn). Answers are taken from the task's solver.

Step 1 — tables (verify/certify/_rnn_units.py)
    For the symbol class and for the index class, each unit's next value over every 0/1 assignment
    of the units it reads, in the model's own arithmetic; ``h0`` must be 0/1.

Step 2 — the symbol steps, by induction on T = 0 … n
    Every unit must be an *input* unit or a *copy* on the symbol class (else: unproved). Then the
    state after ``x_0 … x_{T−1}`` is 0/1 and unit u holds ``resolve(u, T)``: follow copies back
    (``u ← src(u)``, ``T ← T−1``) until an input unit ``v`` at time ``T' ≥ 1`` — the value is
    ``g_v(x_{T'−1})`` — or time 0 — the value is ``h0[v]``. (Induction: an input unit is
    ``g_v(x_{T−1})`` whatever the 0/1 state, a copy equals its source one step earlier.)

Step 3 — the last step, per index token c
    Unit u's final value is ``f_u(resolved reads, c)``: if its reads resolve to at most one
    position p (else: unproved), a function of the one symbol ``x_p``, tabulated over the s symbols.

Step 4 — the readout, per index token c
    Units whose final value is 0 for every symbol contribute exact zeros. The others depend on a
    set ``Q_c`` of positions; with the answer's position ``t`` added, every assignment of symbols
    to ``Q_c ∪ {t}`` (at most 2^16) gives the final state exactly, whatever the other symbols. The
    model's readout on it must give the solver's answer with margin > 0; the least margin is the
    certified one. A failing assignment is a real counterexample (the other symbols are free).

Proved: every one of the ``s^n·n`` inputs of length n + 1 is answered correctly, with the reported
least margin, in the given format. Assumed: nothing beyond the format's definition (fixed) or, for
floats, that a sum whose every partial sum is representable is computed exactly in any order (checked
on the arrays: verify/certify/_rnn_units.py). Not covered (unproved, then a search for a real
counterexample, never a pass): a control unit on a symbol, a last-step unit reading two
positions, more than 2^16 assignments for one index.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from constructions import Model, float64_scope

from .._engine import VerifyError, task_of
from ._driver import outcomes
from ._registry import register_certifier
from ._rnn_bits import rnn_proof_row, search_counterexample
from ._rnn_units import CONTROL, INPUT, RNNArrays, class_tables, margins, readout_logits

__all__ = ["certify_lookup"]

MAX_ASSIGNMENTS = 1 << 16
_ROWS = 1 << 13  # readout rows per call


def _reference_agrees(task, rng) -> None:
    """The answer depends only on ``x_n`` and ``x_t`` (sampled: the other symbols redrawn)."""
    n, s = task.n, task.alphabet_size
    x = task.sample(rng, 256)
    y = task.solve(x)
    z = x.copy()
    z[:, :n] = rng.integers(0, s, (len(x), n))
    t = x[:, n] - s
    z[np.arange(len(x)), t] = x[np.arange(len(x)), t]
    if not (task.solve(z) == y).all():
        raise VerifyError(
            "the reference of index lookup (answer = a function of x_n and x_t) disagrees with the solver"
        )


def _resolve(kind, src, n: int, m: int):
    """Step 2: for every unit at time n, ``(pos, via)``: ``pos`` the position whose symbol sets it
    (−1: ``h0[via]``), ``via`` the input unit (or the unit at time 0)."""
    cur, pos = np.arange(m), np.full(m, -2)
    via = cur.copy()
    for T in range(n, 0, -1):
        open_ = pos == -2
        if not open_.any():
            break
        k = kind[cur]
        inp = open_ & (k == INPUT)
        pos[inp], via[inp] = T - 1, cur[inp]
        cp = open_ & (k != INPUT)  # copies (no control units here: checked by the caller)
        cur[cp] = src[cur[cp]]
    rest = pos == -2
    pos[rest], via[rest] = -1, cur[rest]
    return pos, via


@float64_scope()  # the model's own arithmetic, float64 / int64
def prove_lookup(arr: RNNArrays, task) -> dict:
    """Steps 1–4 of the module docstring: ``{"proved", "min_margin", "bad", ...}``."""
    n, s = task.n, task.alphabet_size
    m = arr.units
    sym = class_tables(arr, np.arange(s))
    idx = class_tables(arr, s + np.arange(n))
    info = {"units": m, "input_units": int((sym.kind == INPUT).sum()), "copy_units": int((sym.kind == 1).sum())}
    ctrl = np.flatnonzero(sym.kind == CONTROL)
    if ctrl.size:
        return {
            **info,
            "proved": False,
            "min_margin": -math.inf,
            "bad": {"reason": f"unit {ctrl[0]} is a control unit on symbols"},
        }
    pos, via = _resolve(sym.kind, sym.src, n, m)
    bit = np.empty((m, s), dtype=np.int64)  # value at time n of every unit, per symbol at its position
    for u in range(m):
        bit[u] = sym.g[via[u]] if pos[u] >= 0 else int(arr.dec["h0"][via[u]])
    used = np.flatnonzero((arr.dec["readout_w"] != 0).any(axis=1))
    final = np.empty((n, len(used), s))  # [index token, readout unit, symbol at its position]
    where = np.full(len(used), -1)
    for i, u in enumerate(used.tolist()):
        r = arr.reads[u]
        ps = {int(pos[j]) for j in r if pos[j] >= 0}
        if len(ps) > 1:
            bad: dict | None = {"reason": f"unit {u} reads the symbols of positions {sorted(ps)} in the last step"}
            return {**info, "proved": False, "min_margin": -math.inf, "bad": bad}
        where[i] = ps.pop() if ps else -1
        assign = (bit[r] << np.arange(len(r))[:, None]).sum(0) if len(r) else np.zeros(s, dtype=np.int64)
        final[:, i, :] = idx.table[u][idx.which[u]][:, assign]
    worst, rows, wants, cells = math.inf, [], [], []
    bad = None
    for c in range(n):
        vals = final[c]
        live = vals.any(axis=1) & (where >= 0)
        q = sorted(set(where[live].tolist()) | {c})
        if s ** len(q) > MAX_ASSIGNMENTS:
            bad = {"reason": f"index {c}: the state depends on {len(q)} positions"}
            return {**info, "proved": False, "min_margin": -math.inf, "bad": bad}
        assign = np.array(list(itertools.product(range(s), repeat=len(q))), dtype=np.int64).reshape(-1, len(q))
        col = np.minimum(
            np.searchsorted(q, np.where(where >= 0, where, q[0])), len(q) - 1
        )  # column of each unit's position
        state = np.where(where[None] >= 0, vals[np.arange(len(used))[None], assign[:, col]], vals[None, :, 0])
        x = np.zeros((len(assign), n + 1), dtype=np.int64)
        x[:, q], x[:, n] = assign, s + c
        rows.append(state)
        wants.append(task.solve(x))
        cells.append(x)
    state, want, xs = np.concatenate(rows), np.concatenate(wants), np.concatenate(cells)
    for a in range(0, len(state), _ROWS):
        mg = margins(readout_logits(arr, used, state[a : a + _ROWS]), want[a : a + _ROWS])
        worst = min(worst, float(mg.min()))
        if bad is None and not (mg > 0).all():
            bad = {"input": xs[a + int(np.argmin(mg > 0))].tolist()}
    return {**info, "proved": bad is None, "min_margin": worst, "bad": bad, "readout_units": len(used)}


def certify_lookup(model: Model, precision: str = "float64", *, task=None) -> dict:
    """One report row (mode ``"certified"``) for an index-lookup RNN (module docstring)."""
    start = time.perf_counter()
    task = task or task_of(model)
    if task.name != "index_lookup":
        raise VerifyError(f"the shift-register certificate is for index_lookup, not {task.name}")
    n, s = task.n, task.alphabet_size
    w = model.weights
    if w.win.shape[0] < s + n or w.readout_b.shape[0] != s:
        raise VerifyError("the model's token table or readout does not fit the task")
    _reference_agrees(task, np.random.default_rng(0))
    with float64_scope():
        arr = RNNArrays.of(model, str(precision))
    result = prove_lookup(arr, task)
    counterexample = None
    if not result["proved"]:
        bad = result["bad"] or {}
        if "input" in bad:  # a real failing input: the final state does not depend on the other symbols
            x = np.array([bad["input"]])
            counterexample = outcomes(model, x, task.solve(x), str(precision))[0]
        else:
            counterexample = search_counterexample(model, precision, task, n * math.log2(s) + math.log2(n))
    log2 = n * math.log2(s) + math.log2(n)
    return rnn_proof_row(
        model,
        precision,
        arr.ar,
        result,
        counterexample=counterexample,
        inputs_checked=s**n * n if log2 < 60 else f"{s}^{n}·{n}",
        inputs_covered=f"{s}^{n}·{n}",
        proved_for="length n",
        method="symbol steps: every unit an input unit or a copy (from the arrays), resolved back to one "
        "position; last step and readout per index token over the symbols of the positions it reads",
        details={"units": {k: result.get(k) for k in ("units", "input_units", "copy_units", "readout_units")}},
        start=start,
        log2_inputs=log2,
    )


@register_certifier(task="index_lookup", family="rnn")
class LookupPlan:
    """Whole-row plan (verify/certify/_registry.py): :func:`certify_lookup`."""

    @staticmethod
    def certify_row(model, precision: str, task, witnesses: bool) -> dict:
        return certify_lookup(model, precision, task=task)
