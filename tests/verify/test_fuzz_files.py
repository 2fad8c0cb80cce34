"""The file fuzzer: hostile and mutated model files against the strict loader and ``verify --load``.

Every case either loads as a consistent model (the arrays agree with the schema, and it saves and
loads back the same) or is refused with ``constructions.ModelFormatError``, never another
exception; through the command line, a refused file is exit 2 with exactly one line on stderr and
no traceback; no case changes the file it reads, and each finishes in bounded time. The mutations
(Hypothesis): flipped bytes, dropped / renamed / added entries, changed dtypes and shapes
(0-d, 1-d, an extra axis, a row less), non-finite values, meta fields given wrong types and values,
deeply nested JSON, huge declared sizes, encrypted / deflate64 / bzip2 / lzma flags in the zip
headers, truncated files. ``FUZZ_FILE_EXAMPLES=5000`` runs a large count (outside the suite).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constructions
import fileio
from constructions import ModelFormatError
from verify import main as verify_main

import testkit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASES = {
    "tf1": ("index_lookup", "tf1", {"n": 4, "alphabet_size": 2}),
    "tf2": ("equality", "tf2", {"n": 4}),
    "features": ("nearest_neighbor", "tf2", {"n": 2, "dim": 2, "margin": 0.5}),
    "rnn": ("dyck", "rnn", {"n": 4}),
}
SECONDS_PER_CASE = 60.0  # a hang detector, generous for a loaded machine: a loadable case also compiles
EXAMPLES = int(os.environ.get("FUZZ_FILE_EXAMPLES", "0")) or testkit.examples(40)


def _base(key: str) -> tuple[dict[str, np.ndarray], dict]:
    task, arch, params = BASES[key]
    m = testkit.built(task, arch, **params)
    return m.arrays(), dict(m.meta)


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def npy_with_header(descr: str, shape, body: bytes) -> bytes:
    """A .npy file with any header (for dtypes numpy would not write without pickling)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def zip_bytes(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def entries_of(arrays: dict, meta) -> dict[str, bytes]:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    out = {"meta.npy": npy(np.array([text]))}
    out.update({k + ".npy": npy(v) for k, v in arrays.items()})
    return out


def patch_headers(data: bytes, *, flags=None, method=None, size=None, which=0) -> bytes:
    """Change the general-purpose flags, compression method or declared uncompressed size of the
    ``which``-th entry, in its local header and its central-directory record."""
    b = bytearray(data)
    local = [i for i in _find_all(b, b"PK\x03\x04")]
    central = [i for i in _find_all(b, b"PK\x01\x02")]
    if not local or not central:
        return bytes(b)
    i, j = local[which % len(local)], central[which % len(central)]
    if flags is not None:
        struct.pack_into("<H", b, i + 6, flags)
        struct.pack_into("<H", b, j + 8, flags)
    if method is not None:
        struct.pack_into("<H", b, i + 8, method)
        struct.pack_into("<H", b, j + 10, method)
    if size is not None:
        struct.pack_into("<L", b, i + 22, size)
        struct.pack_into("<L", b, j + 24, size)
    return bytes(b)


def _find_all(b, sig):
    at = b.find(sig)
    while at >= 0:
        yield at
        at = b.find(sig, at + 1)


def nested(depth: int, kind: str = "[") -> str:
    """JSON nested ``depth`` levels deep: arrays (``[``) or objects (``{``)."""
    return "[" * depth + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth


# --- the outcome of one file ----------------------------------------------------------------------


def check_loader(path: str) -> str:
    """Load ``path``: a consistent model or a ModelFormatError; the file unchanged; bounded time."""
    before = hashlib.sha256(open(path, "rb").read()).digest()
    start = time.monotonic()
    try:
        m = constructions.load(path)
    except ModelFormatError as e:
        outcome = "refused"
        assert str(e) and "\n" not in str(e)
    else:
        outcome = "loaded"
        arrays = m.arrays()
        assert all(np.all(np.isfinite(a)) for a in arrays.values())
        again = path + ".again.npz"
        m.save(again)
        back = constructions.load(again)
        assert back.metadata == m.metadata and back.arrays().keys() == arrays.keys()
        assert all(np.array_equal(back.arrays()[k], a) for k, a in arrays.items())
        os.unlink(again)
    assert time.monotonic() - start < SECONDS_PER_CASE
    assert hashlib.sha256(open(path, "rb").read()).digest() == before
    return outcome


def check_cli(path: str, capsys) -> tuple[int, str]:
    """``verify --load path --samples 4``: exit 0/1 for a model that loads and runs, else exit 2
    with one stderr line and no traceback; the file unchanged."""
    before = hashlib.sha256(open(path, "rb").read()).digest()
    capsys.readouterr()
    code = verify_main(["--load", path, "--samples", "4", "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        assert err.count("\n") == 1 and err.strip(), err
    else:
        assert code in (0, 1), (code, err)
        json.loads(out)
    assert hashlib.sha256(open(path, "rb").read()).digest() == before
    return code, err


# --- Hypothesis mutations -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
META_KEYS = [
    "format", "arch", "task", "task_params", "causal", "readout", "embed", "input_encoding", "seq_len",
    "vocab_size", "d_in", "precision_bits", "build", "construction", "other", "layer_norm_eps", "activation",
]  # fmt: skip
ENTRY_NAMES = [
    "meta", "embed/token", "embed/input", "embed/position", "layer0/attn/wq", "layer0/mlp/w1", "layer1/attn/wv",
    "layer2/mlp/b2", "readout/w", "readout/b", "rnn/win", "rnn/wh", "rnn/b", "rnn/h0", "junk", "layer01/attn/wq",
    "layer0/ln_attn/g", "layer0/attn/bq", "ln_final/b",  # version 2's entries (docs/MODEL.md)
]  # fmt: skip


@st.composite
def mutated_file(draw) -> bytes:
    arrays, meta = _base(draw(st.sampled_from(sorted(BASES))))
    arrays = dict(arrays)
    names = sorted(arrays)
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "drop",
                "rename",
                "add",
                "dtype",
                "shape",
                "values",
                "meta",
                "nested",
                "size",
                "zipflags",
                "truncate",
                "none",
            ]
        )  # fmt: skip
    )
    raw_meta: str | dict = meta
    if kind == "drop":
        victim = draw(st.sampled_from(names + ["meta"]))
        if victim == "meta":
            return zip_bytes({k + ".npy": npy(v) for k, v in arrays.items()})
        del arrays[victim]
    elif kind == "rename":
        victim = draw(st.sampled_from(names))
        arrays[draw(st.sampled_from(ENTRY_NAMES[1:]))] = arrays.pop(victim)
    elif kind == "add":
        shape = draw(st.lists(st.integers(0, 4), max_size=3))
        arrays[draw(st.sampled_from(ENTRY_NAMES[1:]))] = np.zeros(shape)
    elif kind == "dtype":
        victim = draw(st.sampled_from(names))
        dtype = draw(st.sampled_from(["complex128", "float32", "float16", "int64", "bool", "U3", "uint8", "O"]))
        if dtype == "O":
            entries = entries_of(arrays, meta)
            entries[victim + ".npy"] = npy_with_header("|O", arrays[victim].shape, b"\0" * 8 * arrays[victim].size)
            return zip_bytes(entries)
        arrays[victim] = arrays[victim].astype(dtype)
    elif kind == "shape":
        victim = draw(st.sampled_from(names))
        a = arrays[victim]
        how = draw(st.sampled_from(["0d", "1d", "extra_axis", "row_less", "transpose", "empty", "row_more"]))
        arrays[victim] = {
            "0d": lambda: np.float64(a.ravel()[0] if a.size else 0.0),
            "1d": lambda: a.ravel(),
            "extra_axis": lambda: a[None],
            "row_less": lambda: a[:-1],
            "transpose": lambda: a.T,
            "empty": lambda: np.zeros((0,) + a.shape[1:]),
            "row_more": lambda: np.concatenate([a, a[:1]]) if a.ndim else a,
        }[how]()
    elif kind == "values":
        victim = draw(st.sampled_from(names))
        a = arrays[victim].copy()
        if a.size:
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -3.5]))
        arrays[victim] = a
    elif kind == "meta":
        edited = dict(meta)
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from(META_KEYS))
            if draw(st.booleans()) and key in edited:
                del edited[key]
            else:
                edited[key] = draw(json_values)
        raw_meta = edited
    elif kind == "nested":
        depth = draw(st.sampled_from([65, 1000, 200_000]))
        raw_meta = json.dumps(meta)[:-1] + ', "deep": ' + nested(depth, draw(st.sampled_from(["[", "{"]))) + "}"
    entries = entries_of(arrays, raw_meta)
    method = draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
    data = zip_bytes(entries, method)
    which = draw(st.integers(0, len(entries) - 1))
    if kind == "flip":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            b[draw(st.integers(0, len(b) - 1))] ^= draw(st.integers(1, 255))
        data = bytes(b)
    elif kind == "size":
        data = patch_headers(data, size=draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 2, 0xFFFFFFFF])), which=which)
    elif kind == "zipflags":
        choice = draw(st.sampled_from(["encrypted", "deflate64", "bzip2", "lzma", "unknown"]))
        flags = 0x1 if choice == "encrypted" else None
        method_id = {"deflate64": 9, "bzip2": 12, "lzma": 14, "unknown": 99}.get(choice)
        data = patch_headers(data, flags=flags, method=method_id, which=which)
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
COUNTS: dict[str, int] = {}


