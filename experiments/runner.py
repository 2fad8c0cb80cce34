"""Run a protocol resumably: one JSON file per cell under ``DIR/cells/`` written atomically
(temporary file + rename), so an interrupted run picks up at the missing cells (stage-2 cells are
derived again from the stage-1 files on disk); then the
results table (``results.csv``, ``results.json``, curves left out) and the figures.

A probe (a stage-1 cell shorter than its group's budget) that uses all its steps leaves its
training state in ``DIR/states/<key>.npz``; seed 0's whole-budget cell at the chosen rate
continues from it (``experiments.train``, "Continuing a run"), and the group's states are deleted
once that cell is written.  They are a cache (not committed): without them seed 0 trains from
step 0 to the same numbers."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
import time

from fileio import atomic_write

from . import protocols, train

COLUMNS = (
    "task", "n", "model", "label", "layers", "width", "lr", "seed", "steps", "batch", "steps_run",
    "length_buckets", "clip", "early_stopped", "budget_exhausted", "steps_to_stop", "best_val_acc", "final_val_acc",
    "test_acc", "constant_predictor", "test_pred_counts", "test_label_counts", "params", "params_no_embed",
    "state_size", "state_kind", "train_seconds", "key",
)  # fmt: skip


def write_json_atomic(path: str, obj) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    atomic_write(path, lambda fh: fh.write(text), text=True)


def cell_path(out: str, cell: train.Cell) -> str:
    return os.path.join(out, "cells", cell.key + ".json")


def state_path(out: str, cell: train.Cell) -> str:
    return os.path.join(out, "states", cell.key + ".npz")


def _train(cell, progress, save_state=None, resume=None) -> dict:
    """``train.run``, continuing from ``resume`` where that state fits the cell, else from step 0."""
    kw = {}
    if save_state is not None:
        os.makedirs(os.path.dirname(save_state), exist_ok=True)
        kw["save_state"] = save_state
    if resume is not None and os.path.exists(resume):
        try:
            return train.run(cell, progress=progress, resume=resume, **kw)
        except train.StateError as e:
            progress(f"  {e}; training from step 0")
    return train.run(cell, progress=progress, **kw)


def _train_tagged(job):
    """One cell in a worker process (``jobs`` > 1); progress lines go to stderr, tagged."""
    cell, tag, save_state, resume = job
    return cell, _train(cell, lambda msg: stderr_log(f"{tag}{msg}"), save_state, resume)


def _state_files(out: str, group: protocols.Group, cell: train.Cell) -> tuple[str | None, str | None]:
    """(where ``cell`` saves its training state, the state it continues from): a probe saves
    its state; seed 0's whole-budget cell continues from its probe's (module docstring)."""
    if group.probe_steps >= group.steps:
        return None, None
    if cell.steps == group.probe_steps and cell.seed == 0:
        return state_path(out, cell), None
    if cell.seed == 0:
        return None, state_path(out, dataclasses.replace(cell, steps=group.probe_steps))
    return None, None


def _drop_states(out: str, st: dict) -> None:
    """Delete the probe states of ``st``'s group (:func:`group_state`) once no cell needs them:
    stage 1 is complete and seed 0's whole-budget cell is written or not needed."""
    group, chosen = st["group"], st["chosen"]
    if chosen is None:
        return
    if group.reruns_seed0(chosen) and st["stage2"][0] is None:
        return
    for c in group.stage1():
        path = state_path(out, c)
        if os.path.exists(path):
            os.remove(path)


def _load(out: str, cell: train.Cell) -> dict | None:
    path = cell_path(out, cell)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def group_state(out: str, group: protocols.Group) -> dict:
    """What is on disk for ``group``: its stage-1 rows (``None`` where missing), the selected row
    (once stage 1 is complete), the stage-2 cells derived from it and their rows."""
    stage1 = [_load(out, c) for c in group.stage1()]
    chosen = protocols.select(stage1) if all(r is not None for r in stage1) else None
    stage2 = group.stage2(chosen) if chosen is not None else []
    return dict(
        group=group,
        stage1=stage1,
        chosen=chosen,
        stage2_cells=stage2,
        stage2=[_load(out, c) for c in stage2],
        stage2_pending=chosen is None and (group.seeds > 1 or group.probe_steps < group.steps),
    )


def planned(out: str, groups: list[protocols.Group]) -> list[train.Cell]:
    """Every cell known so far: all stage-1 cells, and the stage-2 cells of the groups whose stage
    1 is complete on disk."""
    out_cells = []
    for g in groups:
        out_cells += g.stage1() + group_state(out, g)["stage2_cells"]
    return out_cells


