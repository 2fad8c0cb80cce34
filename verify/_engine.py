"""The checking engine: run a model against its task's reference solver.

A prediction is counted **correct** only if the logit of the reference answer is strictly larger
than every other logit (``margin > 0``); a tie is a failure even when ``argmax`` happens to pick
the right class, and so is a NaN logit (its margin counts as ``-inf``). ``min_margin`` is the
smallest such logit gap over all inputs checked.

Modes:

``exhaustive``
    every input of ``task.enumerate`` (fixed order), in fixed-size batches;
``sampled``
    ``samples`` inputs from ``task.sample(numpy.random.default_rng(seed), ·)``, drawn in batches of
    ``batch`` (so a seed names the same inputs for the same ``batch``; inputs longer than
    ``HOST_TOKENS / batch`` are drawn in proportionally smaller batches).

Multi-query tasks (``queries="all"``: the model reads logits ``[B, Q, C]`` at Q positions, the
solver gives ``[B, Q]``): an input counts as correct only if every query is (its margin is the
smallest over its queries); the row adds ``queries_checked`` and ``query_failures``, and a
counterexample names the first failing ``query`` (0-based) of the first failing input.

Streaming: a producer thread draws (or enumerates) a batch, solves it with the reference solver
and encodes it for the model, while the device runs the previous one; the device sees one fixed
batch shape (the last batch is padded, padding masked out of the tallies), so a check compiles
once per (construction, n, precision), and memory stays flat whatever the number of inputs. The
device returns only tallies (failures, smallest margin, first failure), never the logits. The
batch axis is split across all local devices (``jax.sharding``): one CPU, a GPU and a multi-device
host run the same code and give the same report.
"""

from __future__ import annotations

import functools
import math
import queue
import sys
import threading
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import bounds
import tasks
from constructions import Model, ModelFormatError, batch_sharding, float64_scope, parse_precision

__all__ = ["check", "task_of", "MAX_EXHAUSTIVE", "VerifyError", "ProgressBar", "HOST_TOKENS"]

MAX_EXHAUSTIVE = 1 << 26
HOST_TOKENS = 1 << 23  # at most this many input positions per host batch
_BATCH = 4096
_QUEUE = 3  # device batches prepared ahead by the producer


class VerifyError(ValueError):
    """A check that cannot be run as asked (e.g. exhaustive over too many inputs)."""


def task_of(model: Model) -> tasks.Task:
    """The task a model claims to compute, rebuilt from its metadata; a model that cannot read
    every input of that task or give every answer is refused (``constructions.ModelFormatError``)."""
    task = tasks.get(model.task, **model.task_params)
    fits_task(model, task)
    return task


def fits_task(model: Model, task: tasks.Task) -> None:
    """Refuse (``ModelFormatError``, naming the entry) a model whose arrays do not cover its task:
    fewer token rows than the task's vocabulary, another input length or fewer positions than the
    task's length (token inputs; a feature encoding's length is checked when inputs are encoded),
    or fewer readout classes than the task's answers. A foreign ONNX model has no arrays of ours:
    its graph was checked against the task when it was opened (verify/_onnx.py)."""
    if not isinstance(model, Model):
        return
    meta, w = model.metadata, model.weights
    tokens = model.family == "rnn" or meta.embed_kind == "token"  # feature encodings set their own length
    length = task.seq_len
    if tokens and meta.seq_len is not None and meta.seq_len != length:
        raise ModelFormatError(f"meta.seq_len = {meta.seq_len}, but {task.name} inputs have length {length}")
    if tokens and model.family == "transformer" and w.position.shape[0] < length:
        raise ModelFormatError(f"embed/position: {w.position.shape[0]} rows, {task.name} inputs have length {length}")
    table = "rnn/win" if model.family == "rnn" else "embed/token" if meta.embed_kind == "token" else None
    rows = (w.win if model.family == "rnn" else w.embed).shape[0]
    if table and task.vocab_size is not None and rows < task.vocab_size:
        raise ModelFormatError(f"{table}: {rows} rows, but {task.name} has {task.vocab_size} token ids")
    if model.num_classes < task.num_classes:
        raise ModelFormatError(f"readout/w: {model.num_classes} classes, {task.name} has {task.num_classes} answers")


def _index(inputs, i):
    if isinstance(inputs, dict):
        return {k: np.asarray(v)[i].tolist() for k, v in inputs.items()}
    return np.asarray(inputs)[i].tolist()


