"""The ``verify`` command's persistent compilation cache (verify/_cache.py): on by default in the
folder the environment names, off on request, harmless when the folder cannot be written, and the
report is the same with and without it."""

import json
import os
import subprocess
import sys

from verify._cache import cache_dir

ARGS = ["--task", "index_lookup", "--arch", "tf1", "--n", "8", "--alphabet-size", "2", "--exhaustive", "--json"]


def _verify(env, *extra):
    code = "import sys; from verify._console import entry; sys.argv = ['verify'] + sys.argv[1:]; entry()"
    return subprocess.run([sys.executable, "-c", code, *ARGS, *extra], env=env, capture_output=True, text=True)


def _report(done):
    rows = json.loads(done.stdout)
    for row in rows:
        row.pop("seconds")  # the one field the cache may change
    return rows


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPARATIONS_")}
    env.update(kw)
    return env


def test_cache_dir_follows_the_environment(tmp_path):
    assert cache_dir({"SEPARATIONS_CACHE_DIR": str(tmp_path)}) == str(tmp_path)
    assert cache_dir({"XDG_CACHE_HOME": "/x"}) == os.path.join("/x", "separations", "jax")
    assert cache_dir({"SEPARATIONS_NO_CACHE": "1", "SEPARATIONS_CACHE_DIR": "/x"}) is None
    assert cache_dir({"SEPARATIONS_NO_CACHE": "0", "SEPARATIONS_CACHE_DIR": "/x"}) == "/x"


def test_cache_filled_then_reused_and_report_unchanged(tmp_path):
    folder = tmp_path / "cache"
    first = _verify(_env(SEPARATIONS_CACHE_DIR=str(folder)))
    assert first.returncode == 0, first.stderr
    entries = sorted(os.listdir(folder))
    assert entries  # the compiled programs were written
    second = _verify(_env(SEPARATIONS_CACHE_DIR=str(folder)))
    assert second.returncode == 0 and _report(second) == _report(first)
    off = _verify(_env(SEPARATIONS_CACHE_DIR=str(tmp_path / "unused")), "--no-cache")
    assert off.returncode == 0 and _report(off) == _report(first)
    assert not (tmp_path / "unused").exists()
    env_off = _verify(_env(SEPARATIONS_CACHE_DIR=str(tmp_path / "unused2"), SEPARATIONS_NO_CACHE="1"))
    assert env_off.returncode == 0 and not (tmp_path / "unused2").exists()


def test_unwritable_folder_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = _verify(_env(SEPARATIONS_CACHE_DIR=str(blocker / "cache")))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    assert blocker.read_text() == "not a folder"
