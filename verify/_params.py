"""``--param KEY=VALUE``: extra construction parameters, checked against the builder's signature.

VALUE is read as JSON where it parses (else as a string). Refused (exit 2): a key the builder does
not take, a non-finite number (``beta=NaN``, ``Infinity``), a number where the builder's annotation
asks for another type (``seed=1.5``, ``n=8.7``), JSON nested too deep. Ranges specific to one
construction (a coherence in (0, 1), a positive scale) are the builder's to refuse, with a
:class:`constructions.ConstructionError` (also exit 2).
"""

from __future__ import annotations

import inspect
import json
import math

import constructions

from ._args import check_finite, finite_json
from ._entry import UsageError

__all__ = ["extra_params", "check_kinds"]


def _parse(key: str, text: str):
    try:
        return finite_json(text, f"--param {key}")
    except UsageError as e:
        if "not JSON" in str(e):
            return text  # a plain string (e.g. addresses=random)
        raise


def _kinds(annotation) -> set[str]:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return {k for k in ("bool", "int", "float", "str", "dict", "list") if k in text}


def _fits(value, kinds: set[str]) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return "bool" in kinds
    if isinstance(value, int):
        return bool(kinds & {"int", "float"})
    if isinstance(value, float):
        return "float" in kinds
    if isinstance(value, str):
        return "str" in kinds
    if isinstance(value, list):
        return "list" in kinds
    if isinstance(value, dict):
        return "dict" in kinds
    return False


def check_kinds(task: str, arch: str, params: dict) -> None:
    """Refuse values whose type the builder's annotation does not allow (``int`` for ``n``...)."""
    sig = inspect.signature(constructions.builder_for(task, arch))
    for key, value in params.items():
        if key not in sig.parameters:
            continue  # constructions.build names the unknown key
        check_finite(value, f"--param {key}")
        if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover - check_finite refused it
            raise UsageError(f"--param {key}={value} is not finite")
        kinds = _kinds(sig.parameters[key].annotation)
        if kinds and not _fits(value, kinds):
            shown = json.dumps(value)[:60]
            raise UsageError(f"--param {key}={shown}: {task}/{arch} expects {' or '.join(sorted(kinds))}")


def extra_params(items: list[str], task: str, arch: str) -> dict:
    """``{key: value}`` from ``KEY=VALUE`` strings, each checked (module docstring)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if not k.strip():
            raise UsageError(f"--param expects KEY=VALUE with a non-empty KEY, got {item!r}")
        if k in out:
            raise UsageError(f"--param {k} given twice")
        out[k] = _parse(k, v)
    sig = inspect.signature(constructions.builder_for(task, arch))
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        unknown = sorted(set(out) - set(sig.parameters))
        if unknown:
            raise UsageError(f"{task}/{arch} does not take {', '.join(unknown)}; it takes {', '.join(sig.parameters)}")
    check_kinds(task, arch, out)
    return out
