"""Strict JSON for everything ``verify`` prints or writes (docs/DESIGN.md §6.8).

JSON has no NaN or infinity. Every document goes through :func:`dumps` (``allow_nan=False``) after
:func:`strict` has replaced each non-finite float: ``+inf`` by the string ``"inf"``, ``-inf`` by
``"-inf"``, NaN by ``null``. Numpy scalars become Python numbers; tuples become lists.
"""

from __future__ import annotations

import json
import math

__all__ = ["strict", "dumps"]


def strict(value):
    """A copy of ``value`` with every non-finite float replaced (module docstring)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return strict(value.tolist())
    return value


def dumps(value, indent: int | None = 1) -> str:
    """``json.dumps(strict(value), allow_nan=False)``."""
    return json.dumps(strict(value), indent=indent, allow_nan=False)
