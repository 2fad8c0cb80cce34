"""The error of bad construction requests, in a module of its own so that every other module of the
package (the number formats in _precision.py included) can raise it without an import cycle."""

import operator

__all__ = ["ConstructionError", "check_int"]


class ConstructionError(ValueError):
    """Bad construction parameters, or a (task, arch) pair with no construction."""


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int (any integer type, not a bool) of at least ``minimum``, else a one-line
    :class:`ConstructionError` naming ``name``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ConstructionError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ConstructionError(f"{name} must be at least {minimum}, got {value}")
    return value
