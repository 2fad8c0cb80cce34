"""Certified mode for finite-state RNNs: a proof for every input of every length, by induction.

An Elman RNN (docs/MODEL.md, ``h_t = relu(h_{t-1} Wh + Win[x_t] + b)``, ``logits = h_L Wr + br``)
evaluated in a number format is a deterministic machine whose state is the hidden vector *as the
format holds it*. When only finitely many vectors are reachable from ``h0`` — the DFA-compiled RNNs
(constructions/dfa.py, constructions/dyck_rnn.py) reach a handful of one-hot vectors — the machine
is a finite automaton, and its correctness on every input of every length is a finite check.

Objects
    * The *RNN automaton* ``R = (H, A, step, h0)``: ``H`` the hidden vectors reachable from ``h0``,
      found breadth-first over the alphabet ``A``; ``step(h, c)`` computed by the model's own
      recurrence (``constructions.rnn_states``, in ``parse_precision(precision)``). Two vectors
      are the same state iff they are bitwise equal. ``out(h) = logits`` of the readout applied to
      ``h``, by the model's own readout code (``rnn_logits`` on the empty suffix).
    * The *reference automaton* ``M = (Q, A, δ, q0, F)`` built from the task's definition alone
      (never from the model or the construction; for Dyck-(k, D) the stacks of depth ≤ D and a sink,
      Moore-minimised), and checked against the task's reference solver (``task.solve``) on every
      string of every length up to a few symbols and on random strings of the task's length.
    * The product ``P``: the pairs ``(h, q)`` reachable from ``(h0, q0)`` under
      ``(h, q) -c-> (step(h, c), δ(q, c))``. A pair is *good* when the logit of the class ``[q ∈ F]``
      exceeds every other logit (margin > 0, in the model's own arithmetic).

Theorem
    (a) If every pair of ``P`` is good, the RNN classifies every string of every length correctly,
    with logit margin at least the least margin over ``P``. (b) It classifies every string of length
    exactly ``n`` correctly iff every pair of ``P_n`` is good, where ``P_0 = {(h0, q0)}`` and
    ``P_{t+1} = {(step(h, c), δ(q, c)) : (h, q) ∈ P_t, c ∈ A}``.

Proof
    By induction on t, the pair (state of the RNN after ``x_1 … x_t``, ``δ*(q0, x_1 … x_t)``) lies in
    ``P_t ⊆ P``: t = 0 is ``(h0, q0)``; the step is the definition of ``P_{t+1}``, because the RNN's
    next state is ``step`` of its current state and the next symbol (time invariance). Its output
    is ``argmax out(h)`` and the task's answer is ``[δ*(q0, x) ∈ F]``; a good pair makes them equal.
    Conversely every pair of ``P_n`` is reached by some string of length ``n`` (kept as a witness),
    so a bad pair there is a real counterexample. ∎

    When all of ``P`` is good and ``M`` is minimal, each reachable ``h`` meets exactly one ``q``
    (two distinct minimal states are told apart by a suffix, on which the shared ``h`` would answer
    both the same way): a map ``φ: H → Q`` with ``φ(h0) = q0``, ``φ(step(h, c)) = δ(φ(h), c)`` and
    ``argmax out(h) = [φ(h) ∈ F]``. The report records whether ``φ`` is a function.

What is exact, what is assumed
    Every transition and every readout is the model's own code, run on the vector the format holds,
    and states are compared bitwise: no rounding model is needed. ``fixed:I.F`` is integer arithmetic
    and needs no assumption. The float formats assume that XLA evaluates one step the same way
    whatever the batch and the position in the sequence (a fixed summation order); the certificate
    re-runs the model's own ``hidden_states`` along a witness string of every transition and
    refuses (``VerifyError``) if one state differs by a single bit. An RNN whose states do not close within
    ``max_states`` (a drifting unit) is refused, never passed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np

import bounds
from constructions import Model, encode_weights, float64_scope, parse_precision, rnn_logits, rnn_states

from .._engine import VerifyError, row_head, task_of
from ._driver import outcomes
from ._reference_dfa import REFERENCES, ReferenceDFA, reference_dfa

__all__ = [
    "MAX_STATES",
    "REFERENCES",
    "Proof",
    "RNNAutomaton",
    "ReferenceDFA",
    "certify_rnn",
    "prove",
    "reference_dfa",
    "rnn_automaton",
]

MAX_STATES = 1 << 16  # reachable hidden vectors explored before refusing
_BATCH = 1024  # transitions per compiled call


# ---------------------------------------------------------------------------------------------
# the RNN as an automaton, in its own arithmetic


@dataclasses.dataclass(frozen=True)
class RNNAutomaton:
    """The reachable hidden vectors of an RNN in one format.

    ``states [k, m]`` (float64, decoded; row 0 is ``h0``), ``delta [k, A]`` (int: the index of
    ``step(states[i], c)``), ``logits [k, C]`` (float64, the readout of each state), ``access``:
    per state a shortest string reaching it from ``h0``."""

    precision: str
    states: np.ndarray
    delta: np.ndarray
    logits: np.ndarray
    access: tuple

    @property
    def num_states(self) -> int:
        return int(self.states.shape[0])


@functools.cache
def _kernels(precision: str):
    """``(step, readout)`` jitted: ``step(w, h [B, m], c [B]) -> [B, m]`` and ``readout(w, h [B, m])
    -> [B, C]``, both the model's own code with ``h0`` replaced by ``h`` (encode∘decode is the
    identity on values the format holds, so ``h`` enters bit for bit)."""
    ar = parse_precision(precision)

    def with_h0(w, h):
        return encode_weights(ar, dataclasses.replace(w, h0=h))

    step = jax.vmap(lambda w, h, c: rnn_states(ar, with_h0(w, h), c[None])[1], in_axes=(None, 0, 0))
    readout = jax.vmap(lambda w, h: rnn_logits(ar, with_h0(w, h), jnp.zeros((1, 0), jnp.int32))[0], in_axes=(None, 0))
    start = lambda w: rnn_states(ar, encode_weights(ar, w), jnp.zeros((0,), jnp.int32))[0]
    return jax.jit(step), jax.jit(readout), jax.jit(start)


def _padded(fn, w, *arrays):
    """``fn(w, *arrays)`` on power-of-two batches (few compilations)."""
    B = arrays[0].shape[0]
    size = max(8, 1 << (B - 1).bit_length()) if B else 8
    size = min(size, _BATCH)
    out = []
    for s in range(0, B, size):
        part = [a[s : s + size] for a in arrays]
        short = size - part[0].shape[0]
        if short:
            part = [np.concatenate([p, np.repeat(p[:1], short, axis=0)]) for p in part]
        out.append(np.asarray(fn(w, *part))[: size - short])
    return np.concatenate(out) if out else np.zeros((0,))


def _key(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype=np.float64).tobytes()


@float64_scope()  # the kernels run the model's float64 / int64 arithmetic
def rnn_automaton(model: Model, precision: str = "float64", *, max_states: int = MAX_STATES) -> RNNAutomaton:
    """Enumerate the hidden vectors reachable from ``h0`` breadth-first, each transition computed
    in ``precision`` by the model's own step; :class:`VerifyError` past ``max_states`` states."""
    if model.family != "rnn":
        raise VerifyError("finite-state certification applies to RNNs")
    precision = str(precision)
    step, readout, start = _kernels(precision)
    w = model.weights
    A = int(w.win.shape[0])
    h0 = np.asarray(start(w))
    states, access, index = [h0], [()], {_key(h0): 0}
    delta = []
    frontier = [0]
    while frontier:
        hs = np.repeat(np.stack([states[i] for i in frontier]), A, axis=0)
        cs = np.tile(np.arange(A, dtype=np.int32), len(frontier))
        nxt = _padded(step, w, hs, cs)
        new = []
        for j, (i, c) in enumerate(zip(np.repeat(frontier, A), cs)):
            key = _key(nxt[j])
            if key not in index:
                if len(states) >= max_states:
                    raise VerifyError(
                        f"the RNN reaches more than {max_states} distinct hidden states in {precision} "
                        "(its states do not close); no finite-state certificate"
                    )
                index[key] = len(states)
                states.append(nxt[j])
                access.append(access[i] + (int(c),))
                new.append(index[key])
            delta.append((i, int(c), index[key]))
        frontier = new
    k = len(states)
    table = np.full((k, A), -1, dtype=np.int64)
    for i, c, j in delta:
        table[i, c] = j
    S = np.stack(states)
    logits = _padded(readout, w, S)
    return RNNAutomaton(precision, S, table, logits, tuple(access))