def _host_batches(task, mode: str, samples: int, seed: int, batch: int):
    """Task inputs in host batches (a generator; nothing is materialised beyond one batch)."""
    if mode == "exhaustive":
        yield from task.enumerate(batch)
    else:
        rng = np.random.default_rng(seed)
        left = samples
        while left > 0:
            k = min(batch, left)
            yield task.sample(rng, k)
            left -= k


def _total(task, mode: str, samples: int) -> int:
    if mode == "exhaustive":
        total = task.num_inputs
        if total is None:
            raise VerifyError(f"{task.name} has continuous inputs; use sampling")
        if total > MAX_EXHAUSTIVE:
            shown = str(total) if total < 10**18 else f"about 2^{total.bit_length() - 1}"
            raise VerifyError(
                f"exhaustive check of {task.name} would cover {shown} inputs (limit {MAX_EXHAUSTIVE}); use --samples"
            )
        return int(total)
    if mode == "sampled":
        if samples < 1:
            raise VerifyError(f"--samples must be at least 1, got {samples}")
        return int(samples)
    raise VerifyError(f"unknown mode {mode!r}")


@functools.cache
def _tally_step(forward):
    """Jitted ``(prepared, x, expected, valid) -> tallies`` around a pure batched forward pass."""

    def step(prepared, x, expected, valid):
        logits = forward(prepared, x)  # [B, C] float64, or [B, Q, C] for a multi-query model
        if logits.ndim == 2:
            logits, expected = logits[:, None], expected[:, None]
        classes = jnp.arange(logits.shape[2])[None, None, :]
        right = jnp.take_along_axis(logits, expected[:, :, None], axis=2)[:, :, 0]
        others = jnp.max(jnp.where(classes == expected[:, :, None], -jnp.inf, logits), axis=2)
        margin = right - others  # [B, Q]
        margin = jnp.where(jnp.isnan(margin), -jnp.inf, margin)
        bad_q = ~(margin > 0) & valid[:, None]
        bad = jnp.any(bad_q, axis=1)
        first = jnp.argmax(bad)
        query = jnp.argmax(bad_q[first])
        return (
            jnp.sum(bad),
            jnp.min(jnp.where(valid, jnp.min(margin, axis=1), jnp.inf)),
            first,
            jnp.argmax(logits[first, query]),
            margin[first, query],
            jnp.sum(bad_q),
            query,
        )

    return jax.jit(step)


def _producer(chunks, out: queue.Queue, stop: threading.Event):
    """Run the generator ``chunks`` into ``out``, then the end mark None; an exception is handed
    over instead. Gives up as soon as ``stop`` is set (the consumer has left)."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in chunks:
            if not put(item):
                return
        put(None)
    except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
        put(e)


def _device_chunks(model, task, mode, samples, seed, host_batch, size):
    """Host batches -> ``(inputs, offset, x, expected, valid, count)`` padded to ``size`` rows."""
    for inputs in _host_batches(task, mode, samples, seed, host_batch):
        expected = task.solve(inputs)
        x = model.encode_inputs(inputs)
        for start in range(0, x.shape[0], size):
            part, want = x[start : start + size], expected[start : start + size]
            count = part.shape[0]
            valid = np.arange(size) < count
            if count < size:
                fill = size - count
                part = np.concatenate([part, np.repeat(part[:1], fill, axis=0)])
                want = np.concatenate([want, np.repeat(want[:1], fill, axis=0)])
            yield inputs, start, part, want, valid, count


def row_head(model: Model, precision: str, mode: str, seed: int | None = None) -> dict:
    """The fields every report row starts with (docs/DESIGN.md §6.2), in this order: what was
    checked (task, architecture, n, parameters), its sizes read from the arrays, the number format,
    the mode, the sampling seed and the model's seed."""
    size = model.size()
    return {
        "task": model.task,
        "arch": model.variant,
        "n": model.task_params.get("n"),
        "task_params": model.task_params,
        "params": size["params"],
        "params_no_embed": size["params_no_embed"],
        "width": size["width"],
        "heads": size["heads"],
        "layers": size["layers"],
        "precision": str(precision),
        "precision_bits": parse_precision(precision).bits,
        "mode": mode,
        "seed": seed,
        "model_seed": model.metadata.build.get("seed"),
    }


