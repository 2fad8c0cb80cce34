"""Reference automata written from the task definitions (for verify/certify/_rnn_states.py).

A :class:`ReferenceDFA` is built from the task's definition alone — never from a model or a
construction — minimised by Moore's partition refinement, and checked against the task's
reference solver (``task.solve``) before any proof uses it.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

import tasks

from .._engine import VerifyError

__all__ = ["REFERENCES", "ReferenceDFA", "reference_dfa"]


@dataclasses.dataclass(frozen=True)
class ReferenceDFA:
    """``delta [S, A]`` (int), ``start``, ``accepting`` (bool ``[S]``), ``label``: the state names."""

    delta: np.ndarray
    start: int
    accepting: np.ndarray
    label: tuple

    @property
    def num_states(self) -> int:
        return int(self.delta.shape[0])

    def accepts(self, x: np.ndarray) -> np.ndarray:
        q = np.full(x.shape[0], self.start, dtype=np.int64)
        for i in range(x.shape[1]):
            q = self.delta[q, x[:, i]]
        return self.accepting[q]


def _minimise(delta: np.ndarray, start: int, accepting: np.ndarray, label: list) -> ReferenceDFA:
    """Moore's partition refinement (all states assumed reachable); blocks numbered from ``start``."""
    block = accepting.astype(np.int64)
    while True:
        sig = np.concatenate([block[:, None], block[delta]], axis=1)
        _, new = np.unique(sig, axis=0, return_inverse=True)
        new = new.reshape(-1)
        if new.max() == block.max():
            break
        block = new
    order = {int(block[start]): 0}
    todo = deque([start])
    rep: dict[int, int] = {}
    while todo:  # breadth-first renumbering
        q = todo.popleft()
        rep.setdefault(order[int(block[q])], q)
        for t in delta[q]:
            if int(block[t]) not in order:
                order[int(block[t])] = len(order)
                todo.append(int(t))
    S = len(order)
    table = np.array([[order[int(block[t])] for t in delta[rep[b]]] for b in range(S)], dtype=np.int64)
    acc = np.array([bool(accepting[rep[b]]) for b in range(S)])
    return ReferenceDFA(table.reshape(S, delta.shape[1]), 0, acc, tuple(label[rep[b]] for b in range(S)))


def _dyck_reference(types: int = 2, depth: int = 2, **_) -> ReferenceDFA:
    """Dyck-(types, depth) from its definition: a configuration is the list of unclosed bracket
    types (or "dead" once the string can no longer be in the language, a dead end for good);
    token ``2j`` opens type ``j`` (dead beyond ``depth`` unclosed), ``2j+1`` closes the innermost
    bracket if it has type ``j`` (dead otherwise). Accept iff nothing is left unclosed."""
    A = 2 * types
    dead = "dead"
    label: list[tuple[int, ...] | str] = [()]  # the configurations, "dead" among them
    index: dict[tuple[int, ...] | str, int] = {(): 0}
    delta = []
    i = 0
    while i < len(label):
        conf = label[i]
        row = []
        for tok in range(A):
            kind, opening = tok // 2, tok % 2 == 0
            nxt: tuple[int, ...] | str
            if isinstance(conf, str):  # dead
                nxt = dead
            elif opening:
                nxt = conf + (kind,) if len(conf) < depth else dead
            else:
                nxt = conf[:-1] if conf and conf[-1] == kind else dead
            if nxt not in index:
                index[nxt] = len(label)
                label.append(nxt)
            row.append(index[nxt])
        delta.append(row)
        i += 1
    return _minimise(np.array(delta, dtype=np.int64), 0, np.array([c == () for c in label]), label)


REFERENCES = {"dyck": _dyck_reference}  # task name -> (task params -> ReferenceDFA)


def reference_dfa(task) -> ReferenceDFA:
    """The task's minimal DFA from its definition, checked against ``task.solve`` on every string of
    length ≤ ℓ (``A^ℓ ≤ 4096`` per length) and on random strings and the task's own samples at its
    length (1024 of each, fewer for n > 1024: about 2^20 symbols each)."""
    if task.name not in REFERENCES:
        raise VerifyError(
            f"no reference automaton for task {task.name!r} (finite-state certificates: {', '.join(REFERENCES)})"
        )
    ref = REFERENCES[task.name](**task.params)
    params = {k: v for k, v in task.params.items() if k != "n"}
    A = ref.delta.shape[1]
    for L in range(1, 64):
        if A**L > 4096:
            break
        small = tasks.get(task.name, n=L, **params)
        _agree(ref, small, np.concatenate(list(small.enumerate())))
    rng = np.random.default_rng(0)
    count = max(16, min(1024, (1 << 20) // task.seq_len))  # about 2^21 symbols in all
    _agree(ref, task, np.concatenate([rng.integers(0, A, (count, task.seq_len)), task.sample(rng, count)]))
    return ref


def _agree(ref, task, x):
    if not np.array_equal(ref.accepts(x).astype(np.int64), np.asarray(task.solve(x)).astype(np.int64)):
        raise VerifyError(f"the reference automaton of {task.name} disagrees with the task's solver")