def _replay(model: Model, auto: RNNAutomaton, budget: int = 1 << 22) -> int:
    """Re-run the model's own ``hidden_states`` along ``access(h)·c`` for every transition
    ``(h, c)`` (padded to one length) and require ``step(h, c)`` bit for bit at its position;
    returns the number of transitions replayed (all of them unless ``k·|A|·L·m`` exceeds
    ``budget``, then the first ones in breadth-first order)."""
    k, A = auto.delta.shape
    L = max(len(a) for a in auto.access) + 1
    per = (L + 1) * auto.states.shape[1]
    count = max(1, min(k * A, budget // max(per, 1)))
    edges = [(i, c) for i in range(k) for c in range(A)][:count]
    x = np.zeros((count, L), dtype=np.int64)
    for r, (i, c) in enumerate(edges):
        x[r, : len(auto.access[i]) + 1] = auto.access[i] + (c,)
    free = Model(model.weights, {**model.meta, "seq_len": None})
    hs = free.hidden_states(x, precision=auto.precision)
    for r, (i, c) in enumerate(edges):
        t = len(auto.access[i]) + 1
        if _key(hs[r, t]) != _key(auto.states[auto.delta[i, c]]) or _key(hs[r, t - 1]) != _key(auto.states[i]):
            raise VerifyError(
                f"the step evaluated alone differs from the forward pass after "
                f"{list(auto.access[i]) + [c]} in {auto.precision}; the finite-state certificate "
                "does not apply"
            )
    return count


# ---------------------------------------------------------------------------------------------
# the product and the proof


@dataclasses.dataclass(frozen=True)
class Proof:
    """The product of an :class:`RNNAutomaton` and a :class:`ReferenceDFA` (module docstring).

    ``pairs [P, 2]`` (RNN state, reference state), row 0 the start pair; ``delta [P, A]``;
    ``expected [P]`` the class ``[q ∈ F]``; ``margin [P]`` the logit of that class minus the largest
    other (NaN counts as failing); ``access``: a shortest string per pair; ``at_n`` (bool ``[P]``,
    None without a length) the pairs of ``P_n``; ``witness_n``: a string of length n reaching a bad
    pair of ``P_n``, or None."""

    automaton: RNNAutomaton
    reference: ReferenceDFA
    pairs: np.ndarray
    delta: np.ndarray
    expected: np.ndarray
    margin: np.ndarray
    access: tuple
    n: int | None
    at_n: np.ndarray | None
    witness_n: tuple | None

    @property
    def good(self) -> np.ndarray:
        return self.margin > 0

    @property
    def every_length(self) -> bool:
        """Part (a): every reachable pair is good."""
        return bool(self.good.all())

    @property
    def length_n(self) -> bool | None:
        """Part (b): every pair of ``P_n`` is good (None without a length)."""
        return None if self.at_n is None else bool(self.good[self.at_n].all())

    def state_map(self) -> list[int] | None:
        """``φ``: the reference state of each RNN state, or None if some RNN state meets two."""
        phi = np.full(self.automaton.num_states, -1, dtype=np.int64)
        for h, q in self.pairs:
            if phi[h] not in (-1, q):
                return None
            phi[h] = q
        return phi.tolist()

    def shortest_counterexample(self) -> tuple | None:
        bad = np.flatnonzero(~self.good)
        return None if not bad.size else self.access[int(bad[0])]


def prove(auto: RNNAutomaton, ref: ReferenceDFA, n: int | None = None, *, max_pairs: int = 4 * MAX_STATES) -> Proof:
    """Build the product breadth-first, score every pair, and (given ``n``) find ``P_n`` exactly."""
    A = auto.delta.shape[1]
    if ref.delta.shape[1] != A:
        raise VerifyError(f"the RNN reads {A} symbols, the task {ref.delta.shape[1]}")
    index = {(0, ref.start): 0}
    access: list[tuple[int, ...]] = [()]
    pairs, todo, rows = [(0, ref.start)], deque([0]), {}
    while todo:
        p = todo.popleft()
        h, q = pairs[p]
        row = []
        for c in range(A):
            nxt = (int(auto.delta[h, c]), int(ref.delta[q, c]))
            if nxt not in index:
                if len(pairs) >= max_pairs:
                    raise VerifyError(f"more than {max_pairs} (RNN state, task state) pairs")
                index[nxt] = len(pairs)
                pairs.append(nxt)
                access.append(access[p] + (c,))
                todo.append(index[nxt])
            row.append(index[nxt])
        rows[p] = row
    P = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    delta = np.array([rows[p] for p in range(len(pairs))], dtype=np.int64).reshape(-1, A)
    expected = ref.accepting[P[:, 1]].astype(np.int64)
    lg = auto.logits[P[:, 0]]
    rows_ = np.arange(len(P))
    others = lg.copy()
    others[rows_, expected] = -np.inf
    margin = lg[rows_, expected] - others.max(axis=1)
    margin = np.where(np.isnan(margin), -np.inf, margin)
    at_n = witness = None
    if n is not None:
        layers = _layers(delta, n)
        at_n = layers(n)
        bad = np.flatnonzero(at_n & ~(margin > 0))
        if bad.size:
            witness = _walk_back(delta, layers, n, int(bad[0]))
    return Proof(auto, ref, P, delta, expected, margin, tuple(access), n, at_n, witness)


def _layers(delta: np.ndarray, n: int):
    """``t -> P_t`` (bool ``[P]``) for ``0 ≤ t ≤ n``: the sets are iterated until one repeats (the
    sequence is then periodic), so the cost is at most the number of distinct sets."""
    P = delta.shape[0]
    cur = np.zeros(P, dtype=bool)
    cur[0] = True
    seen, seq = {cur.tobytes(): 0}, [cur]
    while len(seq) <= n:
        nxt = np.zeros(P, dtype=bool)
        nxt[delta[cur].ravel()] = True
        key = nxt.tobytes()
        if key in seen:
            s, period = seen[key], len(seq) - seen[key]
            return lambda t: seq[t] if t < len(seq) else seq[s + (t - s) % period]
        seen[key] = len(seq)
        seq.append(nxt)
        cur = nxt
    return lambda t: seq[t]


def _walk_back(delta: np.ndarray, layers, n: int, target: int) -> tuple:
    """A string of length n leading from the start pair to ``target ∈ P_n``."""
    out = []
    for t in range(n - 1, -1, -1):
        src, sym = np.nonzero(layers(t)[:, None] & (delta == target))
        out.append(int(sym[0]))
        target = int(src[0])
    assert target == 0
    return tuple(reversed(out))


# ---------------------------------------------------------------------------------------------
# the report row


def _failure(model: Model, x, expected: int, precision: str) -> dict:
    """The counterexample record of one input of any length (the model's length check lifted)."""
    free = Model(model.weights, {**model.meta, "seq_len": None})
    return outcomes(free, np.asarray([x], dtype=np.int64).reshape(1, -1), np.array([expected]), precision)[0]


def certify_rnn(
    model: Model, precision: str = "float64", *, task=None, max_states: int = MAX_STATES, every_length: bool = False
) -> dict:
    """Prove an RNN right on every input of its task; one report row (mode ``"certified"``).

    Tasks with a reference automaton (:data:`REFERENCES`: Dyck) get the finite-state proof of the
    module docstring; equality and disjointness the bit-level proof of
    :mod:`verify.certify._rnn_bits` (``max_states``/``every_length`` do not apply there).

    ``status`` is ``"pass"`` iff every input of the task's length n is classified correctly with
    positive margin (part (b) of the theorem, an exact decision); with ``every_length=True`` it
    also requires part (a). ``certificate["proved_for"]`` is ``"every length"`` when (a) holds,
    ``"length n"`` when only (b) does, None otherwise. ``failures`` counts the bad pairs of
    ``P_n``; ``counterexample`` is a real failing input of length n (None if there is none);
    ``certificate["shortest_counterexample"]`` one of any length. Raises :class:`VerifyError` when
    the states do not close, when there is no reference automaton for the task, or when the
    stepwise evaluation and the forward pass disagree.
    """
    start = time.perf_counter()
    ar = parse_precision(precision)
    precision = str(precision)
    task = task or task_of(model)
    if model.family != "rnn":
        raise VerifyError(f"RNN certification applies to RNNs, not {model.variant}")
    if task.name not in REFERENCES:
        from ._rnn_bits import WINDOWS, certify_bits

        if task.name in WINDOWS:
            return certify_bits(model, precision, task=task)
    ref = reference_dfa(task)
    auto = rnn_automaton(model, precision, max_states=max_states)
    replayed = _replay(model, auto)
    n = int(task.seq_len)
    proof = prove(auto, ref, n)
    A = auto.delta.shape[1]
    ok_n, ok_all = proof.length_n, proof.every_length
    at_n = proof.at_n
    assert at_n is not None  # prove() was given n
    counterexample = None
    if proof.witness_n is not None:
        x = np.asarray(proof.witness_n, dtype=np.int64)
        counterexample = _failure(model, x, int(np.asarray(task.solve(x[None]))[0]), precision)
    shortest_string = proof.shortest_counterexample()
    shortest = None
    if shortest_string is not None:
        expected = int(ref.accepts(np.asarray([shortest_string], dtype=np.int64).reshape(1, -1))[0])
        shortest = _failure(model, shortest_string, expected, precision)
    log2 = n * math.log2(A)
    phi = proof.state_map()
    margins_n = proof.margin[at_n]
    row = {
        **row_head(model, precision, "certified"),
        "inputs_checked": A**n if log2 < 60 else f"{A}^{n}",
        "failures": int((~(margins_n > 0)).sum()),
        "counterexample": counterexample,
        "min_margin": float(margins_n.min()),
        "lower_bounds": bounds.lower_bounds(model.task, model.task_params, ar.bits),
        "seconds": None,
        "certificate": {
            "proved": bool(ok_n and (ok_all or not every_length)),
            "proved_for": "every length" if ok_all else ("length n" if ok_n else None),
            "method": "finite-state induction: reachable hidden states × the task's minimal DFA",
            "reachable_states": auto.num_states,
            "reference_states": ref.num_states,
            "product_pairs": len(proof.pairs),
            "pairs_at_length_n": int(at_n.sum()),
            "bad_pairs": int((~proof.good).sum()),
            "state_map": phi,
            "state_map_is_function": phi is not None,
            "min_margin_every_length": float(proof.margin.min()),
            "shortest_counterexample": shortest,
            "transitions_replayed_by_forward": replayed,
            "inputs_covered": f"{A}^{n}" + (" (and every other length)" if ok_all else ""),
            "num_inputs_log2": log2,
            "arithmetic": f"the model's own step and readout in {precision}; states compared bit for bit",
            "assumptions": (
                []
                if ar.name.startswith("fixed:")
                else [
                    (
                        "one step evaluates the same whatever the batch and position "
                        "(every transition replayed against the forward pass)"
                    )
                ]
            ),
        },
    }
    row["status"] = "pass" if row["certificate"]["proved"] else "fail"
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row