@_SETTINGS
@given(data=mutated_file())
def test_mutated_files_load_or_are_refused(data, tmp_path_factory, capsys):
    path = str(tmp_path_factory.mktemp("fuzz") / "m.npz")
    with open(path, "wb") as fh:
        fh.write(data)
    outcome = check_loader(path)
    code, err = check_cli(path, capsys)
    assert (outcome == "refused") <= (code == 2)  # a refused file is never checked
    COUNTS[outcome] = COUNTS.get(outcome, 0) + 1
    if os.environ.get("FUZZ_FILE_EXAMPLES"):
        why = err.strip().split(": ", 2)[-1][:70] if outcome == "loaded" and code == 2 else ""
        print(f"fuzz-files {outcome} exit={code} {why}", file=sys.__stderr__)


# --- hand-made cases (issue 19) -------------------------------------------------------------------


def _hand_cases():
    arrays, meta = _base("tf1")
    rnn_arrays, rnn_meta = _base("rnn")
    layer0 = {k: v for k, v in arrays.items() if k.startswith("layer0/")}
    cases = {
        "token ids without embedding rows": entries_of(arrays, {**meta, "vocab_size": 1_000_000}),
        "table missing its last row": entries_of({**arrays, "embed/token": arrays["embed/token"][:-1]}, meta),
        "position table missing its last row": entries_of(
            {**arrays, "embed/position": arrays["embed/position"][:-1]}, meta
        ),
        "layer2 without layer1": entries_of({**arrays, **{k.replace("0", "2", 1): v for k, v in layer0.items()}}, meta),
        "complex readout": entries_of({**arrays, "readout/w": arrays["readout/w"] + 1j}, meta),
        "format 999": entries_of(arrays, {**meta, "format": "separations-model/999"}),
        "causal a string": entries_of(arrays, {**meta, "causal": "false"}),
        "readout first": entries_of(arrays, {**meta, "readout": "first"}),
        "build a string": entries_of(arrays, {**meta, "build": "seed=0"}),
        "build arch of another family": entries_of(arrays, {**meta, "build": {**meta["build"], "arch": "rnn"}}),
        "nested JSON": entries_of(arrays, nested(100_000, "{")),
        "NaN in meta": entries_of(arrays, json.dumps({**meta, "precision_bits": float("nan")})),
        "0-d array": entries_of({**arrays, "readout/b": np.float64(0.0)}, meta),
        "1-d attention": entries_of({**arrays, "layer0/attn/wq": arrays["layer0/attn/wq"].ravel()}, meta),
        "RNN without a readout bias": entries_of({k: v for k, v in rnn_arrays.items() if k != "readout/b"}, rnn_meta),
        "RNN with 0 classes": entries_of(
            {**rnn_arrays, "readout/w": rnn_arrays["readout/w"][:, :0], "readout/b": np.zeros(0)}, rnn_meta
        ),
        "an unused entry": {**entries_of(arrays, meta), "unused.npy": npy(np.zeros(8))},
        "an object array": {
            **entries_of(arrays, meta),
            "readout/b.npy": npy_with_header("|O", (2,), b"\0" * 16),
        },
        "infinite weight": entries_of({**arrays, "readout/b": np.array([np.inf, 0.0])}, meta),
    }
    out = {name: zip_bytes(e) for name, e in cases.items()}
    good = zip_bytes(entries_of(arrays, meta))
    out["encrypted entry"] = patch_headers(good, flags=0x1)
    out["deflate64 entry"] = patch_headers(good, method=9)
    out["2 GiB declared size"] = patch_headers(good, size=2**31 - 1, which=3)
    # a 2 GiB entry under an allowed name, its header consistent: refused before decompression
    huge = npy_with_header("<f8", (1, 2**14, 2**14), b"")
    out["2 GiB array under an allowed name"] = patch_headers(
        zip_bytes({**entries_of(arrays, meta), "layer0/attn/wq.npy": huge}),
        size=len(huge) + 8 * 2**28,
        which=sorted(entries_of(arrays, meta)).index("layer0/attn/wq.npy"),
    )
    out["empty file"] = b""
    out["not a zip"] = b"hello"
    out["a bare .npy"] = npy(np.zeros(3))
    return out


