"""Per-unit truth tables of an RNN on 0/1 states, by token class, in the model's own arithmetic.

The shared step of the structural RNN certificates (verify/certify/_rnn_lookup.py,
verify/certify/_rnn_recall.py). One step of an Elman RNN (docs/MODEL.md) computes unit ``u`` as
``relu(h·Wh[:, u] + Win[x, u] + b_u)``. Let ``R_u = {j : Wh[j, u] ≠ 0}`` (the units u reads). While
the state is a 0/1 vector the terms outside ``R_u`` are exact zeros, so the next value of ``u`` is
``f_u(h[R_u], Win[x, u])``: a function of ``|R_u|`` bits and of the token only through the one number
``Win[x, u]``. For a set of tokens (a *class*, e.g. the symbols or the index tokens of a task) we
tabulate ``f_u`` over every assignment of ``R_u`` and every *distinct* value ``Win[x, u]`` of the
class, with the format's own operations on the encoded weights, in the order of the model's step
(``einsum``, ``+ Win``, ``+ b``, ``relu``). From a table a unit is

* an *input* unit of the class: its value is the same for every assignment, and 0 or 1
  (``h' = g_u(x)``);
* a *copy* of ``j ∈ R_u``: its value equals ``h_j`` for every assignment and every token of the class;
* otherwise a *control* unit (the certificates say where these are allowed).

Exactness: ``fixed:I.F`` sums exactly in int64 and rounds once, so the zeros outside ``R_u`` change
nothing. For a float format we require (:func:`check_exact_floats`) that every partial sum of every
step and of the readout is representable — all terms are multiples of ``2^e``, e the lowest set bit
of any weight, with ``Σ|terms| ≤ 2^(p+e)`` — so the value does not depend on the summation order.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import numpy as np

from constructions import Model, encode_weights, float64_scope, parse_precision

from .._engine import VerifyError
from ._rnn_bits import _MAX_FLOAT, _SIGNIFICAND, _assignments, _lowest_bit

__all__ = ["MAX_FAN_IN", "ClassTables", "RNNArrays", "check_exact_floats", "class_tables", "margins", "readout_logits"]

MAX_FAN_IN = 16
INPUT, COPY, CONTROL = 0, 1, 2


_FIELDS = ("win", "wh", "b", "h0", "readout_w", "readout_b")


@functools.cache
def _kernels(precision: str):
    """Jitted ``(prepare, table, readout)`` in the format ``precision``, each the model's own
    operations in the order of its step / readout (constructions/_rnn.py)."""
    ar = parse_precision(precision)

    def prepare(weights):
        w = encode_weights(ar, weights)
        return w, {f: ar.decode(getattr(w, f)) for f in _FIELDS}

    def table(assign, wcols, winv, b):  # [N, r] 0/1, [G, r], [G, D], [G] (encoded) -> [G, D, N]
        hw = ar.einsum("ar,gr->ga", ar.encode(assign), wcols)
        return ar.decode(ar.relu(ar.add(ar.add(hw[:, None, :], winv[:, :, None]), b[:, None, None])))

    def readout(values, wr, br):  # [N, U] decoded values, [U, C], [C] (encoded) -> [N, C]
        return ar.decode(ar.add(ar.einsum("nu,uc->nc", ar.encode(values), wr), br[None]))

    return jax.jit(prepare), jax.jit(table), jax.jit(readout)


def _pow2(k: int) -> int:
    return 1 << max(0, (k - 1).bit_length())


@dataclasses.dataclass
class RNNArrays:
    """A model's RNN weights in one format: ``ar`` the arithmetic, ``w`` the encoded weights, ``dec``
    their decoded values (float64 numpy), ``reads[u]`` the units unit u reads."""

    ar: Any
    w: Any
    dec: dict
    reads: list

    @classmethod
    def of(cls, model: Model, precision: str) -> RNNArrays:
        if model.family != "rnn":
            raise VerifyError("the structural RNN certificates apply to RNNs")
        ar = parse_precision(precision)
        with float64_scope():
            w, dec = _kernels(ar.name)[0](model.weights)
        w = dataclasses.replace(w, **{f: np.asarray(getattr(w, f)) for f in _FIELDS})  # encoded, numpy
        dec = {f: np.asarray(v) for f, v in dec.items()}
        if not np.isin(dec["h0"], (0.0, 1.0)).all():
            raise VerifyError("h0 is not a 0/1 vector in this format")
        reads = [np.flatnonzero(dec["wh"][:, u]) for u in range(dec["wh"].shape[1])]
        big = max((len(r) for r in reads), default=0)
        if big > MAX_FAN_IN:
            raise VerifyError(f"a unit reads {big} units (more than {MAX_FAN_IN})")
        check_exact_floats(ar.name, dec)
        return cls(ar, w, dec, reads)

    @property
    def units(self) -> int:
        return self.dec["wh"].shape[1]


def _lowest(values: np.ndarray) -> int:
    return min(_lowest_bit(float(x)) for x in np.unique(np.abs(values[values != 0])))


def check_exact_floats(name: str, dec: dict) -> None:
    """Float formats: every partial sum of a step (0/1 state, any token) and of the readout (on any
    0/1 state) is representable, so the summation order does not matter (module docstring)."""
    if name not in _SIGNIFICAND:
        return
    parts = [dec[f] for f in ("win", "wh", "b", "readout_w", "readout_b")]
    if not all(np.isfinite(p).all() for p in parts):
        raise VerifyError("non-finite weights")
    nonzero = np.concatenate([p[p != 0].ravel() for p in parts])
    if not nonzero.size:
        return
    low = _lowest(nonzero)
    step = np.abs(dec["wh"]).sum(0) + np.abs(dec["win"]).max(0) + np.abs(dec["b"])
    out = np.abs(dec["readout_w"]).sum(0) + np.abs(dec["readout_b"])
    total = float(max(step.max(), out.max()))
    if total > 2.0 ** (_SIGNIFICAND[name] + low) or total > _MAX_FLOAT[name]:
        raise VerifyError(f"partial sums are not exact in {name} (the structural proof needs them exact)")


@dataclasses.dataclass
class ClassTables:
    """The tables of every unit for one token class (module docstring).

    ``table[u]``: float64 ``[D_u, 2^r]`` (assignment index ``Σ bit_i·2^i`` over ``reads[u]``);
    ``which[u]``: int ``[len(tokens)]``, the row of ``table[u]`` for each token of the class;
    ``kind[u]`` INPUT / COPY / CONTROL; ``src[u]`` the copied unit (COPY) else -1; ``g[u]`` the value
    per token of the class (INPUT) else None."""

    tokens: np.ndarray
    table: list
    which: list
    kind: np.ndarray
    src: np.ndarray
    g: list

    def value(self, u: int, token_index, assignment):
        """``f_u`` for the class's ``token_index``-th token(s) and assignment index(es)."""
        return self.table[u][self.which[u][token_index], assignment]