def check_largest(protocol: str, groups: list[protocols.Group], log=print) -> None:
    """Build each configuration of ``groups`` at the protocol's largest length for it and run one
    compiled forward pass on two test inputs (the dry run's check that the big models compile)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from . import data, models

    big = protocols.largest(protocol)
    for config in dict.fromkeys(g.config for g in groups):
        task, model, layers, width = config
        n = big[config]
        t0 = time.time()
        with jax.enable_x64(False):
            src = data.make(task, n)
            module = models.build(
                model, vocab=src.vocab, max_len=src.max_len, width=width, layers=layers, classes=src.classes
            )
            tok, lengths, _ = src.test_batch(np.random.default_rng([0, 1]), 2)
            params = module.init(jax.random.PRNGKey(0), jnp.asarray(tok), jnp.asarray(lengths))["params"]
            logits = jax.jit(module.apply)({"params": params}, jnp.asarray(tok), jnp.asarray(lengths))
        if logits.shape != (2, src.classes) or not bool(jnp.all(jnp.isfinite(logits))):
            raise RuntimeError(
                f"{task} {model}{layers} w{width} at n={n}: logits {logits.shape}, not finite or wrong shape"
            )
        log(f"largest length: {task} {model}-({layers}, {width}) at n = {n} compiles ({time.time() - t0:.1f}s)")


def _worker_init(cache: str | None) -> None:
    """A process's compilation cache (``cache``: a folder, or None for none): this process's in
    :func:`run_protocol`, and each worker's at its start when ``jobs`` > 1."""
    if cache is not None:
        from verify import use_cache_dir

        use_cache_dir(cache)


def run_protocol(
    protocol: str,
    out: str,
    log=print,
    jobs: int = 1,
    dry_run: bool = False,
    only: str | None = None,
    cache: str | None = None,
) -> list[dict]:
    """Run every cell of ``protocol`` not yet in ``out`` (stage 1 of each group, then its stage 2,
    see :mod:`experiments.protocols`); write the tables (and figures unless the protocol is
    ``smoke`` or ``dry_run``).  Returns the rows of the finished cells, in protocol order.

    Order: a priority queue on (group's place in the protocol, stage, place in the stage): a
    group's stage-2 cells are queued as soon as its stage 1 is complete and go before the stage-1
    cells of later groups, so the headline claims finish first and ``jobs`` workers stay busy.
    One exception (:func:`pick`): a worker does not start a second cell of a group whose first
    cell is still compiling; it takes the next cell of another group instead (measured in the
    cpu protocol's run before this rule: the two workers compiled the same programs side by side
    at the start of many groups, up to 70 s each time).

    ``jobs`` > 1 trains that many cells at once, each in its own process (spawned, one XLA thread
    each, see ``__main__``): the way to use several cores, since XLA's CPU backend gains almost
    nothing from a second thread on these small models (measured: the same step time with one and
    two threads to within 10-20%, either way).  A cell's numbers do not depend on ``jobs``: every
    cell is seeded on its own (tested).  Results are written as cells finish, in any order.

    ``cache``: a folder for JAX's persistent compilation cache, used by this process and every
    worker (``None``: no cache).  The cells of one configuration (every rate and seed of a group)
    run the same programs (the learning rate is an input, see :func:`experiments.train.run`), so
    with the cache each program compiles once per configuration and training length instead of
    once per cell; the numbers do not change (tested)."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    groups = protocols.groups(protocol, dry_run=dry_run, only=only)
    started, load_at_start = time.time(), os.getloadavg()
    _worker_init(cache)
    if dry_run:
        check_largest(protocol, groups, log)
    queue: list[tuple] = []  # (priority, cell)
    seen: set[str] = set()

    def enqueue(gi: int) -> dict:
        """Queue the group's cells not yet on disk; returns its :func:`group_state`."""
        st = group_state(out, groups[gi])
        cells_ = [(0, j, c) for j, c in enumerate(groups[gi].stage1())]
        cells_ += [(1, j, c) for j, c in enumerate(st["stage2_cells"])]
        for stage, j, c in cells_:
            if c.key in seen:
                continue
            seen.add(c.key)
            if os.path.exists(cell_path(out, c)):
                log(f"{c.key}: done before, skipped")
            else:
                queue.append(((gi, stage, j), c))
        queue.sort(key=lambda e: e[0])
        return st

    for gi in range(len(groups)):
        enqueue(gi)
    group_of = {}
    trained: list[str] = []
    compiling: set[int] = set()  # groups with a cell in flight and none finished yet (see pick)
    compiled: set[int] = set()  # groups with a cell finished in this run (their programs are cached)

    def finished(cell, row):
        gi = group_of[cell.key]
        compiled.add(gi)
        compiling.discard(gi)
        row["protocol"] = protocol
        write_json_atomic(cell_path(out, cell), row)
        trained.append(cell.key)
        log(f"{cell.key}: test accuracy {row['test_acc']:.4f} after {row['steps_run']} steps")
        write_tables(out, collect(out, protocol, dry_run=dry_run))  # the folder's whole table, not --only's part
        _drop_states(out, enqueue(gi))  # its stage 2, once its stage 1 is complete; then the unneeded probe states

    def next_job():
        prio, cell = queue.pop(pick(queue, compiling))
        group_of[cell.key] = prio[0]
        if prio[0] not in compiled:
            compiling.add(prio[0])
        stage = "stage 2 (seed)" if prio[1] else "stage 1 (lr)"
        log(f"{cell.key}: training, group {prio[0] + 1}/{len(groups)} {stage} ({time.strftime('%H:%M:%S')})")
        return (cell, *_state_files(out, groups[prio[0]], cell))

    try:
        if jobs == 1:
            while queue:
                cell, save_state, resume = next_job()
                finished(cell, _train(cell, log, save_state, resume))
        else:
            import multiprocessing as mp
            import queue as queue_mod

            done: queue_mod.Queue = queue_mod.Queue()
            # multiprocessing.Pool rather than concurrent.futures: its terminate() stops the workers
            # (an interrupted run must not leave orphans training on)
            pool = mp.get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(cache,))
            try:
                log(
                    f"{len(queue)} cells queued on {jobs} worker processes, compilation cache "
                    f"{cache or 'off'} ({time.strftime('%H:%M:%S')})"
                )
                in_flight = 0
                while queue or in_flight:
                    while queue and in_flight < jobs:
                        cell, save_state, resume = next_job()
                        pool.apply_async(
                            _train_tagged,
                            ((cell, f"[{cell.key}] ", save_state, resume),),
                            callback=done.put,
                            error_callback=done.put,
                        )
                        in_flight += 1
                    while True:
                        try:
                            result = done.get(timeout=0.5)
                            break
                        except queue_mod.Empty:
                            continue
                    in_flight -= 1
                    if isinstance(result, BaseException):
                        raise result
                    finished(*result)
            except BaseException:
                pool.terminate()  # what finished is on disk; the cells in progress are dropped
                pool.join()
                raise
            pool.close()
            pool.join()
    except BaseException:
        # an interrupted run still counts: its wall clock and the cells it finished go to runs.json
        if trained:
            _record_run(
                out, protocol, jobs, started, load_at_start, trained, dry_run=dry_run, only=only, interrupted=True
            )
        raise
    if trained:
        _record_run(out, protocol, jobs, started, load_at_start, trained, dry_run=dry_run, only=only)
    rows = collect(out, protocol, dry_run=dry_run, only=only)
    # the table and the figures describe every finished cell of the folder, whatever --only trained
    every = rows if only is None else collect(out, protocol, dry_run=dry_run)
    write_tables(out, every)
    if protocol != "smoke" and not dry_run:
        from . import plots

        for f in plots.make_all(out, every):
            log(f"figure: {f}")
    return rows


