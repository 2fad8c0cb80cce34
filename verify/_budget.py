"""Refuse before allocating: the memory and time of a ``verify`` request, from its sizes alone.

:func:`estimate` reads the construction's size from its closed form (verify/_sizes.py) and adds
what the check needs, before anything is built:

* model: every array in float64, three copies at the peak (the builder's, the model's, the prepared
  forward pass's), plus for a random address code the builder's pairwise Gram blocks;
* check: the streaming engine holds a few host batches of at most ``HOST_TOKENS`` positions and one
  device batch (a fixed allowance, :data:`CHECK_BYTES`);
* certify: the plan's tables, bounded by two more copies of the model's arrays; except index lookup
  with the Reed–Solomon code in float64, whose certificate (verify/certify/_index_code.py) reads the
  model's arrays in slices: the builder's arrays (kept as the model's, plus a quarter for the code's
  own tables) and a fixed allowance :data:`CODE_CERTIFY_BYTES` for its chunks, no prepared forward pass;
* time: 2·(parameters outside the embeddings) flops per input position (RNN: 2·w² per step),
  10^10 flops per second (a vectorised laptop core), for the inputs checked (exhaustive: the task's input count; sampled: the sample count).

A request whose estimate exceeds ``--max-memory`` (default: :data:`MEMORY_FRACTION` of the memory
available now, ``MemAvailable`` of /proc/meminfo) or ``--max-time`` is refused with the estimate and
the option that would allow it (exit 2). A construction with no closed form is sized by
extrapolating two tiny builds (:func:`probed_size`); one whose parameters cannot be probed gets no
estimate.
"""

from __future__ import annotations

import math
import os
import re

from ._entry import UsageError
from ._sizes import closed_form_size

__all__ = ["estimate", "available_memory", "default_max_memory", "parse_bytes", "refuse", "human"]

MEMORY_FRACTION = 0.75
CHECK_BYTES = 1 << 28  # host batches and the device batch of the streaming engine
CODE_CERTIFY_BYTES = 1 << 29  # chunks of 4,096 query rows of the Reed–Solomon certificate
FLOPS = 1e10
DEFAULT_MAX_TIME = 86_400.0


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_max_memory() -> int:
    return int(MEMORY_FRACTION * available_memory())


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5g"``, ``"1000000"`` -> bytes (binary units); ``"none"`` -> 0 (no limit)."""
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    if t in ("none", "inf", "unlimited"):
        return 0
    m = re.fullmatch(r"(\d{1,15}(?:\.\d{1,6})?)\s*([kmgt]?)", t)
    if not m:
        raise UsageError(f"--max-memory expects a size like 4G, 512M or none, got {text!r}")
    value = int(float(m.group(1)) * _UNITS[m.group(2)])
    if value < 1:
        raise UsageError(f"--max-memory must be positive (or none), got {text!r}")
    return value


def human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.3g} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"  # pragma: no cover


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.3g} days"


def estimate(
    task: str, arch: str, params: dict, *, mode: str, inputs: int | None, seq_len: int, precision: str = "float64"
) -> dict | None:
    """``{"bytes", "seconds", "model_params", "parts"}`` for building ``(task, arch, params)`` and
    checking ``inputs`` inputs in ``mode`` (in ``precision``); None where the size has no closed form."""
    size = closed_form_size(task, arch, params)
    if size is None:
        size = probed_size(task, arch, params)
    if size is None:
        return None
    p = int(size["params"])
    model = 3 * 8 * p
    extra = 0
    build_flops = 0.0
    if arch != "rnn" and params.get("addresses", "random") == "random" and size["head_dim"]:
        n, r = int(params["n"]), int(size["head_dim"])  # the Gram blocks of the random code's check
        extra += 4 * (n * r + 4096 * n)
        build_flops = float(n) * n * r
    check = CHECK_BYTES
    code = (task, arch, params.get("addresses"), precision) == ("index_lookup", "tf1", "rs", "float64")
    if mode == "certified" and code:  # sliced reads, no forward pass: one copy and chunks
        model, check = 10 * p, CODE_CERTIFY_BYTES
    elif mode == "certified":
        extra += 2 * 8 * p
    count = inputs if inputs is not None else 0
    body = int(size["params_no_embed"])
    per_input = 2.0 * body * seq_len if arch != "rnn" else 2.0 * (int(size["width"]) ** 2) * seq_len
    return {
        "bytes": model + extra + check,
        "seconds": (count * per_input + build_flops) / FLOPS,
        "model_params": p,
        "parts": {"model": model, "build": extra, "check": check},
    }


PROBE_NS = (16, 32)


def probed_size(task: str, arch: str, params: dict) -> dict | None:
    """For a construction with no closed form: its size at n extrapolated from builds at
    :data:`PROBE_NS` (milliseconds): width and head dimension grow at most like ``log n`` here,
    parameters like ``n^a`` with ``a`` from the two probes (at least 1: the position embedding).
    An estimate, not a size: it only decides what is refused. None where the probes cannot be
    built with these parameters or n is no larger than the probes."""
    n = params.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n <= PROBE_NS[-1]:
        return None
    import constructions

    try:
        small, large = (constructions.build(task, arch=arch, **{**params, "n": m}).size() for m in PROBE_NS)
    except (ValueError, TypeError):  # the parameters are tied to n (threshold's index sets): no probe
        return None
    ratio = n / PROBE_NS[-1]
    grow = 1 + math.log2(ratio) / math.log2(PROBE_NS[-1])  # a log n width, relative to the probe's
    per_n = max(0.0, (large["params"] - small["params"]) / (PROBE_NS[1] - PROBE_NS[0]))
    out = dict(large)
    out["params"] = int((large["params"] + per_n * (n - PROBE_NS[-1])) * grow)
    out["params_no_embed"] = int(large["params_no_embed"] * grow * grow)
    out["width"] = int(large["width"] * grow)
    out["head_dim"] = None if large["head_dim"] is None else int(large["head_dim"] * grow)
    return out


def refuse(est: dict | None, *, what: str, max_memory: int, max_time: float) -> None:
    """Raise a :class:`UsageError` if ``est`` exceeds the limits (0: no limit)."""
    if est is None:
        return
    if max_memory and est["bytes"] > max_memory:
        raise UsageError(
            f"{what} would need about {human(est['bytes'])} of memory ({est['model_params']:,} model parameters), "
            f"more than the limit {human(max_memory)}; refused before building (pass --max-memory SIZE, "
            "e.g. --max-memory 64G or none, to allow it)"
        )
    if max_time and est["seconds"] > max_time:
        raise UsageError(
            f"{what} would take about {_duration(est['seconds'])} (estimated), more than the limit "
            f"{_duration(max_time)}; refused (pass --max-time SECONDS to allow it, or fewer --samples)"
        )
