"""Every citation of a document points into this repository, at a section that exists.

The project must stand alone: code, docs, notebooks and tests cite its own documents as
a path under ``docs/`` ending in ``.md``, followed by a section sign and a section number (``6.1``), or, for the few pages
without numbered sections, a heading's first word (``Precision`` for "Precision formats" in
docs/MODEL.md). Several sections may follow one file, separated by commas, dashes or "and".

Checked over every .py, .md and .ipynb file of the repository (notebooks: the source and text
output of every cell):

* a cited document exists;
* each cited section number is the number of one of its headings (``## 3.`` or ``### 3.2``), or
  each cited name starts one of its headings;
* no mention of the notes or design files that lived outside the repository: the notes' name, a
  path into the old shared folder, or a document name with a section sign that does not start with ``docs/``
  (e.g. "DESIGN" plus a section sign).

The patterns below spell the section sign as an escape and split the forbidden words, so this file
passes its own check.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tasks", "constructions", "bounds", "verify", "experiments", "benchmarks", "tests", "notebooks", "docs")
TOP_LEVEL = ("README.md",)
SUFFIXES = (".py", ".md", ".ipynb")
SKIP_PARTS = {".venv", ".git", "__pycache__", ".ipynb_checkpoints", "node_modules"}

S = "\u00a7"  # the section sign
REF = rf"{S}\s?(\d+(?:\.\d+)*|[A-Z][A-Za-z-]*)"
SEP = r"\s*(?:,|;|–|—|-|\band\b|\bor\b)\s*"
CITATION = re.compile(rf"(docs/[A-Za-z0-9_./-]+?\.md)`?\s*({REF}(?:{SEP}{REF})*)")
ONE_REF = re.compile(REF)
DOC_PATH = re.compile(r"docs/[A-Za-z0-9_./-]+?\.md")
DOC_NAMES = "DESIGN|PAPER|MODEL|BOUNDS|PRECISION|EXPERIMENTS|ARCHITECTURE"
BARE = re.compile(rf"(?<!docs/)(?<![A-Za-z0-9_/])({DOC_NAMES})(?:\.md)?`?\s*{S}")
FORBIDDEN = [
    (re.compile("paper" + "-notes", re.IGNORECASE), "mentions the paper" + "-notes file (outside the repository)"),
    (re.compile(r"(?<![A-Za-z0-9_])" + "shared" + "/"), "names a shared" + "/ path (outside the repository)"),
]
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?(?=\s|$)")


def files() -> list[Path]:
    out = [ROOT / name for name in TOP_LEVEL if (ROOT / name).exists()]
    for top in SCANNED:
        base = ROOT / top
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and not SKIP_PARTS & set(path.relative_to(ROOT).parts):
                out.append(path)
    return out


def text_of(path: Path) -> str:
    """The text a reader sees: the file itself, or a notebook's cell sources and text outputs."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return raw
    parts = []
    for cell in json.loads(raw).get("cells", []):
        parts.append("".join(cell.get("source", [])))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", [])))
            for kind, value in output.get("data", {}).items():
                if kind.startswith("text/"):
                    parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


@functools.cache
def headings(doc: str) -> tuple[frozenset, tuple]:
    """``(section numbers, heading titles)`` of a markdown file of the repository (outside code fences)."""
    numbers, titles = set(), []
    fenced = False
    for line in (ROOT / doc).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if not m:
            continue
        title = m.group(2)
        num = NUMBER.match(title)
        if num:
            numbers.add(num.group(1))
            title = title[num.end() :].strip()
        titles.append(title.strip("`*_ "))
    return frozenset(numbers), tuple(titles)


def problems(text: str, where: str) -> list[str]:
    """Every bad citation or forbidden mention in ``text`` (``where`` names it in the messages)."""
    out = []
    for pattern, why in FORBIDDEN:
        for m in pattern.finditer(text):
            out.append(f"{where}:{_line(text, m.start())}: {why}")
    for m in BARE.finditer(text):
        out.append(
            f"{where}:{_line(text, m.start())}: {m.group(1)} cited with a section sign but not as docs/{m.group(1)}.md"
        )
    for m in DOC_PATH.finditer(text):
        if not (ROOT / m.group(0)).is_file():
            out.append(f"{where}:{_line(text, m.start())}: {m.group(0)} does not exist")
    for m in CITATION.finditer(text):
        doc = m.group(1)
        if not (ROOT / doc).is_file():
            continue  # reported above
        numbers, titles = headings(doc)
        for ref in ONE_REF.finditer(m.group(2)):
            key = ref.group(1)
            ok = key in numbers if key[0].isdigit() else any(t.startswith(key) for t in titles)
            if not ok:
                out.append(f"{where}:{_line(text, m.start())}: {doc} has no section {S}{key}")
    return out


def citations(text: str) -> list[tuple[str, str]]:
    """``(document, section)`` for every citation in ``text``."""
    return [(m.group(1), ref.group(1)) for m in CITATION.finditer(text) for ref in ONE_REF.finditer(m.group(2))]


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def test_every_citation_resolves():
    found = []
    for path in files():
        rel = path.relative_to(ROOT).as_posix()
        found += problems(text_of(path), rel)
    assert not found, "bad citations:\n" + "\n".join(found)


def test_code_cites_the_paper_and_design_pages():
    """The scan sees the citations the code makes (so an empty scan cannot pass vacuously)."""
    cited = {doc for path in files() if path.suffix == ".py" for doc, _ in citations(text_of(path))}
    assert {"docs/PAPER.md", "docs/DESIGN.md"} <= cited


def test_numbered_sections_are_unique():
    """A section number names one heading, so a citation is never ambiguous."""
    for doc in sorted((ROOT / "docs").rglob("*.md")):
        seen = []
        fenced = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            m = None if fenced else HEADING.match(line)
            num = m and NUMBER.match(m.group(2))
            if num:
                seen.append(num.group(1))
        dupes = sorted({s for s in seen if seen.count(s) > 1})
        assert not dupes, f"{doc.relative_to(ROOT)}: section numbers used twice: {dupes}"


def test_the_checker_catches_bad_citations():
    paper, design = "docs/PAPER.md", "docs/DESIGN.md"
    numbers, titles = headings(paper)
    good_section = sorted(numbers, key=lambda s: [int(p) for p in s.split(".")])[-1]
    missing = good_section + ".99"
    assert missing not in numbers
    good = f"see {paper} {S}{good_section} and `{design}` {S}1"
    assert problems(good, "good") == []
    assert citations(good) == [(paper, good_section), (design, "1")]
    bad = {
        "a missing section": f"see {paper} {S}{missing}",
        "a missing section after a good one": f"see {paper} {S}{good_section}, {S}{missing}",
        "a missing section in a range": f"see {paper} {S}{good_section}–{S}{missing}",
        "a missing named section": f"see docs/MODEL.md {S}Nonexistent",
        "a missing document": "see docs/" + f"NO_SUCH_PAGE.md {S}1",
        "the outside notes": "see " + "paper" + "-notes " + f"{S}1.5",
        "an outside path": "see /work/" + "shared" + "/DESIGN.md",
        "a bare document name": "see DES" + f"IGN {S}3",
        "a bare file name": "see PAP" + f"ER.md {S}3",
    }
    for what, text in bad.items():
        assert problems(text, what), f"not caught: {what}: {text!r}"
