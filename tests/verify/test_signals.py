"""Ctrl-C at any moment: exit 130, one line on stderr, no traceback; never 0 (issue 19).

The delays are counted from the moment the entry point has installed its SIGINT handler (the child
writes one byte to a pipe then): before that, no project code has run and the process is the
Python interpreter starting. From there on the delays cover the JAX import (the first second or
two), building the model and the check itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

ARGS = [
    "--task",
    "index_lookup",
    "--arch",
    "tf1",
    "--n",
    "64",
    "--alphabet-size",
    "2",
    "--samples",
    "20000000",
]  # minutes of work: every delay lands mid-run
CHILD = (
    "import os, sys\n"
    "from verify import _console, _entry\n"
    "_entry.install_sigint()\n"
    "os.write(int(sys.argv[1]), b'r')\n"
    "_console.entry(sys.argv[2:])\n"
)


def interrupted_run(delay: float) -> tuple[int, str]:
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(w), *ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(w,),
    )
    os.close(w)
    try:
        assert os.read(r, 1) == b"r"  # the handler is installed
    finally:
        os.close(r)
    time.sleep(delay)
    assert proc.poll() is None, "the run ended before the signal: nothing was tested"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3, 1.0, 3.0])
def test_ctrl_c_exits_130_with_one_line(delay):
    code, err = interrupted_run(delay)
    assert code == 130, (code, err)
    assert err == "verify: interrupted\n", err


def test_the_console_entry_imports_no_jax_before_its_handler():
    """``python -m verify`` reaches the handler before any heavy import: importing the package and
    its entry module loads neither JAX nor numpy."""
    code = "import sys, verify, verify._entry, verify._console; print(sorted(m for m in ('jax', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_ctrl_c_during_a_write_leaves_the_old_file_and_no_temporary(tmp_path):
    """The handler ends the process at once (os._exit), so ``fileio.atomic_write`` cannot unwind: the
    handler removes the temporaries of writes in progress (``fileio.remove_temporaries``). This covers
    every writer (models, README blocks, plots), not only ``--save``."""
    target = tmp_path / "f.txt"
    target.write_text("old")
    script = (
        "import time, fileio\n"
        "from verify import _entry\n"
        "_entry.install_sigint()\n"
        "def slow(fh):\n"
        "    fh.write('partial'); fh.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"fileio.atomic_write({str(target)!r}, slow, text=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert len(os.listdir(tmp_path)) == 2  # the temporary file exists while writing
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == "verify: interrupted\n"
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]
