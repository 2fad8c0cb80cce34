"""Myhill–Nerode check of an RNN: does it reach at least as many states as the task requires?

Theorem 2's protocol, read as a state count. Cut the input at position ``cut`` (Alice holds the
prefix ``x[:cut]``, Bob the suffix). After the prefix the RNN is in state ``h_cut``, and
everything it outputs afterwards is a function of ``h_cut`` and the suffix. So two prefixes ``a``,
``a'`` that reach the same state get the same answer on every suffix ``c`` that completes both
to valid inputs. Call ``a``, ``a'`` *distinguishable* if some such ``c`` gives different answers
(``M[a, c] ≠ M[a', c]``, both defined, in the communication matrix of
:func:`bounds.communication_matrix`). Then

* pairwise distinguishable prefixes reach pairwise different states, so the number of distinct
  states the RNN reaches at ``cut`` is at least the size of any pairwise-distinguishable set; and
* prefixes that reach the same state must be *compatible* (never distinguishable).

For a total matrix (every prefix/suffix pair is an input) "distinguishable" means "different
rows", the distinct rows form the largest pairwise-distinguishable set, and their number is the
exact minimum (the Myhill–Nerode count at this length). For a partial matrix (associative recall:
keys distinct, the query one of them) distinguishability is not transitive; the largest
pairwise-distinguishable set is a maximum clique, so we certify a lower bound with a greedy
clique (each member checked against every other) — any clique is a valid lower bound.

Everything about the task comes from the reference solver (through the communication matrix);
only ``model.hidden_states`` comes from the model.
"""

from __future__ import annotations

import numpy as np

import bounds
import tasks

__all__ = ["distinguishable", "pairwise_distinguishable_rows", "state_count_check", "myhill_nerode"]


def distinguishable(values: np.ndarray) -> np.ndarray:
    """bool ``[R, R]``: rows a, b of a (partial, ``-1`` = undefined) matrix differ on a column
    where both are defined."""
    values = np.asarray(values)
    defined = (values >= 0).astype(np.int64)
    both = defined @ defined.T
    agree = np.zeros_like(both)
    for v in np.unique(values[values >= 0]):
        e = (values == v).astype(np.int64)
        agree += e @ e.T
    return both > agree


def pairwise_distinguishable_rows(values: np.ndarray) -> list[int]:
    """Row indices, pairwise distinguishable (a clique of :func:`distinguishable`), found greedily
    by decreasing degree, then checked pair by pair. For a total matrix this is one row per
    distinct row, so its size is the number of distinct rows."""
    dist = distinguishable(values)
    order = np.argsort(-dist.sum(axis=1), kind="stable")
    chosen: list[int] = []
    for r in order:
        if all(dist[r, c] for c in chosen):
            chosen.append(int(r))
    sub = dist[np.ix_(chosen, chosen)]
    assert (sub | np.eye(len(chosen), dtype=bool)).all(), "greedy clique is not pairwise distinguishable"
    return sorted(chosen)


def state_count_check(model, cut: int, task=None, precision: str = "float64") -> dict:
    """One cut: the states the RNN reaches after every valid prefix of length ``cut`` against the
    number the task requires (module docstring). Returns a report row; ``status`` is ``"pass"``
    iff ``model_states >= required_states`` and prefixes sharing a state are compatible."""
    if model.family != "rnn":
        raise TypeError("the Myhill–Nerode check applies to RNNs")
    task = task or tasks.get(model.task, **model.task_params)
    split = task.split("prefix", cut=cut)
    mat = bounds.communication_matrix(task, split)
    R = mat.rows.shape[0]
    # one valid completion per prefix -> the state after the prefix (it depends on the prefix only)
    col = np.argmax(mat.values >= 0, axis=1)
    x = np.empty((R, task.seq_len), dtype=np.int64)
    x[:, list(split.alice)] = mat.rows
    x[:, list(split.bob)] = mat.cols[col]
    pad = (1 << max(R - 1, 0).bit_length()) - R  # a power-of-two batch: few compilations
    x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
    states = model.hidden_states(x, precision=precision)[:R, cut, :]
    _, state_of = np.unique(states, axis=0, return_inverse=True)
    state_of = state_of.reshape(-1)
    clique = pairwise_distinguishable_rows(mat.values)
    dist = distinguishable(mat.values)
    same = state_of[:, None] == state_of[None, :]
    clashes = np.argwhere(same & dist)
    model_states = int(state_of.max()) + 1 if R else 0
    row = {
        "task": task.name,
        "n": task.params.get("n"),
        "task_params": task.params,
        "cut": int(cut),
        "prefixes": int(R),
        "distinct_rows": mat.distinct_rows(),
        "matrix_total": mat.total,
        "required_states": len(clique),
        "bound": "distinct rows" if mat.total else "pairwise-distinguishable rows (greedy clique)",
        "model_states": model_states,
        "width": int(model.weights.wh.shape[0]),
        "consistent": not len(clashes),
        "clash": None if not len(clashes) else {"prefixes": [mat.rows[i].tolist() for i in clashes[0]]},
        "precision": precision,
    }
    row["status"] = "pass" if model_states >= row["required_states"] and row["consistent"] else "fail"
    return row


def myhill_nerode(model, cuts=None, task=None, precision: str = "float64") -> list[dict]:
    """:func:`state_count_check` at every cut in ``cuts`` (default ``1 … L−1``)."""
    task = task or tasks.get(model.task, **model.task_params)
    if cuts is None:
        cuts = range(1, task.seq_len)
    return [state_count_check(model, c, task=task, precision=precision) for c in cuts]
