"""The registry of certification plans: which plan proves which task, for which model family.

A *plan* is a class that proves a model right on every input of one task by cutting the input set
into *cells* and proving each cell with one enclosure. It is registered with

    @register_certifier(task="index_lookup", family="transformer", layers=1)
    class _IndexPlan: ...

and :func:`verify.certify.certify` looks it up here: a new construction adds a plan module (imported
by verify/certify/__init__.py) and nothing else. :data:`verify.certify.CERTIFIABLE` is the tuple of
registered tasks, in registration order.

Protocol of a plan (the driver, verify/certify/_driver.py, calls exactly these):

``Plan(model, ia, task)``
    Per-model preparation from the model's arrays (``model.weights``) and the arithmetic ``ia``
    (verify/certify/_arithmetic.py); ``task`` is the task object the model claims to compute.
    Raises :class:`VerifyError` for a model it cannot handle. The registry has already checked
    the family and the layer count (:func:`check_family`).
``chunks(chunk_cells)``
    An iterable of chunks, each a sequence (``len`` and indexing) of cells, about ``chunk_cells``
    cells each (a hint). A cell may be any hashable value (a tuple ``(t, c)``, an int, a hidden state
    of an RNN, ...); tuples are written as lists in the certificate. The cells of all chunks
    together must cover every input; a plan may build chunks lazily (a generator), e.g. the
    reachable states of a DFA-compiled RNN found so far, breadth first.
``prove(chunk)``
    A float array ``[len(chunk)]``: a rigorous lower bound on the logit margin (answer minus best
    other logit) over every input of each cell. A cell is *proved* when its bound is > 0; the
    minimum over all cells is the certificate's ``min_margin``.
``covered(chunk, ok)``
    The exact number (a Python int) of inputs that the proved cells of the chunk (``ok``, a bool
    array ``[len(chunk)]``) account for. The driver sums it over the chunks.
``inputs_covered(cells_proved, covered)``
    ``(formula, log2)``: how the certificate writes the count of covered inputs (a string) and its
    base-2 logarithm (``-inf`` for none), from the number of proved cells and the summed
    ``covered``. (A plan whose cells do not partition the inputs, e.g. transitions that prove every
    input only when all are proved, counts here and returns 0 from ``covered``.)
``num_inputs_log2``
    Attribute: ``log2`` of the number of inputs of the task.
``witnesses(unproved, rng)``
    An int array of concrete inputs ``[B, L]`` to search for a counterexample, drawn from the first
    unproved cells (``unproved``: at most 64, in proof order; ``rng`` a seeded numpy Generator).
``details()``
    The plan's own certificate entries (a dict, written after the counts): what a cell is, how
    attention (or the recurrence) was bounded, the arithmetic and its assumptions. A plan produces
    these entries itself; the driver adds only the counts common to every plan.

A *whole-row plan* instead defines one static method and nothing else of the above:

``certify_row(model, precision, task, witnesses)``
    Runs its own proof and returns the whole report row (the same fields as the driver's, mode
    ``"certified"``). For proofs that are not a partition into cells, e.g. the finite-state
    induction over the reachable hidden states of an RNN (verify/certify/_rnn_states.py), which
    proves every length at once. The driver has already refused formats where the forward pass is
    not defined; the plan refuses the formats its own proof does not cover.

:class:`Certifier` records a registration; :func:`certifier_for` picks the plan for a model, with
the refusals of certified mode (no plan for the task; a model of another family or depth).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from constructions import Model

from .._engine import VerifyError


@dataclass(frozen=True)
class Certifier:
    """One registered plan: it certifies ``task`` on models of ``family`` with ``layers`` layers
    (None: any number)."""

    task: str
    family: str
    layers: int | None
    plan: type

    @property
    def what(self) -> str:
        """The task as refusal messages name it ("index lookup")."""
        return self.task.replace("_", " ")


_CERTIFIERS: list[Certifier] = []


def _check_transformer(model: Model, layers: int | None, what: str) -> None:
    meta = model.metadata
    if model.family != "transformer" or meta.embed_kind != "token":
        raise VerifyError(f"certified {what} needs a Transformer with token inputs")
    if layers is not None and len(model.weights.layers) != layers:
        raise VerifyError(
            f"certified {what} covers {layers}-layer Transformers (this one has {len(model.weights.layers)})"
        )
    if meta.readout != "last":
        raise VerifyError("certified mode needs the readout at the last position")


def _check_rnn(model: Model, layers: int | None, what: str) -> None:
    if model.family != "rnn":
        raise VerifyError(f"certified {what} for this family needs an RNN, not {model.variant}")


# family -> check(model, layers, what): raises VerifyError when the model is not of that shape
FAMILIES: dict[str, Callable[[Model, int | None, str], None]] = {"transformer": _check_transformer, "rnn": _check_rnn}


def register_family(family: str, check: Callable[[Model, int | None, str], None]) -> None:
    """Declare a model family: ``check(model, layers, what)`` raises :class:`VerifyError` when the
    model is not of this family or has another layer count (``layers`` None: any)."""
    FAMILIES[family] = check


def register_certifier(*, task: str, family: str, layers: int | None = None):
    """Class decorator: register a plan (see the module docstring for its protocol) for ``task`` on
    models of ``family`` with ``layers`` layers. One plan per (task, family, layers)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; declare it with register_family")

    def deco(plan: type) -> type:
        if any((c.task, c.family, c.layers) == (task, family, layers) for c in _CERTIFIERS):
            raise ValueError(f"a certifier for {task} ({family}, layers={layers}) is already registered")
        _CERTIFIERS.append(Certifier(task, family, layers, plan))
        return plan

    return deco


