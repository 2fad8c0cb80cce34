"""Run a protocol resumably: one JSON file per cell under ``DIR/cells/`` written atomically
(temporary file + rename), so an interrupted run picks up at the first missing cell; then the
results table (``results.csv``, ``results.json``, curves left out) and the figures."""

from __future__ import annotations

import csv
import json
import os
import sys
import time

from fileio import atomic_write

from . import protocols, train

COLUMNS = (
    "task", "n", "model", "label", "layers", "width", "lr", "seed", "steps", "batch", "steps_run",
    "length_buckets", "early_stopped", "best_val_acc", "final_val_acc", "test_acc", "params", "params_no_embed",
    "state_size", "state_kind", "train_seconds", "key",
)  # fmt: skip


def write_json_atomic(path: str, obj) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    atomic_write(path, lambda fh: fh.write(text), text=True)


def cell_path(out: str, cell: train.Cell) -> str:
    return os.path.join(out, "cells", cell.key + ".json")


def _train_tagged(job):
    """One cell in a worker process (``jobs`` > 1); progress lines go to stderr, tagged."""
    i, cell, tag = job
    return i, cell, train.run(cell, progress=lambda msg: stderr_log(f"{tag}{msg}"))


def run_protocol(protocol: str, out: str, log=print, jobs: int = 1) -> list[dict]:
    """Run every cell of ``protocol`` not yet in ``out``; write the tables (and figures unless the
    protocol is ``smoke``).  Returns the rows of the finished cells, in protocol order.

    ``jobs`` > 1 trains that many cells at once, each in its own process (spawned, one XLA thread
    each, see ``__main__``): the way to use several cores, since XLA's CPU backend gains almost
    nothing from a second thread on these small models (measured: the same step time with one and
    two threads to within 10-20%, either way).  A cell's numbers do not depend on ``jobs``: every
    cell is seeded on its own (tested).  Results are written as cells finish, in any order."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    grid = protocols.cells(protocol)
    started, load_at_start = time.time(), os.getloadavg()
    todo = []
    for i, cell in enumerate(grid, 1):
        if os.path.exists(cell_path(out, cell)):
            log(f"[{i}/{len(grid)}] {cell.key}: done before, skipped")
        else:
            todo.append((i, cell))

    def finished(i, cell, row):
        row["protocol"] = protocol
        write_json_atomic(cell_path(out, cell), row)
        log(f"[{i}/{len(grid)}] {cell.key}: test accuracy {row['test_acc']:.4f} after {row['steps_run']} steps")
        write_tables(out, collect(out, protocol))

    if jobs == 1 or len(todo) <= 1:
        for i, cell in todo:
            log(f"[{i}/{len(grid)}] {cell.key}: training ({time.strftime('%H:%M:%S')})")
            finished(i, cell, train.run(cell, progress=log))
    else:
        import multiprocessing as mp

        # multiprocessing.Pool rather than concurrent.futures: its terminate() stops the workers
        # (an interrupted run must not leave orphans training on)
        pool = mp.get_context("spawn").Pool(jobs)
        try:
            log(f"{len(todo)} cells queued on {jobs} worker processes ({time.strftime('%H:%M:%S')})")
            tagged = [(i, cell, f"[{i}/{len(grid)}] ") for i, cell in todo]
            for i, cell, row in pool.imap_unordered(_train_tagged, tagged, chunksize=1):
                finished(i, cell, row)
        except BaseException:
            pool.terminate()  # what finished is on disk; the cells in progress are dropped
            pool.join()
            raise
        pool.close()
        pool.join()
    if todo:
        _record_run(out, protocol, jobs, started, load_at_start, [c.key for _, c in todo])
    rows = collect(out, protocol)
    write_tables(out, rows)
    if protocol != "smoke":
        from . import plots

        for f in plots.make_all(out, rows):
            log(f"figure: {f}")
    return rows


def _record_run(out, protocol, jobs, started, load_at_start, keys) -> None:
    """Append this run (wall clock, machine, the cells it trained) to ``DIR/runs.json``: the
    report's source for how long the protocol took, as measured, not typed in."""
    import platform

    import jax

    path = os.path.join(out, "runs.json")
    runs = []
    if os.path.exists(path):
        with open(path) as fh:
            runs = json.load(fh)
    runs.append(
        dict(
            protocol=protocol, jobs=jobs, cells_trained=keys,
            started=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)) + " UTC",
            wall_seconds=round(time.time() - started, 1),
            cpu_count=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
            jax=jax.__version__, jax_backend=jax.default_backend(),
            load_average_at_start=[round(x, 2) for x in load_at_start],
            load_average_at_end=[round(x, 2) for x in os.getloadavg()],
            xla_flags=os.environ.get("XLA_FLAGS", ""),
        )
    )  # fmt: skip
    write_json_atomic(path, runs)


def collect(out: str, protocol: str | None = None) -> list[dict]:
    """The finished cells' rows (with curves); in protocol order when ``protocol`` is given."""
    folder = os.path.join(out, "cells")
    if not os.path.isdir(folder):
        return []
    rows = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json") and not name.startswith("."):
            with open(os.path.join(folder, name)) as fh:
                row = json.load(fh)
            rows[row["key"]] = row
    if protocol is None:
        return list(rows.values())
    return [rows[c.key] for c in protocols.cells(protocol) if c.key in rows]


def missing(out: str, protocol: str) -> list[str]:
    """Keys of the protocol's cells that have no result file yet."""
    return [c.key for c in protocols.cells(protocol) if not os.path.exists(cell_path(out, c))]


def write_tables(out: str, rows: list[dict]) -> None:
    table = [{k: r.get(k) for k in COLUMNS} for r in rows]
    write_json_atomic(os.path.join(out, "results.json"), table)

    def write_csv(fh) -> None:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)

    atomic_write(os.path.join(out, "results.csv"), write_csv, text=True)


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
