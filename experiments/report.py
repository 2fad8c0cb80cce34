"""RESULTS.md from a results folder: the machine and wall clock (from ``runs.json``), the command,
one table row per group (the selected learning rate, its test accuracy, the seeds' spread, steps
run against the budget, the constant-predictor flag), every grid point in an appendix, and the
comparison with the paper's claims (docs/PAPER.md §13.2–13.4), each verdict computed from the rows,
never typed in."""

from __future__ import annotations

import json
import os
import platform

from . import protocols, runner, train

NEAR_PERFECT = 0.99
TITLES = {
    "index_lookup": "Index lookup (Fig. 2 left; |A| = 64, train lengths uniform in [10, n], test at n)",
    "dyck": "Dyck-(2,2) (Fig. 2 right; length n, balanced labels)",
    "eq_random": "Eq-random (Fig. 4; bits, a negative's second half is independent)",
    "eq_one": "Eq-one (Fig. 4; 1,024 symbols, a negative differs in one position)",
}
RECURRENT = ("lstm", "dss", "mamba", "retnet", "lintf")


def _fmt_lr(lr) -> str:
    return f"{lr:g}"


def _unknown(row: dict, field: str):
    """A field of a row written before it existed: ``budget_exhausted`` follows from
    ``early_stopped``; the others are unknown (None, shown as "?")."""
    if field in row:
        return row[field]
    if field == "budget_exhausted" and "early_stopped" in row:
        return not row["early_stopped"]
    return None


def _flag(v) -> str:
    return "?" if v is None else ("yes" if v else "no")


def summarize(folder: str, group: protocols.Group) -> dict:
    """A group's numbers: the stage-1 grid, the chosen row (by the selection rule; over the rows
    present while stage 1 is incomplete), the seed rows at its learning rate."""
    st = runner.group_state(folder, group)
    present = [r for r in st["stage1"] if r is not None]
    selected = st["chosen"] or (protocols.select(present) if present else None)
    g = st["group"]
    later = {c.seed: r for c, r in zip(st["stage2_cells"], st["stage2"]) if r is not None}
    # the result at the selected rate: seed 0's whole-budget run (the stage-1 row itself unless it
    # was a probe that did not stop early; then the rerun, None until it exists)
    if selected is None or (st["chosen"] is not None and g.reruns_seed0(selected)):
        chosen = later.get(0)
    elif st["chosen"] is None and g.reruns_seed0(selected):
        chosen = None
    else:
        chosen = selected
    seeds = ([chosen] if chosen else []) + [r for seed, r in sorted(later.items()) if seed > 0]
    return dict(st, present=present, selected=selected, chosen=chosen, seeds=seeds, complete=st["chosen"] is not None)


def _label(g: protocols.Group) -> str:
    cell = g.cell(g.lrs[0], 0)
    try:
        return cell.label
    except KeyError:  # a model this version of train.Cell has no figure label for
        return f"{g.model}-({g.layers}, {g.width})"


def _group_row(s: dict) -> str:
    g, c = s["group"], s["chosen"]
    lab = f"{_label(g)} | {g.n} | {g.claim}"
    if c is None:
        return f"| {lab} | – | missing | – | – | – | – |"
    best_lr = _fmt_lr(c["lr"]) + ("" if s["complete"] else f" (stage 1: {len(s['present'])}/{len(g.lrs)} lrs)")
    accs = [r["test_acc"] for r in s["seeds"]]
    if g.seeds > 1:
        spread = f"{sum(accs) / len(accs):.3f} [{min(accs):.3f}, {max(accs):.3f}] ({len(accs)}/{g.seeds} seeds)"
    else:
        spread = "1 seed"
    ran_out = _unknown(c, "budget_exhausted")
    steps = (
        f"{c['steps_run']:,} / {g.steps:,}"
        + (f" (probe {g.probe:,})" if g.probe_steps < g.steps else "")
        + (" (budget ran out)" if ran_out else " (?)" if ran_out is None else " (stopped)")
    )
    consts = [_unknown(r, "constant_predictor") for r in s["seeds"]]
    const = "?" if c.get("constant_predictor") is None else ("**constant predictor**" if consts[0] else "no")
    if len(consts) > 1 and any(consts[1:]):
        const += f" (seeds: {sum(1 for x in consts if x)}/{len(consts)} constant)"
    return f"| {lab} | {best_lr} | {c['test_acc']:.3f} | {spread} | {steps} | {const} | {c['params']:,} |"