@float64_scope()  # the model's float64 / int64 forward is composed into this function's jitted step
def check(
    model: Model,
    *,
    mode: str = "sampled",
    samples: int = 10_000,
    seed: int = 0,
    precision: str = "float64",
    batch: int = _BATCH,
    task: tasks.Task | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> dict:
    """Check ``model`` on its task; returns one report row (docs/DESIGN.md §6.2).

    ``batch``: inputs drawn (or enumerated) and solved per host batch; the device batch is at most
    that, fewer where the model's intermediate values would not fit its memory budget.
    ``progress``: optional ``callable(done, total)``, called after every device batch (see
    :class:`ProgressBar`).
    """
    ar = parse_precision(precision)
    precision = str(precision)
    task = task or task_of(model)
    total = _total(task, mode, samples)
    if int(batch) < 1:
        raise VerifyError(f"batch must be at least 1, got {batch}")
    if model.num_classes < task.num_classes:
        raise VerifyError(f"the model has {model.num_classes} output classes, {task.name} needs {task.num_classes}")
    start = time.perf_counter()
    length = task.seq_len
    host_batch = max(1, min(int(batch), HOST_TOKENS // max(1, length)))
    ndev = len(jax.local_devices())
    size = min(model.chunk_size(length, precision), -(-min(host_batch, total) // ndev) * ndev)
    forward, prepared = model.forward(precision)
    step = _tally_step(forward)
    data = batch_sharding()[0]

    checked = failures = query_failures = queries = 0
    counterexample = None
    min_margin = float("inf")

    def tally(out, item):
        nonlocal checked, failures, counterexample, min_margin, query_failures, queries
        bad, low, first, got, margin, bad_q, query = (np.asarray(v) for v in out)
        inputs, offset, _, want, _, count = item
        multi = want.ndim == 2
        if bad and counterexample is None:
            i = int(first)
            counterexample = {
                "input": _index(inputs, offset + i),
                "expected": int(want[i, int(query)] if multi else want[i]),
                "got": int(got),
                "margin": float(margin),
            }
            if multi:
                counterexample["query"] = int(query)
        failures += int(bad)
        query_failures += int(bad_q)
        queries = want.shape[1] if multi else 0
        checked += count
        min_margin = min(min_margin, float(low))
        if progress is not None:
            progress(checked, total)

    items: queue.Queue = queue.Queue(maxsize=_QUEUE)
    stop = threading.Event()
    chunks = _device_chunks(model, task, mode, samples, seed, host_batch, size)
    worker = threading.Thread(target=_producer, args=(chunks, items, stop), daemon=True)
    worker.start()
    pending = None
    try:
        while True:
            item = items.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                break
            _, _, x, want, valid, _ = item
            out = step(prepared, *jax.device_put((x, want, valid), data))  # one transfer call; dispatched, not awaited
            if pending is not None:
                tally(*pending)
            pending = (out, item)
        if pending is not None:
            tally(*pending)
    finally:
        stop.set()
        worker.join()

    row = {
        **row_head(model, precision, mode, seed if mode == "sampled" else None),
        "inputs_checked": checked,
        "failures": failures,
        **({"queries_checked": checked * queries, "query_failures": query_failures} if queries else {}),
        "counterexample": counterexample,
        "min_margin": None if checked == 0 else min_margin,
        "lower_bounds": bounds.lower_bounds(model.task, model.task_params, ar.bits),
        "seconds": round(time.perf_counter() - start, 3),
        "devices": ndev,
    }
    row["status"] = "pass" if failures == 0 and checked > 0 else "fail"
    return row


class ProgressBar:
    """``bar(done, total)``: a one-line progress bar on a terminal stream (stderr by default).

    It stays silent for the first ``delay`` seconds (short runs print nothing), redraws at most
    ten times a second, and erases itself when ``done == total``.
    """

    def __init__(self, label: str, stream=None, delay: float = 1.0, width: int = 24):
        self.label, self.stream, self.delay, self.width = label, stream or sys.stderr, delay, width
        self.start = time.perf_counter()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if done >= total:
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
            return
        if elapsed < self.delay or now - self._last < 0.1:
            return
        self._last, self._shown = now, True
        frac = done / max(total, 1)
        fill = int(frac * self.width)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else math.inf
        bar = "#" * fill + "." * (self.width - fill)
        self.stream.write(
            f"\r\033[K{self.label} [{bar}] {100 * frac:5.1f}%  {done:,}/{total:,}  {rate:,.0f}/s  eta {eta:,.0f}s"
        )
        self.stream.flush()


def terminal_progress(label: str, enabled: bool = True, stream=None):
    """A :class:`ProgressBar` if ``enabled`` and the stream (stderr) is a terminal, else None."""
    stream = stream or sys.stderr
    return ProgressBar(label, stream) if enabled and hasattr(stream, "isatty") and stream.isatty() else None
