"""Bounded Dyck languages with a constant-size RNN: the stack DFA, compiled (paper App. E; docs/PAPER.md §11.3).

Task ``dyck`` (docs/DESIGN.md §5.2): tokens ``2j`` open a bracket of type ``j`` and ``2j+1`` close it;
accept iff the string is well matched and no prefix has more than ``D`` unclosed brackets.

The paper proves (Lemma 1, Thm 5) that a one-layer Transformer needs width·heads growing like
n/log n for Dyck-(2,2), and remarks (App. E, after Thm 10) that a *constant-size* RNN suffices
because the language is regular, with 7 stack states plus a reject sink; it constructs none.
This module builds it.

The stack DFA of Dyck-(k, D)
    States: the stacks ``σ`` (tuples of bracket types, bottom first) of depth ``0 … D`` — there
    are ``Σ_{d≤D} k^d`` (7 for k = D = 2) — and a sink ``⊥``. Start and only accepting state:
    the empty stack. ``δ(σ, open j) = σ·j`` if ``|σ| < D`` else ``⊥``; ``δ(σ·j, close j) = σ``;
    every other transition, and every transition of ``⊥``, goes to ``⊥``.

    It is minimal: two different stacks ``σ ≠ τ`` are told apart by a suffix (if ``|σ| ≠ |τ|``
    close ``σ``'s brackets in order; if ``|σ| = |τ|`` the same suffix fails for ``τ`` at the first
    differing type), every stack differs from ``⊥`` (it can be completed), and ``⊥`` is the one
    dead state. The tests check this with :meth:`DFA.minimize`.

The RNN (``constructions.dfa.compile_dfa``)
    One unit per pair ``(δ(σ, c), c)`` with a live result: after ``open j`` the result is a stack
    ending in ``j`` of depth 1…D (``Σ_{d<D} k^d`` of them), after ``close j`` any stack of depth
    0…D−1 (``Σ_{d<D} k^d``). Width ``m = 2k·Σ_{d<D} k^d`` (= ``2k(k^D−1)/(k−1)``, or ``2D`` for
    k = 1): **12 for Dyck-(2,2)**, independent of n. The sink costs no unit: it is the zero state.
    The start state (the empty stack) is carried by the unit ``(ε, close 0)``, so no start unit
    is needed. Exactness, the margin (1) and the state being exactly one-hot or zero in every
    precision down to ``fixed:0.0`` are proved in :mod:`constructions.dfa`. State: m bits.

Lower bound beside it: Lemma 4 of the paper (a time-invariant RNN that agrees with a minimal
DFA of s states has ``w·b ≥ log2 s``): ``log2 8 = 3`` bits for Dyck-(2,2).
"""

from __future__ import annotations

from ._errors import ConstructionError, check_int
from ._model import Model
from ._registry import register
from .dfa import DFA, dfa_model

__all__ = ["dyck_dfa", "dyck_width", "build_dyck_rnn", "MAX_UNITS"]

MAX_UNITS = 4096  # refuse Dyck-(k, D) RNNs wider than this (Wh is m×m float64)


def dyck_width(types: int, depth: int) -> int:
    """``2k·Σ_{d<D} k^d``: the width of the compiled Dyck-(k, D) RNN (module docstring)."""
    return 2 * types * sum(types**d for d in range(depth))


def dyck_dfa(types: int = 2, depth: int = 2) -> DFA:
    """The stack DFA of Dyck-(types, depth): stacks in breadth-first order (state 0 the empty
    stack), then the sink; token ``2j`` opens type ``j``, ``2j+1`` closes it."""
    types = check_int("types", types, 1)
    depth = check_int("depth", depth, 1)
    stacks: list[tuple[int, ...]] = [()]
    frontier: list[tuple[int, ...]] = [()]
    for _ in range(depth):
        frontier = [s + (j,) for s in frontier for j in range(types)]
        stacks.extend(frontier)
    index = {s: i for i, s in enumerate(stacks)}
    sink = len(stacks)
    table = [[sink] * (2 * types) for _ in range(sink + 1)]
    for s, i in index.items():
        for j in range(types):
            if len(s) < depth:
                table[i][2 * j] = index[s + (j,)]
            if s and s[-1] == j:
                table[i][2 * j + 1] = index[s[:-1]]
    return DFA(sink + 1, 2 * types, table, start=0, accepting={0})


@register("dyck", "rnn")
def build_dyck_rnn(n: int, types: int = 2, depth: int = 2, seed: int = 0) -> Model:
    """Constant-width ReLU RNN for Dyck-(types, depth) at length n (module docstring).

    Args:
        n: input length (>= 1); only the metadata depends on it, never the weights.
        types: k >= 1 bracket types.
        depth: D >= 1, the depth bound.
        seed: unused (the construction is deterministic); recorded in the metadata.
    """
    n = check_int("n", n, 1)
    types = check_int("types", types, 1)
    depth = check_int("depth", depth, 1)
    width = dyck_width(types, depth)
    if width > MAX_UNITS:
        raise ConstructionError(
            f"the Dyck-({types}, {depth}) stack DFA needs {width} units, more than {MAX_UNITS}; "
            "use a smaller number of types or a smaller depth bound"
        )
    dfa = dyck_dfa(types, depth)
    model = dfa_model(
        dfa,
        task="dyck",
        task_params={"n": n, "types": types, "depth": depth},
        seq_len=n,
        build={"task": "dyck", "arch": "rnn", "n": n, "types": types, "depth": depth, "seed": int(seed)},
        construction={
            "theorem": "constant-size RNN for Dyck-(k, D) (paper App. E remark; built here)",
            "stack_states": dfa.num_states - 1,
            "width_rule": "2k·Σ_{d<D} k^d",
        },
    )
    if model.size()["width"] != width:  # the closed form and the compiler must agree
        raise AssertionError(f"compiled width {model.size()['width']} != 2k·Σ k^d = {width}")
    return model
