"""The hypotheses of each lower bound, as data (docs/BOUNDS.md §1).

A closed form is a theorem: *if* the task has these parameters, the parties split the input this
way and the model computes with b-bit numbers, *then* ``size >= need``. :class:`Domain` records
the "if": the parameter conditions the proof uses, the split its communication argument is about,
which communication complexity it bounds (one-way, as Theorem 2's RNN protocol sends one message;
two-way, as Theorem 4's Transformer protocol talks both ways), and the precision model of the
reduction. ``Domain.check(task, params)`` returns why the bound does not apply, or None; outside
its domain ``bounds.lower_bounds`` reports "no bound known" with that reason, never a number.
"""

from __future__ import annotations

import dataclasses

__all__ = ["DOMAINS", "EVEN", "RNN_PRECISION", "TF1_PRECISION", "Domain", "Requirement", "two_way"]

RNN_PRECISION = (
    "an RNN whose state is w numbers of b bits each; the state after a prefix is all that reaches the rest (Theorem 2)"
)
TF1_PRECISION = (
    "a one-layer Transformer with b-bit numbers, softmax attention read at the last "
    "position, partial sums exact in b + log n bits (Theorem 4)"
)

_OPS = {
    ">=": (lambda v, x: v >= x, "at least"),
    "<=": (lambda v, x: v <= x, "at most"),
    "==": (lambda v, x: v == x, "equal to"),
    "even": (lambda v, x: v % 2 == 0, "even"),
}


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One condition on a task parameter: ``param op value`` (``value`` may name another parameter).

    ``op`` is one of ``>=``, ``<=``, ``==``, ``even`` (no value).
    """

    param: str
    op: str
    value: object = None

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"unknown requirement {self.op!r}; known: {', '.join(_OPS)}")

    def text(self) -> str:
        if self.op == "even":
            return f"{self.param} even"
        return f"{self.param} {self.op} {self.value}"

    def fails(self, params: dict) -> str | None:
        """Why ``params`` violates this condition, or None."""
        if self.param not in params:
            return f"needs the parameter {self.param}"
        v = params[self.param]
        x = params.get(self.value, self.value) if isinstance(self.value, str) else self.value
        test, words = _OPS[self.op]
        if test(v, x):
            return None
        want = words if self.op == "even" else f"{words} {x}"
        return f"needs {self.param} {want} (got {self.param}={v})"


@dataclasses.dataclass(frozen=True)
class Domain:
    """Where a lower bound is proved.

    Attributes:
        task: the task's name.
        requires: the parameter conditions the proof uses (:class:`Requirement`).
        split: the Alice/Bob split of the communication argument, as ``tasks.Task.split`` takes
            it: ``"prefix"`` (the task's default cut), ``"halves"``, ``"odd_even"`` or ``"alice"``
            (``split_equality``'s own split).
        complexity: ``"one-way"`` (Alice -> Bob, one message; Bob outputs) or ``"two-way"``
            (any deterministic protocol in which Bob outputs); ``need`` bounds it from below
            under ``split``.
        precision: the model class and number format of the reduction.
        why: one line: what the proof needs these hypotheses for.
    """

    task: str
    requires: tuple
    split: str
    complexity: str
    precision: str
    why: str = ""

    def check(self, task: str, params: dict) -> str | None:
        """None if the bound applies to ``task`` at ``params``, else the reason it does not."""
        if task != self.task:
            return f"the bound is about {self.task}, not {task}"
        reasons = [r for r in (req.fails(params) for req in self.requires) if r]
        return "; ".join(reasons) or None

    def text(self) -> str:
        return ", ".join(r.text() for r in self.requires) or "every parameter"

    def summary(self) -> dict:
        return {
            "requires": self.text(),
            "split": self.split,
            "complexity": self.complexity,
            "precision": self.precision,
        }


def _dom(task: str, requires: list, split: str, complexity: str, why: str) -> Domain:
    """A task's domain: its requirements on the parameters, the split, which complexity it bounds."""
    precision = RNN_PRECISION if complexity == "one-way" else TF1_PRECISION
    return Domain(task, tuple(Requirement(*r) for r in requires), split, complexity, precision, why)


EVEN = ("n", "even")
# the hypotheses of each task's main bound (the theorem's), as data; bounds/_closed_forms.py uses them
DOMAINS = {
    "index_lookup": _dom(
        "index_lookup",
        [("n", ">=", 1), ("alphabet_size", ">=", 2)],
        "prefix",
        "one-way",
        "INDEX on n symbols of A: the A^n strings are distinct rows (Bob's index tells any two apart)",
    ),
    "associative_recall": _dom(
        "associative_recall",
        [("n", ">=", 1), ("num_keys", ">=", "n"), ("num_values", ">=", 1)],
        "prefix",
        "one-way",
        "n distinct keys fixed in advance; the V^n value strings are distinct rows",
    ),
    "equality": _dom(
        "equality",
        [EVEN],
        "halves",
        "one-way",
        "EQ on the two halves: 2^(n/2) distinct rows (RNN); fooling set {(x, x)} (Transformer)",
    ),
    "disjointness": _dom(
        "disjointness",
        [EVEN],
        "halves",
        "one-way",
        "DISJ on the two halves: 2^(n/2) distinct rows (RNN); fooling set {(x, not x)} (Transformer)",
    ),
    "nearest_neighbor": _dom(
        "nearest_neighbor",
        [("n", ">=", 1), ("dim", ">=", 2), ("margin", "<=", 2), ("num_labels", ">=", 1)],
        "prefix",
        "one-way",
        "keys from a code whose inner products are <= 1 - margin (nn_keys); Bob queries each key",
    ),
    "dyck": _dom(
        "dyck",
        [EVEN, ("types", ">=", 2), ("depth", ">=", 2)],
        "odd_even",
        "two-way",
        "Lemma 1's fooling set (Dyck-(2,2) strings over two of the types) fools Dyck-(K,d) for K, d >= 2",
    ),
    "split_equality": _dom(
        "split_equality",
        [EVEN],
        "alice",
        "two-way",
        "EQ of Alice's and Bob's bits under the task's own split: the identity matrix of size 2^(n/2), "
        "fooling set {(x, x)}",
    ),
}


def two_way(task: str) -> Domain:
    """The domain of ``task``'s bound read as a two-way bound (the one-layer Transformer's)."""
    return dataclasses.replace(DOMAINS[task], complexity="two-way", precision=TF1_PRECISION)
