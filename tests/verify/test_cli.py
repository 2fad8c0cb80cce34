"""The ``verify`` command: contract fields, exit codes, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

import constructions
from verify import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_exhaustive_json_contract(capsys):
    code, out, err = run(
        capsys, "--task", "index_lookup", "--arch", "tf1", "--n", "8", "--alphabet-size", "2", "--exhaustive", "--json"
    )
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 1
    row = rows[0]
    for key in (
        "task",
        "arch",
        "n",
        "params",
        "width",
        "heads",
        "layers",
        "precision",
        "mode",
        "inputs_checked",
        "failures",
        "counterexample",
        "min_margin",
        "lower_bounds",
        "status",
    ):
        assert key in row
    assert row["inputs_checked"] == 2**8 * 8 and row["mode"] == "exhaustive" and row["status"] == "pass"
    assert row["lower_bounds"]["rnn"]["min_width"] == 1  # ceil(8 / 64) at float64
    assert "theorem" in row["lower_bounds"]["rnn"]


def test_sampled_seed_reported(capsys):
    code, out, _ = run(
        capsys,
        "--task",
        "index_lookup",
        "--arch",
        "tf1",
        "--n",
        "50",
        "--alphabet-size",
        "5",
        "--samples",
        "300",
        "--seed",
        "11",
        "--json",
    )
    row = json.loads(out)[0]
    assert code == 0 and row["seed"] == 11 and row["inputs_checked"] == 300 and row["mode"] == "sampled"


def test_save_then_load_and_tampered_file_fails(capsys, tmp_path):
    path = tmp_path / "m.npz"
    code, _, _ = run(
        capsys,
        "--task",
        "index_lookup",
        "--arch",
        "tf1",
        "--n",
        "6",
        "--alphabet-size",
        "2",
        "--exhaustive",
        "--save",
        str(path),
    )
    assert code == 0
    code, out, _ = run(capsys, "--load", str(path), "--exhaustive", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "pass"
    m = constructions.load(path)
    P = m.arrays()["embed/position"].copy()
    P[[1, 4]] = P[[4, 1]]  # swap two addresses
    m.with_arrays(**{"embed/position": P}).save(tmp_path / "bad.npz")
    code, out, _ = run(capsys, "--load", str(tmp_path / "bad.npz"), "--exhaustive", "--json")
    row = json.loads(out)[0]
    assert code == 1 and row["status"] == "fail" and row["counterexample"] is not None
    code, out, _ = run(capsys, "--load", str(tmp_path / "bad.npz"), "--exhaustive")
    assert code == 1 and "FAIL" in out and "expected" in out


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--task", "nope", "--arch", "tf1", "--n", "4"], "unknown task"),
        (["--task", "index_lookup", "--arch", "tf1", "--n", "0", "--alphabet-size", "2"], "n"),
        (["--task", "index_lookup", "--arch", "tf1", "--n", "4", "--alphabet-size", "1"], "alphabet_size"),
        (["--task", "index_lookup", "--arch", "tf1", "--n", "four"], "invalid int"),
        (["--task", "index_lookup", "--arch", "tf9", "--n", "4", "--alphabet-size", "2"], "no construction"),
        (
            ["--task", "index_lookup", "--arch", "tf1", "--n", "4", "--alphabet-size", "2", "--precision", "fp8"],
            "unknown precision",
        ),
        (
            ["--task", "index_lookup", "--arch", "tf1", "--n", "30", "--alphabet-size", "2", "--exhaustive"],
            "exhaustive",
        ),
        (["--task", "index_lookup"], "both --task and --arch"),
        (["--samples", "3"], "the default run uses each check's own mode"),
        (["report", "--sizes", "16", "--n", "8"], "give the n values once"),
        (["--exhaustive"], "the default run uses each check's own mode"),
        (["--task", "equality", "--arch", "tf2", "--n", "4", "--max-time", "-5"], "--max-time must be at least 0"),
        (["--task", "equality", "--arch", "tf2", "--n", "4", "--param", "seed=1"], "give it once (--model-seed)"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("verify: error:")
    assert match in err


def test_not_a_model_file(capsys, tmp_path):
    for content, name in [(b"hello", "x.npz"), (b"", "empty.npz")]:
        p = tmp_path / name
        p.write_bytes(content)
        code, _, err = run(capsys, "--load", str(p))
        assert code == 2 and "not a saved model" in err and err.count("\n") == 1
    np.save(tmp_path / "arr.npy", np.zeros(3))
    code, _, err = run(capsys, "--load", str(tmp_path / "arr.npy"))
    assert code == 2 and "not a saved model" in err
    np.savez(tmp_path / "nometa.npz", a=np.zeros(2))
    code, _, err = run(capsys, "--load", str(tmp_path / "nometa.npz"))
    assert code == 2 and "meta" in err
    code, _, err = run(capsys, "--load", str(tmp_path / "missing.npz"))
    assert code == 2 and "no such file" in err


def test_console_script_runs_as_module():
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "verify",
            "--task",
            "index_lookup",
            "--arch",
            "tf1",
            "--n",
            "3",
            "--alphabet-size",
            "2",
            "--exhaustive",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "pass" in res.stdout


def test_a_closed_pipe_ends_quietly_with_141():
    """`verify ... --json | head -c 10`: the reader goes away mid-output; no traceback, and not exit 1
    (which would say a check failed). The report (~89 KB) is larger than a pipe holds (64 KiB on
    Linux), so the writer is still writing when the reader closes: the broken pipe is certain."""
    import subprocess
    import sys

    args = ["bounds", "--task", "dyck", "--json", "--n", *(str(n) for n in range(2, 162, 2))]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from verify._console import entry; entry()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.read(1) == b"{"  # the JSON report has started
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


def test_certify_help_names_every_certifiable_task():
    """The --certify help lists the tasks by hand (reading the registry would import every plan at
    start-up); this keeps the list equal to the registry."""
    from verify._cli import _parser
    from verify.certify import CERTIFIABLE

    action = next(a for a in _parser()._actions if "--certify" in a.option_strings)
    listed = action.help.split("(", 1)[1].split(";", 1)[0].replace("Dyck", "dyck")
    named = {t.strip().replace(" ", "_") for t in listed.split(",")}
    assert named == set(CERTIFIABLE)


def test_load_refuses_a_model_seed(capsys, tmp_path):
    """A loaded model brings its own construction seed: --model-seed with --load is refused, not ignored."""
    path = tmp_path / "m.npz"
    constructions.build("equality", arch="tf2", n=4).save(path)
    code, _, err = run(capsys, "--load", str(path), "--model-seed", "5")
    assert code == 2 and err.count("\n") == 1 and "--model-seed" in err
    assert run(capsys, "--load", str(path), "--samples", "4")[0] == 0
