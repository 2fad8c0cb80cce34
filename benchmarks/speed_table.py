"""README's speed table, generated from benchmarks/RESULTS.md: nothing in it is typed by hand.

    python -m benchmarks.speed_table                     # print the block
    python -m benchmarks.speed_table --readme README.md  # write it between <!-- speed:start/end -->

Each row of :data:`ROWS` names the RESULTS.md section it reads (the section's own script wrote
it, with the machine and its load), how the measured text is formed from that section's tables,
the target, and the rule that decides whether the target is met. A new row is one more entry of
:data:`ROWS`; a row whose section, table, row or column is missing is refused with one line, never
filled in. tests/test_speed_table.py checks that README's block is what this script writes from the
committed RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import RESULTS, fmt, write_section  # noqa: E402

__all__ = ["ROWS", "Row", "Section", "block", "main"]

NAME = "speed"  # README markers <!-- speed:start --> ... <!-- speed:end -->


class MissingResult(LookupError):
    """A row asks for a number that benchmarks/RESULTS.md does not hold."""


def number(text: str) -> float:
    """The first number in a table cell (``"13.4 (built)"`` -> 13.4, ``"1,048,576"`` -> 1048576)."""
    found = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    if not found:
        raise MissingResult(f"no number in {text!r}")
    return float(found.group(0).replace(",", ""))


@dataclasses.dataclass
class Section:
    """One ``<!-- name:start -->`` section of RESULTS.md: its tables, each under its heading."""

    name: str
    text: str

    @property
    def load(self) -> str:
        found = re.search(r"load average ([\d.]+)", self.text)
        return found.group(1) if found else "?"

    @property
    def script(self) -> str:
        """The script named in the section's heading (``benchmarks/<script>.py``)."""
        found = re.search(r"`(benchmarks/\w+\.py)[^`]*`", self.text.split("\n", 1)[0])
        return found.group(1) if found else self.name

    def tables(self) -> list[tuple[str, list[dict[str, str]]]]:
        """``(heading, rows)`` for every Markdown table, rows as ``{column: cell}``."""
        out, heading, lines = [], "", self.text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            if line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").split()) <= {"---"}:
                head = [c.strip() for c in line.strip().strip("|").split("|")]
                rows = []
                i += 2
                while i < len(lines) and lines[i].startswith("|"):
                    cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                    rows.append(dict(zip(head, cells)))
                    i += 1
                out.append((heading, rows))
                continue
            i += 1
        return out

    def cell(self, column: str, table: str = "", **where: str) -> str:
        """The cell in ``column`` of the one row whose cells equal ``where`` (keys: column names,
        underscores for spaces), in the first table whose heading contains ``table``."""
        want = {k.replace("_", " "): v for k, v in where.items()}
        for heading, rows in self.tables():
            if table not in heading or not rows or column not in rows[0]:
                continue
            hits = [r for r in rows if all(r.get(k) == v for k, v in want.items())]
            if len(hits) == 1:
                return hits[0][column]
        raise MissingResult(f"section {self.name}: no single row {want} with a column {column!r} (table {table!r})")

    def num(self, column: str, table: str = "", **where: str) -> float:
        return number(self.cell(column, table, **where))


def sections(text: str) -> dict[str, Section]:
    found = re.findall(r"<!-- ([\w-]+):start -->\n(.*?)<!-- \1:end -->", text, flags=re.S)
    return {name: Section(name, body) for name, body in found}


# --- how a measured cell is written and judged ------------------------------------------------


def under(value: float, limit: float, fmt: str = "{:.1f} s") -> tuple[str, bool]:
    return fmt.format(value), value < limit


def ratio_row(s: Section, column: str, labels: dict[str, str], limit: float) -> tuple[str, bool]:
    """``155× (equality, n = 20), 812× (...)``, met when every ratio is at least ``limit``."""
    values = {label: s.num(column, model=model) for model, label in labels.items()}
    text = ", ".join(f"{v:,.0f}× ({label})" for label, v in values.items())
    return text, all(v >= limit for v in values.values())


def memory_row(s: Section, a: str, b: str, within: float) -> tuple[str, bool]:
    lo = s.num("peak RSS (MiB)", "Exhaustive", n=a, devices="1")
    hi = s.num("peak RSS (MiB)", "Exhaustive", n=b, devices="1")
    change = hi / lo - 1
    return f"{lo:.0f} → {hi:.0f} MiB ({change:+.0%})", abs(change) <= within