def unregister_certifier(plan: type) -> None:
    """Remove every registration of ``plan``."""
    _CERTIFIERS[:] = [c for c in _CERTIFIERS if c.plan is not plan]


def registered() -> tuple[Certifier, ...]:
    """Every registration, in registration order."""
    return tuple(_CERTIFIERS)


def certifiable() -> tuple[str, ...]:
    """The tasks with at least one plan, in registration order (what CERTIFIABLE is)."""
    return tuple(dict.fromkeys(c.task for c in _CERTIFIERS))


def certifier_of(plan: type, task: str | None = None) -> Certifier:
    """The registration of ``plan`` for ``task`` (its first one where ``task`` is None or has none)."""
    mine = [c for c in _CERTIFIERS if c.plan is plan]
    return next((c for c in mine if c.task == task), mine[0])


def exact_count(covered: int) -> tuple[str, float]:
    """``(formula, log2)`` for an exact count of inputs: ``2^k`` for a power of two (``2^n`` when
    every input of n bits is covered), the number itself below 10^18, else ``≈2^log2``."""
    log2 = math.log2(covered) if covered else float("-inf")
    if covered and covered & (covered - 1) == 0:
        return f"2^{covered.bit_length() - 1}", log2
    return (str(covered) if covered < 10**18 else f"≈2^{log2:.6f}"), log2


def check_family(model: Model, certifier: Certifier) -> None:
    """Raise :class:`VerifyError` unless the model is of the certifier's family and depth."""
    FAMILIES[certifier.family](model, certifier.layers, certifier.what)


def plans_for(task: str) -> list[Certifier]:
    """The registrations for ``task``; refuses a task without any (the message lists the others)."""
    found = [c for c in _CERTIFIERS if c.task == task]
    if not found:
        raise VerifyError(
            f"certified mode covers {', '.join(certifiable())}; {task} has no certificate "
            "yet (use --samples or --exhaustive)"
        )
    return found


def certifier_for(model: Model, found: list[Certifier] | None = None) -> Certifier:
    """The registration whose family and depth fit ``model``; otherwise the refusal of the first
    registration for its task (e.g. "covers 1-layer Transformers (this one has 2)")."""
    found = plans_for(model.task) if found is None else found
    errors = []
    for c in found:
        try:
            check_family(model, c)
            return c
        except VerifyError as e:
            errors.append(e)
    raise errors[0]


def can_certify(model: Model) -> bool:
    """Whether some registered plan covers ``model``'s task, family and depth (no refusal)."""
    try:
        certifier_for(model)
    except VerifyError:
        return False
    return True
