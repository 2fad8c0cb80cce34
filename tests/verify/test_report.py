"""``verify report``: the README block is generated from the arrays and real checks."""

import constructions
from verify import _report, check
from verify._cli import main


def test_size_rows_read_the_arrays():
    rows = _report.size_rows(sizes=(16,))
    built = {(r["task"], r["arch"]) for r in rows if "error" not in r}
    assert ("index_lookup", "tf1") in built and ("dyck", "rnn") in built
    assert ("threshold", "tf2") not in built  # left out on purpose (REPORT_MAX_N)
    for r in rows:
        if r["task"] == "index_lookup" and r["arch"] == "tf1":
            m = constructions.build(
                "index_lookup", arch="tf1", seed=0, **_report._params_at(_report._template("index_lookup", "tf1"), 16)
            )
            assert r["width"] == m.size()["width"] and r["params"] == m.size()["params"]
            assert r["lower_bounds"]["rnn"]["min_width"] >= 1


def test_readme_block_replaced_and_rest_kept(tmp_path, monkeypatch, capsys):
    model = constructions.build("index_lookup", arch="tf1", n=4, alphabet_size=2, seed=0)
    rows = [check(model, mode="exhaustive")]
    monkeypatch.setattr(_report, "check_rows", lambda: rows)
    readme = tmp_path / "R.md"
    readme.write_text("# title\n\n<!-- results:start -->\nold\n<!-- results:end -->\n\ntail\n", encoding="utf-8")
    code = main(["report", "--readme", str(readme), "--sizes", "16"])
    assert code == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# title\n") and text.endswith("tail\n") and "old" not in text
    assert "| index_lookup / tf1 | 4 |" in text and "exhaustive" in text and "| pass |" in text
    assert "lower bound (same arch)" in text


def test_report_errors_are_one_line(tmp_path, capsys):
    readme = tmp_path / "R.md"
    readme.write_text("no markers\n", encoding="utf-8")
    for argv, match in [
        (["--readme", str(readme)], "no <!-- results:start -->"),
        (["--sizes", "0"], "positive"),
        (["--readme", str(tmp_path / "missing.md")], "No such file"),
    ]:
        code = main(["report", *argv])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and match in err, (argv, err)
    assert readme.read_text(encoding="utf-8") == "no markers\n"
