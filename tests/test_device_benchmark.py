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
    assert "| 256 |" in text.split("Certified mode")[1]  # the certification row ran at the dry size


def test_refuses_to_overwrite_another_devices_numbers(tmp_path):
    platform, kind = device.device_name()
    name = device.section_name(platform, kind)
    out = tmp_path / "RESULTS.md"
    before = f"<!-- {name}:start -->\n## Device benchmark: gpu (NVIDIA H200) (`x`)\n<!-- {name}:end -->\n"
    out.write_text(before)
    with pytest.raises(SystemExit, match="refusing to overwrite"):
        device.main(["--dry-run", "--no-train", "--out", str(out)])
    assert out.read_text() == before


def test_section_names_separate_devices():
    assert device.section_name("cpu", "cpu") != device.section_name("gpu", "NVIDIA H200")
    assert device.section_name("gpu", "NVIDIA H200") == "device-gpu-nvidia-h200"


def test_training_step_time_of_one_model():
    pytest.importorskip("flax")
    rows = device.training(20, 1, models=["tf"])
    assert [r["model"] for r in rows] == ["tf"] and rows[0]["ms_per_step"] > 0
