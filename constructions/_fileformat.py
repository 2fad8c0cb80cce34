"""The saved-model file, read strictly (docs/MODEL.md, *File* and *Refusals*).

:func:`read_model_file` reads a ``.npz`` the way :meth:`Model.save` writes it, checking the schema
before any array is used: a regular file; a zip whose directory is small, whose entries are all
allowed names (no duplicates), stored or deflated, not encrypted; ``meta`` a one-element unicode
array holding a JSON object of bounded size and nesting, with a known ``format``; each array's
``.npy`` header a real dtype of the right number of axes, whose declared size agrees with the zip
directory and stays under a limit computed from ``meta`` — all before anything is decompressed;
then shapes consistent with each other and with ``meta`` (:func:`check_shapes`), and finite values.
Every refusal is a :class:`ModelFormatError` naming the entry (or meta field) and the rule.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from ._encoders import INPUT_ENCODERS
from ._meta import KNOWN_FORMATS, VARIANTS, ModelFormatError, ModelMeta

__all__ = [
    "read_model_file",
    "check_shapes",
    "check_values",
    "element_limit",
    "parse_meta_json",
    "FEATURE_ENCODINGS",
    "MAX_META_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_LAYERS",
]

MAX_META_BYTES = 1 << 26  # the meta entry, before it is read
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in meta
MAX_LAYERS = 1000  # layer0 .. layer999
MAX_ENTRIES = 16 * MAX_LAYERS + 8  # 8 arrays a layer, 16 with version 2's norms and biases; 7 more
FEATURE_ENCODINGS = ("nearest_neighbor_features",)  # encodings whose model inputs are feature vectors

_LAYER = r"layer(?:0|[1-9][0-9]{0,2})/(?:attn/(?:wq|wk|wv|wo|bq|bk|bv|bo)|mlp/(?:w1|b1|w2|b2)|ln_(?:attn|mlp)/[gb])"
_NAME = re.compile(
    rf"(?:meta|embed/(?:token|input|position)|{_LAYER}|readout/[wb]|ln_final/[gb]|rnn/(?:win|wh|b|h0))\.npy"
)
_NDIM = {"attn": 3, "w1": 2, "w2": 2, "b1": 1, "b2": 1, "w": 2, "b": 1, "win": 2, "wh": 2, "h0": 1}
_NDIM.update({"token": 2, "input": 2, "position": 2, "wq": 3, "wk": 3, "wv": 3, "wo": 3})
_NDIM.update({"bq": 2, "bk": 2, "bv": 2, "bo": 1})  # version 2: attention biases (with layer norm)


def ndim_of(name: str) -> int:
    """The number of axes the array ``name`` has (docs/MODEL.md tables)."""
    last = name.rsplit("/", 1)[1]
    return 1 if name in ("rnn/b", "readout/b") or "ln_" in name else _NDIM[last]


# --- meta -----------------------------------------------------------------------------------------


def _json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON ``text`` (strings skipped), in linear time; 0 when
    the text has too few brackets to pass :data:`MAX_JSON_DEPTH`."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0
    bare = _STRING.sub('""', text)
    codes = np.frombuffer(bare.encode("utf-32-le"), dtype=np.uint32)
    step = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _no_constant(name: str):
    raise ModelFormatError(f"meta: {name} is not a JSON number (the rule: finite numbers only)")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ModelFormatError(f"meta: key {dup!r} appears twice in one object")
    return dict(pairs)


def parse_meta_json(text: str) -> dict:
    """The JSON object in ``meta``: nesting at most :data:`MAX_JSON_DEPTH`, no NaN or Infinity,
    no repeated keys, an object at the top."""
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise ModelFormatError(f"meta: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except ValueError as e:  # JSONDecodeError, int too long
        if isinstance(e, ModelFormatError):
            raise
        raise ModelFormatError(f"meta: not valid JSON ({str(e).splitlines()[0][:80]})") from None
    if not isinstance(obj, dict):
        raise ModelFormatError(f"meta: must be a JSON object, got {type(obj).__name__}")
    return obj


def check_meta(meta: ModelMeta) -> None:
    """File-level rules on top of :class:`ModelMeta`'s field types: the ``format`` version is
    known, ``input_encoding`` is a registered encoder matching ``embed``, ``build`` agrees with
    ``arch`` and ``task``, and the sizes the inputs need are recorded."""
    if meta.format not in KNOWN_FORMATS:
        known = " and ".join(map(repr, KNOWN_FORMATS))
        raise ModelFormatError(f"meta.format: unknown version {meta.format!r} (this reader knows {known})")
    if meta.input_encoding not in INPUT_ENCODERS:
        known = ", ".join(map(repr, sorted(INPUT_ENCODERS)))
        raise ModelFormatError(f"meta.input_encoding must be one of {known}, got {meta.input_encoding!r}")
    features = meta.input_encoding in FEATURE_ENCODINGS
    if meta.family == "rnn" and (features or meta.embed is not None):
        raise ModelFormatError("meta.embed / input_encoding: an RNN reads tokens (no 'embed', token encodings)")
    if meta.family == "transformer" and features != (meta.embed_kind == "input"):
        raise ModelFormatError(
            f"meta.embed {meta.embed_kind!r} does not match meta.input_encoding {meta.input_encoding!r}"
        )
    if features and meta.d_in is None:
        raise ModelFormatError("meta.d_in is required for feature inputs")
    if not features and meta.vocab_size is None:
        raise ModelFormatError("meta.vocab_size is required for token inputs")
    arch = meta.build.get("arch")
    if arch is not None:
        if arch not in VARIANTS or (arch == "rnn") != (meta.family == "rnn"):
            raise ModelFormatError(f"meta.build.arch {arch!r} does not name an architecture of family {meta.family!r}")
    if "task" in meta.build and meta.build["task"] != meta.task:
        raise ModelFormatError(f"meta.build.task {meta.build['task']!r} is not meta.task {meta.task!r}")
    if meta.family == "transformer" and meta.seq_len == 0:
        raise ModelFormatError("meta.seq_len: a Transformer reads at least one position")


def _scale(meta: ModelMeta) -> int:
    """The size scale of a model with this ``meta``: the largest of seq_len, vocab_size, d_in, the
    integers in task_params and the number of scalars in it."""
    found = [meta.seq_len or 0, meta.vocab_size or 0, meta.d_in or 0]

    def walk(x, depth=0):
        if isinstance(x, bool) or depth > MAX_JSON_DEPTH:
            found.append(1)
        elif isinstance(x, int):
            found.append(x)
        elif isinstance(x, (list, dict)):
            found.append(len(x))
            for y in x.values() if isinstance(x, dict) else x:
                walk(y, depth + 1)
        else:
            found.append(1)

    walk(meta.task_params)
    found.append(sum(1 for _ in _leaves(meta.task_params)))
    return max(1, max(found))


def _leaves(x):
    if isinstance(x, dict):
        for y in x.values():
            yield from _leaves(y)
    elif isinstance(x, list):
        for y in x:
            yield from _leaves(y)
    else:
        yield x


def element_limit(meta: ModelMeta) -> tuple[int, int]:
    """``(per_axis, total)``: the largest axis length and the most array elements a model with this
    ``meta`` may have: ``64·(S+16)²`` and ``4096·(S+16)³`` for the size scale ``S`` (the largest of
    seq_len, vocab_size, d_in and the numbers in task_params). Every construction here stays far
    below both (its width grows at most like ``S²``)."""
    s = _scale(meta) + 16
    return 64 * s * s, 4096 * s**3


# --- shapes ---------------------------------------------------------------------------------------


def check_shapes(shapes: Mapping[str, tuple[int, ...]], meta: ModelMeta) -> int:
    """Check the array names and shapes against each other and ``meta`` (docs/MODEL.md); return
    the number of Transformer layers (1 for an RNN). Raises :class:`ModelFormatError`."""
    names = set(shapes)
    for name, shape in shapes.items():
        if len(shape) != ndim_of(name):
            raise ModelFormatError(f"{name}: has {len(shape)} axes, the format says {ndim_of(name)}")
    if meta.family == "rnn":
        need = {"rnn/win", "rnn/wh", "rnn/b", "rnn/h0", "readout/w", "readout/b"}
        _same_names(names, need, "an RNN")
        V, m = shapes["rnn/win"]
        _want(shapes, "rnn/win", (meta.vocab_size, m), "[vocab_size, m] (meta.vocab_size)")
        for name, want in (("rnn/wh", (m, m)), ("rnn/b", (m,)), ("rnn/h0", (m,))):
            _want(shapes, name, want, "m from rnn/win")
        D, layers = m, 1
    else:
        embed = "embed/token" if meta.embed_kind == "token" else "embed/input"
        layers = 0
        while f"layer{layers}/attn/wq" in names or f"layer{layers}/mlp/w1" in names:
            layers += 1
        need = {embed, "embed/position", "readout/w", "readout/b"}
        need |= {f"layer{i}/{k}" for i in range(layers) for k in _LAYER_ENTRIES}
        what = f"a Transformer with {layers} layer(s) and embed {meta.embed_kind!r}"
        if meta.layer_norm_eps is not None:
            need |= set(_NORM_ENTRIES) | {f"layer{i}/{k}" for i in range(layers) for k in _LAYER_NORM_ENTRIES}
            what += " and layer norm"
        else:
            what += " without layer norm (meta.layer_norm_eps null)"
        _same_names(names, need, what)
        if layers == 0:
            raise ModelFormatError("layer0: a Transformer needs at least one layer")
        rows, D = shapes["embed/position"]
        if meta.seq_len is not None and rows < meta.seq_len:
            raise ModelFormatError(f"embed/position: {rows} rows, fewer than meta.seq_len = {meta.seq_len}")
        if rows < 1:
            raise ModelFormatError("embed/position: no rows (a Transformer reads at least one position)")
        rule = "[vocab_size, D] (meta.vocab_size)" if embed == "embed/token" else "[d_in, D] (meta.d_in)"
        _want(shapes, embed, (meta.vocab_size if embed == "embed/token" else meta.d_in, D), rule)
        for i in range(layers):
            p = f"layer{i}/"
            H, w, _ = shapes[p + "attn/wq"]
            _want(shapes, p + "attn/wq", (H, w, D), "[H, w, D] with D from embed/position")
            _want(shapes, p + "attn/wk", (H, w, D), "the shape of attn/wq")
            Hv, wv, _ = shapes[p + "attn/wv"]
            _want(shapes, p + "attn/wv", (H, wv, D), "[H, wv, D] with H from attn/wq")
            _want(shapes, p + "attn/wo", (H, wv, D), "the shape of attn/wv")
            if H < 1:
                raise ModelFormatError(f"{p}attn/wq: no heads (H = 0)")
            F = shapes[p + "mlp/w1"][1]
            for k, want in (("w1", (D, F)), ("b1", (F,)), ("w2", (F, D)), ("b2", (D,))):
                _want(shapes, p + "mlp/" + k, want, "[D, F], [F], [F, D], [D]")
            if meta.layer_norm_eps is not None:
                for k in _LAYER_NORM_ENTRIES[:4]:
                    _want(shapes, p + k, (D,), "[D] (a layer norm's gain or bias)")
                _want(shapes, p + "attn/bq", (H, w), "[H, w] (the shape of attn/wq without D)")
                _want(shapes, p + "attn/bk", (H, w), "[H, w] (the shape of attn/wk without D)")
                _want(shapes, p + "attn/bv", (H, wv), "[H, wv] (the shape of attn/wv without D)")
                _want(shapes, p + "attn/bo", (D,), "[D] (the attention output's bias)")
        if meta.layer_norm_eps is not None:
            for k in _NORM_ENTRIES:
                _want(shapes, k, (D,), "[D] (a layer norm's gain or bias)")
    C = shapes["readout/w"][1]
    _want(shapes, "readout/w", (D, C), "[D, C] (D the width)")
    _want(shapes, "readout/b", (C,), "[C] with C from readout/w")
    if D < 1:
        raise ModelFormatError("width 0: the model has no units")
    if C < 1:
        raise ModelFormatError("readout/w: no classes (C = 0)")
    return layers


_LAYER_ENTRIES = ("attn/wq", "attn/wk", "attn/wv", "attn/wo", "mlp/w1", "mlp/b1", "mlp/w2", "mlp/b2")
_LAYER_NORM_ENTRIES = (  # with meta.layer_norm_eps only (version 2)
    "ln_attn/g",
    "ln_attn/b",
    "ln_mlp/g",
    "ln_mlp/b",
    "attn/bq",
    "attn/bk",
    "attn/bv",
    "attn/bo",
)
_NORM_ENTRIES = ("ln_final/g", "ln_final/b")


def _same_names(names: set, need: set, what: str) -> None:
    missing, extra = sorted(need - names), sorted(names - need)
    if missing:
        raise ModelFormatError(f"{missing[0]}: missing (required for {what})")
    if extra:
        gap = " (layers are numbered 0, 1, ... without gaps)" if extra[0].startswith("layer") else ""
        raise ModelFormatError(f"{extra[0]}: not an entry of {what}{gap}")


def _want(shapes, name: str, want: tuple, rule: str) -> None:
    if tuple(shapes[name]) != tuple(want):
        raise ModelFormatError(f"{name}: shape {tuple(shapes[name])}, expected {tuple(want)}: {rule}")


def check_values(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` as float64 after checking its dtype (real: float, int or bool) and that every entry is finite."""
    if a.dtype.kind not in "fiub" or a.dtype.hasobject or (a.dtype.kind == "f" and a.dtype.itemsize > 8):
        raise ModelFormatError(f"{name}: dtype {a.dtype} not allowed (float16/32/64, integers, bool)")
    out = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ModelFormatError(f"{name}: non-finite entries (the rule: every weight finite)")
    return out


