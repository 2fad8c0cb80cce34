"""Number formats: the arithmetic every forward pass is written against.

A forward pass never calls ``jnp.matmul`` or ``jax.nn.softmax`` directly; it calls the five
operations of an :class:`Arithmetic` (``encode``, ``einsum``, ``add``, ``relu``, ``softmax``), so
one definition of the Transformer and one of the RNN serve every precision.

Formats (``precision=`` strings):

``float64``, ``float32``, ``bfloat16``, ``float16``
    Every parameter is cast to the dtype and every operation runs in it, as XLA evaluates it.
    Softmax subtracts the row maximum first.

``fixed:I.F``
    The paper's grid (App. B.2): values are multiples of ``2^-F`` in ``[-2^I, 2^I]``. Every
    parameter and every intermediate value is **rounded down** (towards -inf) to the grid and
    clipped. Values are held as int64 counts of ``2^-F``, so the arithmetic is exact:

    * ``einsum`` (every matrix product): products and their sum are formed exactly in int64,
      then the sum is rounded down once and clipped (a dot product with a wide accumulator);
    * ``add``: exact, then clipped;  ``relu``: exact;
    * ``softmax``: ``d = s - max(s)`` (exact, clipped), ``e = floor(exp(d) * 2^F) / 2^F`` with
      ``exp`` evaluated in float64, ``Z = sum(e)`` (exact, clipped), ``alpha = floor(e / Z)`` on
      the grid (exact integer division). Masked positions get ``e = 0``.

    Total bits ``b = I + F + 1`` (a sign bit). A contraction over K terms is formed exactly in one
    of two ways (``w = I + F``, ``c = max(1, ceil(log2 K))``):

    * *narrow* (the fast path): one int64 einsum, exact while ``2w + c <= 62``;
    * *wide*: each operand split into a high and a low half, ``a = a_hi·2^h + a_lo`` with
      ``h = ceil(w/2)`` and ``0 <= a_lo < 2^h``; the four partial einsums (each exact in int64) are
      recombined with carries into ``S = hi·2^(2h) + low``, ``0 <= low < 2^(2h)``, an exact
      int128-style pair from which ``floor(S / 2^F)``, clipped, is read off without forming S.
      Exact while ``w + c <= 60``. Used only where the narrow path is not exact.

    Formats need ``F <= 31`` (softmax forms ``e · 2^F`` with ``e <= 2^F`` in int64) and
    ``I + F <= 59``; a product beyond the wide limit is refused (:meth:`FixedArithmetic.check_terms`).

    I and F may also be traced int64 scalars: an arithmetic is a pytree, so a jitted forward that
    takes it as an argument compiles once for every ``I.F`` (the precision search does this). The
    width check is then the caller's, as the values are not known while tracing, and so is the
    choice of path: ``wide=True`` (a static field, one more compilation) takes the wide path for
    every product, ``wide=False`` the narrow one.

float64 and the int64 grid need JAX's 64-bit types, which are off by default: everything here runs
inside :func:`float64_scope`, which switches ``jax_enable_x64`` on for its extent only.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import jax
import jax.numpy as jnp

from ._errors import ConstructionError

if TYPE_CHECKING:  # tells the type checker that the decorated classes are dataclasses
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_):
        return lambda f: f


__all__ = [
    "Arithmetic",
    "FloatArithmetic",
    "FixedArithmetic",
    "parse_precision",
    "PRECISIONS",
    "float64_scope",
    "pytree_dataclass",
]

PRECISIONS = ("float64", "float32", "bfloat16", "float16", "fixed:I.F")

_FLOAT_DTYPES = {
    "float64": jnp.float64,
    "float32": jnp.float32,
    "bfloat16": jnp.bfloat16,
    "float16": jnp.float16,
}
_FLOAT_BITS = {"float64": 64, "float32": 32, "bfloat16": 16, "float16": 16}
_FIXED_RE = re.compile(r"^fixed:(\d+)\.(\d+)$")
NARROW_LIMIT = 62  # narrow path exact while 2(I+F) + c <= 62 (module docstring)
WIDE_LIMIT = 60  # wide path exact while (I+F) + c <= 60
MAX_FRAC = 31  # F <= 31: softmax's e·2^F fits int64
MAX_TOTAL = WIDE_LIMIT - 1  # I + F <= 59: a product of at least two terms (c >= 1) is exact


_F = TypeVar("_F", bound=Callable[..., Any])


class Scope(Protocol):
    """A context manager that is also a function decorator (what :func:`float64_scope` returns)."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> object: ...

    def __call__(self, fn: _F) -> _F: ...


def float64_scope() -> Scope:
    """``jax_enable_x64`` switched on for a block, and restored after it: ``with float64_scope(): ...``
    or, on a function, ``@float64_scope()``.

    The float64 format and the int64 fixed-point grid need it; the rest of a process keeps JAX's
    32-bit default. A jitted function that runs the formats must be called inside the scope
    (outside, JAX traces it again with 32-bit types), and arrays made with ``jnp`` outside it are
    32-bit."""
    return jax.enable_x64(True)


