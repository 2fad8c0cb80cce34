"""The common driver of certified mode: look the plan up, prove its cells chunk by chunk, search the
unproved cells for a counterexample, and assemble the report row.

What the row claims follows from the plan's protocol (verify/certify/_registry.py): every cell's
margin bound is a rigorous lower bound over all of its inputs, so ``status`` is ``"pass"`` only if
every cell is proved, ``min_margin`` (the least bound) is a lower bound on the logit margin of every
input covered, and ``inputs_checked`` is the exact count the plan gives for the proved cells. The
counterexample, when there is one, is a concrete input on which :meth:`Model.logits` (the model's own
forward pass, not an enclosure) answers wrongly: a failure is shown, never inferred.
"""

from __future__ import annotations

import time

import numpy as np

import bounds
from constructions import FixedArithmetic, Model, check_precision, parse_precision, product_terms

from .._engine import VerifyError, row_head, task_of
from ._arithmetic import _arith
from ._registry import certifier_for, plans_for
from ._threads import cores, ordered_map

_CELLS_PER_CHUNK = 1 << 14
_KEEP_UNPROVED = 64  # unproved cells kept (in proof order): witnesses and the certificate's list


def outcomes(model: Model, x: np.ndarray, expected: np.ndarray, precision: str) -> list[dict]:
    """What the model's own forward pass (:meth:`Model.logits`, not an enclosure) answers on each
    input of ``x`` ``[B, L]``: the report's counterexample record (input, expected, got, margin of the
    expected class over the best other; a tie or worse is a failure)."""
    logits = model.logits(x, precision=precision)
    rows = np.arange(len(x))
    others = logits.copy()
    others[rows, expected] = -np.inf
    margin = logits[rows, expected] - others.max(1)
    return [
        {"input": x[i].tolist(), "expected": int(expected[i]), "got": int(np.argmax(logits[i])), "margin": float(m)}
        for i, m in enumerate(margin)
    ]


def _first_failure(model, x, expected, precision):
    return next((r for r in outcomes(model, x, expected, precision) if not r["margin"] > 0), None)


def _decline_wide(model: Model, ar) -> None:
    """Decline (:class:`VerifyError`, like other formats without a proof method) a fixed format in
    which the model's forward runs but needs split accumulators (constructions/_precision.py): the
    enclosures here are exact in int64 only while ``2(I+F) + ⌈log2 K⌉ <= 62``."""
    terms = product_terms(model)
    if isinstance(ar, FixedArithmetic) and not ar.narrow_holds(terms):
        raise VerifyError(
            f"certified mode covers float64 and fixed:I.F with 2(I+F) + log2 K <= {ar.NARROW_LIMIT}, not "
            f"{ar.name} over {terms} terms (its products need split accumulators); use --samples or --exhaustive"
        )