# --- the zip --------------------------------------------------------------------------------------


def _check_directory(fh, size: int) -> None:
    """Read the zip's end record and refuse a directory with too many entries or too many bytes,
    before the zip module reads it."""
    tail_len = min(size, 65_557)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ModelFormatError("not a saved model (not a zip archive)")
    count = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    cd_size = struct.unpack("<L", tail[at + 12 : at + 16])[0]
    if count == 0xFFFF or cd_size == 0xFFFFFFFF:
        raise ModelFormatError("zip64 directory: refused (a model file holds at most a few thousand entries)")
    if count > MAX_ENTRIES or cd_size > MAX_ENTRIES * 512:
        raise ModelFormatError(f"zip directory of {count} entries / {cd_size} bytes: more than a model holds")


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    """``(shape, dtype, fortran, header_bytes)`` from the ``.npy`` header of an entry (only the
    header is decompressed)."""
    name = info.filename[:-4]
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ModelFormatError(f"{name}: .npy format version {version} not allowed (1.0 or 2.0)")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        try:
            shape, fortran, dtype = read(f)
        except (ValueError, SyntaxError, TypeError, tokenize.TokenError) as e:  # numpy parses the header as Python
            raise ModelFormatError(f"{name}: not a valid .npy header ({type(e).__name__})") from None
        return tuple(int(s) for s in shape), dtype, fortran, f.tell()


