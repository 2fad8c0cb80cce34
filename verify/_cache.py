"""JAX's persistent compilation cache for the ``verify`` command (docs/DESIGN.md §6).

A ``verify`` process compiles the same few XLA programs every time it checks a model of the same
shape; with the cache on, a second run loads them from disk instead. The command turns it on at
start-up (the library does not: importing ``constructions`` or ``verify`` changes no JAX setting).

Where: ``$SEPARATIONS_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/separations/jax``, else
``~/.cache/separations/jax``. Off: ``SEPARATIONS_NO_CACHE=1`` (any non-empty value but ``0``) or
``verify --no-cache``. A folder that cannot be created or written leaves the cache off, silently:
the run is then as slow as without it, never wrong. The cache holds compiled programs only, keyed
by JAX on the program, the JAX version and the device, so a stale entry is never used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["cache_dir", "enable_compilation_cache", "usable_cache_dir", "use_cache_dir"]


def cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """The cache folder this environment asks for, or None when the cache is switched off."""
    if environ.get("SEPARATIONS_NO_CACHE", "") not in ("", "0"):
        return None
    if environ.get("SEPARATIONS_CACHE_DIR"):
        return environ["SEPARATIONS_CACHE_DIR"]
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "separations", "jax")


def _writable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def usable_cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """:func:`cache_dir` if the cache is on and the folder can be created and written, else None
    (for a caller that turns the cache on in other processes, as ``python -m experiments run``)."""
    folder = cache_dir(environ)
    return folder if folder is not None and _writable(folder) else None


def enable_compilation_cache(environ: Mapping[str, str] = os.environ) -> str | None:
    """Turn the persistent cache on (every compiled program is cached, however quick its compile);
    returns the folder used, or None if it is off or the folder is not writable."""
    folder = usable_cache_dir(environ)
    if folder is not None:
        use_cache_dir(folder)
    return folder


def use_cache_dir(folder: str) -> None:
    """Point this process's JAX at ``folder`` for its persistent cache, caching every program."""
    import jax

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
