"""The smallest precision at which a construction stays exact (docs/DESIGN.md §7; paper App. B.2).

For one model and one *check set* (every input when there are at most ``EXHAUSTIVE_LIMIT``,
otherwise a seeded sample plus adversarial inputs) we search

* the fixed-point grid ``fixed:I.F`` with the fewest total bits ``I + F + 1``: I upward at the
  largest F the exact grid allows (the one-int64 emulation while ``2(I+F) + log2 K <= 62``,
  ``I + F <= 30``; beyond, split accumulators while ``(I+F) + log2 K <= 60``), then F upward from 0
  for the three smallest workable I (a model that needs more than the grid allows gets None);
* the fewest significand bits ``p`` of a binary float with unbounded exponent (every parameter and
  every operation's result rounded to nearest-even at p bits; a dot product is formed exactly and
  rounded once, like the fixed grid's wide accumulator);
* a pass/fail matrix for the hardware formats float32, bfloat16, float16.

"Exact" means the engine's rule: the right logit strictly above every other, on every input of
the check set. The searched formats run the project's one forward pass
(``Model.traced_runner``) with an arithmetic whose I, F or p are traced values, so the search
compiles once per model: the fixed grid is :class:`constructions.FixedArithmetic` itself, with
traced I and F, and computes exactly what ``precision="fixed:I.F"`` computes
(tests/verify/test_precision_search.py checks it).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from constructions import Arithmetic, FixedArithmetic, Model, pytree_dataclass

__all__ = [
    "MantissaArithmetic",
    "Certified",
    "check_set",
    "dyck_near_misses",
    "search",
    "smallest_fixed",
    "smallest_mantissa",
    "float_matrix",
    "fit_log",
    "EXHAUSTIVE_LIMIT",
    "HARDWARE_FLOATS",
]

EXHAUSTIVE_LIMIT = 1 << 14
NARROW_LIMIT, WIDE_LIMIT = FixedArithmetic.NARROW_LIMIT, FixedArithmetic.WIDE_LIMIT
MAX_FRAC, MAX_TOTAL = FixedArithmetic.MAX_FRAC, FixedArithmetic.MAX_TOTAL
HARDWARE_FLOATS = ("float32", "bfloat16", "float16")
_BUDGET = 1 << 23


@pytree_dataclass
class MantissaArithmetic(Arithmetic):
    """Binary floats with ``p`` significand bits (traced) and float64's exponent range."""

    p: object

    @classmethod
    def of(cls, bits: int):
        return cls(np.float64(bits))

    def _round(self, x):
        # Round to nearest, ties to even, at p significand bits, on float64's bit pattern: drop the
        # low k = 53 - p bits of the (sign-magnitude) pattern, adding half an ulp minus one plus the
        # kept low bit first; a carry out of the significand bumps the exponent, as it should.
        # Exact for normal numbers (subnormals round at a fixed absolute position); 1.8x faster
        # than frexp / round / scale back (measured on the index-lookup search).
        k = 53 - self.p.astype(jnp.int64)
        u = jax.lax.bitcast_convert_type(x, jnp.int64)
        one = jnp.int64(1)
        half = one << jnp.maximum(k - 1, 0)
        kept_lsb = jnp.where(k >= 52, one, (u >> k) & 1)  # p = 1 keeps only the implicit leading 1
        r = (u + half - 1 + kept_lsb) & ~((one << k) - 1)
        r = jax.lax.bitcast_convert_type(jnp.where(k > 0, r, u), jnp.float64)
        return jnp.where(jnp.isfinite(x), r, x)

    def encode(self, x):
        return self._round(jnp.asarray(x, jnp.float64))

    def decode(self, v):
        return v

    def einsum(self, spec, a, b):
        return self._round(jnp.einsum(spec, a, b))

    def add(self, a, b):
        return self._round(a + b)

    def relu(self, a):
        return jnp.maximum(a, 0.0)

    def softmax(self, scores, mask):
        s = jnp.where(mask, scores, -jnp.inf)
        m = jnp.max(s, axis=-1, keepdims=True)
        e = jnp.where(mask, self._round(jnp.exp(self._round(jnp.where(mask, s - m, 0.0)))), 0.0)
        return self._round(e / self._round(jnp.sum(e, axis=-1, keepdims=True)))


