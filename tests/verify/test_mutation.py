"""A small mutation campaign (benchmarks/mutation.py): mutants of the three certified constructions
and an RNN, the truth decided by the independent numpy forward over every input. No certificate
may pass a wrong mutant, and exhaustive must agree with the truth (``campaign`` asserts both)."""

import pytest

from benchmarks import mutation

SEED = 0

# the campaign builds and checks ~40 mutants (≈ 40 s on 2 cores): an end-to-end run, in the slow group;
# the per-certificate mutation loops (test_certify_rnn_bits.py, test_certify_rnn_select.py, ...) stay fast
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def records():
    chosen = [
        s
        for s in mutation.subjects(SEED)
        if (s[0], s[1]) in {("index_lookup", "tf1"), ("equality", "tf2"), ("disjointness", "tf2"), ("dyck", "rnn")}
    ]
    return mutation.campaign(chosen, seed=SEED, per_kind=1, boundaries=2, samples=64)


def test_certificates_sound_and_exhaustive_agrees(records):
    decided = [r for r in records if not r["ambiguous"]]
    assert not any(r["wrong"] and r.get("certified") == "pass" for r in decided)
    assert all((r["exhaustive"] == "fail") == r["wrong"] for r in decided)


def test_campaign_has_both_kinds_of_mutant(records):
    # the assertions above bite only if some mutants change behaviour and some do not; the boundary
    # bisection gives one of each per subject that has one, and certificates are asked of both
    t = mutation.tally(records)
    assert t["wrong"] >= 3 and t["correct"] >= 3, t
    assert t["certified"]["wrong"] >= 2 and t["certified"]["correct"] >= 2, t
    kinds = {r["kind"] for r in records}
    assert {"boundary-in", "boundary-out", "sign", "swap-rows", "zero-row", "token 1", "position 1"} <= kinds
    assert t["exhaustive"]["caught"] == t["exhaustive"]["wrong"]


def test_report_counts(records):
    text = mutation.report(records, seed=SEED, per_kind=1, boundaries=2, samples=64, seconds=0.0, where="test")
    t = mutation.tally(records)
    assert f"Totals: {t['mutants']} mutants, {t['wrong']} behaviour-changing" in text
    assert f"Seed {SEED}" in text


def test_readme_block_is_the_subject_table_and_sections_replace_only_themselves(records, tmp_path):
    from benchmarks._common import write_section

    text = mutation.report(records, seed=SEED, per_kind=1, boundaries=2, samples=64, seconds=0.0, where="test")
    block = mutation.readme_block(text)
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    subjects = {f"{r['task']}/{r['arch']} n={r['n']}" for r in records}
    assert rows[0].startswith("| subject") and len(rows) == 2 + len(subjects) + 1  # header, rule, subjects, all
    assert "| kind" not in block and "Totals:" in block and "Command:" in block
    page = tmp_path / "README.md"
    page.write_text("before\n<!-- mutation:start -->\nold\n<!-- mutation:end -->\nafter\n")
    page.chmod(0o640)
    write_section("mutation", block, str(page))
    out = page.read_text()
    assert out.startswith("before\n<!-- mutation:start -->\n") and out.endswith("<!-- mutation:end -->\nafter\n")
    assert "old" not in out and block.strip() in out
    assert page.stat().st_mode & 0o777 == 0o640  # the target's permissions kept
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary file left
