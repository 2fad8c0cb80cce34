"""Certified mode for one-bit RNNs with a shift register (equality, disjointness): every input of length n.

The tight RNNs of constructions/rnn_halves.py have ``2^(n/2)`` and more reachable states, so the
finite-state proof of verify/certify/_rnn_states.py cannot enumerate them. Their docstrings state an
invariant (every unit is 0 or 1; most units copy another unit or the input; a few *control*
units compare). This module proves such an invariant from the arrays alone and then checks the
answer against the task's definition, never reading ``meta["construction"]``.

Step 1 — the Boolean network (from the arrays, in the model's arithmetic)
    Let ``R_k = {j : Wh[j, k] ≠ 0}`` (the units unit k reads). For every unit k, every symbol c and
    every assignment ``a ∈ {0,1}^{R_k}`` we tabulate ``f_k(a, c) = relu(a·Wh[R_k, k] + Win[c, k] + b_k)``
    with the format's own operations on the encoded weights; ``h0`` must be a 0/1 vector. While the
    state is a 0/1 vector, ``h_{t+1,k} = f_k(h_t[R_k], x_t)``: terms with ``Wh[j, k] = 0`` contribute
    an exact 0. ``fixed:I.F`` is integer arithmetic, exact in any order; for a float format we also
    require that every partial sum, in any order, is representable (all terms are multiples of
    ``2^e`` with ``Σ|terms| ≤ 2^p·2^e``, p the significand bits), so the value does not depend on
    XLA's summation order. The readout is tabulated the same way over the units it reads. The
    tables are not required to be 0/1 on every assignment (``hit`` and ``flag`` are never 1
    together): step 3 requires it on every assignment it reaches, which keeps the induction going.

Step 2 — copies (from the truth tables)
    A unit whose table ignores the state bits is an *input* unit (``h_{t+1,k} = g_k(x_t)``); one
    whose table equals a single bit ``h_j`` for every symbol is a *copy* of j; the rest are
    *control* units. Following copies back, the value of any unit at time T is ``h0`` of some
    unit (a constant, T steps back), ``g(x_p)`` for a position p, or a control unit — the last is
    allowed only at the same time (no delayed control values).

Step 3 — the proof over time
    The task's reference is a *window automaton* written from its definition: a state ``r``, at
    time T it reads the symbols at a few positions (``x_T`` and ``x_{T−N}``, N = n/2) and updates
    ``r``; the answer is a function of the final state. We explore, for T = 0 … n, the set
    ``S_T`` of pairs (control bits, r): at time T every position read by the control units (after
    resolving copies) or by the reference gets every symbol, independently; every control value met
    must be 0 or 1 (else: unproved). This over-approximates
    the inputs (a symbol read at two times may take different values in the two reads), so
    ``S_T`` contains the pair of every real input. At T = n the readout is tabulated over its
    units (resolved the same way) and must give the reference's answer with margin > 0 for every
    pair in ``S_n`` and every assignment. Then, by induction on T (the state is 0/1, its control
    part and the reference state form a pair of ``S_T``, every other unit equals its resolution),
    the model is right on all ``2^n`` inputs. When the proof does not go through, a real
    counterexample is looked for by the engine (exhaustive up to 2^20 inputs, else 65536 samples);
    the row fails either way.

Proved: every input of length n (the task's length) is classified correctly with the reported
least margin, in the given format. Assumed: nothing beyond the format's definition (fixed) or,
for floats, that an exactly representable sum is computed exactly whatever the order. Not
covered: models whose correctness depends on a correlation the over-approximation drops, and
delayed control values (refused with :class:`VerifyError`, never passed).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable

import numpy as np

import bounds
from constructions import FixedArithmetic, Model, encode_weights, float64_scope, parse_precision

from .._engine import VerifyError, check, row_head, task_of

__all__ = [
    "MAX_FAN_IN",
    "WINDOWS",
    "BitNetwork",
    "boolean_network",
    "certify_bits",
    "rnn_proof_row",
    "search_counterexample",
]

MAX_FAN_IN = 16
_SIGNIFICAND = {"float64": 53, "float32": 24, "bfloat16": 8, "float16": 11}
_MAX_FLOAT = {"float64": 1.7e308, "float32": 3.4e38, "bfloat16": 3.3e38, "float16": 65504.0}


@dataclasses.dataclass(frozen=True)
class BitNetwork:
    """The RNN on 0/1 states: ``reads[k]`` (tuple of units), ``table[k]`` (float64 ``[A, 2^r]``: the
    next value of unit k, assignment index = Σ bit_i·2^i over ``reads[k]`` in order), ``h0`` (0/1 ints), the readout's
    units ``out_reads`` and ``out_logits [2^r, C]`` (float64, in the model's arithmetic)."""

    reads: tuple
    table: tuple
    h0: np.ndarray
    out_reads: tuple
    out_logits: np.ndarray

    def kind(self, k: int):
        """``("input", g [A])``, ``("copy", j)`` or ``("control", None)`` (module docstring, step 2)."""
        t, r = self.table[k], self.reads[k]
        if (t == t[:, :1]).all() and np.isin(t, (0.0, 1.0)).all():
            return "input", t[:, 0].astype(np.int64)
        idx = np.arange(t.shape[1])
        for i, j in enumerate(r):
            if (t == ((idx >> i) & 1)[None]).all():
                return "copy", j
        return "control", None


def _assignments(r: int) -> np.ndarray:
    return ((np.arange(1 << r)[:, None] >> np.arange(r)[None]) & 1).astype(np.float64)


def _lowest_bit(x: float) -> int:
    """The exponent of the lowest set bit of a positive float64: ``x / 2^e`` is an odd integer."""
    m, e = math.frexp(x)  # x = m·2^e, 0.5 <= m < 1
    mant = int(m * 2.0**53)
    return e - 53 + (mant & -mant).bit_length() - 1


def _exact_sums(name: str, terms: np.ndarray, what: str):
    """Float formats: every partial sum of ``terms`` (rows: one set each) is representable."""
    if name not in _SIGNIFICAND:
        return
    t = np.abs(terms[terms != 0])
    if not t.size:
        return
    if not np.isfinite(t).all():
        raise VerifyError(f"{what}: non-finite weights")
    low = min(_lowest_bit(float(x)) for x in t)
    total = float(np.abs(terms).sum(axis=-1).max())
    if total > 2.0 ** (_SIGNIFICAND[name] + low) or total > _MAX_FLOAT[name]:
        raise VerifyError(f"{what}: partial sums are not exact in {name} (the bit-level proof needs them exact)")


@float64_scope()  # the model's own arithmetic, float64 / int64
def boolean_network(model: Model, precision: str = "float64") -> BitNetwork:
    """Step 1 of the module docstring; :class:`VerifyError` if a unit can leave {0, 1}."""
    if model.family != "rnn":
        raise VerifyError("the bit-level certificate applies to RNNs")
    ar = parse_precision(precision)
    w = encode_weights(ar, model.weights)
    dec = {f: np.asarray(ar.decode(getattr(w, f))) for f in ("win", "wh", "b", "h0", "readout_w", "readout_b")}
    if not np.isin(dec["h0"], (0.0, 1.0)).all():
        raise VerifyError("h0 is not a 0/1 vector in this format")
    A, m = dec["win"].shape
    reads = [tuple(int(j) for j in np.flatnonzero(dec["wh"][:, k])) for k in range(m)]
    tables = [None] * m
    for r in sorted({len(x) for x in reads}):  # units of one fan-in size at once
        if r > MAX_FAN_IN:
            raise VerifyError(f"a unit reads {r} units (more than {MAX_FAN_IN})")
        units = np.array([k for k in range(m) if len(reads[k]) == r], dtype=np.int64)
        rows = np.array([reads[k] for k in units], dtype=np.int64).reshape(len(units), r)
        col = dec["wh"][rows, units[:, None]]  # [G, r]
        for c in range(A):
            _exact_sums(
                ar.name,
                np.concatenate([col, dec["win"][c, units][:, None], dec["b"][units][:, None]], 1),
                f"units of fan-in {r}",
            )
        if r:
            hw = ar.einsum("ar,gr->ga", ar.encode(_assignments(r)), w.wh[rows, units[:, None]])
        else:
            hw = ar.encode(np.zeros((len(units), 1)))
        out = np.stack(
            [
                np.asarray(ar.decode(ar.relu(ar.add(ar.add(hw, w.win[c, units][:, None]), w.b[units][:, None]))))
                for c in range(A)
            ],
            1,
        )
        for g, k in enumerate(units):
            tables[k] = out[g]  # [A, 2^r]
    used = tuple(int(j) for j in np.flatnonzero((dec["readout_w"] != 0).any(axis=1)))
    if len(used) > MAX_FAN_IN:
        raise VerifyError(f"the readout reads {len(used)} units (more than {MAX_FAN_IN})")
    _exact_sums(ar.name, np.concatenate([dec["readout_w"][list(used)].T, dec["readout_b"][:, None]], 1), "readout")
    H = _assignments(len(used))
    lg = (
        ar.einsum("ar,rc->ac", ar.encode(H), w.readout_w[np.asarray(used, dtype=np.int64)])
        if used
        else ar.encode(np.zeros((1, dec["readout_b"].shape[0])))
    )
    logits = np.asarray(ar.decode(ar.add(lg, w.readout_b[None])))
    return BitNetwork(tuple(reads), tuple(tables), dec["h0"].astype(np.int64), used, logits)


# ---------------------------------------------------------------------------------------------
# window automata from the task definitions


@dataclasses.dataclass(frozen=True)
class Window:
    """A reference automaton reading, at time T, the symbols at ``positions(T)``."""

    start: int
    positions: Callable[[int], tuple[int, ...]]  # T -> tuple of positions
    step: Callable[[int, int, dict[int, int]], int]  # (r, T, {position: symbol}) -> r'
    answer: Callable[[int], int]  # r -> class


def _halves(n: int, bad) -> Window:
    """``x[:N]`` and ``x[N:]`` compared pair by pair, ``N = n/2``: state 1 once a pair ``(x_{T−N},
    x_T)`` with ``bad(x_{T−N}, x_T)`` was read; class 1 iff no such pair."""
    N = n // 2
    return Window(
        0,
        lambda T: (T - N, T) if T >= N else (),
        lambda r, T, v: r | int(T >= N and bad(v[T - N], v[T])),
        lambda r: 1 - r,
    )


WINDOWS = {
    "equality": lambda n, **_: _halves(n, lambda a, b: a != b),
    "disjointness": lambda n, **_: _halves(n, lambda a, b: a == 1 and b == 1),
}


def _window_agrees(win: Window, task, x: np.ndarray):
    for row, y in zip(x, np.asarray(task.solve(x))):
        r = win.start
        for T in range(len(row)):
            r = win.step(r, T, {p: int(row[p]) for p in win.positions(T)})
        if win.answer(r) != int(y):
            raise VerifyError(f"the window automaton of {task.name} disagrees with the task's solver")


# ---------------------------------------------------------------------------------------------
# the proof


def _resolver(net: BitNetwork):
    kinds = [net.kind(k) for k in range(len(net.reads))]

    def value(k: int, T: int):
        """("const", b) | ("pos", p, g) | ("control", k): unit k's value in the state after T symbols."""
        while True:
            if T == 0:
                return ("const", int(net.h0[k]))
            kind, arg = kinds[k]
            if kind == "input":
                return ("pos", T - 1, arg)
            if kind == "control":
                return ("control", k, T)
            k, T = arg, T - 1

    return kinds, value


def _inputs(vals, now: int):
    for v in vals:
        if v[0] == "control" and v[2] != now:
            raise VerifyError(
                f"unit {v[1]} is read with a delay; the bit-level proof covers only undelayed control units"
            )
    return sorted({v[1] for v in vals if v[0] == "pos"})


def _bits(vals, assign: dict, control: dict) -> int:
    idx = 0
    for i, v in enumerate(vals):
        b = v[1] if v[0] == "const" else (int(v[2][assign[v[1]]]) if v[0] == "pos" else control[v[1]])
        idx |= b << i
    return idx


def _unproved(reason, sizes, control, kinds):
    return {
        "proved": False,
        "min_margin": -math.inf,
        "bad": {"reason": reason},
        "pairs_per_step": sizes,
        "control_units": control,
        "kinds": {k: sum(1 for x in kinds if x[0] == k) for k in ("input", "copy", "control")},
    }


def prove_bits(net: BitNetwork, win: Window, n: int, A: int) -> dict:
    """Step 3 of the module docstring: ``{"proved", "min_margin", "bad", "pairs_per_step"}``."""
    kinds, value = _resolver(net)
    control = [k for k, (kind, _) in enumerate(kinds) if kind == "control"]
    layer = {(tuple(int(net.h0[k]) for k in control), win.start)}
    sizes = [1]
    for T in range(n):
        reads = {k: [value(j, T) for j in net.reads[k]] for k in control}
        pos = sorted(
            set(itertools.chain.from_iterable(_inputs(v, T) for v in reads.values())) | set(win.positions(T)) | {T}
        )
        nxt = set()
        for bits, r in layer:
            ctrl = dict(zip(control, bits))
            for symbols in itertools.product(range(A), repeat=len(pos)):
                assign = dict(zip(pos, symbols))
                new = tuple(float(net.table[k][assign[T], _bits(reads[k], assign, ctrl)]) for k in control)
                if not all(v in (0.0, 1.0) for v in new):
                    k = control[next(i for i, v in enumerate(new) if v not in (0.0, 1.0))]
                    return _unproved(f"control unit {k} leaves {{0, 1}} at time {T}", sizes, control, kinds)
                nxt.add((tuple(int(v) for v in new), win.step(r, T, {p: assign[p] for p in win.positions(T)})))
        layer = nxt
        sizes.append(len(layer))
    outs = [value(j, n) for j in net.out_reads]
    pos = _inputs(outs, n)
    worst, bad = math.inf, None
    for bits, r in sorted(layer):
        ctrl = dict(zip(control, bits))
        want = win.answer(r)
        for symbols in itertools.product(range(A), repeat=len(pos)):
            lg = net.out_logits[_bits(outs, dict(zip(pos, symbols)), ctrl)]
            margin = lg[want] - np.max(np.delete(lg, want))
            margin = -math.inf if np.isnan(margin) else float(margin)
            worst = min(worst, margin)
            if not margin > 0 and bad is None:
                bad = {"control_units": control, "control_bits": list(bits), "expected": int(want), "margin": margin}
    return {
        "proved": bad is None,
        "min_margin": worst,
        "bad": bad,
        "pairs_per_step": sizes,
        "control_units": control,
        "kinds": {k: sum(1 for x in kinds if x[0] == k) for k in ("input", "copy", "control")},
    }


def certify_bits(model: Model, precision: str = "float64", *, task=None) -> dict:
    """One report row (mode ``"certified"``) for the equality / disjointness RNNs (module docstring)."""
    start = time.perf_counter()
    ar = parse_precision(precision)
    task = task or task_of(model)
    if task.name not in WINDOWS:
        raise VerifyError(f"no window automaton for {task.name!r} (bit-level certificates: {', '.join(WINDOWS)})")
    n, A = int(task.seq_len), int(task.vocab_size)
    win = WINDOWS[task.name](**task.params)
    rng = np.random.default_rng(0)
    count = max(8, min(256, (1 << 16) // n))
    _window_agrees(win, task, np.concatenate([rng.integers(0, A, (count, n)), task.sample(rng, count)]))
    net = boolean_network(model, precision)
    result = prove_bits(net, win, n, A)
    counterexample = None
    if not result["proved"]:  # the proof over-approximates: look for a real failure separately
        counterexample = search_counterexample(model, precision, task, n * math.log2(A))
    return rnn_proof_row(
        model,
        precision,
        ar,
        result,
        counterexample=counterexample,
        inputs_checked=A**n if n * math.log2(A) < 60 else f"{A}^{n}",
        inputs_covered=f"{A}^{n}",
        proved_for="length n",
        method="0/1 invariant per unit from the arrays, copies resolved, control units × the task's "
        "window automaton over time",
        details={
            "units": result["kinds"],
            "control_units": result["control_units"],
            "max_pairs_per_step": max(result["pairs_per_step"]),
        },
        start=start,
    )


def search_counterexample(model: Model, precision: str, task, log2_inputs: float) -> dict | None:
    """A real failing input for a model whose proof did not close (the proofs over-approximate):
    every input when there are at most 2^20, else 2^16 sampled ones; None if none is found."""
    exhaustive = log2_inputs <= 20
    found = check(
        model, mode="exhaustive" if exhaustive else "sampled", samples=1 << 16, precision=str(precision), task=task
    )
    return found["counterexample"]


def rnn_proof_row(
    model: Model,
    precision: str,
    ar,
    result: dict,
    *,
    counterexample: dict | None,
    inputs_checked,
    inputs_covered: str,
    proved_for: str,
    method: str,
    details: dict,
    start: float,
    log2_inputs: float | None = None,
) -> dict:
    """The report row of an RNN proof from per-unit tables (this module, _rnn_lookup.py,
    _rnn_recall.py): ``result`` has ``proved``, ``min_margin`` and ``bad``; ``details`` (the units the
    proof used) go into the certificate after its method; ``log2_inputs`` is recorded when given."""
    row = {
        **row_head(model, precision, "certified"),
        "inputs_checked": inputs_checked,
        "failures": 0 if result["proved"] else 1,
        "counterexample": counterexample,
        "min_margin": result["min_margin"],
        "lower_bounds": bounds.lower_bounds(model.task, model.task_params, ar.bits),
        "seconds": None,
        "certificate": {
            "proved": result["proved"],
            "proved_for": proved_for if result["proved"] else None,
            "method": method,
            **details,
            "unproved": result["bad"],
            "inputs_covered": inputs_covered,
            **({} if log2_inputs is None else {"num_inputs_log2": log2_inputs}),
            "arithmetic": f"the format's own operations on the encoded weights ({ar.name})",
            "assumptions": (
                []
                if isinstance(ar, FixedArithmetic)
                else ["a float sum whose every partial sum is representable is computed exactly"]
            ),
        },
    }
    row["status"] = "pass" if result["proved"] else "fail"
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row