def _logit_chunks(model: Model, ar: Arithmetic, inputs):
    """Yield ``(start, float64 logits [b, C])`` chunk by chunk (one compiled shape per model)."""
    x = model.encode_inputs(inputs)
    run = model.traced_runner()
    width = model.weights.position.shape[1] if model.family == "transformer" else model.weights.wh.shape[0]
    chunk = max(1, _BUDGET // max(1, x.shape[1] * width))
    chunk = 1 << (chunk.bit_length() - 1)
    for start in range(0, x.shape[0], chunk):
        part = x[start : start + chunk]
        short = chunk - part.shape[0] if x.shape[0] > chunk else 0
        if short:
            part = np.concatenate([part, np.repeat(part[:1], short, axis=0)])
        res = run(ar, part)
        yield start, res[: res.shape[0] - short]


def logits(model: Model, ar: Arithmetic, inputs) -> np.ndarray:
    """float64 ``[B, C]`` logits of ``model`` evaluated in the traced arithmetic ``ar``."""
    return np.concatenate([lg for _, lg in _logit_chunks(model, ar, inputs)])


def _right(lg, expected) -> bool:
    rows = np.arange(len(expected))
    right = lg[rows, expected]  # fancy indexing copies
    lg = lg.copy()  # the chunks can be read-only views of device arrays
    lg[rows, expected] = -np.inf
    return bool(np.all(right > lg.max(axis=1)))


def exact_on(model: Model, ar, inputs, expected) -> bool:
    """Right on every input; stops at the first chunk with a wrong answer (the check sets put their
    adversarial inputs first, so a format that fails usually costs one chunk)."""
    expected = np.asarray(expected)
    for start, lg in _logit_chunks(model, ar, inputs):
        if not _right(lg, expected[start : start + lg.shape[0]]):
            return False
    return True


# --- the check set ----------------------------------------------------------------------------


def _adversarial(task, rng) -> np.ndarray | None:
    """Inputs that push hardest on one construction's weak point (index lookup: every other
    symbol is the code complement of the answer, at the first, last and 16 random indices;
    Dyck: :func:`dyck_near_misses`)."""
    if task.name == "dyck":
        return dyck_near_misses(task, rng)
    if task.name != "index_lookup":
        return None
    n, s = task.n, task.alphabet_size
    ts = sorted({0, 1, n // 2, max(0, n - 2), n - 1} | set(rng.integers(0, n, 16).tolist()))
    full = (1 << max(1, math.ceil(math.log2(s)))) - 1
    rows = []
    for t in ts:
        for c in sorted({0, s - 1, int(rng.integers(0, s))}):
            for fill in {full - c if full - c < s else s - 1 - c, (c + 1) % s}:
                x = np.full(n + 1, fill, dtype=np.int64)
                x[t], x[n] = c, s + t
                rows.append(x)
    return np.stack(rows)


def dyck_near_misses(task, rng, bases: int = 2, positions: int = 16) -> np.ndarray | None:
    """Invalid Dyck strings one edit away from valid ones: for ``bases`` sampled valid strings and
    the positions ``0, 1, n/2, n−2, n−1`` plus ``positions`` random ones, every other token at that
    position, and the swap of that token with the next; the invalid results only (None at odd n).
    The late positions are where a count threshold ``c/(i+1)`` is finest."""
    n, vocab = task.n, task.vocab_size
    if n % 2:
        return None
    ts = sorted({0, 1, n // 2, max(0, n - 2), n - 1} | set(rng.integers(0, n, positions).tolist()))
    rows = []
    for x in task.sample_positive(rng, bases):
        for t in ts:
            for v in range(vocab):
                if v != x[t]:
                    y = x.copy()
                    y[t] = v
                    rows.append(y)
            if t + 1 < n and x[t] != x[t + 1]:
                y = x.copy()
                y[t], y[t + 1] = x[t + 1], x[t]
                rows.append(y)
    out = np.stack(rows)
    return out[task.solve(out) == 0]


def check_set(task, *, samples: int = 2000, seed: int = 0, exhaustive_limit: int = EXHAUSTIVE_LIMIT):
    """``(inputs, expected, description)``: every input, or a seeded sample plus adversarial inputs."""
    total = task.num_inputs
    if total is not None and total <= exhaustive_limit:
        x = np.concatenate(list(task.enumerate(4096)))
        return x, task.solve(x), f"all {total} inputs"
    rng = np.random.default_rng(seed)
    x = task.sample(rng, samples)
    adv = _adversarial(task, rng)
    what = f"{samples} sampled (seed {seed})"
    if adv is not None:  # first: a format that fails usually fails on these, and the search stops early
        x = np.concatenate([adv, x])
        what += f" + {len(adv)} adversarial"
    return x, task.solve(x), what


# --- the searches -----------------------------------------------------------------------------


def _max_terms(model: Model) -> int:
    """Longest contraction of the forward pass (the int64 grid needs 2(I+F) + log2 K <= 62)."""
    arrays = model.arrays()
    L = model.metadata.seq_len or model.task_params.get("n", 1)
    return max(
        [int(L)]
        + [int(a.shape[-1]) for a in arrays.values() if a.ndim >= 2]
        + [int(a.shape[0]) for a in arrays.values() if a.ndim >= 2]
    )


def _narrow_max_sum(model) -> int:
    """The largest I + F the one-int64 (narrow) emulation holds for this model: I + F <= 30 and
    2(I + F) + ⌈log2 K⌉ <= 62 for its longest contraction K."""
    return min(30, (NARROW_LIMIT - max(1, math.ceil(math.log2(max(_max_terms(model), 2))))) // 2)


def _grid_max_sum(model) -> int:
    """The largest I + F the exact emulation holds for this model (split accumulators where the
    narrow one is not exact): (I + F) + ⌈log2 K⌉ <= 60 for its longest contraction K."""
    return min(MAX_TOTAL, WIDE_LIMIT - max(1, math.ceil(math.log2(max(_max_terms(model), 2)))))


def _grid_ok(model, I, F) -> bool:
    return I + F <= _grid_max_sum(model) and F <= MAX_FRAC


def fixed_format(model: Model, I: int, F: int) -> FixedArithmetic:
    """``fixed:I.F`` for the traced search: the wide path where the narrow one is not exact for this
    model (:mod:`constructions._precision`), so the search compiles at most twice per model."""
    return FixedArithmetic(I, F, wide=I + F > _narrow_max_sum(model))


def _fmax(model, I: int) -> int:
    """The F probed first at integer bits I: the largest the narrow emulation allows while it holds
    I bits, else the largest the wide one allows."""
    narrow = _narrow_max_sum(model)
    if I <= narrow:
        return narrow - I
    return max(0, min(MAX_FRAC, _grid_max_sum(model) - I))


def _smallest_grid(model: Model, passes, max_bits: int) -> dict | None:
    """Fewest bits ``I + F + 1`` with ``passes(I, F)``: I upward at the largest F the grid allows
    (the three smallest I that work), then F upward from 0 for each (``passes`` is asked at most
    once per format); ``stable`` says whether one and two more fractional bits and one more
    integer bit still pass."""
    ok = functools.lru_cache(maxsize=None)(lambda I, F: _grid_ok(model, I, F) and passes(I, F))
    workable: list[int] = []
    for I in range(0, MAX_TOTAL + 1):  # the three smallest I at which the largest allowed F works
        if len(workable) == 3 or not _grid_ok(model, I, 0):
            break
        if ok(I, _fmax(model, I)):
            workable.append(I)
    best: dict[str, Any] | None = None
    for I in workable:
        for F in range(0, _fmax(model, I) + 1):
            if best is not None and I + F + 1 >= best["bits"]:
                break
            if ok(I, F):
                best = {"int_bits": I, "frac_bits": F, "bits": I + F + 1}
                break
    if best is None or best["bits"] > max_bits:
        return None
    I, F = best["int_bits"], best["frac_bits"]
    best["precision"] = f"fixed:{I}.{F}"
    best["stable"] = all(ok(i, f) for i, f in [(I, F + 1), (I, F + 2), (I + 1, F)] if _grid_ok(model, i, f))
    return best


def smallest_fixed(model: Model, inputs, expected, max_bits: int = MAX_TOTAL + 1, proved=None) -> dict | None:
    """Fewest bits ``I + F + 1`` at which the model is exact on the check set, or None.

    ``proved(I, F)``, if given, says a certificate already proves ``fixed:I.F`` right on every
    input; such formats are not re-evaluated on the check set (they pass it a fortiori)."""

    def ok(I, F):
        return (proved is not None and proved(I, F)) or exact_on(model, fixed_format(model, I, F), inputs, expected)

    return _smallest_grid(model, ok, max_bits)


class Certified:
    """``certify(model, "fixed:I.F")`` per format, memoised: ``proves(I, F)`` is True when every
    input is proved (the whole input space, not a check set); None for tasks without a certificate."""

    def __init__(self, model: Model, task, precheck=None):
        """``precheck(I, F)``, if given, is a necessary condition (the format is exact on a check
        set): a format failing it cannot be proved, and no certificate is computed for it (at large
        n one certificate costs minutes, a failing check-set chunk a fraction of a second)."""
        from .certify import CERTIFIABLE

        self.model, self.task, self.precheck = model, task, precheck
        self.applies = model.task in CERTIFIABLE
        self._done: dict = {}

    def proves(self, I: int, F: int) -> bool:
        if not self.applies or not _grid_ok(self.model, I, F):
            return False
        if (I, F) not in self._done and self.precheck is not None and not self.precheck(I, F):
            self._done[I, F] = False  # wrong on some input: no certificate can pass (they are sound)
        if (I, F) not in self._done:
            from .certify import certify

            try:
                row = certify(self.model, f"fixed:{I}.{F}", task=self.task, witnesses=False)
                self._done[I, F] = row["status"] == "pass"
            except ValueError:  # a format the certifier refuses (too wide for its exact int64 bounds)
                self._done[I, F] = False
        return self._done[I, F]

    def known(self, I: int, F: int) -> bool:
        """True if ``fixed:I.F`` was already certified (no new certificate is computed)."""
        return self._done.get((I, F), False)

    def smallest(self, max_bits: int = MAX_TOTAL + 1) -> dict | None:
        """The smallest fixed format proved right on every input (same search as the sampled one)."""
        return _smallest_grid(self.model, self.proves, max_bits) if self.applies else None


def smallest_mantissa(model: Model, inputs, expected, max_bits: int = 53) -> dict | None:
    """Fewest significand bits p (float64 exponent range) exact on the check set, or None;
    ``stable``: p + 1 bits pass too."""
    ok = functools.lru_cache(maxsize=None)(lambda p: exact_on(model, MantissaArithmetic.of(p), inputs, expected))
    for p in range(1, max_bits + 1):
        if ok(p):
            return {"mantissa_bits": p, "stable": p == max_bits or ok(p + 1)}
    return None


def float_matrix(model: Model, inputs, expected) -> dict:
    """``{format: bool}`` for float32, bfloat16, float16 (the model's own ``predict`` formats)."""
    return {name: _right(model.logits(inputs, precision=name), np.asarray(expected)) for name in HARDWARE_FLOATS}


def search(model: Model, task, *, samples: int = 2000, seed: int = 0, certified: bool = True) -> dict:
    """One row: the smallest fixed and float precisions on the check set, the smallest fixed format
    certified for every input (``certified``; tasks with a certificate only, else None), and the
    hardware-float matrix."""
    x, y, what = check_set(task, samples=samples, seed=seed)
    sampled = functools.lru_cache(maxsize=None)(lambda I, F: exact_on(model, fixed_format(model, I, F), x, y))
    cert = Certified(model, task, precheck=sampled) if certified else None
    proved_fixed = cert.smallest() if cert is not None else None
    # formats the certified search proved skip the check set; no certificate is computed for the
    # others, which the check set decides faster (it stops at its first wrong chunk)
    fixed = smallest_fixed(model, x, y, proved=cert.known if cert is not None else None)
    return {
        "task": model.task,
        "arch": model.variant,
        "n": model.task_params.get("n"),
        "task_params": model.task_params,
        "build": model.metadata.build,
        "width": model.size()["width"],
        "params": model.size()["params"],
        "check_set": what,
        "inputs_checked": int(len(x)),
        "fixed": fixed,
        "fixed_bits": None if fixed is None else fixed["bits"],
        "certified": proved_fixed,
        "certified_bits": None if proved_fixed is None else proved_fixed["bits"],
        "mantissa": smallest_mantissa(model, x, y),
        "floats": float_matrix(model, x, y),
        # the widest fixed format the exact emulation holds for this model: a "-" above
        # means no format up to this many bits is exact, not that none exists
        "grid_max_bits": _grid_max_sum(model) + 1,
        "grid_terms": _max_terms(model),
    }


def fit_log(ns, bits) -> dict | None:
    """Least-squares ``bits = a·log2 n + c`` with R² (None with fewer than two points)."""
    pts = [(math.log2(n), b) for n, b in zip(ns, bits) if b is not None]
    if len(pts) < 2:
        return None
    X = np.array([p[0] for p in pts])
    Y = np.array([p[1] for p in pts], dtype=np.float64)
    a, c = np.polyfit(X, Y, 1)
    resid = Y - (a * X + c)
    ss = float(((Y - Y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss if ss > 0 else 1.0
    return {"a": float(a), "c": float(c), "r2": r2, "points": len(pts)}
