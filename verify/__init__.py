"""The checking engine, reports and the ``verify`` command.

from verify import check
row = check(model, mode="exhaustive")          # one report row (a dict)

The names are loaded on first use, so that ``import verify`` (the console script) imports no JAX
before its SIGINT handler is installed (verify/_entry.py).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing is not imported: the console script starts with as little as it can
if TYPE_CHECKING:
    from ._cache import usable_cache_dir, use_cache_dir
    from ._cli import main
    from ._engine import MAX_EXHAUSTIVE, VerifyError, check, task_of

__all__ = ["check", "main", "task_of", "VerifyError", "MAX_EXHAUSTIVE", "usable_cache_dir", "use_cache_dir"]

_WHERE = {
    "main": "._cli",
    "check": "._engine",
    "task_of": "._engine",
    "VerifyError": "._engine",
    "MAX_EXHAUSTIVE": "._engine",
    "usable_cache_dir": "._cache",  # JAX's persistent compilation cache, shared with experiments/
    "use_cache_dir": "._cache",
}


def __getattr__(name: str):  # noqa: ANN202
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