def certify_lookup_row(s: Section, n: str, limit: float) -> tuple[str, bool]:
    proof, model = s.num("certify (s)", n=n), s.num("model (s)", n=n)
    return f"{proof:.1f} s (+{model:.1f} s to build the model)", proof + model < limit


def certify_scaling_row(s: Section, limit: float) -> tuple[str, bool]:
    """The Reed–Solomon rows at 2^16, 2^18, 2^20: build + certify wall seconds (CPU in brackets)
    and peak memory; met when build + certify at 2^20 is under ``limit`` seconds of wall time."""
    parts, total = [], 0.0
    for n, label in (("65,536", "2^16"), ("262,144", "2^18"), ("1,048,576", "2^20")):
        cells = [
            s.cell(c, addresses=f"rs(q=11,k={5 if n == '65,536' else 6})+hadamard", n=n)
            for c in ("build (s)", "certify (s)")
        ]
        wall = sum(number(c) for c in cells)
        cpu = sum(number(c.split("(")[1]) for c in cells)
        peak = s.num("peak (MiB)", addresses=f"rs(q=11,k={5 if n == '65,536' else 6})+hadamard", n=n)
        parts.append(f"{label}: {wall:.0f} s ({cpu:.0f} s CPU), {peak / 1024:.1f} GiB")
        total = wall
    return "; ".join(parts), total < limit


def certify_pairs_row(s: Section, precision: str, limit: float) -> tuple[str, bool]:
    eq = s.num("certify (s)", task="equality", precision=precision)
    dis = s.num("certify (s)", task="disjointness", precision=precision)
    return f"{eq:.1f} s / {dis:.1f} s", max(eq, dis) < limit


def startup_lookup_row(s: Section, command: str, limit: float) -> tuple[str, bool]:
    warm, cold = s.num("warm", command=command), s.num("cold", command=command)
    return f"{warm:.2f} s / {cold:.2f} s", warm < limit


def startup_ratio_row(s: Section, command: str, limit: float) -> tuple[str, bool]:
    warm, cold = s.num("ratio warm", command=command), s.num("ratio cold", command=command)
    tw, tc, tn = (s.num(c, command=command) for c in ("warm", "cold", "numpy, same inputs"))
    return f"{warm:,.0f}× warm, {cold:,.0f}× cold ({tw:.2f} s / {tc:.2f} s vs {tn:.0f} s)", warm >= limit


def tracr_row(s: Section, n: str) -> tuple[str, bool]:
    c = {k: s.num(k, n=n) for k in ("tracr width", "ours width", "tracr params", "ours params")}
    t, o = s.num("tracr forward (µs/input)", n=n), s.num("ours forward (µs/input)", n=n)
    text = (
        f"width {c['tracr width']:.0f} vs {c['ours width']:.0f}; {c['tracr params']:,.0f} vs "
        f"{c['ours params']:,.0f} params; {fmt(t)} vs {fmt(o, 2)} µs per input"
    )
    return text, c["ours width"] < c["tracr width"] and c["ours params"] < c["tracr params"] and o < t


def suite_row(s: Section, limit_min: float) -> tuple[str, bool]:
    """The fast group's wall time (README's test command) with the slow group's beside it; met when
    the fast group is at most ``limit_min`` minutes."""
    fast = s.num("wall", group="fast (README's test command)")
    slow = s.num("wall", group="slow")
    return f"fast group {fast:.1f} min (slow group {slow:.1f} min)", fast <= limit_min


