"""Closed-form lower bounds (docs/PAPER.md §12) as inequalities, and the smallest width each allows.

Every bound reads ``size(w, b, h, D, n) >= need(n, A)``: the left side is how many bits the model
can push through the cut of a communication protocol (Theorem 2 for RNNs, Theorem 4 for one-layer
Transformers), the right side how many bits the task forces through that cut (Facts 1–3, Lemma 1).

Symbols: ``n`` input length (the task's ``n``), ``b`` bits per number, ``h`` heads, ``w`` width
(RNN hidden units; Transformer head dimension), ``D`` residual width, ``A`` alphabet size (index
lookup: symbols; associative recall: values; nearest neighbour: labels), ``K`` bracket types (Dyck).

Every bound carries its hypotheses as data (:class:`bounds.Domain`: parameter conditions, split,
which communication complexity, precision model); outside them :func:`lower_bounds` gives "no
bound known" with the reason instead of a number (docs/BOUNDS.md §1).

========================  ======================================  ==================================
row                       inequality                              source
========================  ======================================  ==================================
RNN, index lookup         ``w·b >= n·log2 A``                     Thm 3 (Thm 2 + Fact 3); A>2 [OWN]
RNN, assoc. recall        ``w·b >= n·log2 A``                     Prop. 9 (A = 2 in the paper)
RNN, equality             ``w·b >= n/2``                          Thm 11 (Thm 2 + Fact 2)
RNN, disjointness         ``w·b >= n/2``                          §4.2 (Thm 2 + Fact 1)
RNN, nearest neighbour    ``w·b >= n·log2 A``                     Thm 8 (MQAR; see below)
1-layer TF, Dyck-(K,d)    ``T(w,b,h,D,n) >= n - 1``               Thm 5 = Thm 10 (Thm 4 + Lemma 1);
                                                                  K, d >= 2 (the paper: K = d = 2)
1-layer TF, Dyck-(K,d)    ``T >= (n/2)·log2 K + n/2 - 1``         Lemma 1's set counted, d >= 2 [OWN]
1-layer TF, Dyck-(K,1)    ``T >= (n/2)·log2 K``                   Lemma 1's set counted [OWN]
1-layer TF, equality      ``T(w,b,h,D,n) >= n/2``                 Thm 12 (Thm 4 + Fact 2)
1-layer TF, disjointness  ``T(w,b,h,D,n) >= n/2``                 §4.2 (Thm 4 + Fact 1)
1-layer TF, split EQ      ``T(w,b,h,D,n) >= n/2``                 Lemma 5's split (Thm 4 + Fact 2)
========================  ======================================  ==================================

Theorem 4's cost ``T`` comes in three constants, ``paper``, ``airtight`` and ``protocol``
(:mod:`bounds._tf1_cost`); ``min_width`` uses ``airtight``, and every number says which it uses.

Nearest neighbour: our task's ``n`` counts the labelled points, the paper's ``n`` counts all points
of the MQAR sequence, half of them queries; the paper's ``w·b >= n/2`` is ``w·b >= n`` here (binary
labels). It needs n well-separated keys for the task's ``dim`` and ``margin``; where the code we use
has fewer points, n is replaced by the number of keys (:func:`nn_keys`, the bound's ``condition``).

Widths: a Transformer's width is ``max(w, D)`` (paper §2). A width-W model has ``w, D <= W``, and
``T`` grows with both, so the smallest width a Transformer bound allows solves ``T(W, b, h, W, n)
>= need`` for the smallest integer W.

Each form is stated once, as data: the size by its constant (``w·b`` for ``rnn``, Theorem 4's
``T`` otherwise), the need as ``a·n + c + g·n·log2 P`` (:class:`Need`). :attr:`LowerBound.size`
and :attr:`LowerBound.need` are the sympy expressions (sympy is imported on first use);
``min_width``, ``need_bits`` and :func:`lower_bounds` evaluate the same forms exactly on integers
(bounds/_exact.py), without sympy, so that a ``verify`` row does not pay for importing it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import numbers
from fractions import Fraction
from typing import Any

import tasks

from ._domains import DOMAINS, EVEN, Domain, Requirement, two_way
from ._exact import LogLinear, smallest_at_least
from ._tf1_cost import CONSTANTS, COST_TEXT, cost_value

__all__ = [
    "BoundError",
    "LowerBound",
    "CLOSED_FORMS",
    "FALLBACKS",
    "closed_form",
    "lower_bounds",
    "min_width_rnn",
    "tf1_cost",
    "nn_keys",
    "Need",
    "ALPHABET_PARAM",
]


class BoundError(ValueError):
    """Bad parameters for a bound (b <= 0, odd n where halves are needed, unknown task)."""


def __getattr__(name: str):
    """``SYMBOLS``: the sympy symbols of the forms (bounds/_tf1_cost.py), imported on first access."""
    if name == "SYMBOLS":
        from . import _tf1_cost

        return _tf1_cost.SYMBOLS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def tf1_cost(constant: str) -> Any:
    """Theorem 4: bits a one-layer Transformer protocol exchanges, with the ``paper``, ``airtight``
    or ``protocol`` constant (:mod:`bounds._tf1_cost`), as a sympy expression."""
    if constant not in CONSTANTS:
        raise BoundError(f"constant must be one of {', '.join(CONSTANTS)}, got {constant!r}")
    from ._tf1_cost import COSTS

    return COSTS[constant]


@dataclasses.dataclass(frozen=True)
class Need:
    """The bits a task forces across the cut: ``a·n + c + g·n·log2 P`` (``P`` the parameter named
    ``log_of``, ``A`` or ``K``; ``g = 0`` without one). ``text`` is sympy's ``sstr`` of the form
    (tests/bounds/test_bounds_exact.py checks it against :meth:`expr`)."""

    text: str
    a: Fraction
    c: Fraction = Fraction(0)
    g: Fraction = Fraction(0)
    log_of: str | None = None

    def symbols(self) -> set[str]:
        return {"n"} | ({self.log_of} if self.log_of else set())

    def expr(self) -> Any:
        """The sympy expression."""
        import sympy as sp

        from ._tf1_cost import SYMBOLS

        n = SYMBOLS["n"]
        q = lambda f: sp.Rational(f.numerator, f.denominator)  # noqa: E731
        out = q(self.a) * n + q(self.c)
        if self.log_of:
            out = out + q(self.g) * n * sp.log(SYMBOLS[self.log_of], 2)
        return out

    def value(self, values: dict) -> LogLinear:
        """The exact number at integer ``values`` (``n`` and ``log_of``)."""
        n = int(values["n"])
        out = LogLinear(self.a * n + self.c)
        if self.log_of:
            out = out + LogLinear.log2(int(values[self.log_of]), self.g * n)
        return out


N_LOG_A = Need("n*log(A)/log(2)", Fraction(0), g=Fraction(1), log_of="A")
HALF_N = Need("n/2", Fraction(1, 2))
N_MINUS_1 = Need("n - 1", Fraction(1), Fraction(-1))
DYCK_DEEP = Need("n*log(K)/(2*log(2)) + n/2 - 1", Fraction(1, 2), Fraction(-1), Fraction(1, 2), "K")
DYCK_FLAT = Need("n*log(K)/(2*log(2))", Fraction(0), g=Fraction(1, 2), log_of="K")
SIZE_TEXT = {"rnn": "b*w", **COST_TEXT}  # sympy's sstr of each size
_SIZE_SYMBOLS = {"rnn": {"b"}, "airtight": {"b", "h", "n"}, "paper": {"b", "h", "n"}, "protocol": {"b", "h", "n", "V"}}


# which task parameter is the alphabet A of a bound (None: the bound has no A)
ALPHABET_PARAM = {"index_lookup": "alphabet_size", "associative_recall": "num_values", "nearest_neighbor": "num_labels"}


@dataclasses.dataclass(frozen=True)
class LowerBound:
    """``size >= need`` for every model of ``arch`` computing ``task``.

    Attributes:
        need_form: bits the task forces across the cut (:class:`Need`, in n, A or K).
        constant: ``"rnn"`` (size w·b, exact), ``"airtight"``, ``"paper"`` or ``"protocol"``
            (Theorem 4's forms of the size, bits the model can carry across the cut).
        domain: the hypotheses of the theorem (:class:`bounds.Domain`); the inequality is claimed
            only where ``domain.check`` passes.

    :attr:`size` and :attr:`need` are the two sides as sympy expressions (in w, b, h, D, n, V and
    n, A, K); :meth:`min_width` and :meth:`need_bits` evaluate them exactly without sympy.
    """

    task: str
    arch: str
    need_form: Need
    theorem: str
    reduction: str
    constant: str
    domain: Domain

    @property
    def size(self) -> Any:
        """Bits the model can carry across the cut (sympy)."""
        if self.constant == "rnn":
            from ._tf1_cost import SYMBOLS

            return SYMBOLS["w"] * SYMBOLS["b"]
        return tf1_cost(self.constant)

    @property
    def need(self) -> Any:
        """Bits the task forces across the cut (sympy)."""
        return self.need_form.expr()

    def inequality(self) -> str:
        return f"{SIZE_TEXT[self.constant]} >= {self.need_form.text}"

    def _values(self, values: dict, wanted: set[str]) -> dict[str, int]:
        given = {k: int(v) for k, v in values.items() if v is not None}
        missing = wanted - set(given)
        if missing:
            raise BoundError(f"{self.task}/{self.arch}: missing values for {sorted(missing)}")
        return given

    def need_bits(self, **values) -> int:
        """``⌈need⌉`` at the given n (and A): the communication lower bound in bits."""
        return self.need_form.value(self._values(values, self.need_form.symbols())).ceil()

    def min_width(self, **values) -> int:
        """Smallest integer width W >= 0 with ``size(w=W, D=W) >= need`` at the given n, b (h, A).

        ``size`` is affine in W: ``size = slope·W + offset``; the smallest W is found exactly
        (bounds/_exact.py), the integer sympy's ``max(0, ⌈(need − offset)/slope⌉)`` gives.
        """
        v = self._values(values, _SIZE_SYMBOLS[self.constant] | self.need_form.symbols())
        if self.constant == "rnn":
            slope, offset = LogLinear(v["b"]), LogLinear(0)
        else:
            at = lambda W: cost_value(self.constant, v["n"], v["b"], v["h"], W, W, v.get("V"))  # noqa: E731
            offset = at(0)
            slope = at(1) - offset
        return smallest_at_least(slope, offset, self.need_form.value(v))


def _table() -> dict:
    out: dict[tuple[str, ...], LowerBound] = {
        ("index_lookup", "rnn"): LowerBound(
            "index_lookup",
            "rnn",
            N_LOG_A,
            "Theorem 3 (Theorem 2 + Fact 3, INDEX)",
            "Alice runs the RNN on the n symbols and sends the state; Bob feeds the index token",
            "rnn",
            DOMAINS["index_lookup"],
        ),
        ("associative_recall", "rnn"): LowerBound(
            "associative_recall",
            "rnn",
            N_LOG_A,
            "Proposition 9 (Theorem 2 + Fact 3)",
            "fixed distinct keys; Alice's values are her string, Bob queries the key of his index",
            "rnn",
            DOMAINS["associative_recall"],
        ),
        ("equality", "rnn"): LowerBound(
            "equality",
            "rnn",
            HALF_N,
            "Theorem 11 (Theorem 2 + Fact 2, EQ)",
            "Alice runs the first half and sends the state; Bob finishes the second half",
            "rnn",
            DOMAINS["equality"],
        ),
        ("disjointness", "rnn"): LowerBound(
            "disjointness",
            "rnn",
            HALF_N,
            "§4.2 (Theorem 2 + Fact 1, DISJ)",
            "Alice runs the first half and sends the state; Bob finishes the second half",
            "rnn",
            DOMAINS["disjointness"],
        ),
        ("nearest_neighbor", "rnn"): LowerBound(
            "nearest_neighbor",
            "rnn",
            N_LOG_A,
            "Theorem 8 (MQAR; Theorem 2 + Fact 1)",
            "Alice feeds n labelled hypercube keys and sends the state; Bob queries every key",
            "rnn",
            DOMAINS["nearest_neighbor"],
        ),
    }
    tf_rows = {
        "dyck": (
            N_MINUS_1,
            "Theorem 5 = Theorem 10 (Theorem 4 + Lemma 1)",
            "odd/even split, fooling set of 2^(n-1)",
            DOMAINS["dyck"],
        ),
        "equality": (
            HALF_N,
            "Theorem 12 (Theorem 4 + Fact 2, EQ)",
            "halves split, EQ on n/2 bits",
            two_way("equality"),
        ),
        "disjointness": (
            HALF_N,
            "§4.2 (Theorem 4 + Fact 1, DISJ)",
            "halves split, DISJ on n/2 bits",
            two_way("disjointness"),
        ),
        "split_equality": (
            HALF_N,
            "Lemma 5's task (Theorem 4 + Fact 2, EQ across (S_A, S_B))",
            "the task's own split (S_A, S_B), EQ on n/2 bits",
            DOMAINS["split_equality"],
        ),
    }
    for task, (need, thm, red, dom) in tf_rows.items():
        for constant in CONSTANTS:
            out[(task, "tf1", constant)] = LowerBound(task, "tf1", need, thm, red, constant, dom)
    return out


def _fallbacks() -> dict:
    """Bounds tried, in order, where the main row's domain fails (docs/BOUNDS.md §1, Dyck)."""
    any_dyck = DOMAINS["dyck"]
    deep = dataclasses.replace(
        any_dyck,
        requires=(Requirement(*EVEN), Requirement("depth", ">=", 2)),
        why="Dyck-(K,2) strings fool Dyck-(K,d), d >= 2: |S| = K^(n/2)·2^(n/2-1)",
    )
    flat = dataclasses.replace(
        any_dyck,
        requires=(Requirement(*EVEN), Requirement("depth", "==", 1)),
        why="Dyck-(K,1) strings fool Dyck-(K,1): |S| = K^(n/2)",
    )
    thm = "Theorem 4 + Lemma 1's fooling set counted for Dyck-(K,d) [OWN]"
    out = {}
    for constant in CONSTANTS:
        out[("dyck", "tf1", constant)] = (
            LowerBound(
                "dyck",
                "tf1",
                DYCK_DEEP,
                thm,
                "odd/even split, fooling set Dyck-(K,2) of K^(n/2)·2^(n/2-1)",
                constant,
                deep,
            ),
            LowerBound(
                "dyck",
                "tf1",
                DYCK_FLAT,
                thm,
                "odd/even split, fooling set Dyck-(K,1) of K^(n/2)",
                constant,
                flat,
            ),
        )
    return out


CLOSED_FORMS = _table()
FALLBACKS = _fallbacks()


def closed_form(task: str, arch: str, constant: str = "airtight") -> LowerBound:
    """The bound for ``(task, arch)``; ``constant`` picks Theorem 4's form for ``tf1``."""
    key = (task, arch) if arch == "rnn" else (task, arch, constant)
    if key not in CLOSED_FORMS:
        raise BoundError(f"no closed-form lower bound for {task}/{arch}")
    return CLOSED_FORMS[key]


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise BoundError(f"bits must be a positive integer, got {bits!r}")
    bits = int(bits)
    if bits <= 0:
        raise BoundError(f"bits must be positive, got {bits}")
    return bits


def _task(task: str, params: dict):
    if task not in tasks.available():
        raise BoundError(f"unknown task {task!r}; tasks are {', '.join(tasks.available())}")
    try:
        return tasks.get(task, **params)
    except tasks.TaskError as e:
        raise BoundError(str(e)) from None


def nn_keys(n_value: int, dim: int, margin: float) -> tuple[int, str]:
    """How many of the n labelled points Alice can make well-separated keys (Theorem 8's reduction).

    The keys are points of a code of unit vectors with pairwise inner products ``<= 1 - margin``,
    so that querying a key returns its own label with the task's margin. Codes used: the hypercube
    ``{±1/√dim}^dim`` (``2^dim`` points, inner products ``<= 1 - 2/dim``), the cross-polytope ``±e_i``
    (``2·dim`` points, ``<= 0``), an antipodal pair (``-1``). If the code has S < n points, Alice uses
    S - 1 of them as keys and fills the other slots with the unused point (never the nearest to a
    key, by the same margin). Bob, holding the state, can query every key. Returns
    ``(keys, description)``.
    """
    if margin <= 2 / dim:
        size, code = 2**dim, "hypercube {±1/sqrt(dim)}^dim"
    elif margin <= 1:
        size, code = 2 * dim, "cross-polytope ±e_i"
    else:
        size, code = 2, "antipodal pair"
    keys = n_value if n_value <= size else size - 1
    return keys, f"{keys} keys from the {code} (n={n_value}, dim={dim}, margin={margin}); n is replaced by {keys}"


def nn_keys_all_queries(n_value: int, dim: int, margin: float) -> tuple[int, str]:
    """:func:`nn_keys` for the multi-query task (``queries="all"``): Alice holds the points before
    the first query, ``⌊n/2⌋ + 1`` of them; Bob's ``⌈n/2⌉`` queries must each be a distinct key
    (a repeated one would tie with its earlier copy), so the reduction needs at least that many
    keys; with fewer the bound is dropped (0 keys)."""
    stored, asked = n_value // 2 + 1, n_value - n_value // 2
    keys, text = nn_keys(stored, dim, margin)
    if keys < asked:
        return 0, f"only {keys} keys for {asked} queries (n={n_value}, dim={dim}, margin={margin}); no bound"
    return keys, text.replace(
        "n is replaced by", "queries='all': Alice holds the first n//2+1 points, n is replaced by"
    )


def lower_bounds(task: str, params: dict, bits: int, heads: int = 1) -> dict:
    """Per architecture, the lower bounds on ``task`` at ``params`` (as ``tasks.get`` takes them).

    Returns ``{arch: {"min_width", "bits", "state_bits", "theorem", "reduction", "inequality",
    "constant", "b", ...}}``; ``tf1`` entries add ``"heads"``, ``"min_width_paper"``,
    ``"inequality_paper"``, ``"min_width_protocol"`` and ``"inequality_protocol"``. ``min_width`` is the smallest width the bound allows at ``b = bits``
    (for ``tf1``: with the airtight constant, at ``h = heads``); ``bits`` is the communication
    lower bound ``⌈need⌉``; ``state_bits = min_width·b``. A task with no bound gives ``{}``.
    Every entry says which hypotheses it uses (``"domain"``, ``"split"``, ``"complexity"``).

    Where a bound's hypotheses fail (:class:`bounds.Domain`) and no other proved bound applies,
    the entry has ``"bound": None`` and ``"reason"``, and ``min_width``, ``bits``, ``state_bits``
    (``min_width_paper``) are None: no bound known, never a number.

    Results are cached per (task, params, bits, heads); each call gets its own copy.
    """
    bits = _check_bits(bits)
    if isinstance(heads, bool) or not isinstance(heads, numbers.Integral) or heads < 1:
        raise BoundError(f"heads must be a positive integer, got {heads!r}")
    heads = int(heads)
    try:
        if any(isinstance(v, bool) for v in dict(params).values()):
            raise TypeError  # True == 1 as a key: let the task reject it instead
        key = (task, tuple(sorted(dict(params).items())), bits, heads)
        hash(key)
    except TypeError:  # unhashable parameters (threshold's index sets): no cache
        return _lower_bounds(task, params, bits, heads)
    return copy.deepcopy(_cached(*key))


@functools.lru_cache(maxsize=4096)
def _cached(task, items, bits, heads):
    return _lower_bounds(task, dict(items), bits, heads)


def _lower_bounds(task: str, params: dict, bits: int, heads: int = 1) -> dict:
    """Compute :func:`lower_bounds` (uncached)."""
    bits = _check_bits(bits)
    if isinstance(heads, bool) or not isinstance(heads, numbers.Integral) or heads < 1:
        raise BoundError(f"heads must be a positive integer, got {heads!r}")
    heads = int(heads)
    t = _task(task, dict(params))
    values = {"n": t.params["n"], "b": bits, "h": heads, "V": t.vocab_size}
    if task in ALPHABET_PARAM:
        values["A"] = t.params[ALPHABET_PARAM[task]]
    condition = None
    if task == "nearest_neighbor":
        if getattr(t, "queries", "last") == "all":
            values["n"], condition = nn_keys_all_queries(t.n, t.dim, t.margin)
        else:
            values["n"], condition = nn_keys(t.n, t.dim, t.margin)
    if task == "dyck":
        values["K"] = t.types
    out = {}
    if task == "dyck" and t.n % 2:  # no string of odd length is balanced: the task is constant
        return {
            "tf1": {
                "min_width": 0,
                "bits": 0,
                "state_bits": 0,
                "b": bits,
                "heads": heads,
                "min_width_paper": 0,
                "min_width_protocol": 0,
                "theorem": "none needed: odd n, every string is rejected",
                "reduction": "",
                "constant": "airtight",
                "inequality": "(Lemma 1 needs even n)",
                "inequality_paper": "(Lemma 1 needs even n)",
                "inequality_protocol": "(Lemma 1 needs even n)",
                "domain": "dyck at odd n (the task is the constant 0)",
            }
        }
    for key, main in CLOSED_FORMS.items():
        if key[0] != task or (main.arch == "tf1" and main.constant != "airtight"):
            continue
        bound, reasons = _applicable((main, *FALLBACKS.get(key, ())), task, t.params)
        if bound is None:
            out[main.arch] = _no_bound(main, bits, heads, reasons)
            continue
        mw = bound.min_width(**values)
        row = {
            "min_width": mw,
            "bits": bound.need_bits(**values),
            "state_bits": mw * bits,
            "b": bits,
            "theorem": bound.theorem,
            "reduction": bound.reduction,
            "inequality": bound.inequality(),
            "constant": bound.constant,
            "domain": bound.domain.text(),
            "split": bound.domain.split,
            "complexity": bound.domain.complexity,
        }
        if bound.arch == "tf1":
            row["heads"] = heads
            for constant in ("paper", "protocol"):
                other = _with_constant(bound, constant)
                row[f"min_width_{constant}"] = other.min_width(**values)
                row[f"inequality_{constant}"] = other.inequality()
        if condition is not None:
            row["condition"] = condition
        out[bound.arch] = row
    return out


def _applicable(candidates, task: str, params: dict):
    """The first bound whose domain holds at ``params`` and ``None``, or ``None`` and the reasons."""
    reasons = []
    for bound in candidates:
        why = bound.domain.check(task, params)
        if why is None:
            return bound, None
        reasons.append(f"{bound.theorem.split(' (')[0]} {why}")
    return None, reasons


def _with_constant(bound: LowerBound, constant: str) -> LowerBound:
    """The same bound with another of Theorem 4's constants."""
    return dataclasses.replace(bound, constant=constant)


def _no_bound(main: LowerBound, bits: int, heads: int, reasons: list) -> dict:
    """The entry for an architecture whose every bound's hypotheses fail: no number, the reasons."""
    row = {
        "min_width": None,
        "bits": None,
        "state_bits": None,
        "b": bits,
        "bound": None,
        "reason": "; ".join(reasons),
        "theorem": main.theorem,
        "reduction": main.reduction,
        "inequality": None,
        "constant": main.constant,
        "domain": main.domain.text(),
        "split": main.domain.split,
        "complexity": main.domain.complexity,
    }
    if main.arch == "tf1":
        row.update(heads=heads, min_width_paper=None, inequality_paper=None)
        row.update(min_width_protocol=None, inequality_protocol=None)
    return row


def min_width_rnn(task: str, n_value: int, bits: int, alphabet_size: int = 2) -> int:
    """Smallest RNN width the bound allows (kept for callers of the first version)."""
    bound = closed_form(task, "rnn")
    return bound.min_width(n=n_value, b=_check_bits(bits), A=alphabet_size)
