"""Model file formats other than our .npz, chosen by the file's extension (docs/MODEL.md, *Other
formats*). The writers register here (constructions/_onnx.py: ``.onnx``;
constructions/_safetensors.py: ``.safetensors``), so that ``Model.save`` and ``load`` find them without importing them: the optional ``export`` extra is
imported only when such a file is written or read, and the model module imports no format module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fileio import atomic_write

__all__ = ["register_format", "other_format", "require", "write_bytes"]

_FORMATS: dict[str, tuple[Callable[..., Any], Callable[[str], Any]]] = {}


def register_format(extension: str, save: Callable[..., Any], load: Callable[[str], Any]) -> None:
    """``save(model, path)`` and ``load(path) -> (arrays, meta)`` for files ending in ``extension``."""
    _FORMATS[extension.lower()] = (save, load)


def other_format(path: str) -> tuple[Callable[..., Any], Callable[[str], Any]] | None:
    """``(save, load)`` for a path with a registered extension, else None (.npz is the model's own)."""
    lower = path.lower()
    for extension, pair in _FORMATS.items():
        if lower.endswith(extension):
            return pair
    return None


def require(module: str):
    """Import an optional dependency of the ``export`` extra, or say how to install it
    (``ModelFormatError``)."""
    import importlib

    from ._meta import ModelFormatError

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelFormatError(
            f"{module} is not installed; install the export extra: pip install 'separations[export]'"
        ) from None


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fileio.atomic_write: temp file, fsync, rename)."""
    atomic_write(path, lambda fh: fh.write(data))