def device_row(s: Section, limit_s: float) -> tuple[str, bool | None]:
    """The whole run of benchmarks/device.py on the device its section names; the target is for an
    accelerator, so a CPU section is reported but judged *not measured* (None)."""
    found = re.search(r"Whole run (\d+) s", s.text)
    if not found:
        raise MissingResult(f"section {s.name}: no 'Whole run N s'")
    wall, device = int(found.group(1)), s.text.split("\n", 1)[0].split(": ", 1)[1].split(" (`")[0]
    if s.name.startswith("device-cpu"):
        return f"{wall} s on {device}; no accelerator was available to measure", None
    return f"{wall} s on {device}", wall <= limit_s


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the speed table: what is measured, the RESULTS.md section it comes from, how
    the measured text and the verdict are formed from that section, and the target in words.
    A section ending in ``*`` is the first section with that prefix whose name does not contain
    ``cpu`` if there is one, else the first (the accelerator benchmark's per-device sections)."""

    what: str
    section: str
    measure: Callable[[Section], tuple[str, bool | None]]
    target: str


EQ20 = "exhaustive equality tf2, n = 20"
LOOKUP8 = "exhaustive index lookup tf1, n = 8, s = 2"
# fmt: off
ROWS = [
    Row("exhaustive equality, n = 20 (1,048,576 inputs), whole `verify` path", "growth", lambda s: under(s.num("verify wall (s)", "Exhaustive", n="20", devices="1"), 30), "< 30 s"),
    Row("verify's batched path vs a per-example numpy forward of the same saved model", "throughput", lambda s: ratio_row(s, "verify / numpy", {"equality tf2, n = 20": "equality, n = 20", "index lookup tf1, n = 1024, s = 16": "index lookup, n = 1,024"}, 50), "≥ 50×"),
    Row("10^6 sampled index-lookup inputs at n = 1,024", "growth", lambda s: under(s.num("verify wall (s)", "Sampled", n="1024", devices="1"), 60), "< 60 s"),
    Row("peak memory, exhaustive equality n = 16 → 22 (64× the inputs)", "growth", lambda s: memory_row(s, "16", "22", 0.2), "flat within 20%"),
    Row("certify index lookup at n = 65,536, alphabet 64 (every input)", "certify_index_lookup", lambda s: certify_lookup_row(s, "65,536", 60), "< 1 min with the build"),
    Row("build + certify index lookup, Reed–Solomon code, n = 2^16 / 2^18 / 2^20, alphabet 64 (every input; O(r) per cell)", "certify_index_lookup_scaling", lambda s: certify_scaling_row(s, 60), "< 60 s at 2^20"),
    Row("certify equality / disjointness at n = 4,096 (every input), float64", "certify_pairs", lambda s: certify_pairs_row(s, "float64", 60), "< 1 min each"),
    Row("whole `verify` process, exhaustive index lookup n = 8 (warm / cold compilation cache)", "startup", lambda s: startup_lookup_row(s, LOOKUP8, 2), "< 2 s warm"),
    Row("whole `verify` process, exhaustive equality n = 20, vs per-example numpy on the same inputs", "startup", lambda s: startup_ratio_row(s, EQ20, 50), "≥ 50× warm"),
    Row("the test suite from a clean clone, 2 cores, `-n 2`: README's command (the fast group); `.ci/run` also runs the slow group", "suite", lambda s: suite_row(s, 4), "≤ 4 min"),
    Row("tracr's compiled index lookup vs ours, n = 256", "tracr", lambda s: tracr_row(s, "256"), "ours narrower, fewer params, faster"),
    Row("the one-command accelerator benchmark `python -m benchmarks.device`, whole run", "device-*", lambda s: device_row(s, 300), "≤ 5 min on one GPU"),
]
# fmt: on


def block(results_text: str) -> str:
    """The README block from the text of RESULTS.md."""
    found = sections(results_text)
    lines = [
        "Generated by `python -m benchmarks.speed_table --readme README.md` from benchmarks/RESULTS.md "
        "(each section there names its script, the machine and its load; *load* is the 1-minute load "
        "average when the section was measured, on a machine shared with other jobs):",
        "",
        "| what | measured | target | met | from (load) |",
        "|---|---|---|---|---|",
    ]
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    for row in ROWS:
        name = row.section
        if name.endswith("*"):
            matches = [k for k in found if k.startswith(name[:-1])]
            name = next((k for k in matches if "cpu" not in k), matches[0] if matches else name)
        if name not in found:
            raise MissingResult(f"benchmarks/RESULTS.md has no section {row.section!r} (row {row.what!r})")
        s = found[name]
        text, met = row.measure(s)
        lines.append(f"| {row.what} | {text} | {row.target} | {verdict[met]} | `{s.script}` ({s.load}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=RESULTS, help="the results file (default benchmarks/RESULTS.md)")
    ap.add_argument("--readme", metavar="PATH", help=f"write the block between <!-- {NAME}:start/end --> of PATH")
    a = ap.parse_args(argv)
    try:
        with open(a.results, encoding="utf-8") as fh:
            body = block(fh.read())
    except (OSError, MissingResult) as e:
        print(f"speed_table: {e}", file=sys.stderr)
        return 2
    if a.readme:
        with open(a.readme, encoding="utf-8") as fh:
            if f"<!-- {NAME}:start -->" not in fh.read():
                print(
                    f"speed_table: {a.readme} has no <!-- {NAME}:start --> ... <!-- {NAME}:end --> block",
                    file=sys.stderr,
                )
                return 2
        write_section(NAME, body, a.readme)
    else:
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
