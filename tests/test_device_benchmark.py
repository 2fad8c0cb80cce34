"""The accelerator benchmark (benchmarks/device.py) as a dry run on this machine's CPU: it measures,
asserts every timed check passed, writes its own section, and refuses a section of another device."""

import pytest

from benchmarks import device


def test_dry_run_writes_its_own_section(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n<!-- throughput:start -->\nCPU numbers\n<!-- throughput:end -->\n")
    assert device.main(["--dry-run", "--no-train", "--out", str(out)]) == 0
    text = out.read_text()
    platform, kind = device.device_name()
    name = device.section_name(platform, kind)
    assert f"<!-- {name}:start -->" in text and f"<!-- {name}:end -->" in text
    assert "CPU numbers" in text  # the other section is left as it was
    assert "exhaustive equality tf2, n = 8 | 256 |" in text  # 2^8 inputs, counted by the check itself
    cert = text.split("Certified mode")[1]
    assert "| rs(q=7,k=3)+hadamard | 256 |" in cert  # the certification row ran, in a child, at the dry size
    assert "| 16,384 / 16,384 |" in cert  # n · s cells, every one proved
    assert "Not run" not in text


def test_budget_starts_nothing_once_spent(tmp_path, capsys):
    out = tmp_path / "RESULTS.md"
    assert device.main(["--dry-run", "--no-train", "--budget", "1e-9", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| exhaustive equality" not in text and "| rs(" not in text
    assert "Not run (the 1e-09 s budget was spent before they started): exhaustive equality tf2, n = 8; " in text
    assert "certify rs n = 256." in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cert", "rs:1"], "expected CODE:N"),
        (["--cert", "gold:64"], "expected CODE:N"),
        (["--cert", "rs"], "expected CODE:N"),
        (["--budget", "0"], "--budget: expected a positive number"),
        (["--budget", "nan"], "--budget: expected a positive number"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, message, capsys, tmp_path):
    out = tmp_path / "RESULTS.md"
    with pytest.raises(SystemExit) as exc:
        device.main(["--dry-run", "--out", str(out), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_refuses_to_overwrite_another_devices_numbers(tmp_path, capsys):
    platform, kind = device.device_name()
    name = device.section_name(platform, kind)
    out = tmp_path / "RESULTS.md"
    before = f"<!-- {name}:start -->\n## Device benchmark: gpu (NVIDIA H200) (`x`)\n<!-- {name}:end -->\n"
    out.write_text(before)
    assert device.main(["--dry-run", "--no-train", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("device: refusing to overwrite") and err.count("\n") == 1
    assert out.read_text() == before


def test_section_names_separate_devices():
    assert device.section_name("cpu", "cpu") != device.section_name("gpu", "NVIDIA H200")
    assert device.section_name("gpu", "NVIDIA H200") == "device-gpu-nvidia-h200"


def test_training_step_time_of_one_model():
    pytest.importorskip("flax")
    rows = device.training(20, 1, models=["tf"])
    assert [r["model"] for r in rows] == ["tf"] and rows[0]["ms_per_step"] > 0