@dataclass_transform(frozen_default=True)
def pytree_dataclass(cls: type | None = None, *, static: tuple[str, ...] = ()) -> Any:
    """Class decorator: a frozen dataclass registered as a JAX pytree, its fields the leaves except
    those named in ``static`` (hashable metadata of the tree's structure)."""

    def deco(c):
        c = dataclasses.dataclass(frozen=True)(c)
        names = [f.name for f in dataclasses.fields(c)]
        return jax.tree_util.register_dataclass(
            c, data_fields=[n for n in names if n not in static], meta_fields=[n for n in names if n in static]
        )

    return deco if cls is None else deco(cls)


class Arithmetic:
    """Interface of a number format. Subclasses are frozen dataclasses (hashable: jit statics)."""

    if TYPE_CHECKING:  # read-only in the interface: a field in one format, a property in another

        @property
        def name(self) -> str: ...

        @property
        def bits(self) -> int: ...

    def encode(self, x):  # pragma: no cover - interface
        """Real array -> internal representation (rounded to the format)."""
        raise NotImplementedError

    def decode(self, v):  # pragma: no cover - interface
        """Internal representation -> float64 array."""
        raise NotImplementedError

    def einsum(self, spec: str, a, b):  # pragma: no cover - interface
        """``jnp.einsum(spec, a, b)`` of two arrays, each sum rounded once to the format."""
        raise NotImplementedError

    def add(self, a, b):  # pragma: no cover - interface
        """``a + b``, rounded to the format."""
        raise NotImplementedError

    def relu(self, a):  # pragma: no cover - interface
        """``max(a, 0)``."""
        raise NotImplementedError

    def softmax(self, scores, mask):  # pragma: no cover - interface
        """Softmax of ``scores`` along the last axis over the positions where ``mask`` is true (module docstring)."""
        raise NotImplementedError

    def check_terms(self, terms: int) -> None:
        """Refuse (``ValueError``) a matrix product of ``terms`` terms per sum that this format cannot
        form; every size is fine in floating point."""


@pytree_dataclass(static=("name",))
class FloatArithmetic(Arithmetic):
    """A hardware float format (``name``: float64, float32, bfloat16, float16)."""

    name: str

    @property
    def dtype(self):
        return _FLOAT_DTYPES[self.name]

    @property
    def bits(self) -> int:
        return _FLOAT_BITS[self.name]

    def encode(self, x):
        return jnp.asarray(x).astype(self.dtype)

    def decode(self, v):
        return v.astype(jnp.float64)

    def einsum(self, spec, a, b):
        return jnp.einsum(spec, a, b).astype(self.dtype)

    def add(self, a, b):
        return a + b

    def relu(self, a):
        return jnp.maximum(a, jnp.zeros((), a.dtype))

    def softmax(self, scores, mask):
        neg = jnp.asarray(-jnp.inf, scores.dtype)
        s = jnp.where(mask, scores, neg)
        m = jnp.max(s, axis=-1, keepdims=True)
        e = jnp.where(mask, jnp.exp(s - m), jnp.zeros((), scores.dtype))
        return e / jnp.sum(e, axis=-1, keepdims=True)


def _log_terms(terms: int) -> int:
    """``c = max(1, ceil(log2 K))``: the bits a sum of K terms adds."""
    return max(1, math.ceil(math.log2(max(terms, 2))))


