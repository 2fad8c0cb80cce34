"""Run a protocol resumably: one JSON file per cell under ``DIR/cells/`` written atomically
(temporary file + rename), so an interrupted run picks up at the first missing cell; then the
results table (``results.csv``, ``results.json``, curves left out) and the figures."""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time

from . import protocols, train

COLUMNS = (
    "task", "n", "model", "label", "layers", "width", "lr", "seed", "steps", "batch", "steps_run",
    "early_stopped", "best_val_acc", "final_val_acc", "test_acc", "params", "params_no_embed",
    "state_size", "state_kind", "train_seconds", "key",
)  # fmt: skip


def write_json_atomic(path: str, obj) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cell_path(out: str, cell: train.Cell) -> str:
    return os.path.join(out, "cells", cell.key + ".json")


def run_protocol(protocol: str, out: str, log=print) -> list[dict]:
    """Run every cell of ``protocol`` not yet in ``out``; write the tables (and figures unless the
    protocol is ``smoke``).  Returns the rows of the finished cells, in protocol order."""
    grid = protocols.cells(protocol)
    for i, cell in enumerate(grid, 1):
        path = cell_path(out, cell)
        if os.path.exists(path):
            log(f"[{i}/{len(grid)}] {cell.key}: done before, skipped")
            continue
        log(f"[{i}/{len(grid)}] {cell.key}: training ({time.strftime('%H:%M:%S')})")
        row = train.run(cell, progress=log)
        row["protocol"] = protocol
        write_json_atomic(path, row)
        log(f"[{i}/{len(grid)}] {cell.key}: test accuracy {row['test_acc']:.4f} after {row['steps_run']} steps")
        rows = collect(out, protocol)
        write_tables(out, rows)
    rows = collect(out, protocol)
    write_tables(out, rows)
    if protocol != "smoke":
        from . import plots

        for f in plots.make_all(out, rows):
            log(f"figure: {f}")
    return rows


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
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=out)
    with os.fdopen(fd, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)
    os.replace(tmp, os.path.join(out, "results.csv"))


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