def _entries(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    out: dict[str, zipfile.ZipInfo] = {}
    if "meta.npy" not in zf.namelist():
        raise ModelFormatError("meta: missing (not a saved model)")
    for info in zf.infolist():
        name = info.filename
        shown = name[:60] + ("..." if len(name) > 60 else "")
        if not _NAME.fullmatch(name):
            raise ModelFormatError(f"entry {shown!r}: not an allowed name (docs/MODEL.md, File)")
        if name[:-4] in out:
            raise ModelFormatError(f"{name[:-4]}: entry appears twice")
        if info.flag_bits & 0x1:
            raise ModelFormatError(f"{name[:-4]}: encrypted entry (refused)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFormatError(f"{name[:-4]}: compression method {info.compress_type} (only stored or deflate)")
        out[name[:-4]] = info
    return out


def _read_meta(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> ModelMeta:
    if info.file_size > MAX_META_BYTES:
        raise ModelFormatError(f"meta: declares {info.file_size} bytes (limit {MAX_META_BYTES})")
    shape, dtype, _, head = _header(zf, info)
    if dtype.kind != "U" or math.prod(shape) != 1 or len(shape) > 1:
        raise ModelFormatError(f"meta: must be a one-element unicode array, got {dtype} of shape {shape}")
    if info.file_size != head + dtype.itemsize:
        raise ModelFormatError(f"meta: declared size {info.file_size} disagrees with its .npy header")
    with zf.open(info) as f:
        arr = np.lib.format.read_array(f, allow_pickle=False)
    meta = ModelMeta.from_dict(parse_meta_json(str(arr.reshape(-1)[0])), require_format=True)
    check_meta(meta)
    return meta


def read_model_file(path: str, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], ModelMeta]:
    """``(arrays, meta)`` of a saved model: float64 arrays under their file-format names and the
    checked metadata. ``max_bytes``: the most bytes the arrays may take (default: the limit from
    ``meta``, :func:`element_limit`, and half the machine's memory). Raises :class:`ModelFormatError`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"{path}: cannot be read ({type(e).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFormatError(f"{path}: not a regular file (a model is a .npz file)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot be read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ModelFormatError(f"{path}: not a regular file (a model is a .npz file)")
        try:
            return _read(fh, os.fstat(fh.fileno()).st_size, max_bytes)
        except ModelFormatError as e:
            raise ModelFormatError(f"{path}: {e}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, struct.error, OverflowError) as e:
            detail = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
            raise ModelFormatError(f"{path}: not a saved model, or a damaged one ({detail})") from None
        except (RuntimeError, NotImplementedError) as e:  # zip features this reader refuses
            raise ModelFormatError(f"{path}: zip feature not supported ({type(e).__name__})") from None


def _machine_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def _read(fh, size: int, max_bytes: int | None):
    _check_directory(fh, size)
    fh.seek(0)
    with zipfile.ZipFile(fh) as zf:
        infos = _entries(zf)
        meta = _read_meta(zf, infos.pop("meta"))
        per_axis, total = element_limit(meta)
        budget = min(8 * total, _machine_bytes()) if max_bytes is None else int(max_bytes)
        heads = {}
        for name, info in sorted(infos.items()):
            shape, dtype, _, head = _header(zf, info)
            if len(shape) != ndim_of(name):
                raise ModelFormatError(f"{name}: has {len(shape)} axes, the format says {ndim_of(name)}")
            if dtype.kind not in "fiub" or dtype.hasobject or dtype.itemsize > 8:
                raise ModelFormatError(f"{name}: dtype {dtype} not allowed (float16/32/64, integers, bool)")
            if any(s > per_axis for s in shape):
                raise ModelFormatError(f"{name}: shape {shape} has an axis over {per_axis} (the limit from meta)")
            if info.file_size != head + math.prod(shape) * dtype.itemsize:
                raise ModelFormatError(f"{name}: declared size {info.file_size} disagrees with its .npy header")
            heads[name] = (shape, dtype)
        check_shapes({k: s for k, (s, _) in heads.items()}, meta)
        elements = sum(math.prod(s) for s, _ in heads.values())
        if elements > total or 8 * elements > budget:
            raise ModelFormatError(
                f"arrays of {elements} elements ({8 * elements} bytes as float64): over the limit "
                f"({min(total, budget // 8)} elements)"
            )
        arrays = {}
        for name, info in sorted(infos.items()):
            with zf.open(info) as f:
                arrays[name] = check_values(name, np.lib.format.read_array(f, allow_pickle=False))
        return arrays, meta