@pytree_dataclass(static=("wide",))
class FixedArithmetic(Arithmetic):
    """``fixed:I.F`` (module docstring). ``int_bits`` and ``frac_bits`` are ints, or traced int64
    scalars when the arithmetic is an argument of a jitted function; ``wide`` (static) chooses the
    wide path of every product for traced I, F (concrete ones choose per product)."""

    int_bits: int
    frac_bits: int
    wide: bool = False

    NARROW_LIMIT: ClassVar[int] = NARROW_LIMIT
    WIDE_LIMIT: ClassVar[int] = WIDE_LIMIT
    MAX_FRAC: ClassVar[int] = MAX_FRAC
    MAX_TOTAL: ClassVar[int] = MAX_TOTAL

    @property
    def name(self) -> str:
        return f"fixed:{self.int_bits}.{self.frac_bits}"

    @property
    def bits(self) -> int:
        return self.int_bits + self.frac_bits + 1

    @property
    def scale(self) -> int:
        return 1 << self.frac_bits

    @property
    def _hi(self) -> int:
        return 1 << (self.int_bits + self.frac_bits)

    @property
    def _traced(self) -> bool:
        return isinstance(self.int_bits, jax.core.Tracer) or isinstance(self.frac_bits, jax.core.Tracer)

    def _clip(self, v):
        return jnp.clip(v, -self._hi, self._hi)

    def encode(self, x):
        x = jnp.asarray(x, jnp.float64)
        return self._clip(jnp.floor(x * self.scale)).astype(jnp.int64)

    def decode(self, v):
        return v.astype(jnp.float64) / self.scale

    def narrow_holds(self, terms: int) -> bool:
        """The one-int64 einsum is exact over ``terms`` terms: ``2(I+F) + c <= 62`` (concrete I, F)."""
        return 2 * (self.int_bits + self.frac_bits) + _log_terms(terms) <= NARROW_LIMIT

    def holds(self, terms: int) -> bool:
        """Some path (narrow or wide) is exact over ``terms`` terms: ``I + F + c <= 60`` (concrete I, F)."""
        return self.int_bits + self.frac_bits + _log_terms(terms) <= WIDE_LIMIT and self.frac_bits <= MAX_FRAC

    def einsum(self, spec, a, b):
        inputs, out = spec.split("->")
        la, lb = inputs.split(",")
        summed = (set(la) | set(lb)) - set(out)
        terms = 1
        for ch in summed:
            terms *= a.shape[la.index(ch)] if ch in la else b.shape[lb.index(ch)]
        self.check_terms(terms)
        if self.wide if self._traced else not self.narrow_holds(terms):
            return self._wide_einsum(spec, a, b)
        exact = jnp.einsum(spec, a, b, preferred_element_type=jnp.int64)
        return self._clip(jnp.floor_divide(exact, self.scale))

    def _wide_einsum(self, spec, a, b):
        """The wide path (module docstring): every partial sum below ``K·2^(w+2) <= 2^62``."""
        i64 = lambda v: jnp.asarray(v, jnp.int64)  # noqa: E731
        w = i64(self.int_bits) + i64(self.frac_bits)
        F = i64(self.frac_bits)
        h = (w + 1) >> 1
        mask = (i64(1) << h) - 1
        a, b = jnp.asarray(a, jnp.int64), jnp.asarray(b, jnp.int64)
        ah, al, bh, bl = a >> h, a & mask, b >> h, b & mask  # |a_hi| <= 2^(w-h), 0 <= a_lo < 2^h
        dot = lambda x, y: jnp.einsum(spec, x, y, preferred_element_type=jnp.int64)  # noqa: E731
        hi, mid, lo = dot(ah, bh), dot(ah, bl) + dot(al, bh), dot(al, bl)
        mid = mid + (lo >> h)  # carry: S = hi·2^2h + mid·2^h + (lo mod 2^h)
        hi = hi + (mid >> h)
        low = ((mid & mask) << h) | (lo & mask)  # S = hi·2^t + low, 0 <= low < 2^t, t = 2h
        t = 2 * h
        # floor(S / 2^F): hi >> (F - t) when F >= t (low < 2^t drops out); else hi·2^s + (low >> F),
        # s = t - F, with hi first clipped to ±(2^(w-s) + 1), which leaves the clipped result as it is
        down = hi >> jnp.maximum(F - t, 0)
        s = jnp.maximum(t - F, 0)
        m = (i64(1) << jnp.maximum(w - s, 0)) + 1
        up = (jnp.clip(hi, -m, m) << s) + (low >> jnp.minimum(F, t))
        return self._clip(jnp.where(F >= t, down, up))

    def check_terms(self, terms: int) -> None:
        """Refuse (one-line ``ValueError``) a matrix product of ``terms`` terms per sum that neither
        exact path holds: the wide one needs ``(I+F) + ceil(log2 K) <= 60``."""
        if not self._traced and not self.holds(terms):  # traced I, F: checked by whoever chose them
            raise ConstructionError(
                f"{self.name} is too wide for exact int64 accumulation over {terms} terms "
                f"(needs (I+F)+log2 K <= {WIDE_LIMIT} with split accumulators)"
            )

    def add(self, a, b):
        return self._clip(a + b)

    def relu(self, a):
        return jnp.maximum(a, 0)

    def softmax(self, scores, mask):
        lo = jnp.iinfo(jnp.int64).min
        s = jnp.where(mask, scores, lo)
        m = jnp.max(s, axis=-1, keepdims=True)
        d = self._clip(jnp.where(mask, scores - m, 0))
        e = jnp.floor(jnp.exp(d.astype(jnp.float64) / self.scale) * self.scale).astype(jnp.int64)
        e = jnp.where(mask, e, 0)
        z = self._clip(jnp.sum(e, axis=-1, keepdims=True))
        return jnp.floor_divide(e * self.scale, jnp.maximum(z, 1))


def parse_precision(precision: str | Arithmetic) -> Arithmetic:
    """``"float32"`` / ``"fixed:8.12"`` -> an :class:`Arithmetic`; one-line ``ValueError`` otherwise."""
    if isinstance(precision, Arithmetic):
        return precision
    if precision in _FLOAT_DTYPES:
        return FloatArithmetic(precision)
    m = _FIXED_RE.match(str(precision))
    if m:
        i, f = int(m.group(1)), int(m.group(2))
        if i + f > MAX_TOTAL or f > MAX_FRAC:
            raise ConstructionError(
                f"precision {precision!r}: I + F must be at most {MAX_TOTAL} and F at most {MAX_FRAC} "
                "for exact int64 arithmetic"
            )
        return FixedArithmetic(i, f)
    raise ConstructionError(
        f"unknown precision {precision!r}; expected one of float64, float32, bfloat16, float16, fixed:I.F"
    )