HAND = _hand_cases()


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_made_files_are_refused(name, tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    with open(path, "wb") as fh:
        fh.write(HAND[name])
    assert check_loader(path) == "refused"
    assert check_cli(path, capsys)[0] == 2


@pytest.mark.parametrize("key", sorted(BASES))
def test_unmutated_files_load_and_pass(key, tmp_path, capsys):
    """The control: each base file, as saved, loads and passes ``verify --load`` (exit 0)."""
    task, arch, params = BASES[key]
    path = str(tmp_path / "m.npz")
    testkit.built(task, arch, **params).save(path)
    assert check_loader(path) == "loaded"
    assert check_cli(path, capsys) == (0, "")


def test_a_clamped_token_is_refused_not_answered(tmp_path, capsys):
    """The model whose file claims more token ids than it has rows is refused on load; one whose
    task produces more ids than the model reads is refused by ``verify`` (not run, exit 2)."""
    m = testkit.built("index_lookup", "tf1", n=4, alphabet_size=2)
    with pytest.raises(constructions.ModelInputError):
        m.predict(np.array([[0, 1, 0, 1, 999_999]]))
    other = {**m.meta, "task_params": {"n": 4, "alphabet_size": 3}, "build": {}}
    path = str(tmp_path / "m.npz")
    with open(path, "wb") as fh:
        fh.write(zip_bytes(entries_of(m.arrays(), other)))
    assert check_loader(path) == "loaded"  # the file itself is consistent ...
    code, err = check_cli(path, capsys)
    assert code == 2 and "embed/token" in err  # ... but cannot read every input of the task it names


def test_named_pipe_is_refused_without_blocking(tmp_path, capsys):
    fifo = str(tmp_path / "pipe.npz")
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError, match="not a regular file"):
        constructions.load(fifo)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(verify_main(["--load", fifo, "--samples", "4"])))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "verify --load blocked on a named pipe"
    assert result == [2] and capsys.readouterr().err.count("\n") == 1


