"""The error of bad construction requests, in a module of its own so that every other module of the
package (the number formats in _precision.py included) can raise it without an import cycle."""

__all__ = ["ConstructionError"]


class ConstructionError(ValueError):
    """Bad construction parameters, or a (task, arch) pair with no construction."""
