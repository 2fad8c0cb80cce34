"""Robustness sweeps: how far a construction can be pushed before it first answers wrongly.

Three sweeps, each over a fixed ladder, each reporting every rung and the first that breaks:

``noise``
    Gaussian noise of standard deviation σ added to every *nonzero* weight of every array
    (embeddings included), σ relative to the array's largest entry; three seeded draws per σ,
    a rung fails if any draw does.
``beta``
    The first layer's query map ``Wq`` (where every construction keeps its temperature β)
    multiplied by λ < 1.
``length``
    The model built for a longer input ``f·n`` but with the scale factor derived for the design
    n (``beta=`` of the builder): how far beyond its design length the temperature still works.
    Only for constructions whose builder takes ``beta``.

Each rung is checked on the precision-search check set (:func:`verify._precision_search.check_set`:
every input at small n, else a seeded sample plus adversarial inputs) in float64.
"""

from __future__ import annotations

import inspect

import numpy as np

import constructions
import tasks
from constructions import Model, builder_for

from ._precision_search import check_set

__all__ = ["sweep", "SWEEPS", "NOISE", "BETA", "LENGTH"]

NOISE = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
BETA = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
LENGTH = (1, 2, 4, 8, 16, 32, 64)
SWEEPS = ("noise", "beta", "length")


def _exact(model: Model, x, y) -> tuple[bool, float]:
    lg = model.logits(x)
    rows = np.arange(len(y))
    right = lg[rows, y].copy()
    lg[rows, y] = -np.inf
    margin = right - lg.max(axis=1)
    return bool(np.all(margin > 0)), float(margin.min())


def _noise(model, x, y, seed):
    out = []
    arrays = model.arrays()
    for sigma in NOISE:
        ok, worst = True, np.inf
        for draw in range(3):
            rng = np.random.default_rng([seed, draw])
            noisy = {
                k: v + (v != 0) * rng.normal(0.0, sigma * max(float(np.abs(v).max()), 1e-300), v.shape)
                for k, v in arrays.items()
            }
            good, m = _exact(Model.from_arrays(noisy, model.meta), x, y)
            ok, worst = ok and good, min(worst, m)
        out.append({"sigma": sigma, "pass": ok, "min_margin": worst})
    return out


def _beta(model, x, y):
    out = []
    wq = model.arrays()["layer0/attn/wq"]
    for lam in BETA:
        good, m = _exact(model.with_arrays(**{"layer0/attn/wq": lam * wq}), x, y)
        out.append({"scale": lam, "pass": good, "min_margin": m})
    return out


def _length(model, samples, seed):
    build = dict(model.metadata.build)
    fn = builder_for(model.task, model.variant)
    if "beta" not in inspect.signature(fn).parameters:
        return None
    beta = model.metadata.construction.get("beta")
    n = model.task_params["n"]
    out = []
    for f in LENGTH:
        params = {k: v for k, v in build.items() if k not in ("task", "arch")}
        params.update(n=n * f, beta=beta)
        longer = constructions.build(model.task, arch=model.variant, **params)
        x, y, _ = check_set(tasks.get(model.task, **longer.task_params), samples=samples, seed=seed)
        good, m = _exact(longer, x, y)
        out.append({"factor": f, "n": n * f, "pass": good, "min_margin": m})
    return out


def _first_break(rungs, key):
    for r in rungs or []:
        if not r["pass"]:
            return r[key]
    return None


def sweep(model: Model, kind: str, *, samples: int = 1000, seed: int = 0) -> dict:
    """One sweep (``"noise"``, ``"beta"`` or ``"length"``): every rung and the first that fails."""
    if kind not in SWEEPS:
        raise ValueError(f"unknown sweep {kind!r}; choose from {', '.join(SWEEPS)}")
    task = tasks.get(model.task, **model.task_params)
    x, y, what = check_set(task, samples=samples, seed=seed)
    if kind == "noise":
        rungs, key = _noise(model, x, y, seed), "sigma"
    elif kind == "beta":
        rungs, key = _beta(model, x, y), "scale"
    else:
        rungs, key = _length(model, samples, seed), "n"
    return {
        "task": model.task,
        "arch": model.variant,
        "n": model.task_params.get("n"),
        "build": model.metadata.build,
        "sweep": kind,
        "check_set": what,
        "seed": seed,
        "rungs": rungs,
        "applicable": rungs is not None,
        "first_failure": _first_break(rungs, key),
    }
