"""Bounded-depth Dyck languages, Dyck-(types, depth) (paper §4.1, App. E, App. H.1;
docs/PAPER.md §3.3, §11, §13.3)."""

from __future__ import annotations

import functools

import numpy as np

from ._base import TaskError, TokenTask, check_int, check_rng


class Dyck(TokenTask):
    """Membership in Dyck-(types, depth): well-matched bracket strings over ``types`` bracket types
    in which every prefix has at most ``depth`` unclosed brackets.

    Parameters:
      n:     string length, >= 1.  For odd n no string is valid.
      types: number of bracket types, >= 1 (default 2).
      depth: depth bound, >= 1 (default 2).  The paper's language is Dyck-(2,2).

    Inputs: int64 ``[B, n]``; token ``2j`` opens a bracket of type ``j`` and ``2j+1`` closes it
    (for Dyck-(2,2): ``( = 0, ) = 1, [ = 2, ] = 3``).  ``vocab_size = 2 * types``.

    Output: 1 iff the string is well matched and no prefix has more than ``depth`` unclosed
    brackets.  Example: ``([])[]`` is in Dyck-(2,2); ``([[]])`` is not (depth 3).

    Enumeration: all ``(2 types)^n`` strings in lexicographic order of token ids (position 0 most
    significant).  There are ``2^(n-1)`` valid Dyck-(2,2) strings of each even length n
    (paper Lemma 1).

    Sampling (paper App. H.1): ``sample`` makes each example positive with probability 1/2.

    * ``sample_positive``: for ``i = 0, ..., n-1`` with ``d`` unclosed brackets and ``n - i``
      positions left:
        - ``d == 0``: open a bracket of a uniform type;
        - ``d == depth`` or ``d == n - i``: close the top bracket;
        - otherwise: with probability 1/2 open a bracket of a uniform type, else close the top.
      For ``depth == 2`` this is exactly the paper's generator (n - 2 free steps, then close
      everything, or append a depth-1 pair if the stack is empty): the forced ``d == n - i``
      closes only act in the last two steps.  The paper's wording at depth 1 is ambiguous between
      1/3 for each of (, [, ) and 1/2 open-or-close; we take 1/2 open (type uniform), 1/2 close.
    * ``sample_negative``: take a positive; pick ``c ~ Uniform{1, ..., max(1, n // 10)}`` distinct
      positions; at each, with probability 1/2 change the bracket's type to a uniform other type
      (only when ``types >= 2``; with one type this step is always a flip), otherwise flip it
      open <-> close.  If the result is still valid, redo the corruption of the same positive.
    * Odd n: there are no valid strings; every sample is a uniform random string (label 0) and
      ``sample_positive`` raises TaskError.

    Default prefix split: cut at ``n // 2``.  The split of the paper's lower bound (Lemma 1) is
    ``odd_even``: Alice holds the paper's odd (1-based) positions, i.e. 0-based 0, 2, 4, ...
    """

    name = "dyck"

    def __init__(self, *, n: int, types: int = 2, depth: int = 2):
        self.n = check_int("n", n, 1)
        self.types = check_int("types", types, 1)
        self.depth = check_int("depth", depth, 1)
        self._params = {"n": self.n, "types": self.types, "depth": self.depth}

    @property
    def seq_len(self) -> int:
        return self.n

    @property
    def vocab_size(self) -> int:
        return 2 * self.types

    @property
    def num_classes(self) -> int:
        return 2

    def _radices(self):
        return [2 * self.types] * self.n

    def _default_cut(self):
        return self.n // 2

    def _has_halves(self):
        return True

    # ---- membership -----------------------------------------------------------------------------
    def _solve(self, x):
        return _is_valid(x, self.types, self.depth)

    # ---- sampling --------------------------------------------------------------------------------
    def sample_positive(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """``batch`` valid strings, int64 ``[batch, n]``, by the generator described in the class
        docstring.  Raises TaskError for odd n."""
        check_rng(rng)
        batch = check_int("batch", batch, 0)
        if self.n % 2:
            raise TaskError(f"dyck has no valid strings of odd length n={self.n}")
        return self._positive(rng, batch)

    def sample_negative(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """``batch`` invalid strings, int64 ``[batch, n]``: corrupted positives (uniform random
        strings when n is odd)."""
        check_rng(rng)
        batch = check_int("batch", batch, 0)
        return self._negative(rng, batch)

    def _sample(self, rng, batch):
        if self.n % 2:
            return self._negative(rng, batch)
        positive = rng.random(batch) < 0.5
        out = np.empty((batch, self.n), dtype=np.int64)
        out[positive] = self._positive(rng, int(positive.sum()))
        out[~positive] = self._negative(rng, int((~positive).sum()))
        return out

    def _positive(self, rng, batch):
        """The generator of the class docstring.  All its randomness is drawn first, one integer
        ``r`` in ``[0, 2 types)`` per position (``r < types``: "open a bracket of type r" where
        there is a choice, else "close"; at depth 0, "open type ``r mod types``"), then the strings
        are built from it: by the DFA of :func:`_dfa_table` (two table lookups a position) when it
        is small enough, else by an explicit stack (the same strings from the same draws; tested)."""
        n, types = self.n, self.types
        draws = rng.integers(0, 2 * types, size=(batch, n))
        tables = _generator_tables(types, min(self.depth, n))
        if tables is None:
            return _generate_stack(draws, types, self.depth)
        emit, step, depth_of, close_emit, close_step = tables
        vocab = 2 * types
        emit, step = emit.ravel(), step.ravel()
        out = np.empty((batch, n), dtype=np.int64)
        state = np.zeros(batch, dtype=np.int64)  # the empty stack
        for i in range(n):
            at = state * vocab + draws[:, i]
            if n - i <= self.depth:  # as many positions left as unclosed brackets: close
                forced = depth_of[state] == n - i
                out[:, i] = np.where(forced, close_emit[state], emit[at])
                state = np.where(forced, close_step[state], step[at])
            else:
                out[:, i] = emit[at]
                state = step[at]
        return out

    def _negative(self, rng, batch):
        n, types = self.n, self.types
        if n % 2:
            return rng.integers(0, 2 * types, size=(batch, n))
        positive = self._positive(rng, batch)
        out = positive.copy()
        todo = np.arange(batch)
        cmax = max(1, n // 10)
        while todo.size:
            x = positive[todo].copy()
            count = rng.integers(1, cmax + 1, size=todo.size)
            ranks = np.argsort(np.argsort(rng.random((todo.size, n)), axis=1), axis=1)
            chosen = ranks < count[:, None]
            swap = rng.random((todo.size, n)) < 0.5
            if types < 2:
                swap[:] = False
            shift = rng.integers(1, max(types, 2), size=(todo.size, n))  # in [1, types)
            swapped = 2 * (((x // 2) + shift) % types) + (x % 2)
            flipped = x ^ 1
            x = np.where(chosen, np.where(swap, swapped, flipped), x)
            out[todo] = x
            todo = todo[_is_valid(x, self.types, self.depth)]
        return out


MAX_DFA_STATES = 4096  # above this many stacks, _is_valid scans with an explicit stack instead


def _is_valid(x: np.ndarray, types: int, depth: int) -> np.ndarray:
    """Dyck-(types, depth) membership of each row of the int64 token array ``x`` ``[B, n]``
    (tokens already checked to lie in ``[0, 2 types)``)."""
    table = _dfa_table(types, min(depth, x.shape[1]))
    if table is None:
        return _is_valid_stack(x, depth)
    vocab = 2 * types
    flat = table.ravel()
    state = np.zeros(x.shape[0], dtype=np.int64)  # state 0: empty stack
    for i in range(x.shape[1]):
        state = flat[state * vocab + x[:, i]]
    return state == 0


def _stacks(types: int, depth: int) -> list[tuple[int, ...]]:
    """Every stack of at most ``depth`` bracket types (bottom first), by height, then
    lexicographically: the state order of :func:`_dfa_table` (the empty stack first)."""
    stacks: list[tuple[int, ...]] = [()]
    frontier: list[tuple[int, ...]] = [()]
    for _ in range(depth):
        frontier = [s + (t,) for s in frontier for t in range(types)]
        stacks.extend(frontier)
    return stacks


@functools.lru_cache(maxsize=32)
def _dfa_table(types: int, depth: int):
    """Transition table ``[S, 2 types]`` of the DFA whose states are the stacks of at most ``depth``
    bracket types (state 0 the empty stack) plus a reject sink (the last state); None when there
    would be more than MAX_DFA_STATES states."""
    count = sum(types**d for d in range(depth + 1)) + 1
    if count > MAX_DFA_STATES:
        return None
    stacks = _stacks(types, depth)
    index = {s: i for i, s in enumerate(stacks)}
    sink = len(stacks)
    table = np.full((sink + 1, 2 * types), sink, dtype=np.int64)
    for s, i in index.items():
        for t in range(types):
            if len(s) < depth:
                table[i, 2 * t] = index[s + (t,)]
            if s and s[-1] == t:
                table[i, 2 * t + 1] = index[s[:-1]]
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=32)
def _generator_tables(types: int, depth: int):
    """The positive generator as tables over the stacks of :func:`_dfa_table` (None where that has
    none): ``emit[s, r]`` and ``step[s, r]``, the token written and the next stack in stack ``s``
    on draw ``r``; ``depth_of[s]``; ``close_emit[s]``, ``close_step[s]``: closing the top bracket
    (the move forced at the end of the string)."""
    table = _dfa_table(types, depth)
    if table is None:
        return None
    stacks = _stacks(types, depth)  # the order of _dfa_table's states
    count = len(stacks)
    emit = np.zeros((count, 2 * types), dtype=np.int64)
    depth_of = np.array([len(s) for s in stacks], dtype=np.int64)
    close_emit = np.array([2 * s[-1] + 1 if s else 0 for s in stacks], dtype=np.int64)
    for i, s in enumerate(stacks):
        for r in range(2 * types):
            if not s:
                emit[i, r] = 2 * (r % types)
            elif len(s) == depth or r >= types:
                emit[i, r] = close_emit[i]
            else:
                emit[i, r] = 2 * r
    step = table[np.arange(count)[:, None], emit]
    close_step = np.where(depth_of > 0, table[np.arange(count), close_emit], 0)
    for a in (emit, step, depth_of, close_emit, close_step):
        a.flags.writeable = False
    return emit, step, depth_of, close_emit, close_step


def _generate_stack(draws: np.ndarray, types: int, depth: int) -> np.ndarray:
    """The positive generator with an explicit stack per row, from the same ``draws`` as the
    tables of :func:`_generator_tables` (for many types or a large depth bound)."""
    batch, n = draws.shape
    max_depth = min(depth, n)
    out = np.empty((batch, n), dtype=np.int64)
    stack = np.zeros((batch, max_depth), dtype=np.int64)  # bracket types, bottom first
    d = np.zeros(batch, dtype=np.int64)
    rows = np.arange(batch)
    for i in range(n):
        r = draws[:, i]
        must_close = (d == depth) | (d == n - i)
        opening = (d == 0) | (~must_close & (r < types))
        new_type = r % types
        top = stack[rows, np.maximum(d - 1, 0)]
        out[:, i] = np.where(opening, 2 * new_type, 2 * top + 1)
        slot = np.minimum(d, max_depth - 1)
        stack[rows, slot] = np.where(opening, new_type, stack[rows, slot])
        d += np.where(opening, 1, -1)
    return out


def _is_valid_stack(x: np.ndarray, depth: int) -> np.ndarray:
    """Membership by an explicit stack per row (for many types or a large depth bound)."""
    batch, n = x.shape
    max_depth = max(1, min(depth, n))
    stack = np.zeros((batch, max_depth), dtype=np.int64)
    d = np.zeros(batch, dtype=np.int64)
    ok = np.ones(batch, dtype=bool)
    rows = np.arange(batch)
    for i in range(n):
        token = x[:, i]
        opening = token % 2 == 0
        kind = token // 2
        top = stack[rows, np.maximum(d - 1, 0)]
        ok &= np.where(opening, d < depth, (d > 0) & (top == kind))
        slot = np.minimum(d, max_depth - 1)
        stack[rows, slot] = np.where(opening, kind, stack[rows, slot])
        d = np.clip(d + np.where(opening, 1, -1), 0, max_depth)
    return ok & (d == 0)
