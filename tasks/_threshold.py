"""THRES_{k,n}: thresholds of k-sparse Boolean functions (paper App. F.3; docs/PAPER.md §3.6),
and builders for the instances the paper names (EQ, DISJ, k-DNF, k-CNF)."""

from __future__ import annotations

import numbers

import numpy as np

from ._base import TaskError, check_int, check_rng
from ._bits import BitStringTask, check_even_n


class Threshold(BitStringTask):
    """``f(x) = Th_c(g_1(x), ..., g_m(x)) = 1[sum_j g_j(x) - c > 0]`` with k-sparse ``g_j``.

    Parameters:
      n:            string length, >= 1.
      index_sets:   list of m <= n lists; ``index_sets[j]`` lists distinct 0-based positions in
                    ``[0, n)``, ``I_j``.  ``k`` (attribute ``task.k``) is the largest ``|I_j|``
                    (0 when there are no sets).
      truth_tables: list of m lists of bits; ``truth_tables[j]`` has ``2^|I_j|`` entries and
                    ``g_j(x) = truth_tables[j][ sum_m x[I_j[m]] * 2^m ]`` -- little-endian in the
                    order the indices are LISTED (the first listed position is bit 0).  An empty
                    index set must have the table ``[0]``: ``g_∅ ≡ 0`` as in the paper.
      c:            integer threshold.

    Inputs: int64 ``[B, n]`` bits.  Output: ``1[sum_j g_j(x) > c]``.

    Builders returning these parameters: ``threshold_params_equality``,
    ``threshold_params_disjointness``, ``threshold_params_random_dnf``,
    ``threshold_params_random_cnf``.

    Enumeration: all ``2^n`` strings in lexicographic order.  ``num_inputs = 2^n``.

    Sampling: each example is, with probability 1/2, a uniform random string, and otherwise a
    string with i.i.d. bits of its own density ``p ~ Uniform[0, 1]`` (so sparse and dense strings,
    which matter for DNFs and CNFs, both appear).  Labels are not balanced.

    Default prefix split: cut at ``n // 2``; ``halves`` exists when n is even.
    """

    name = "threshold"

    def __init__(self, *, n: int, index_sets, truth_tables, c: int):
        self.n = check_int("n", n, 1)
        self.index_sets = _check_index_sets(index_sets, self.n)
        self.truth_tables = _check_truth_tables(truth_tables, self.index_sets)
        self.c = check_int("c", c)
        self.k = max((len(s) for s in self.index_sets), default=0)
        self._params = {
            "n": self.n,
            "index_sets": [list(s) for s in self.index_sets],
            "truth_tables": [list(t) for t in self.truth_tables],
            "c": self.c,
        }
        self._tables = [np.array(t, dtype=np.int64) for t in self.truth_tables]

    def _solve(self, x):
        total = np.zeros(x.shape[0], dtype=np.int64)
        for positions, table in zip(self.index_sets, self._tables):
            if not positions:
                continue  # g_empty == 0
            code = np.zeros(x.shape[0], dtype=np.int64)
            for m, p in enumerate(positions):
                code |= x[:, p] << m
            total += table[code]
        return total - self.c > 0

    def _sample(self, rng, batch):
        density = np.where(rng.random(batch) < 0.5, 0.5, rng.random(batch))
        return (rng.random((batch, self.n)) < density[:, None]).astype(np.int64)


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)


def _check_index_sets(index_sets, n: int) -> list[list[int]]:
    if not _is_sequence(index_sets):
        raise TaskError(f"index_sets must be a list of lists of positions, got {type(index_sets).__name__}")
    if len(index_sets) > n:
        raise TaskError(f"index_sets may hold at most n={n} sets, got {len(index_sets)}")
    out = []
    for j, positions in enumerate(index_sets):
        if not _is_sequence(positions):
            raise TaskError(f"index_sets[{j}] must be a list of positions, got {positions!r}")
        checked = []
        for p in positions:
            if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Integral):
                raise TaskError(f"index_sets[{j}] must hold integer positions, got {p!r}")
            if not 0 <= int(p) < n:
                raise TaskError(f"index_sets[{j}] holds position {int(p)}, outside [0, {n})")
            checked.append(int(p))
        if len(set(checked)) != len(checked):
            raise TaskError(f"index_sets[{j}] repeats a position: {checked}")
        out.append(checked)
    return out