def certify(
    model: Model,
    precision: str = "float64",
    *,
    task=None,
    chunk_cells: int = _CELLS_PER_CHUNK,
    witnesses: bool = True,
    method: str = "auto",
    workers: int | None = None,
) -> dict:
    """Prove ``model`` right on every input of its task; one report row (mode ``"certified"``).

    ``status`` is ``"pass"`` only if every cell is proved; ``failures`` counts the cells that were
    not (``failures_unit: "cells"``; ``cells_checked`` and ``cells_failed`` say the same by name),
    so it is never read as a number of inputs. ``inputs_checked`` is the number of inputs proved
    (0 when no cell is; ``inputs_covered_log2`` is then null) (a Python int while below 2^60, else
    the exact count as a formula string); ``min_margin`` is a rigorous lower bound on the logit
    margin over all of them. ``certificate`` says what was proved, how, under which assumptions;
    ``counterexample`` is a concrete failing input found in an unproved cell, if any
    (``witnesses=False`` skips that search: ``counterexample`` is then None even when cells fail).
    The plan is the one registered for the model's task, family and depth (a task without one, an
    unsupported precision, including a fixed format that needs split accumulators, or a model of
    another shape is refused with a :class:`VerifyError`). ``method`` picks among a plan's proof
    methods where it has several (its ``METHODS``; index lookup: ``"general"``, ``"code"`` for the
    Reed–Solomon bound of verify/certify/_index_code.py, ``"auto"``); a method the plan does not
    have, or whose hypotheses the model fails, is refused with the reason. A
    format in which the model's forward pass is not defined is refused first, exactly as ``predict``
    refuses it (:func:`constructions.check_precision`: same formats, same message). ``workers``:
    chunks proved at once where the plan allows it (default: the cores this process may use,
    :func:`cores`); the row is the same for every value.
    """
    check_precision(model, precision)  # the formats where the forward is defined, as for predict
    if model.metadata.extended:
        raise VerifyError(
            "--certify has no proof method for layer norm or GELU (a version-2 model); use --samples or --exhaustive"
        )
    ar = parse_precision(precision)
    _decline_wide(model, ar)
    task = task or task_of(model)
    found = plans_for(model.task)
    certifier = certifier_for(model, found)
    if hasattr(certifier.plan, "certify_row"):  # a whole-row plan (verify/certify/_registry.py)
        return certifier.plan.certify_row(model, str(precision), task, witnesses)
    ia = _arith(precision)
    start = time.perf_counter()
    methods = getattr(certifier.plan, "METHODS", ("auto",))
    if method not in methods:
        raise VerifyError(f"certified {certifier.what} has the methods {', '.join(methods)}, not {method!r}")
    workers = cores() if workers is None else workers
    if workers < 1:
        raise VerifyError(f"workers must be at least 1, got {workers}")
    parallel = getattr(certifier.plan, "PARALLEL", False)
    kw = {"workers": workers} if parallel else {}
    plan = certifier.plan(model, ia, task, **kw) if method == "auto" else certifier.plan(model, ia, task, method, **kw)
    rng = np.random.default_rng(0)
    unproved: list = []
    worst, cells, proved, covered = np.inf, 0, 0, 0

    # a plan whose PARALLEL is true (its prove() reads only tables fixed when it was built) proves
    # up to ``workers`` chunks at once; results come in the chunks' order (verify/certify/_threads.py)
    def prove(chunk):
        # overflow in a hostile model's boxes gives inf or nan bounds, which prove nothing (below);
        # numpy's warnings about them would only bury the one-line result (errstate is per thread)
        with np.errstate(all="ignore"):
            return plan.prove(chunk)

    for chunk, gap in ordered_map(prove, plan.chunks(chunk_cells), workers if parallel else 1):
        gap = np.where(np.isnan(gap), -np.inf, gap)  # a nan bound proves nothing (and min() would skip it)
        ok = gap > 0
        cells += len(chunk)
        proved += int(ok.sum())
        worst = min(worst, float(gap.min()))
        unproved += [chunk[int(i)] for i in np.flatnonzero(~ok)[: _KEEP_UNPROVED - len(unproved)]]
        covered += plan.covered(chunk, ok)
    formula, log2 = plan.inputs_covered(proved, covered)
    counterexample = None
    if unproved and witnesses:
        x = plan.witnesses(unproved, rng)
        counterexample = _first_failure(model, x, task.solve(x), str(precision))
    covered_log2 = None if proved == 0 else log2  # nothing covered: no log of zero (JSON has no -Infinity)
    row = {
        **row_head(model, precision, "certified"),
        "inputs_checked": covered if covered_log2 is None or covered_log2 < 60 else formula,
        "failures": cells - proved,
        "failures_unit": "cells",
        "cells_checked": cells,
        "cells_failed": cells - proved,
        "counterexample": counterexample,
        "min_margin": worst if cells else None,
        "lower_bounds": bounds.lower_bounds(model.task, model.task_params, ar.bits),
        "seconds": round(time.perf_counter() - start, 3),
        "certificate": {
            "proved": proved == cells,
            "cells": cells,
            "cells_proved": proved,
            "unproved_cells": [list(c) if isinstance(c, tuple) else c for c in unproved[:16]],
            "inputs_covered": formula,
            "inputs_covered_log2": covered_log2,
            "num_inputs_log2": plan.num_inputs_log2,
            **plan.details(),
        },
    }
    row["status"] = "pass" if proved == cells else "fail"
    return row