def pick(queue: list[tuple], compiling: set[int]) -> int:
    """The place in ``queue`` (entries ``((group, stage, place), cell)``, in priority order) of the
    next cell to start: the first whose group is not ``compiling`` (a cell of it is in flight and
    none has finished yet, so its programs are still being compiled and are not yet in the
    persistent cache: a second cell of it started now would compile the same programs beside the
    first).  If every queued cell's group is compiling, the first.  Only the order changes: every
    cell is seeded on its own, so its numbers do not depend on when it runs."""
    return next((i for i, (prio, _) in enumerate(queue) if prio[0] not in compiling), 0)


def _record_run(out, protocol, jobs, started, load_at_start, keys, dry_run=False, only=None, interrupted=False) -> None:
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
            protocol=protocol, jobs=jobs, cells_trained=keys, dry_run=dry_run, only=only,
            started=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)) + " UTC",
            wall_seconds=round(time.time() - started, 1),
            cpu_count=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
            jax=jax.__version__, jax_backend=jax.default_backend(),
            load_average_at_start=[round(x, 2) for x in load_at_start],
            load_average_at_end=[round(x, 2) for x in os.getloadavg()],
            xla_flags=os.environ.get("XLA_FLAGS", ""), interrupted=interrupted,
        )
    )  # fmt: skip
    write_json_atomic(path, runs)


def collect(out: str, protocol: str | None = None, **kw) -> list[dict]:
    """The finished cells' rows (with curves); with ``protocol``, only that protocol's cells
    (stage 1 and the stage 2 derived so far, ``kw`` as for :func:`protocols.groups`), in its
    order."""
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
    return [rows[c.key] for c in planned(out, protocols.groups(protocol, **kw)) if c.key in rows]


def missing(out: str, protocol: str, **kw) -> list[str]:
    """Keys of the protocol's known cells (stage 1, and stage 2 where derivable) without a result
    file, and ``<group>: stage 2 (k seeds) after stage 1`` for groups whose stage 2 is not yet
    derivable."""
    groups = protocols.groups(protocol, **kw)
    keys = [c.key for c in planned(out, groups) if not os.path.exists(cell_path(out, c))]
    for g in groups:
        if g.seeds > 1 and group_state(out, g)["chosen"] is None:
            keys.append(f"{g.name}: stage 2 ({g.seeds - 1} more seeds) after stage 1")
    return keys


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
