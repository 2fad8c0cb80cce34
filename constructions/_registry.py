"""Registry of constructions: ``(task, arch) -> builder``."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ._errors import ConstructionError
from ._meta import VARIANTS

if TYPE_CHECKING:
    from ._model import Model

Builder = TypeVar("Builder", bound=Callable[..., "Model"])

__all__ = ["ConstructionError", "register", "build", "available", "builder_for"]

_BUILDERS: dict[tuple[str, str], Callable[..., Model]] = {}
ARCHS = VARIANTS  # the registered architectures (constructions/_meta.py)


def register(task: str, arch: str) -> Callable[[Builder], Builder]:
    """Decorator: ``@register("index_lookup", "tf1")`` on ``builder(**params) -> Model``."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}")

    def deco(fn: Builder) -> Builder:
        _BUILDERS[(task, arch)] = fn
        return fn

    return deco


def available() -> list[tuple[str, str]]:
    """The registered ``(task, arch)`` pairs, sorted."""
    return sorted(_BUILDERS)


def builder_for(task: str, arch: str) -> Callable[..., Model]:
    """The registered builder of ``(task, arch)`` (its signature lists the construction's parameters)."""
    try:
        return _BUILDERS[(task, arch)]
    except KeyError:
        pairs = ", ".join(f"{t}/{a}" for t, a in available())
        raise ConstructionError(f"no construction for task {task!r} with arch {arch!r}; available: {pairs}") from None


def build(task: str, arch: str, **params: object) -> Model:
    """Build the registered construction; unknown parameters give a one-line error."""
    fn = builder_for(task, arch)
    sig = inspect.signature(fn)
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        unknown = sorted(set(params) - set(sig.parameters))
        if unknown:
            raise ConstructionError(
                f"{task}/{arch} does not take {', '.join(unknown)}; it takes {', '.join(sig.parameters)}"
            )
    for name, value in params.items():
        if name in sig.parameters:
            _check_param(f"{task}/{arch}", name, value, sig.parameters[name].annotation)
    return fn(**params)


def _check_param(where: str, name: str, value: object, annotation: object) -> None:
    """Refuse a value that its builder's annotation does not allow: ``int`` parameters take
    integers only (8.7 or 1.5 is refused, not truncated; no bools), ``float`` parameters finite
    real numbers, ``bool`` parameters booleans, ``str`` parameters strings; None where the
    annotation allows it. Parameters without a plain annotation are the builder's to check."""
    kinds = {part.strip() for part in annotation.split("|")} if isinstance(annotation, str) else set()
    if value is None and "None" in kinds:
        return
    if "int" in kinds and "float" not in kinds:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConstructionError(f"{where}: {name} must be an integer, got {value!r}")
    elif "float" in kinds:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConstructionError(f"{where}: {name} must be a finite number, got {value!r}")
    elif kinds == {"bool"} and not isinstance(value, bool):
        raise ConstructionError(f"{where}: {name} must be true or false, got {value!r}")
    elif kinds == {"str"} and not isinstance(value, str):
        raise ConstructionError(f"{where}: {name} must be a string, got {value!r}")