def _check_truth_tables(truth_tables, index_sets) -> list[list[int]]:
    if not _is_sequence(truth_tables):
        raise TaskError(f"truth_tables must be a list of lists of bits, got {type(truth_tables).__name__}")
    if len(truth_tables) != len(index_sets):
        raise TaskError(
            f"truth_tables must have one table per index set: {len(index_sets)} sets, {len(truth_tables)} tables"
        )
    out = []
    for j, (table, positions) in enumerate(zip(truth_tables, index_sets)):
        if not _is_sequence(table):
            raise TaskError(f"truth_tables[{j}] must be a list of bits, got {table!r}")
        want = 2 ** len(positions)
        if len(table) != want:
            raise TaskError(f"truth_tables[{j}] must have 2^{len(positions)} = {want} entries, got {len(table)}")
        bits = []
        for v in table:
            if not isinstance(v, (numbers.Integral, np.bool_)) or int(v) not in (0, 1):
                raise TaskError(f"truth_tables[{j}] must hold bits 0/1, got {v!r}")
            bits.append(int(v))
        if not positions and bits != [0]:
            raise TaskError(f"truth_tables[{j}] belongs to an empty index set and must be [0] (g_empty == 0)")
        out.append(bits)
    return out


# --------------------------------------------------------------------------- builders


def threshold_params_equality(n: int) -> dict:
    """Parameters of EQ as a threshold: ``Th_{n/2-1}(XNOR(x_i, x_{i+n/2}) for i < n/2)``.

    ``tasks.get("threshold", **threshold_params_equality(n))`` agrees with ``equality`` on all inputs.
    """
    n = check_even_n("threshold_params_equality", n)
    half = n // 2
    return {
        "n": n,
        "index_sets": [[i, i + half] for i in range(half)],
        "truth_tables": [[1, 0, 0, 1] for _ in range(half)],  # code = x_i + 2 x_{i+n/2}
        "c": half - 1,
    }


def threshold_params_disjointness(n: int) -> dict:
    """Parameters of disjointness (1 = disjoint) as ``Th_{n/2-1}(NAND(x_i, x_{i+n/2}) for i < n/2)``.

    ``tasks.get("threshold", **threshold_params_disjointness(n))`` agrees with ``disjointness``.
    """
    n = check_even_n("threshold_params_disjointness", n)
    half = n // 2
    return {
        "n": n,
        "index_sets": [[i, i + half] for i in range(half)],
        "truth_tables": [[1, 1, 1, 0] for _ in range(half)],
        "c": half - 1,
    }


def _random_literals(n, k, count, rng):
    """``count`` terms of k distinct sorted positions, each with a random polarity vector."""
    terms = []
    for _ in range(count):
        positions = sorted(int(p) for p in rng.choice(n, size=k, replace=False))
        polarity = [int(b) for b in rng.integers(0, 2, size=k)]  # 1: literal x_p, 0: literal NOT x_p
        terms.append((positions, polarity))
    return terms


def _check_builder_args(n, k, count, count_name, rng):
    n = check_int("n", n, 1)
    k = check_int("k", k, 1)
    if k > n:
        raise TaskError(f"k must be <= n={n}, got {k}")
    count = check_int(count_name, count, 1)
    if count > n:
        raise TaskError(f"{count_name} must be <= n={n} (THRES allows at most n sparse functions), got {count}")
    check_rng(rng)
    return n, k, count


def threshold_params_random_dnf(n: int, k: int, num_terms: int, rng: np.random.Generator) -> dict:
    """A random k-DNF with ``num_terms`` terms, as ``Th_0`` of the terms.

    Each term is an AND of k literals over k distinct positions (drawn uniformly, listed in
    increasing order), each literal ``x_p`` or ``NOT x_p`` with probability 1/2.  The term's truth
    table has a single 1, at the code where every bit equals its literal's polarity.  The function
    is 1 iff some term is true.  ``1 <= k <= n``, ``1 <= num_terms <= n``.
    """
    n, k, num_terms = _check_builder_args(n, k, num_terms, "num_terms", rng)
    sets, tables = [], []
    for positions, polarity in _random_literals(n, k, num_terms, rng):
        true_code = sum(b << m for m, b in enumerate(polarity))
        sets.append(positions)
        tables.append([int(code == true_code) for code in range(2**k)])
    return {"n": n, "index_sets": sets, "truth_tables": tables, "c": 0}


def threshold_params_random_cnf(n: int, k: int, num_clauses: int, rng: np.random.Generator) -> dict:
    """A random k-CNF with ``m = num_clauses`` clauses, as ``Th_{m-1}`` of the clauses.

    Each clause is an OR of k literals over k distinct positions (as in the DNF builder); its truth
    table has a single 0, at the code where every literal is false.  The function is 1 iff every
    clause is true.  ``1 <= k <= n``, ``1 <= num_clauses <= n``.
    """
    n, k, num_clauses = _check_builder_args(n, k, num_clauses, "num_clauses", rng)
    sets, tables = [], []
    for positions, polarity in _random_literals(n, k, num_clauses, rng):
        false_code = sum((1 - b) << m for m, b in enumerate(polarity))
        sets.append(positions)
        tables.append([int(code != false_code) for code in range(2**k)])
    return {"n": n, "index_sets": sets, "truth_tables": tables, "c": num_clauses - 1}