def _table(summaries: list[dict]) -> str:
    head = (
        "| model | n | claim | chosen lr | test acc (seed 0) | seeds: mean [min, max] | steps run / budget "
        "| constant predictor | params |"
    )
    return "\n".join([head, "|" + "---|" * 9] + [_group_row(s) for s in summaries])


def _grid_table(summaries: list[dict]) -> str:
    lines = [
        "| group | learning rate | seed | best val acc (step reached) | test acc | steps run | constant |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        g = s["group"]
        for lr, r in zip(g.lrs, s["stage1"]):
            chosen = s["selected"] is not None and r is s["selected"]
            mark = " ←" if chosen else ""
            if r is None:
                lines.append(f"| `{g.name}` | {_fmt_lr(lr)} | 0 | missing | | | |")
                continue
            lines.append(
                f"| `{g.name}` | {_fmt_lr(lr)}{mark} | 0 | {r['best_val_acc']:.3f} ({protocols.steps_to_best(r)}) | "
                f"{r['test_acc']:.3f} | {r['steps_run']} | {_flag(_unknown(r, 'constant_predictor'))} |"
            )
        for c, r in zip(s["stage2_cells"], s["stage2"]):
            if r is None:
                lines.append(f"| `{g.name}` | {_fmt_lr(c.lr)} | {c.seed} | missing | | | |")
            else:
                lines.append(
                    f"| `{g.name}` | {_fmt_lr(c.lr)} | {c.seed} | {r['best_val_acc']:.3f} "
                    f"({protocols.steps_to_best(r)}) | {r['test_acc']:.3f} | {r['steps_run']} | "
                    f"{_flag(_unknown(r, 'constant_predictor'))} |"
                )
    return "\n".join(lines)


# The paper's claims (docs/PAPER.md §13.2-13.4): (section, text, task, which groups, what is
# expected of a group at length n: "learns" (test >= NEAR_PERFECT), "fails" (below), None (no claim),
# and the models a claim about several names: one with no finished group among those it covers is
# reported as not tested, and the verdict is then only about the others).
def _tf(layers, width):
    return lambda g: g.model == "tf" and g.layers == layers and g.width == width


STATEMENTS = (
    ("§13.2", "index lookup: the one-layer Transformer of width 64 is near perfect at every length",
     "index_lookup", _tf(1, 64), lambda n: "learns", ()),
    ("§13.2", "index lookup: the recurrent models (LSTM, DSS, Mamba, RetNet, linear Transformer) degrade above "
     "length 100", "index_lookup", lambda g: g.model in RECURRENT, lambda n: "fails" if n > 100 else None,
     ("lstm", "dss", "mamba", "retnet", "lintf")),
    ("§13.3", "Dyck: the LSTM of width 64 is near perfect at every length", "dyck",
     lambda g: g.model == "lstm", lambda n: "learns", ()),
    ("§13.3", "Dyck: the one-layer Transformer of width 256 is near perfect up to length 100 and struggles beyond",
     "dyck", _tf(1, 256), lambda n: "learns" if n <= 100 else "fails", ()),
    ("§13.3", "Dyck: the two-layer Transformer of width 64 (and Mamba, for reference) is near perfect at every "
     "length", "dyck", lambda g: _tf(2, 64)(g) or g.model == "mamba", lambda n: "learns", ("tf", "mamba")),
    ("§13.4", "Eq-random: Transformers are near perfect at every length", "eq_random",
     lambda g: g.model == "tf", lambda n: "learns", ()),
    ("§13.4", "Eq-random: the LSTM and the linear Transformer struggle beyond length 100", "eq_random",
     lambda g: g.model in ("lstm", "lintf"), lambda n: "fails" if n > 100 else None, ("lstm", "lintf")),
    ("§13.4", "Eq-random: DSS and Mamba match the Transformer (near perfect)", "eq_random",
     lambda g: g.model in ("dss", "mamba"), lambda n: "learns", ("dss", "mamba")),
    ("§13.4", "Eq-one: every model is near perfect at every length", "eq_one", lambda g: True, lambda n: "learns",
     ("tf", "lstm", "dss", "mamba", "lintf")),
)  # fmt: skip


def _holds(expect: str, acc: float) -> bool:
    return acc >= NEAR_PERFECT if expect == "learns" else acc < NEAR_PERFECT


def verdict(summaries: list[dict], task: str, match, expect, named=()) -> tuple[str, str]:
    """(verdict, evidence) of one statement: ``not tested`` if no matching group with a claim has
    a result; ``reproduced`` if every such group's best run is as claimed (test accuracy ≥ 0.99
    for "learns", below for "fails"); ``not reproduced`` otherwise, naming the groups. ``named``:
    the models (``train.MODEL_NAMES`` keys) the statement names; those with no result among the
    groups ``match`` selects are listed as not tested, and a ``reproduced`` becomes ``reproduced for the models tested``. Where
    groups have several seeds, the evidence ends with how many groups had every seed as claimed.

    A group's *best run* is the best test accuracy over its seeds at the chosen learning rate (the
    paper reports the best run of its grid; for a "fails" claim, the best run failing means every
    seed failed). The evidence shows seed 0 and the spread beside it, so a claim that holds only
    for the best seed is visible as such."""
    seen, groups, every = [], [], []
    for s in summaries:
        g, c = s["group"], s["chosen"]
        if g.task != task or not match(g) or expect(g.n) is None or c is None:
            continue
        e = expect(g.n)
        accs = [r["test_acc"] for r in s["seeds"]]
        groups.append(g)
        if len(accs) > 1:
            every.append(all(_holds(e, a) for a in accs))
        best = max(accs)
        note = f"{_label(g)} n={g.n}: {best:.3f}"
        if len(accs) > 1:
            note += (
                f" (best of {len(accs)} seeds; seed 0 {c['test_acc']:.3f}, seeds {min(accs):.3f}–{best:.3f}, "
                f"{sum(_holds(e, a) for a in accs)}/{len(accs)} as claimed)"
            )
        if c.get("constant_predictor"):
            note += " constant predictor"
        if e == "fails" and _unknown(c, "budget_exhausted"):
            note += f" after {c['steps_run']:,} steps"
        seen.append((_holds(e, best), e, note))
    if not seen:
        return "not tested", "no finished group of this kind in the protocol"
    untested = [train.MODEL_NAMES[m] for m in named if not any(g.model == m for g in groups)]
    tail = ""
    if every:
        tail += f"; every seed as claimed in {sum(every)} of the {len(every)} groups with several seeds"
    if untested:
        tail += f"; not tested: {', '.join(untested)} (no finished group at a length the claim covers)"
    bad = [n for ok, _, n in seen if not ok]
    good = [n for ok, _, n in seen if ok]
    if not bad:
        return ("reproduced for the models tested" if untested else "reproduced"), "; ".join(good) + tail
    return "not reproduced", "not as claimed at " + "; ".join(bad) + (
        f"; as claimed at {'; '.join(good)}" if good else ""
    ) + tail


def slower_verdict(summaries: list[dict]) -> tuple[str, str]:
    """§13.3: the one-layer Transformer (width 256) learns Dyck more slowly than the LSTM (width
    64), compared by the validation step of the early stop (``steps_to_stop``) at the lengths where
    both chosen runs stopped early."""
    by = {}
    for s in summaries:
        g, c = s["group"], s["chosen"]
        if g.task == "dyck" and c is not None and (_tf(1, 256)(g) or (g.model == "lstm" and g.width == 64)):
            stop = c["steps_run"] if c.get("early_stopped") else None
            by.setdefault(g.n, {})["tf" if g.model == "tf" else "lstm"] = stop
    both = {n: v for n, v in sorted(by.items()) if v.get("tf") and v.get("lstm")}
    if not both:
        return "not tested", "no length at which both chosen runs stopped early"
    notes = [f"n={n}: TF {v['tf']:,} vs LSTM {v['lstm']:,} steps" for n, v in both.items()]
    ok = all(v["tf"] > v["lstm"] for v in both.values())
    return ("reproduced" if ok else "not reproduced"), "; ".join(notes)


def mamba_width_verdict(summaries: list[dict]) -> tuple[str, str]:
    """§13.2 / Fig. 3: the two-layer Mamba improves with width (test accuracy non-decreasing in
    width, within 0.01) but stays below the one-layer Transformer of width 64, at each length with
    at least two Mamba widths."""
    mam, tf = {}, {}
    for s in summaries:
        g, c = s["group"], s["chosen"]
        if g.task != "index_lookup" or c is None:
            continue
        if g.model == "mamba" and g.layers == 2:
            mam.setdefault(g.n, {})[g.width] = c["test_acc"]
        elif _tf(1, 64)(g):
            tf[g.n] = c["test_acc"]
    ns = [n for n in sorted(mam) if len(mam[n]) >= 2]
    if not ns:
        return "not tested", "fewer than two Mamba widths at every length"
    notes, ok = [], True
    for n in ns:
        ws = sorted(mam[n])
        accs = [mam[n][w] for w in ws]
        rising = all(b >= a - 0.01 for a, b in zip(accs, accs[1:]))
        below = n in tf and max(accs) < tf[n]
        ok = ok and rising and below
        notes.append(
            f"n={n}: " + ", ".join(f"w{w} {a:.3f}" for w, a in zip(ws, accs))
            + (f" vs TF {tf[n]:.3f}" if n in tf else " (no TF reference)")
        )  # fmt: skip
    return ("reproduced" if ok else "not reproduced"), "; ".join(notes)


def _mamba_widths(summaries: list[dict]) -> str:
    """Fig. 3 as a table: two-layer Mamba by width × length, the one-layer Transformer of width 64
    as the first row; empty unless at least two Mamba widths have a result."""
    acc = {}
    for s in summaries:
        g, c = s["group"], s["chosen"]
        if g.task == "index_lookup" and c is not None and ((g.model == "mamba" and g.layers == 2) or _tf(1, 64)(g)):
            acc.setdefault(_label(g) if g.model == "tf" else g.width, {})[g.n] = c["test_acc"]
    if len([k for k in acc if isinstance(k, int)]) < 2:
        return ""
    ns = sorted({n for v in acc.values() for n in v})
    keys = [k for k in acc if not isinstance(k, int)] + sorted(k for k in acc if isinstance(k, int))
    lines = ["| model | " + " | ".join(f"n = {n}" for n in ns) + " |", "|" + "---|" * (len(ns) + 1)]
    for k in keys:
        name = k if not isinstance(k, int) else f"Mamba-(2, {k})"
        lines.append(f"| {name} | " + " | ".join(f"{acc[k][n]:.3f}" if n in acc[k] else "–" for n in ns) + " |")
    return "\n".join(lines)


def _budgets(summaries: list[dict]) -> list[str]:
    out = []
    for claim in protocols.CLAIMS:
        gs = [s["group"] for s in summaries if s["group"].claim == claim]
        if not gs:
            continue
        steps = sorted({g.steps for g in gs})
        lrs = sorted({len(g.lrs) for g in gs})
        seeds = sorted({g.seeds for g in gs})
        models = sorted({_label(g) for g in gs})
        out.append(
            f"* Groups whose claim is **{claim}** ({len(gs)}: {', '.join(models)}): "
            f"{' or '.join(f'{t:,}' for t in steps)} steps at {' or '.join(map(str, lrs))} learning rates, "
            f"{' or '.join(map(str, seeds))} seed(s)."
        )
    return out


def _runs(folder: str) -> list[dict]:
    path = os.path.join(folder, "runs.json")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return json.load(fh)


def _machine(runs: list[dict]) -> list[str]:
    """The machine and wall clock, from the protocol's runs the runner recorded (``runs.json``)."""
    if not runs:
        return [
            f"* Machine: not recorded (no runs.json); this report was written on {platform.machine()}, "
            f"Python {platform.python_version()}. `train_seconds` are each cell's own wall clock."
        ]
    wall = sum(r["wall_seconds"] for r in runs)
    each = "; ".join(
        f"{r['started']}: {len(r['cells_trained'])} cells, {r['wall_seconds'] / 60:.1f} min, --jobs {r['jobs']}, "
        f"load average {r['load_average_at_start'][0]:.2f} at the start, {r['load_average_at_end'][0]:.2f} at the end"
        + (" (interrupted; cells in progress then were lost and retrained later)" if r.get("interrupted") else "")
        for r in runs
    )
    r0 = runs[-1]
    return [
        f"* Machine: {r0['cpu_count']}-core CPU ({r0['machine']}), Python {r0['python']}, JAX {r0['jax']} on "
        f"{r0['jax_backend']}, XLA flags `{r0['xla_flags'] or 'default'}`.",
        f"* Wall clock: **{wall / 60:.1f} min** for the cells trained, over {len(runs)} run(s) ({each}). "
        "Each cell's `train_seconds` is its own wall clock (cells run side by side with --jobs > 1).",
    ]


def render(
    folder: str, protocol: str, command: str | None = None, dry_run: bool = False, only: str | None = None
) -> str:
    groups = protocols.groups(protocol, dry_run=dry_run, only=only)
    summaries = [summarize(folder, g) for g in groups]
    missing = runner.missing(folder, protocol, dry_run=dry_run, only=only)
    rows = runner.collect(folder, protocol, dry_run=dry_run, only=only)
    runs = [r for r in _runs(folder) if r["protocol"] == protocol and r.get("dry_run", False) == dry_run]
    jobs = max((r["jobs"] for r in runs), default=1)
    flags = (" --dry-run" if dry_run else "") + (f" --only '{only}'" if only else "")
    cmd = command or (
        f"python -m experiments run --protocol {protocol}{flags} --out {folder}"
        + (f" --jobs {jobs}" if jobs > 1 else "")
    )
    # a cell that continued from its probe counts its own steps only (its train_seconds include the probe's)
    secs = sum(r["train_seconds"] - r.get("resumed_from", {}).get("train_seconds", 0.0) for r in rows)
    evals = sorted({(g.val_size, g.eval_every, g.test_size) for g in groups})
    parts = [
        "# Training experiments: results"
        + (" (dry run: a few steps per cell, checks the machinery only)" if dry_run else ""),
        "",
        f"Generated by `python -m experiments report --results {folder} --protocol {protocol}{flags} --write "
        f"<file>` from the per-cell files in `{folder}/cells/` (table: `{folder}/results.csv`, `results.json`; "
        f"runs: `{folder}/runs.json`).",
        "",
        *_machine(runs),
        f"* Command: `{cmd}` (resumable: rerun it to finish missing cells).",
        f"* Protocol `{protocol}`: {len(groups)} groups; {len(rows)} cells finished, {len(missing)} missing. "
        f"Sum of the finished cells' training times: {secs / 60:.0f} min (a seed-0 cell that continued from its "
        "probe counts only the steps after it).",
        f"* Every cell: Adam, batch {' or '.join(str(b) for b in sorted({g.batch for g in groups}))}, a fresh batch "
        "each step (training lengths in K length ranges, K = "
        + ", ".join(sorted({f"{g.length_buckets} ({g.task})" for g in groups}))
        + ", see docs/EXPERIMENTS.md), early stop at validation accuracy ≥ 0.99; validation on "
        + "; ".join(f"{v:,} examples every {e:,} steps, test on {t:,} fresh examples" for v, e, t in evals)
        + " at the test length.",
        "* **Selection.** Stage 1 trains each group at every learning rate of its grid, seed 0, and chooses the "
        "run with the highest best validation accuracy (ties: fewer steps to reach it, then the larger learning "
        "rate). Where a group has a probe budget (shown as `probe P` in the steps column), stage 1 trains each "
        "rate for P steps only (one rung of successive halving) and seed 0 then continues at the chosen rate "
        "from its probe's saved training state to the whole budget (the same run as one trained from step 0; "
        "without the saved state it is retrained from step 0), unless its probe stopped early (a seeded run "
        "that stops early is the same run at any larger budget). Stage 2 trains seeds 1, 2, … at the chosen rate for the whole budget where the "
        "group has several seeds. `test acc (seed 0)` is the whole-budget seed-0 run at the chosen rate; the "
        "seeds' mean and [min, max] include it.",
        f"* **Constant predictor**: one class takes at least {train.CONSTANT_SHARE:.0%} of the test predictions "
        "(its accuracy is then that class's share of the test labels, within 0.01). `?`: a cell file written "
        "before the field existed.",
        "* `steps run / budget`: the chosen run's steps; *budget ran out* = no early stop. Chance: 1/64 ≈ 0.016 "
        "for index lookup, 0.5 for Dyck and the equality tasks (balanced labels).",
        "",
    ]
    for task in ("index_lookup", "dyck", "eq_random", "eq_one"):
        sub = [s for s in summaries if s["group"].task == task]
        if sub:
            parts += [f"## {TITLES[task]}", "", _table(sub), ""]
    widths = _mamba_widths(summaries)
    if widths:
        parts += ["## Mamba width sweep (Fig. 3; index lookup, chosen run's test accuracy)", "", widths, ""]
    figs = sorted(f for f in os.listdir(folder) if f.endswith(".png")) if os.path.isdir(folder) else []
    if figs and not dry_run:
        rel = os.path.relpath(folder, "experiments")
        parts += ["## Figures", ""] + [f"![{f}]({rel}/{f})" for f in figs] + [""]
    parts += [
        "## Against the paper",
        "",
        "Each claim of docs/PAPER.md §13.2–13.4, checked on the best run of every group it concerns (the best "
        "test accuracy over the group's seeds at its selected learning rate, as the paper reports the best run of "
        "its grid; where a group has several seeds, seed 0 and the spread are shown beside it): *near perfect* = "
        f"test accuracy ≥ {NEAR_PERFECT}, *degrades/struggles* = below. Early stopping at validation ≥ "
        f"{NEAR_PERFECT} on 500 examples can stop a run whose test accuracy (2,000 examples) is just below "
        f"{NEAR_PERFECT}; such a run counts as below. "
        "A claim that a model fails is only as strong as the budget it got (below); the paper's are about up to "
        "250k steps at up to 7 learning rates."
        + (
            " **Dry run**: a few steps per cell; the verdicts below exercise the code and say nothing about the models."
            if dry_run
            else ""
        ),
        "",
        *_budgets(summaries),
        "",
    ]
    checks = [
        (ref, text, *verdict(summaries, task, match, expect, named))
        for ref, text, task, match, expect, named in STATEMENTS
    ]
    checks.insert(2, ("§13.2 (Fig. 3)", "the two-layer Mamba improves with width but stays below the Transformer",
                      *mamba_width_verdict(summaries)))  # fmt: skip
    checks.insert(6, ("§13.3", "Dyck: the one-layer Transformer (width 256) learns more slowly than the LSTM",
                      *slower_verdict(summaries)))  # fmt: skip
    parts += [f"* {ref} {text}: **{v}** — {evidence}." for ref, text, v, evidence in checks] + [""]
    parts += ["## Every grid point", "", "`←` marks the chosen learning rate.", "", _grid_table(summaries), ""]
    if missing:
        parts += (
            ["## Missing cells", "", "Rerunning the command resumes with these (finished cells are skipped):", ""]
            + [f"* `{k}`" for k in missing]
            + [""]
        )
    return "\n".join(parts)
