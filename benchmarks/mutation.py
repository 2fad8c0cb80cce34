"""A mutation campaign: tamper with every construction and see which checking mode notices.

    python -m benchmarks.mutation [--seed S] [--per-kind K] [--boundaries B] [--samples N] [--no-write]

For every construction at a small ``n`` it makes *mutants* (copies with a few weights changed):

* ``perturb``: one entry plus ``±scale·max|array|`` for each scale in ``SCALES`` (1e-9 … 1e0);
* ``sign``: one nonzero entry negated;
* ``swap-rows`` / ``swap-cols``: two different rows (columns) of one matrix exchanged;
* ``zero-row``: one nonzero row set to zero;
* ``position`` / ``token``: one row of the position (token) embedding moved by ``scale·‖row‖`` in
  a random direction (a zero row: by ``scale`` times the largest row norm);
* ``boundary``: one entry moved along a random direction to the edge of correct behaviour, found by
  bisection on the truth; the last correct point (``boundary-in``) and the first wrong one
  (``boundary-out``) are both mutants (the hardest cases for a certificate: a margin near zero).

The truth about a mutant is decided by evaluating every input through the independent numpy
forward pass of the tests (tests/numpy_forward.py, written from docs/MODEL.md alone): the mutant is
*wrong* if some input's reference logit is not strictly the largest. A mutant whose smallest
|margin| is below ``AMBIGUOUS`` (relative to its largest logit) is *ambiguous*: float64 rounding
in the two forward passes may decide it either way, so it is counted but not asserted on.

Each mutant then goes through the modes of ``verify`` (the same engine functions the CLI calls):
``sampled`` (``--samples`` random inputs), ``exhaustive`` and, where the task has a plan
(:data:`verify.certify.CERTIFIABLE`, and a plan for the model's family and depth), ``certified``
(float64). The campaign asserts that no
certificate passes a wrong mutant and that exhaustive agrees with the truth; it reports how many
wrong mutants each mode catches and how many correct mutants the certificate refuses.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import constructions  # noqa: E402
import tasks  # noqa: E402
from benchmarks._common import machine, table, write_section  # noqa: E402  (also puts tests/ on the path)
from verify import check  # noqa: E402
from verify.certify import CERTIFIABLE, VerifyError, certify  # noqa: E402

import numpy_forward  # noqa: E402  (tests/numpy_forward.py)

SCALES = (1e-9, 1e-6, 1e-3, 1e-1, 1e0)
AMBIGUOUS = 1e-9
MODES = ("sampled", "exhaustive", "certified")


def subjects(seed: int = 0) -> list[tuple[str, str, dict]]:
    """Every construction with an enumerable input set, at a small ``n`` (at most a few thousand inputs)."""
    dnf = tasks.threshold_params_random_dnf(8, 2, 4, np.random.default_rng(seed))
    return [
        ("index_lookup", "tf1", {"n": 5, "alphabet_size": 2}),
        ("index_lookup", "rnn", {"n": 5, "alphabet_size": 2}),
        ("equality", "tf2", {"n": 8}),
        ("equality", "rnn", {"n": 8}),
        ("disjointness", "tf2", {"n": 8}),
        ("disjointness", "rnn", {"n": 8}),
        ("threshold", "tf2", dnf),
        ("associative_recall", "tf2", {"n": 2, "num_keys": 3, "num_values": 2}),
        ("associative_recall", "rnn", {"n": 2, "num_keys": 3, "num_values": 2}),
        ("dyck", "rnn", {"n": 4, "types": 2, "depth": 2}),
    ]


# --- the truth ----------------------------------------------------------------------------------


class Truth:
    """Every input of a model's task and its reference answers; ``judge(arrays)`` runs the numpy
    forward on all of them."""

    def __init__(self, model):
        self.meta = model.meta
        self.task = tasks.get(model.meta["task"], **model.meta["task_params"])
        self.inputs = np.concatenate(list(self.task.enumerate(4096)))
        self.expected = self.task.solve(self.inputs)
        self.forward = numpy_forward.rnn_logits if self.meta["arch"] == "rnn" else numpy_forward.transformer_logits

    def margins(self, arrays: dict) -> tuple[np.ndarray, np.ndarray]:
        """Per input: the reference logit minus the largest other one (numpy float64; ``-inf`` if
        a logit is not finite), and the size of the logits (``max(1, max|logit|)``)."""
        margin, size = np.empty(len(self.inputs)), np.ones(len(self.inputs))
        for i, (x, want) in enumerate(zip(self.inputs, self.expected)):
            z = np.asarray(self.forward(arrays, self.meta, x), dtype=np.float64)
            if not np.all(np.isfinite(z)):
                margin[i] = -np.inf
                continue
            margin[i] = z[want] - np.delete(z, want).max()
            size[i] = max(1.0, float(np.abs(z).max()))
        return margin, size

    def judge(self, arrays: dict) -> tuple[bool, bool]:
        """``(wrong, ambiguous)``: some input answered wrongly; some |margin| too small to call."""
        margin, size = self.margins(arrays)
        return bool(np.any(~(margin > 0))), bool(np.any(np.abs(margin) < AMBIGUOUS * size))


# --- mutants ------------------------------------------------------------------------------------


def _nonzero(a, rng):
    idx = np.flatnonzero(a)
    return np.unravel_index(rng.choice(idx) if idx.size else rng.integers(a.size), a.shape)


def _matrix(arrays, rng, min_rows=2):
    """A random (name, head index or None) of a weight with at least ``min_rows`` rows and columns."""
    names = [
        k
        for k, a in arrays.items()
        if a.ndim >= 2 and a.shape[-2] >= min_rows and a.shape[-1] >= min_rows and np.any(a)
    ]
    k = names[rng.integers(len(names))]
    a = arrays[k]
    return k, (int(rng.integers(a.shape[0])) if a.ndim == 3 else None)


def _distinct_pair(m, axis, rng):
    """Two indices along ``axis`` of the 2-D ``m`` whose slices differ (None if all are equal)."""
    for _ in range(20):
        i, j = rng.choice(m.shape[axis], 2, replace=False)
        if not np.array_equal(np.take(m, i, axis), np.take(m, j, axis)):
            return int(i), int(j)
    return None


def mutants(model, rng, per_kind: int) -> list[tuple[str, str, dict]]:
    """``(kind, description, changes)`` for ``per_kind`` mutants of each kind (and of each scale)."""
    base = model.arrays()
    out = []
    weights = [k for k in base if np.any(base[k])]

    def add(kind, what, name, arr):
        out.append((kind, f"{what} in {name}", {name: arr}))

    for _ in range(per_kind):
        for scale in SCALES:
            k = weights[rng.integers(len(weights))]
            a = base[k].copy()
            at = _nonzero(a, rng) if rng.random() < 0.5 else np.unravel_index(rng.integers(a.size), a.shape)
            delta = float(rng.choice([-1, 1])) * scale * float(np.max(np.abs(a)))
            a[at] += delta
            add(f"perturb {scale:g}", f"{delta:+.3g} at {tuple(int(i) for i in at)}", k, a)
        k = weights[rng.integers(len(weights))]
        a = base[k].copy()
        at = _nonzero(a, rng)
        a[at] = -a[at]
        add("sign", f"negated {tuple(int(i) for i in at)}", k, a)
        for kind, axis in (("swap-rows", 0), ("swap-cols", 1)):
            k, h = _matrix(base, rng)
            a = base[k].copy()
            m = a[h] if h is not None else a
            pair = _distinct_pair(m, axis, rng)
            if pair is None:
                continue
            i, j = pair
            if axis == 0:
                m[[i, j]] = m[[j, i]]
            else:
                m[:, [i, j]] = m[:, [j, i]]
            add(
                kind,
                f"{'rows' if axis == 0 else 'columns'} {i}<->{j}" + (f" of head {h}" if h is not None else ""),
                k,
                a,
            )
        k, h = _matrix(base, rng, min_rows=1)
        a = base[k].copy()
        m = a[h] if h is not None else a
        rows = np.flatnonzero(np.any(m != 0, axis=1))
        if rows.size:
            r = int(rng.choice(rows))
            m[r] = 0
            add("zero-row", f"row {r}" + (f" of head {h}" if h is not None else ""), k, a)
        for kind, name in (("position", "embed/position"), ("token", "embed/token")):
            if name not in base:
                continue
            for scale in SCALES:
                a = base[name].copy()
                r = int(rng.integers(a.shape[0]))
                u = rng.standard_normal(a.shape[1])
                size = float(np.linalg.norm(a[r])) or float(np.linalg.norm(a, axis=1).max())  # a zero row: the largest
                u *= scale * size / np.linalg.norm(u)
                a[r] += u
                add(f"{kind} {scale:g}", f"row {r} moved by {np.linalg.norm(u):.3g}", name, a)
    return out


def boundary(model, truth: Truth, rng, tries: int = 6) -> list[tuple[str, str, dict]]:
    """Bisect one entry, moved in one direction, to where the truth changes: the last correct and
    the first wrong mutant (relative gap 1e-6; the wrong one a gap further out when that is still
    wrong, off an exact tie), or nothing if no change within 2^12 · max|array|."""
    base = model.arrays()
    weights = [k for k in base if np.any(base[k])]
    for _ in range(tries):
        k = weights[rng.integers(len(weights))]
        at = _nonzero(base[k], rng)
        unit = float(rng.choice([-1, 1])) * float(np.max(np.abs(base[k])))

        def moved(t, k=k, at=at, unit=unit):
            a = base[k].copy()
            a[at] += t * unit
            return a

        def wrong(t, k=k):
            return truth.judge({**base, k: moved(t)})[0]

        if wrong(0.0):
            return []
        lo, hi = 0.0, 2.0**-10
        while not wrong(hi):
            lo, hi = hi, hi * 2
            if hi > 2.0**12:
                break
        else:
            while hi - lo > 1e-6 * hi:
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if wrong(mid) else (mid, hi)
            out = hi + (hi - lo)  # one gap further: off an exact tie (a dyadic boundary is hit exactly)
            out = out if wrong(out) else hi
            where = f"{tuple(int(i) for i in at)} by t·{unit:+.3g}"
            return [
                ("boundary-in", f"{where}, t={lo:.9g}", {k: moved(lo)}),
                ("boundary-out", f"{where}, t={out:.9g}", {k: moved(out)}),
            ]
    return []


# --- the campaign -------------------------------------------------------------------------------


def run_modes(mutant, certifiable: bool, samples: int, seed: int) -> dict:
    """``{mode: "pass" | "fail" | "refused"}`` for the mutant (a VerifyError from certify: refused)."""
    out = {
        "sampled": check(mutant, mode="sampled", samples=samples, seed=seed)["status"],
        "exhaustive": check(mutant, mode="exhaustive")["status"],
    }
    if certifiable:
        try:
            out["certified"] = certify(mutant, "float64", witnesses=False)["status"]
        except ValueError:
            out["certified"] = "refused"
    return out


def _has_plan(model) -> bool:
    """Whether certified mode has a plan for this model's family and depth (its task has one for
    some family: :data:`CERTIFIABLE`); asked of the unmutated model."""
    try:
        certify(model, "float64", witnesses=False)
    except VerifyError:
        return False
    return True


def campaign(
    subject_list, *, seed: int = 0, per_kind: int = 1, boundaries: int = 1, samples: int = 64, log=None
) -> list[dict]:
    """One record per mutant: subject, kind, what changed, the truth and every mode's answer.

    Asserts, for every mutant whose truth is not ambiguous: a certificate never passes a wrong
    mutant, and exhaustive passes exactly the correct ones."""
    rng = np.random.default_rng(seed)
    records = []
    for task, arch, params in subject_list:
        model = constructions.build(task, arch=arch, seed=0, **params)
        truth = Truth(model)
        base = model.arrays()
        assert not truth.judge(base)[0], f"{task}/{arch}: the unmutated model is wrong"
        made = mutants(model, rng, per_kind)
        for _ in range(boundaries):
            made += boundary(model, truth, rng)
        certifiable = task in CERTIFIABLE and _has_plan(model)
        for kind, what, changes in made:
            t0 = time.perf_counter()
            wrong, ambiguous = truth.judge({**base, **changes})
            got = run_modes(model.with_arrays(**changes), certifiable, samples, seed)
            rec = {
                "task": task,
                "arch": arch,
                "n": params["n"],
                "kind": kind,
                "what": what,
                "wrong": wrong,
                "ambiguous": ambiguous,
                **got,
                "seconds": round(time.perf_counter() - t0, 2),
            }
            records.append(rec)
            if log:
                log(rec)
            if not ambiguous:
                assert not (wrong and got.get("certified") == "pass"), f"a certificate passed a wrong mutant: {rec}"
                assert (got["exhaustive"] == "fail") == wrong, f"exhaustive disagrees with the truth: {rec}"
    return records


def tally(records: list[dict]) -> dict:
    """Counts: mutants, wrong (behaviour-changing), ambiguous; per mode the wrong ones caught (of
    those the mode ran on) and the correct ones it failed or refused."""
    decided = [r for r in records if not r["ambiguous"]]
    wrong = [r for r in decided if r["wrong"]]
    right = [r for r in decided if not r["wrong"]]
    out = {
        "mutants": len(records),
        "ambiguous": len(records) - len(decided),
        "wrong": len(wrong),
        "correct": len(right),
    }
    for mode in MODES:
        ran_w = [r for r in wrong if mode in r]
        ran_r = [r for r in right if mode in r]
        out[mode] = {
            "wrong": len(ran_w),
            "caught": sum(r[mode] != "pass" for r in ran_w),
            "correct": len(ran_r),
            "refused": sum(r[mode] != "pass" for r in ran_r),
        }
    return out


def _rate(c: dict) -> str:
    return f"{c['caught']}/{c['wrong']}" + (f" ({100 * c['caught'] / c['wrong']:.0f}%)" if c["wrong"] else "")


def report(records: list[dict], *, seed, per_kind, boundaries, samples, seconds, where) -> str:
    groups = {}
    for r in records:
        groups.setdefault(f"{r['task']}/{r['arch']} n={r['n']}", []).append(r)
    kinds = {}
    for r in sorted(
        records, key=lambda r: (r["kind"].split(" ")[0], float(r["kind"].split(" ")[1]) if " " in r["kind"] else 0.0)
    ):
        kinds.setdefault(r["kind"], []).append(r)

    def row(name, rs):
        t = tally(rs)
        cert = t["certified"]
        return [
            name,
            t["mutants"],
            t["wrong"],
            t["ambiguous"],
            _rate(t["sampled"]),
            _rate(t["exhaustive"]),
            _rate(cert) if cert["wrong"] + cert["correct"] else "no plan",
            f"{cert['refused']}/{cert['correct']}" if cert["correct"] else "–",
        ]

    header = [
        "subject",
        "mutants",
        "behaviour-changing",
        "ambiguous",
        "sampled caught",
        "exhaustive caught",
        "certified caught",
        "certificate refusals of correct mutants",
    ]
    total = tally(records)
    return "\n".join(
        [
            "## Mutation campaign (`benchmarks/mutation.py`)",
            "",
            f"Machine: {where}.",
            "",
            (
                f"Seed {seed}; {per_kind} mutant(s) per kind and scale, {boundaries} boundary bisection(s) per subject; "
                f"sampled mode draws {samples} inputs (seed {seed}); certified mode in float64. Truth: every input "
                "through the independent numpy forward (tests/numpy_forward.py). *Behaviour-changing*: some input "
                f"answered wrongly; *ambiguous*: some |margin| below {AMBIGUOUS:g} (relative), not asserted on. "
                "Checked in this run: no certificate passed a behaviour-changing mutant, and exhaustive agreed with the "
                "truth on every mutant that is not ambiguous."
            ),
            "",
            table(header, [row(k, v) for k, v in groups.items()] + [row("**all**", records)]),
            "",
            "By kind of mutation (and scale):",
            "",
            table(["kind"] + header[1:], [row(k, v) for k, v in kinds.items()]),
            "",
            (
                f"Totals: {total['mutants']} mutants, {total['wrong']} behaviour-changing, {total['correct']} correct, "
                f"{total['ambiguous']} ambiguous; {seconds:.0f} s."
            ),
            "",
            (
                f"Command: `python -m benchmarks.mutation --seed {seed} --per-kind {per_kind} --boundaries {boundaries} "
                f"--samples {samples}`."
            ),
        ]
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-kind", type=int, default=6)
    p.add_argument("--boundaries", type=int, default=8)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    p.add_argument("--readme", metavar="PATH", help="also write the per-subject table into PATH (README.md)")
    a = p.parse_args(argv)
    where = machine()
    start = time.perf_counter()
    records = campaign(
        subjects(a.seed),
        seed=a.seed,
        per_kind=a.per_kind,
        boundaries=a.boundaries,
        samples=a.samples,
        log=lambda r: print(r, flush=True),
    )
    body = report(
        records,
        seed=a.seed,
        per_kind=a.per_kind,
        boundaries=a.boundaries,
        samples=a.samples,
        seconds=time.perf_counter() - start,
        where=where,
    )
    if a.no_write:
        print(body)
    else:
        write_section("mutation", body)
        if a.readme:
            write_section("mutation", readme_block(body), a.readme)


def readme_block(body: str) -> str:
    """The README's part of a campaign report: the per-subject table, its totals and its command."""
    lines = body.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| subject"))
    last = next(i for i in range(first, len(lines)) if not lines[i].startswith("|"))
    tail = [line for line in lines if line.startswith(("Totals:", "Command:"))]
    intro = (
        "Generated by `python -m benchmarks.mutation --readme README.md` (details and the table by kind of "
        "mutation in benchmarks/RESULTS.md):"
    )
    return "\n".join([intro, "", *lines[first:last], "", *tail])


if __name__ == "__main__":
    main()
