"""Any DFA as an exact ReLU Elman RNN: one-hot *transition units* (paper App. E; docs/PAPER.md §11.3).

The paper notes (App. E) that Dyck-(2,2) is regular and that an RNN can simulate its DFA, citing
constructions with standard activations; it builds none. This module compiles any DFA into the
shared Elman RNN (:mod:`constructions._rnn`), ``h_t = relu(h_{t-1} Wh + Win[x_t] + b)``,
``logits = h_L Wr + br``, with a hidden state that is exactly one-hot (or exactly zero) in every
number format, ``fixed:0.0`` included.

DFA
    ``M = (Q, A, δ, q0, F)``: states ``Q = [0, S)``, symbols ``A = [0, |A|)`` (the token ids),
    a total transition table ``δ: Q × A → Q``, a start state ``q0`` and accepting states ``F``.
    A state is *reachable* if some string leads to it from ``q0``, and *live* if some string
    leads from it into ``F``; the others are *dead* (a minimal DFA has at most one).

Units (the hidden coordinates)
    ``U = {(δ(q, c), c) : q reachable, c ∈ A, δ(q, c) live}``: one unit per transition *result*
    paired with the symbol that produced it, and ``state(q', c) = q'``. If ``q0`` is live but is no
    ``δ(q, c)`` (or if U is empty: the empty language), one more unit ``start`` with
    ``state(start) = q0`` is added. Width ``m = |U| ≤ |Q|·|A| + 1``; the dead states cost nothing. The hidden layout has one block per symbol ("after symbol c") and
    the ``start`` block.

Weights (all entries in {-1, 0, 1}; ``b = 0``)
    * ``Wh[u, (q', c')] = 1`` iff ``δ(state(u), c') = q'``  (the start unit's column is 0);
    * ``Win[x, (q', c')] = 0`` if ``c' = x`` else ``-1``;  ``Win[x, start] = -1``;
    * ``h0 = e_start`` if there is a start unit, else ``e_u`` for any ``u`` with ``state(u) = q0``,
      else (``q0`` dead: the empty language) ``h0 = 0``;
    * ``Wr[u] = (-1, +1)`` if ``state(u) ∈ F`` else ``(0, 0)``;  ``br = (1, 0)``.

Claim
    For every string ``x_1 … x_t``: ``h_t = e_u`` with ``state(u) = δ*(q0, x_1 … x_t)`` if that
    state is live, and ``h_t = 0`` if it is dead.

Proof (induction on t)
    t = 0 is the choice of ``h0``. Let ``h_{t-1} = e_u``, ``q = state(u)``, ``x = x_t``. The
    pre-activation of unit ``(q', c')`` is ``Wh[u, (q', c')] + Win[x, (q', c')] = [δ(q, c') = q']
    + [c' = x] - 1``, which is 1 exactly for ``(q', c') = (δ(q, x), x)`` and ``≤ 0`` otherwise;
    the start unit gets ``0 - 1``. So ``h_t = e_(δ(q,x), x)`` when that unit exists, i.e. when
    ``δ(q, x)`` is live (it is reachable since q is), and ``h_t = 0`` when it is dead. If
    ``h_{t-1} = 0`` every pre-activation is ``Win[x, ·] ≤ 0``, so ``h_t = 0``, and a dead state
    only leads to dead states. ∎

Readout
    ``logits = (1 - a, a)`` with ``a = Σ_{state(u) ∈ F} h_u ∈ {0, 1}``: the accept logit wins by
    exactly 1 iff ``δ*(q0, x) ∈ F`` (accepting states are live). Margin 1.

Exactness in every format
    All weights lie in {-1, 0, 1}, ``h`` is one-hot or zero, every pre-activation and both
    partial sums ``h Wh`` and ``h Wh + Win[x]`` lie in [-1, 1], and every logit partial sum in
    [-1, 1]: all are integers that ``float16``/``bfloat16`` and ``fixed:0.0`` (the grid {-1, 0, 1})
    hold exactly, and no clipping or rounding ever happens. The state is ``m`` values in {0, 1}:
    ``m`` bits.

Why not one unit per state (the recipe of docs/PAPER.md §11.3)
    In this Elman form unit ``q'`` sees ``a[q, q'] + w[x, q']``: a state term plus a symbol term.
    Exactness needs ``a[q, q'] + w[c, q'] = [δ(q, c) = q']`` (≤ 0 for 0). If ``δ(q1, c1) =
    δ(q2, c2) = q'`` but ``δ(q1, c2) ≠ q'`` then ``a[q2, q'] + w[c1, q'] = 2 - (a[q1, q'] +
    w[c2, q']) ≥ 2``: impossible. That recipe's ``ReLU(Σ_{δ(q,c)=q'} (h_q + x_c - 1))`` puts one
    ReLU around the whole sum and is wrong in exactly this case (Dyck-(2,2): into the empty
    stack go ``("(", ")")`` and ``("[", "]")``; on ``()`` the sum is ``1 + (-1) = 0``, so ``()``
    is rejected). The ReLU must act per pair: hence the transition units.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._layout import Layout
from ._meta import model_meta
from ._model import Model
from ._registry import ConstructionError
from ._rnn import RNNWeights

__all__ = ["DFA", "CompiledDFA", "compile_dfa", "dfa_model"]


def _as_int(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConstructionError(f"{what} must be an integer, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class DFA:
    """A deterministic finite automaton over the token ids ``[0, alphabet_size)``.

    Attributes:
        num_states: S >= 1; states are ``0 … S-1``.
        alphabet_size: |A| >= 1; symbols are the token ids ``0 … |A|-1``.
        transitions: ``δ`` as ``S`` rows of ``|A|`` next states (a nested sequence or an int
            array ``[S, |A|]``), or a mapping ``{(q, c): q'}``; it must be total. Stored as a tuple
            of tuples.
        start: q0.
        accepting: F, a set of states (stored as a sorted tuple).

    Every defect (a missing transition, a state index out of range, an empty alphabet, ...)
    raises :class:`ConstructionError` with a one-line message.
    """

    num_states: int
    alphabet_size: int
    transitions: Any  # any form above on input; ``tuple[tuple[int, ...], ...]`` once constructed
    start: int = 0
    accepting: Any = ()  # any iterable of states on input; a sorted ``tuple[int, ...]`` once constructed

    def __post_init__(self):
        S = _as_int(self.num_states, "num_states")
        A = _as_int(self.alphabet_size, "alphabet_size")
        if S < 1:
            raise ConstructionError(f"a DFA needs at least one state, got num_states={S}")
        if A < 1:
            raise ConstructionError(f"a DFA needs a non-empty alphabet, got alphabet_size={A}")
        table = self._table(self.transitions, S, A)
        start = _as_int(self.start, "start")
        if not 0 <= start < S:
            raise ConstructionError(f"start state {start} is out of range [0, {S})")
        try:
            acc = sorted({_as_int(q, "accepting state") for q in self.accepting})
        except TypeError:
            raise ConstructionError(f"accepting must be a set of states, got {self.accepting!r}") from None
        for q in acc:
            if not 0 <= q < S:
                raise ConstructionError(f"accepting state {q} is out of range [0, {S})")
        object.__setattr__(self, "num_states", S)
        object.__setattr__(self, "alphabet_size", A)
        object.__setattr__(self, "transitions", table)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "accepting", tuple(acc))

    @staticmethod
    def _table(transitions, S: int, A: int) -> tuple[tuple[int, ...], ...]:
        if isinstance(transitions, Mapping):
            rows: list[list] = [[None] * A for _ in range(S)]
            for key, target in transitions.items():
                try:
                    q, c = key
                except (TypeError, ValueError):
                    raise ConstructionError(f"transition keys must be (state, symbol) pairs, got {key!r}") from None
                q, c = _as_int(q, "a transition's state"), _as_int(c, "a transition's symbol")
                if not 0 <= q < S:
                    raise ConstructionError(f"transition from state {q}: state out of range [0, {S})")
                if not 0 <= c < A:
                    raise ConstructionError(f"transition on symbol {c}: symbol out of range [0, {A})")
                rows[q][c] = target
        else:
            if isinstance(transitions, np.ndarray):
                transitions = transitions.tolist()
            if not isinstance(transitions, Sequence) or isinstance(transitions, (str, bytes)):
                raise ConstructionError(
                    f"transitions must be a table [S][|A|] or a mapping, got {type(transitions).__name__}"
                )
            if len(transitions) != S:
                raise ConstructionError(f"transition table has {len(transitions)} rows, expected one per state ({S})")
            rows = []
            for q, row in enumerate(transitions):
                if isinstance(row, np.ndarray):
                    row = row.tolist()
                if not isinstance(row, Sequence) or isinstance(row, (str, bytes)):
                    raise ConstructionError(f"transition row of state {q} must be a sequence, got {row!r}")
                if len(row) > A:
                    raise ConstructionError(f"state {q} has {len(row)} transitions, more than the {A} symbols")
                rows.append(list(row) + [None] * (A - len(row)))
        table = []
        for q, row in enumerate(rows):
            out: list[int] = []
            for c, target in enumerate(row):
                if target is None:
                    raise ConstructionError(f"missing transition: state {q} on symbol {c}")
                target = _as_int(target, f"transition ({q}, {c})")
                if not 0 <= target < S:
                    raise ConstructionError(f"transition ({q}, {c}) -> {target}: state out of range [0, {S})")
                out.append(target)
            table.append(tuple(out))
        return tuple(table)

    # -- the automaton
    def delta(self, q: int, c: int) -> int:
        return self.transitions[q][c]

    def table(self) -> np.ndarray:
        """int64 ``[S, |A|]``."""
        return np.array(self.transitions, dtype=np.int64).reshape(self.num_states, self.alphabet_size)

    def run(self, tokens) -> np.ndarray:
        """Final states, int64 ``[B]``, for int tokens ``[B, L]``."""
        x = np.asarray(tokens, dtype=np.int64)
        flat = self.table().ravel()
        q = np.full(x.shape[0], self.start, dtype=np.int64)
        for i in range(x.shape[1]):
            q = flat[q * self.alphabet_size + x[:, i]]
        return q

    def accepts(self, tokens) -> np.ndarray:
        """bool ``[B]``."""
        return np.isin(self.run(tokens), list(self.accepting))

    def reachable(self) -> list[int]:
        """States reachable from the start state, sorted."""
        seen, todo = {self.start}, [self.start]
        while todo:
            q = todo.pop()
            for target in self.transitions[q]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return sorted(seen)

    def live(self) -> list[int]:
        """States from which some string reaches an accepting state, sorted."""
        into: list[list[int]] = [[] for _ in range(self.num_states)]
        for q, row in enumerate(self.transitions):
            for target in row:
                into[target].append(q)
        seen, todo = set(self.accepting), list(self.accepting)
        while todo:
            q = todo.pop()
            for p in into[q]:
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return sorted(seen)

    def minimize(self) -> DFA:
        """The minimal DFA of the same language (Moore's partition refinement over the reachable
        states); states renumbered in order of first appearance from the start state."""
        reach = self.reachable()
        acc = set(self.accepting)
        block = {q: int(q in acc) for q in reach}
        while True:
            signature = {q: (block[q],) + tuple(block[t] for t in self.transitions[q]) for q in reach}
            ids: dict[tuple[int, ...], int] = {}
            new = {q: ids.setdefault(signature[q], len(ids)) for q in reach}
            if len(ids) == len(set(block.values())):
                break
            block = new
        order, seen, todo = [], set(), [block[self.start]]
        rep: dict[int, int] = {}
        for q in reach:
            rep.setdefault(block[q], q)
        while todo:  # breadth-first renumbering from the start block
            b = todo.pop(0)
            if b in seen:
                continue
            seen.add(b)
            order.append(b)
            todo.extend(block[t] for t in self.transitions[rep[b]])
        index = {b: i for i, b in enumerate(order)}
        table = [[index[block[t]] for t in self.transitions[rep[b]]] for b in order]
        accepting = [index[block[q]] for q in reach if q in acc]
        return DFA(len(order), self.alphabet_size, table, 0, set(accepting))

    def describe(self) -> dict:
        return {
            "num_states": self.num_states,
            "alphabet_size": self.alphabet_size,
            "transitions": [list(r) for r in self.transitions],
            "start": self.start,
            "accepting": list(self.accepting),
        }


@dataclasses.dataclass(frozen=True)
class CompiledDFA:
    """The RNN of a DFA (module docstring).

    Attributes:
        weights: :class:`RNNWeights` (``win [|A|, m]``, ``wh [m, m]``, ``b [m]``, ``h0 [m]``,
            ``readout_w [m, 2]``, ``readout_b [2]``).
        units: per hidden coordinate, ``(state, symbol)``; symbol ``None`` for the start unit.
        layout: the hidden :class:`Layout` (one block per symbol, then ``start``).
    """

    weights: RNNWeights
    units: tuple
    layout: Layout

    @property
    def width(self) -> int:
        return len(self.units)

    def describe(self) -> dict:
        return {
            "width": self.width,
            "units": [list(u) for u in self.units],
            "hidden_layout": self.layout.describe(),
            "state_values": [0, 1],
            "state_bits_per_unit": 1,
            "state_bits": self.width,
            "logit_margin": 1.0,
        }


def compile_dfa(dfa: DFA) -> CompiledDFA:
    """The exact ReLU RNN of ``dfa`` (module docstring: units, weights, proof)."""
    if not isinstance(dfa, DFA):
        raise ConstructionError(f"compile_dfa takes a DFA, got {type(dfa).__name__}")
    A = dfa.alphabet_size
    live = set(dfa.live())
    reach = dfa.reachable()
    per_symbol = [sorted({dfa.delta(q, c) for q in reach} & live) for c in range(A)]
    # a start unit when q0 is live but no transition unit carries it (or, for the empty
    # language, as the one coordinate of an RNN whose state is always 0)
    needs_start = (dfa.start in live and not any(dfa.start in targets for targets in per_symbol)) or not any(per_symbol)
    units = [(q, c) for c in range(A) for q in per_symbol[c]] + ([(dfa.start, None)] if needs_start else [])
    layout = Layout(*[(f"after[{c}]", len(per_symbol[c])) for c in range(A)], ("start", int(needs_start)))
    m = len(units)

    wh = np.zeros((m, m))
    win = np.zeros((A, m))
    for j, (q2, c2) in enumerate(units):
        if c2 is None:  # the start unit: never fires again
            win[:, j] = -1.0
            continue
        win[:, j] = -1.0
        win[c2, j] = 0.0
        for i, (q, _) in enumerate(units):
            wh[i, j] = float(dfa.delta(q, c2) == q2)
    h0 = np.zeros(m)
    if dfa.start in live:
        first = m - 1 if needs_start else next(i for i, (q, _) in enumerate(units) if q == dfa.start)
        h0[first] = 1.0
    accepting = np.array([float(q in dfa.accepting) for q, _ in units]).reshape(m)
    readout_w = np.stack([-accepting, accepting], axis=1).reshape(m, 2)
    readout_b = np.array([1.0, 0.0])
    weights = RNNWeights(win=win, wh=wh, b=np.zeros(m), h0=h0, readout_w=readout_w, readout_b=readout_b)
    return CompiledDFA(weights, tuple(units), layout)


def dfa_model(
    dfa: DFA,
    *,
    task: str = "dfa",
    task_params: dict | None = None,
    seq_len: int | None = None,
    build: dict | None = None,
    construction: dict | None = None,
) -> Model:
    """A :class:`Model` (``arch="rnn"``, two classes: reject, accept) running ``compile_dfa(dfa)``.

    ``task``/``task_params`` name the task the model claims to compute (``"dfa"``, the default,
    is no registered task: such a model can be run but not ``verify.check``-ed).
    """
    compiled = compile_dfa(dfa)
    info = {
        "theorem": "DFA compilation (paper App. E; docs/PAPER.md §11.3: one unit per transition)",
        "dfa": dfa.describe(),
        **compiled.describe(),
    }
    info.update(construction or {})
    meta = model_meta(
        "rnn",
        task,
        dict(task_params or {}),
        seq_len=seq_len,
        vocab_size=dfa.alphabet_size,
        build=dict(build or {"dfa": json.loads(json.dumps(dfa.describe()))}),
        state_bits_per_unit=1,  # every unit is 0 or 1
        construction=info,
    )
    return Model(compiled.weights, meta)
