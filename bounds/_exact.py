"""Exact numbers from the closed forms, without sympy (docs/BOUNDS.md §1).

Every quantity a bound needs at given integer parameters is a rational plus rational multiples of
``log2`` of positive integers: Theorem 4's cost, ``w·b``, ``n/2``, ``n·log2 A``, ``(n/2)·log2 K``.
:class:`LogLinear` holds such a number exactly and decides its sign exactly, so ``⌈need⌉`` and the
smallest width with ``size >= need`` come out as the integers sympy's exact evaluation gives
(tests/bounds/test_bounds_exact.py compares the two over many parameters). The sympy forms
(bounds/_tf1_cost.py, :attr:`bounds.LowerBound.size`) stay the statement of each bound; this
module only evaluates them, so that ``lower_bounds`` (every ``verify`` row) runs without sympy.

Sign of ``r + Σ a_i·log2 m_i``: logs of powers of two are folded into ``r``; if the float value is
farther from 0 than 10^-12 of the sum of the absolute terms (float error is below 10^-15 of it),
its sign is the answer; otherwise, with ``d`` the common denominator, the sign of
``2^(d·r)·Π m_i^(d·a_i) − 1`` is decided on Python integers.
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["LogLinear", "ceil_log2_int", "smallest_at_least"]


def ceil_log2_int(m: int) -> int:
    """``⌈log2 m⌉`` for an integer ``m >= 1``, exactly."""
    return (int(m) - 1).bit_length()


class LogLinear:
    """An exact number ``const + Σ coeff·log2(base)`` (rational ``const`` and coefficients, integer
    bases >= 1). Supports ``+``, ``-``, multiplication by a rational, :meth:`sign`, :meth:`ceil`."""

    __slots__ = ("const", "logs")

    def __init__(self, const=0, logs: dict[int, Fraction] | None = None):
        c = Fraction(const)
        terms: dict[int, Fraction] = {}
        for base, coeff in (logs or {}).items():
            base, coeff = int(base), Fraction(coeff)
            if base < 1:
                raise ValueError(f"log2 of {base}")
            if coeff == 0 or base == 1:
                continue
            if base & (base - 1) == 0:  # a power of two: its log is an integer
                c += coeff * (base.bit_length() - 1)
                continue
            terms[base] = terms.get(base, Fraction(0)) + coeff
        self.const = c
        self.logs = {k: v for k, v in terms.items() if v != 0}

    @classmethod
    def log2(cls, m: int, coeff=1) -> LogLinear:
        return cls(0, {int(m): Fraction(coeff)})

    def __add__(self, other) -> LogLinear:
        other = other if isinstance(other, LogLinear) else LogLinear(other)
        logs = dict(self.logs)
        for k, v in other.logs.items():
            logs[k] = logs.get(k, Fraction(0)) + v
        return LogLinear(self.const + other.const, logs)

    __radd__ = __add__

    def __neg__(self) -> LogLinear:
        return LogLinear(-self.const, {k: -v for k, v in self.logs.items()})

    def __sub__(self, other) -> LogLinear:
        other = other if isinstance(other, LogLinear) else LogLinear(other)
        return self + (-other)

    def __rsub__(self, other) -> LogLinear:
        return LogLinear(other) - self

    def __mul__(self, k) -> LogLinear:
        if isinstance(k, LogLinear):
            if k.logs and self.logs:
                raise TypeError("a product of two logarithms is not log-linear")
            k, other = (k.const, self) if not k.logs else (self.const, k)
            return other * k
        k = Fraction(k)
        return LogLinear(self.const * k, {b: v * k for b, v in self.logs.items()})

    __rmul__ = __mul__

    def __float__(self) -> float:
        return float(self.const) + sum(float(v) * math.log2(b) for b, v in self.logs.items())

    def __repr__(self) -> str:
        terms = " + ".join(f"{v}*log2({b})" for b, v in sorted(self.logs.items()))
        return f"LogLinear({self.const}{' + ' + terms if terms else ''})"

    def sign(self) -> int:
        """-1, 0 or 1, exactly."""
        if not self.logs:
            return (self.const > 0) - (self.const < 0)
        parts = [float(self.const)] + [float(v) * math.log2(b) for b, v in self.logs.items()]
        value, scale = sum(parts), sum(abs(p) for p in parts)
        if abs(value) > 1e-12 * scale:
            return 1 if value > 0 else -1
        d = math.lcm(self.const.denominator, *(v.denominator for v in self.logs.values()))
        left = right = 1
        for base, coeff in [(2, self.const), *self.logs.items()]:
            e = int(coeff * d)
            if e > 0:
                left *= base**e
            elif e < 0:
                right *= base ** (-e)
        return (left > right) - (left < right)

    def ceil(self) -> int:
        """``⌈self⌉``, exactly: the smallest integer k with ``k − self >= 0``."""
        k = math.ceil(float(self)) if self.logs else -((-self.const.numerator) // self.const.denominator)
        while (k - self).sign() < 0:
            k += 1
        while (k - 1 - self).sign() >= 0:
            k -= 1
        return k


def smallest_at_least(slope: LogLinear, offset: LogLinear, need: LogLinear) -> int:
    """The smallest integer ``W >= 0`` with ``slope·W + offset >= need`` (``slope > 0``), exactly."""
    if slope.sign() <= 0:
        raise ValueError("the slope must be positive")
    guess = math.ceil((float(need) - float(offset)) / float(slope))
    W = max(0, guess)
    while (slope * W + offset - need).sign() < 0:
        W += 1
    while W > 0 and (slope * (W - 1) + offset - need).sign() >= 0:
        W -= 1
    return W