def class_tables(arr: RNNArrays, tokens: np.ndarray, units: np.ndarray | None = None) -> ClassTables:
    """Tabulate every unit (or ``units``) for the token class ``tokens`` (module docstring)."""
    w, dec = arr.w, arr.dec
    m = arr.units
    kernel = _kernels(arr.ar.name)[1]
    units = np.arange(m) if units is None else np.asarray(units)
    tokens = np.asarray(tokens, dtype=np.int64)
    table: list = [None] * m
    which: list = [None] * m
    kind = np.full(m, -1)
    src = np.full(m, -1)
    g: list = [None] * m
    by_r: dict[int, list[int]] = {}
    for u in units:
        by_r.setdefault(len(arr.reads[u]), []).append(int(u))
    for r, group in sorted(by_r.items()):
        us = np.array(group)
        reps, idx = [], []
        for u in us:  # the distinct values Win[x, u] over the class, one representative token each
            _, first, inv = np.unique(dec["win"][tokens, u], return_index=True, return_inverse=True)
            reps.append(tokens[first])
            idx.append(inv.reshape(-1))
        D = _pow2(max(len(x) for x in reps))
        G = _pow2(len(us))  # padded shapes: few compilations
        rep = np.array([np.pad(x, (0, D - len(x)), mode="edge") for x in reps])  # [G, D]
        pad = np.concatenate([us, np.repeat(us[:1], G - len(us))])
        rep = np.concatenate([rep, np.repeat(rep[:1], G - len(us), axis=0)])
        rows = np.array([arr.reads[u] for u in pad], dtype=np.int64).reshape(G, r)
        with float64_scope():
            out = np.asarray(kernel(_assignments(r), w.wh[rows, pad[:, None]], w.win[rep, pad[:, None]], w.b[pad]))
        bits = _assignments(r)  # [2^r, r]
        for i, u in enumerate(us):
            t = out[i, : len(reps[i])]
            table[u], which[u] = t, idx[i]
            if (t == t[:, :1]).all() and np.isin(t, (0.0, 1.0)).all():
                kind[u], g[u] = INPUT, t[idx[i], 0].astype(np.int64)
                continue
            kind[u] = CONTROL
            for b in range(r):
                if (t == bits[:, b][None]).all():
                    kind[u], src[u] = COPY, int(arr.reads[u][b])
                    break
    return ClassTables(tokens, table, which, kind, src, g)


def readout_logits(arr: RNNArrays, units: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Logits ``[N, C]`` (float64) of states that are ``values [N, len(units)]`` on ``units`` and 0
    elsewhere, by the model's readout in its arithmetic (the zero terms are exact zeros)."""
    w = arr.w
    units = np.asarray(units, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(units))
    N = values.shape[0]
    padded = np.zeros((_pow2(max(N, 8)), len(units)))
    padded[:N] = values
    with float64_scope():
        return np.asarray(_kernels(arr.ar.name)[2](padded, w.readout_w[units], w.readout_b))[:N]


def margins(logits: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Logit of ``want`` minus the best other logit, per row (``-inf`` for NaN)."""
    rows = np.arange(len(want))
    others = logits.copy()
    others[rows, want] = -np.inf
    m = logits[rows, want] - others.max(1)
    return np.where(np.isnan(m), -math.inf, m)
