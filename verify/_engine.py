"""The checking engine: run a model against its task's reference solver.

A prediction is counted **correct** only if the logit of the reference answer is strictly larger
than every other logit (``margin > 0``); a tie is a failure even when ``argmax`` happens to pick
the right class. ``min_margin`` is the smallest such logit gap over all inputs checked.

Modes:

``exhaustive``
    every input of ``task.enumerate`` (fixed order), in fixed-size batches;
``sampled``
    ``samples`` inputs from ``task.sample(numpy.random.default_rng(seed), ·)``, in batches.
"""

from __future__ import annotations

import time

import numpy as np

import bounds
import tasks
from constructions import Model, parse_precision

__all__ = ["check", "task_of", "MAX_EXHAUSTIVE", "VerifyError"]

MAX_EXHAUSTIVE = 1 << 26
_BATCH = 4096


class VerifyError(ValueError):
    """A check that cannot be run as asked (e.g. exhaustive over too many inputs)."""


def task_of(model: Model):
    """The task a model claims to compute, rebuilt from its metadata."""
    return tasks.get(model.task, **model.task_params)


def _index(inputs, i):
    if isinstance(inputs, dict):
        return {k: np.asarray(v)[i].tolist() for k, v in inputs.items()}
    return np.asarray(inputs)[i].tolist()


def _batches(task, mode: str, samples: int, seed: int, batch: int):
    if mode == "exhaustive":
        total = task.num_inputs
        if total is None:
            raise VerifyError(f"{task.name} has continuous inputs; use sampling")
        if total > MAX_EXHAUSTIVE:
            raise VerifyError(f"exhaustive check of {task.name} would cover {total} inputs (limit {MAX_EXHAUSTIVE}); use --samples")
        yield from task.enumerate(batch)
    elif mode == "sampled":
        rng = np.random.default_rng(seed)
        left = samples
        while left > 0:
            k = min(batch, left)
            yield task.sample(rng, k)
            left -= k
    else:
        raise VerifyError(f"unknown mode {mode!r}")


def check(model: Model, *, mode: str = "sampled", samples: int = 10_000, seed: int = 0,
          precision: str = "float64", batch: int = _BATCH, task=None) -> dict:
    """Check ``model`` on its task; returns one report row (DESIGN §4 fields and more)."""
    ar = parse_precision(precision)
    task = task or task_of(model)
    if samples < 1 and mode == "sampled":
        raise VerifyError(f"--samples must be at least 1, got {samples}")
    start = time.perf_counter()
    checked = failures = 0
    counterexample = None
    min_margin = float("inf")
    for inputs in _batches(task, mode, samples, seed, batch):
        expected = task.solve(inputs)
        logits = model.logits(inputs, precision=str(precision))
        rows = np.arange(len(expected))
        right = logits[rows, expected]
        others = logits.copy()
        others[rows, expected] = -np.inf
        margin = right - others.max(axis=1)
        bad = ~(margin > 0)
        if bad.any() and counterexample is None:
            i = int(np.flatnonzero(bad)[0])
            counterexample = {"input": _index(inputs, i), "expected": int(expected[i]),
                              "got": int(np.argmax(logits[i])), "margin": float(margin[i])}
        failures += int(bad.sum())
        checked += len(expected)
        min_margin = min(min_margin, float(margin.min()))
    size = model.size()
    row = {
        "task": model.task,
        "arch": model.variant,
        "n": model.task_params.get("n"),
        "task_params": model.task_params,
        "params": size["params"],
        "params_no_embed": size["params_no_embed"],
        "width": size["width"],
        "heads": size["heads"],
        "layers": size["layers"],
        "precision": str(precision),
        "precision_bits": ar.bits,
        "mode": mode,
        "seed": seed if mode == "sampled" else None,
        "model_seed": model.meta.get("build", {}).get("seed"),
        "inputs_checked": checked,
        "failures": failures,
        "counterexample": counterexample,
        "min_margin": None if checked == 0 else min_margin,
        "lower_bounds": bounds.lower_bounds(model.task, model.task_params, ar.bits),
        "seconds": round(time.perf_counter() - start, 3),
    }
    row["status"] = "pass" if failures == 0 and checked > 0 else "fail"
    return row
