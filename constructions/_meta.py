"""Model metadata as a typed, validated record: :class:`ModelMeta` (docs/MODEL.md, *File*).

A saved model's ``meta`` entry is a JSON object; :meth:`ModelMeta.from_dict` reads it (checking
each field's type and allowed values, with a :class:`ModelFormatError` naming the field) and
:meth:`ModelMeta.to_dict` writes it back with the same keys and values. Builders make theirs with
:func:`model_meta`.

Names: the file-format key ``arch`` ("transformer" or "rnn") is the attribute ``family`` here;
the registered architecture (``"tf1"``, ``"tf2"``, ``"rnn"``, as ``constructions.build(arch=...)``
takes it) is the model's *variant* (:meth:`ModelMeta.variant`).
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "EMBEDS",
    "FAMILIES",
    "FORMAT",
    "FORMAT_2",
    "KNOWN_FORMATS",
    "READOUTS",
    "ModelFormatError",
    "ModelMeta",
    "model_meta",
]

FORMAT = "separations-model/1"
FORMAT_2 = "separations-model/2"  # version 1 plus layer norm and the GELU activation (docs/MODEL.md)
KNOWN_FORMATS = (FORMAT, FORMAT_2)  # the versions this reader knows
ACTIVATIONS = ("relu", "gelu_tanh")  # the MLP's activation; gelu_tanh: flax's nn.gelu (tanh approximation)
FAMILIES = ("transformer", "rnn")
VARIANTS = ("tf1", "tf2", "rnn")  # the registered architectures (``build(arch=...)``)
EMBEDS = ("token", "input")
READOUTS = ("last", "positions")


class ModelFormatError(ValueError):
    """A file (or ``meta`` object) refused by the schema of docs/MODEL.md: not a saved model, an
    entry or field that breaks a rule, or arrays that disagree with each other or with ``meta``;
    the message names the entry or field and the rule."""


_KNOWN = (
    "format",
    "arch",
    "task",
    "task_params",
    "causal",
    "readout",
    "readout_positions",
    "embed",
    "input_encoding",
    "seq_len",
    "vocab_size",
    "d_in",
    "precision_bits",
    "build",
    "construction",
    "layer_norm_eps",
    "activation",
)
_V2_KEYS = ("layer_norm_eps", "activation")  # meta keys of version 2 only


@dataclasses.dataclass(frozen=True)
class ModelMeta:
    """What a model is and how it reads its inputs.

    Attributes:
        family: ``"transformer"`` or ``"rnn"`` (file key ``arch``).
        task, task_params: the task, as ``tasks.get(task, **task_params)`` takes it.
        causal: whether attention is causally masked (Transformer; RNNs record True).
        readout: ``"last"``: logits are read at the last position (``[B, C]``);
            ``"positions"`` (Transformers): at each of ``readout_positions`` (``[B, Q, C]``), e.g.
            every query of a multi-query task, all from one causal forward pass.
        readout_positions: the positions read with ``readout="positions"`` (0-based, strictly
            increasing, below ``seq_len``), else None (not written).
        embed: ``"token"`` or ``"input"`` (Transformer); None for an RNN (not written).
        input_encoding: the name of the input encoder (docs/MODEL.md, *Inputs*).
        seq_len: the only input length the model accepts, or None (any length).
        vocab_size: the number of token ids (token inputs), or None (not written).
        d_in: the feature dimension (feature inputs), or None (not written).
        precision_bits: the smallest precision the model was shown exact at, or None.
        build: the arguments of ``constructions.build`` that made it.
        construction: what the construction derived (theorem, scale factors, layouts, ...).
        layer_norm_eps: None (no layer norm: version 1), or the epsilon of the layer norms a
            Transformer applies before each attention, before each MLP and before the readout
            (their gains and biases are the ``ln_*`` entries; docs/MODEL.md).
        activation: the MLP's activation, ``"relu"`` (the default) or ``"gelu_tanh"``.
        format: the file format, ``"separations-model/1"``; ``"separations-model/2"`` when
            ``layer_norm_eps`` or ``activation`` is not the default (set automatically).
        extra: keys of a file that this version does not know, kept as they were.
    """

    family: str
    task: str
    task_params: dict
    causal: bool = True
    readout: str = "last"
    readout_positions: tuple | None = None
    embed: str | None = None
    input_encoding: str = "tokens"
    seq_len: int | None = None
    vocab_size: int | None = None
    d_in: int | None = None
    precision_bits: int | None = None
    build: dict = dataclasses.field(default_factory=dict)
    construction: dict = dataclasses.field(default_factory=dict)
    layer_norm_eps: float | None = None
    activation: str = "relu"
    format: str = FORMAT
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        _check_one_of("arch", self.family, FAMILIES)
        _check_type("task", self.task, str)
        _check_type("task_params", self.task_params, dict)
        _check_type("causal", self.causal, bool)
        _check_one_of("readout", self.readout, READOUTS)
        self._check_readout_positions()
        if self.embed is not None:
            _check_one_of("embed", self.embed, EMBEDS)
        elif self.family == "transformer":  # the documented default, made explicit (as to_dict writes it)
            object.__setattr__(self, "embed", "token")
        _check_type("input_encoding", self.input_encoding, str)
        for name, least in (("seq_len", 0), ("vocab_size", 1), ("d_in", 1), ("precision_bits", 1)):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
                    raise ModelFormatError(f"meta.{name} must be an integer >= {least} or null, got {value!r}")
                object.__setattr__(self, name, int(value))
        _check_type("build", self.build, dict)
        _check_type("construction", self.construction, dict)
        if self.layer_norm_eps is not None:
            eps = self.layer_norm_eps
            if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < float(eps) < 1:
                raise ModelFormatError(f"meta.layer_norm_eps must be a number in (0, 1) or null, got {eps!r}")
            if self.family != "transformer":
                raise ModelFormatError("meta.layer_norm_eps: layer norm is defined for Transformers only")
            object.__setattr__(self, "layer_norm_eps", float(eps))
        _check_one_of("activation", self.activation, ACTIVATIONS)
        if self.activation != "relu" and self.family != "transformer":
            raise ModelFormatError("meta.activation: only a Transformer's MLP may use another activation than relu")
        if self.extended and self.format == FORMAT:  # these fields exist in version 2 only
            object.__setattr__(self, "format", FORMAT_2)
        if self.format not in KNOWN_FORMATS:
            raise ModelFormatError(
                f"meta.format must be one of {', '.join(map(repr, KNOWN_FORMATS))}, got {self.format!r}"
            )
        per_unit = self.construction.get("state_bits_per_unit")
        if per_unit is not None and (
            isinstance(per_unit, bool) or not isinstance(per_unit, numbers.Integral) or per_unit < 1
        ):
            raise ModelFormatError(
                f"meta.construction.state_bits_per_unit must be a positive integer, got {per_unit!r}"
            )

    def _check_readout_positions(self) -> None:
        pos: Any = self.readout_positions
        if self.readout != "positions":
            if pos is not None:
                raise ModelFormatError("meta.readout_positions is only allowed with readout 'positions'")
            return
        ok = isinstance(pos, (list, tuple)) and len(pos) > 0
        ok = ok and all(isinstance(p, numbers.Integral) and not isinstance(p, bool) and int(p) >= 0 for p in pos)
        ok = ok and all(int(a) < int(b) for a, b in zip(pos, pos[1:]))
        ok = ok and (self.seq_len is None or int(pos[-1]) < self.seq_len)
        if not ok or self.family != "transformer":
            raise ModelFormatError(
                "meta.readout_positions must be a non-empty, strictly increasing list of positions below "
                f"seq_len (Transformers only), got {pos!r}"
            )
        object.__setattr__(self, "readout_positions", tuple(int(p) for p in pos))

    # -- derived
    @property
    def extended(self) -> bool:
        """Whether the model uses a version-2 feature (layer norm, or an activation other than relu)."""
        return self.layer_norm_eps is not None or self.activation != "relu"

    @property
    def readout_rows(self) -> tuple[int, ...] | None:
        """The positions the forward pass reads (``readout_positions``), or None for ``"last"``."""
        return self.readout_positions if self.readout == "positions" else None

    @property
    def embed_kind(self) -> str:
        """``embed`` with its default: ``"token"`` when not recorded."""
        return self.embed or "token"

    @property
    def state_bits_per_unit(self) -> int | None:
        """Bits per hidden unit an RNN declares (``construction.state_bits_per_unit``), or None."""
        v = self.construction.get("state_bits_per_unit")
        return None if v is None else int(v)

    def variant(self, num_layers: int) -> str:
        """The registered architecture: ``build["arch"]`` when recorded, else ``"rnn"`` or
        ``f"tf{num_layers}"``."""
        recorded = self.build.get("arch")
        if recorded is not None:
            return recorded
        return "rnn" if self.family == "rnn" else f"tf{num_layers}"

    # -- the JSON object
    @classmethod
    def from_dict(cls, meta: ModelMeta | Mapping, *, require_format: bool = False) -> ModelMeta:
        """Read a ``meta`` object (validated). Missing optional keys take their defaults; with
        ``require_format`` (files) ``format`` must be present."""
        if isinstance(meta, ModelMeta):
            return meta
        if not isinstance(meta, Mapping):
            raise ModelFormatError(f"meta must be a JSON object, got {type(meta).__name__}")
        if require_format and "format" not in meta:
            raise ModelFormatError("meta has no 'format'")
        if require_format and meta["format"] == FORMAT and any(k in meta for k in _V2_KEYS):
            key = next(k for k in _V2_KEYS if k in meta)
            raise ModelFormatError(f"meta.{key} is a field of {FORMAT_2!r}, not of {FORMAT!r}")
        for key in ("arch", "task", "task_params"):
            if key not in meta:
                raise ModelFormatError(f"meta has no {key!r}")
        fields = {"family": meta["arch"], "task": meta["task"], "task_params": meta["task_params"]}
        for key in _KNOWN:
            if key in meta and key not in ("arch", "task", "task_params"):
                fields[key] = meta[key]
        for key in ("build", "construction", "task_params"):  # our own copies: the record is frozen
            if isinstance(fields.get(key), Mapping):
                fields[key] = copy.deepcopy(dict(fields[key]))
        extra = {k: copy.deepcopy(v) for k, v in meta.items() if k not in _KNOWN}
        return cls(**fields, extra=extra)

    def to_dict(self) -> dict:
        """The JSON object written to a file: every field (``embed`` for Transformers only,
        ``vocab_size`` and ``d_in`` when set), plus the unknown keys read from a file."""
        out: dict[str, Any] = {
            "format": self.format,
            "arch": self.family,
            "task": self.task,
            "task_params": copy.deepcopy(self.task_params),
            "causal": self.causal,
            "readout": self.readout,
            **({"readout_positions": list(self.readout_positions)} if self.readout_positions else {}),
            "input_encoding": self.input_encoding,
            "seq_len": self.seq_len,
            "precision_bits": self.precision_bits,
            "build": copy.deepcopy(self.build),
            "construction": copy.deepcopy(self.construction),
        }
        if self.family == "transformer" or self.embed is not None:
            out["embed"] = self.embed_kind
        if self.vocab_size is not None:
            out["vocab_size"] = self.vocab_size
        if self.d_in is not None:
            out["d_in"] = self.d_in
        if self.layer_norm_eps is not None:
            out["layer_norm_eps"] = self.layer_norm_eps
        if self.activation != "relu":
            out["activation"] = self.activation
        out.update(copy.deepcopy(self.extra))
        return out


def model_meta(
    family: str,
    task: str,
    task_params: dict,
    *,
    seq_len: int | None,
    build: dict,
    construction: dict,
    vocab_size: int | None = None,
    d_in: int | None = None,
    embed: str | None = None,
    input_encoding: str = "tokens",
    causal: bool = True,
    state_bits_per_unit: int | None = None,
    readout_positions=None,
) -> ModelMeta:
    """The metadata of a freshly built model (every builder makes its metadata here).

    ``embed`` defaults to ``"token"`` for a Transformer; ``state_bits_per_unit`` (RNNs whose units
    each hold a fixed number of bits) is recorded in ``construction``; ``precision_bits`` starts
    unknown (None) and ``readout`` is ``"last"``, or ``"positions"`` when ``readout_positions``
    is given (a multi-query Transformer).
    """
    if family == "transformer" and embed is None:
        embed = "token"
    if state_bits_per_unit is not None:
        construction = {**construction, "state_bits_per_unit": int(state_bits_per_unit)}
    return ModelMeta(
        family=family,
        task=task,
        task_params=task_params,
        causal=causal,
        readout="last" if readout_positions is None else "positions",
        readout_positions=None if readout_positions is None else tuple(readout_positions),
        embed=embed,
        input_encoding=input_encoding,
        seq_len=seq_len,
        vocab_size=vocab_size,
        d_in=d_in,
        build=build,
        construction=construction,
    )


def _check_type(name: str, value, kind) -> None:
    if not isinstance(value, kind):
        raise ModelFormatError(
            f"meta.{name} must be a {'JSON object' if kind is dict else kind.__name__}, got {value!r}"
        )


def _check_one_of(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ModelFormatError(f"meta.{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