# --- no lost file ---------------------------------------------------------------------------------


def test_refused_save_keeps_the_existing_file(tmp_path, capsys):
    good = tmp_path / "good.npz"
    good.write_bytes(b"precious")
    base = ["--task", "index_lookup", "--arch", "tf1", "--n", "4", "--alphabet-size", "2", "--samples", "4"]
    for extra in (
        ["--precision", "float8"],
        ["--samples", "0"],
        ["--param", "beta=NaN"],
        ["--param", "coherence=Infinity"],
    ):
        code = verify_main(base + [*extra, "--save", str(good)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert good.read_bytes() == b"precious"
    for target in ("", str(tmp_path / "missing" / "m.npz"), str(tmp_path)):
        assert verify_main(base + ["--save", target]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    m = testkit.built("index_lookup", "tf1", n=4, alphabet_size=2)
    broken = constructions.Model(dataclasses.replace(m.weights, readout_b=m.weights.readout_b * np.nan), m.metadata)
    with pytest.raises(ModelFormatError):
        broken.save(good)
    assert good.read_bytes() == b"precious" and os.listdir(tmp_path) == ["good.npz"]


def test_targets_refused_before_the_check_runs(tmp_path, capsys, monkeypatch):
    """A name too long for the file system, an empty plot name (before its suffix is added), and a
    folder where no file can be created (tried, not read off the permission bits, which say nothing
    for root): each is exit 2 with one line, before any work, and leaves the folder as it was."""
    base = ["--task", "index_lookup", "--arch", "tf1", "--n", "4", "--alphabet-size", "2", "--samples", "4"]
    for argv, message in (
        (base + ["--save", str(tmp_path / ("a" * 300 + ".npz"))], "file name longer than"),
        (["bounds", "--n", "16", "--plot", ""], "--plot: empty file name"),
        (["bounds", "--n", "16", "--plot", " "], "--plot: empty file name"),
    ):
        assert verify_main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    import tempfile

    def no_create(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", no_create)
    with pytest.raises(fileio.WriteTargetError, match="cannot create a file in"):
        fileio.check_writable(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_atomic_write_keeps_permissions_and_cleans_up(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    fileio.atomic_write(target, lambda fh: fh.write("new"), text=True)
    assert target.read_text() == "new" and os.stat(target).st_mode & 0o777 == 0o640

    def fail(fh):
        fh.write("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        fileio.atomic_write(target, fail, text=True)
    assert target.read_text() == "new" and sorted(os.listdir(tmp_path)) == ["f.txt"]


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    """A process killed with SIGTERM in the middle of a write leaves the old file and no temporary
    file (``fileio`` needs the standard library only, so the child starts fast)."""
    target = tmp_path / "f.txt"
    target.write_text("old")
    script = (
        "import time, fileio\n"
        "def slow(fh):\n"
        "    fh.write('partial'); fh.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"fileio.atomic_write({str(target)!r}, slow, text=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "writing"
    assert len(os.listdir(tmp_path)) == 2  # the temporary file exists while writing
    proc.terminate()
    assert proc.wait(timeout=30) == 143
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_builders_refuse_truncation():
    for params in ({"n": 8.7}, {"n": 8, "seed": 1.5}, {"n": 8, "beta": float("nan")}, {"n": True}):
        with pytest.raises(constructions.ConstructionError):
            constructions.build("index_lookup", arch="tf1", **{"alphabet_size": 2, **params})
