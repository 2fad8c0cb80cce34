"""Theorem 4 as a program: a one-layer Transformer is a two-party protocol for ANY split.

Positions are split into any ``S_A ∪ S_B``; the output is read at the last position ``L-1``,
whose holder we call the *reader*. Bob outputs. All arithmetic is the ``fixed:I.F`` grid of
docs/MODEL.md, re-implemented in numpy (never by calling the model), including its evaluation
order: with token inputs the first layer's projections are per-table products
``(E Wᵀ)[tokens] + (P Wᵀ)[positions]``, each table rounded once.

=====  ==========================================================  ==============================
step   message (per head h where it says so)                       bits
=====  ==========================================================  ==============================
1      reader -> other: the last token (token inputs: its id;      ``⌈log2 V⌉`` or ``D·(b+1)``
       feature inputs: the embedded row ``x_{L-1}``)
2      each -> other: local max of its scores ``s_i = <q, k_i>``   ``2·h·(b+1)``
       (both set ``M = max``, ``d_i = s_i − M``)
3      each -> other: its exact partial sum                        ``2·h·(b + ⌈log2 L⌉)``
       ``Z_P = Σ_{i∈P} ⌊exp(d_i)·2^F⌋`` (both set ``Z = clip(Z_A+Z_B)``)
4      Alice -> Bob: ``U_A = Σ_{i∈S_A} α_i v_i`` exact (units 2^-2F),  ``h·wv·2b``
       ``α_i = ⌊e_i·2^F / Z⌋``; Bob rounds ``U_A + U_B`` once and
       applies ``W_O``, the residual, the MLP and the readout
=====  ==========================================================  ==============================

Steps 2–3 are skipped when one side holds no position, step 4 when Alice holds none, step 1
when Bob is the reader and Alice holds nothing. Exactness of the split rests on the grid rules:
a max is a max, the sum ``Z`` and the product-sum ``Σ α_i v_i`` are exact integers rounded once,
so cutting them in two changes nothing (paper App. D).

Counts. With token inputs and both sides non-empty the total is
``⌈log2 V⌉ + h·(4b + 2 + 2⌈log2 L⌉ + 2·wv·b)`` (:func:`tf1_protocol_bits`). That is at most the
airtight tally ``D·b + h·(4wb + 4b + 2⌈log2 n⌉)`` of docs/PAPER.md §4.4 (which sends ``x_n`` in step 1
and ``U`` both ways); the paper's stated ``3w(b + log2 n)h`` can be smaller than either for small
w — see docs/BOUNDS.md.

Version-2 models (docs/MODEL.md: layer norms, attention biases, GELU; e.g. a trained GPT-2-style
layer exported by experiments/export.py). The messages and their counts are the same: a layer norm
acts on one position's row, so each party normalises its own rows before projecting (the reader's
query row from the last token it already has or receives in step 1); the biases ``bq, bk, bv`` are
added locally to each projection (``bk`` shifts every score of a query by the same amount); ``bo``,
the MLP's layer norm, the GELU and the final layer norm are Bob's alone after step 4. The model
itself defines layer norm and GELU in float formats only, so here they are computed in float64 on
the decoded grid values and rounded down to the grid (a local, deterministic choice of each party);
the protocol's output is then the output of this grid emulation, which is compared with the model's
float64 predictions (agreement measured, not proved: docs/BOUNDS.md, Theorem 4).

Codes (:mod:`bounds._grid`). The fixed:I.F grid has ``2^b + 1`` points — both clip ends ``±2^I`` —
one more than b bits can name (the paper's grid App. B.2 has the same off-by-one). A grid value
that may sit at either end (a local max, an embedded row) is sent as a (b+1)-bit two's complement
integer; the exact partial sums fit their codes with room to spare (``|U_A| <= 2^(I+2F)`` when
``Z`` is not clipped; GridOverflow otherwise, never a silent wrap).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from ._certificates import ceil_log2
from ._closed_forms import BoundError
from ._grid import Grid, parse_fixed, signed_bits, signed_from_bits, unsigned_bits, unsigned_from_bits
from ._protocol import Message, ProtocolRun

if TYPE_CHECKING:  # type names only
    from constructions import Model
    from tasks import Inputs

__all__ = ["tf1_protocol", "tf1_protocol_bits"]


def tf1_protocol_bits(
    *,
    L: int,
    b: int,
    heads: int,
    wv: int,
    vocab: int | None = None,
    D: int | None = None,
    alice_empty: bool = False,
    bob_empty: bool = False,
) -> int:
    """Bits :func:`tf1_protocol` exchanges (the table in the module docstring)."""
    if alice_empty:
        return 0
    if vocab is not None:
        first = max(1, ceil_log2(vocab))
    elif D is not None:
        first = D * (b + 1)
    else:
        raise ValueError("tf1_protocol_bits needs vocab (token inputs) or D (feature inputs)")
    if bob_empty:
        return first + heads * wv * 2 * b
    return first + heads * (2 * (b + 1) + 2 * (b + ceil_log2(L)) + wv * 2 * b)


class _Model:
    """The encoded weights of a one-layer Transformer, and the per-table products."""

    def __init__(self, model, grid: Grid):
        if getattr(model, "arch", None) != "transformer" or len(model.weights.layers) != 1:
            raise BoundError("Theorem 4's protocol runs a one-layer Transformer")
        w, g = model.weights, grid
        self.g = g
        self.kind = model.metadata.embed_kind
        layer = w.layers[0]
        enc = g.encode
        self.E, self.P = enc(w.embed), enc(w.position)
        self.wq, self.wk, self.wv, self.wo = (enc(getattr(layer.attn, k)) for k in ("wq", "wk", "wv", "wo"))
        self.w1, self.b1, self.w2, self.b2 = (enc(getattr(layer.mlp, k)) for k in ("w1", "b1", "w2", "b2"))
        self.wr, self.br = enc(w.readout_w), enc(w.readout_b)
        self.eps, self.activation = getattr(w, "norm_eps", None), getattr(w, "activation", "relu")
        self.v2 = self.eps is not None or self.activation != "relu"  # docstring: version-2 models
        none = lambda norm: None if norm is None else (norm.g, norm.b)  # noqa: E731
        self.norm_attn, self.norm_mlp = none(layer.norm_attn), none(layer.norm_mlp)
        self.norm_final = none(w.norm_final)
        bias = layer.attn.bias
        self.bias = None if bias is None else {k: enc(b) for k, b in zip(("q", "k", "v", "o"), bias)}
        self.H, self.w, self.D = self.wq.shape
        self.wv_dim = self.wv.shape[1]
        terms = max(self.D, self.w, self.wv_dim, self.H * self.wv_dim, self.w1.shape[1], w.position.shape[0])
        if 2 * (g.int_bits + g.frac_bits) + max(1, math.ceil(math.log2(max(terms, 2)))) > 62:
            raise BoundError(f"fixed:{g.int_bits}.{g.frac_bits} is too wide for exact int64 sums")
        if self.kind == "token" and not self.v2:  # (E Wᵀ), (P Wᵀ) per head, each rounded once: [H, V, w], [H, L_max, w]
            self.tables = {
                name: (g.round(np.einsum("vd,hwd->hvw", self.E, m)), g.round(np.einsum("ld,hwd->hlw", self.P, m)))
                for name, m in (("q", self.wq), ("k", self.wk), ("v", self.wv))
            }

    def rows(self, x_in, pos):
        """Residual rows ``[B, |pos|, D]`` at positions ``pos`` from the party's inputs there."""
        g = self.g
        if self.kind == "token":
            return g.add(self.E[x_in], self.P[pos][None])
        return g.add(g.round(np.einsum("bli,id->bld", self.enc_features(x_in), self.E)), self.P[pos][None])

    def enc_features(self, f):
        return self.g.encode(f)

    def norm(self, x, norm):
        """A version-2 layer norm of grid rows ``x [..., D]``: float64 on the decoded values, rounded
        down to the grid (identity when the model has none)."""
        if norm is None:
            return x
        v = self.g.decode(x)
        mu = v.mean(axis=-1, keepdims=True)
        sd = np.sqrt(((v - mu) ** 2).mean(axis=-1, keepdims=True) + self.eps)
        return self.g.encode((v - mu) / sd * norm[0] + norm[1])

    def act(self, a):
        """The MLP's activation on grid values: ReLU (exact), or GELU's tanh approximation in float64
        rounded down to the grid."""
        if self.activation == "relu":
            return np.maximum(a, 0)
        v = self.g.decode(a)
        return self.g.encode(0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3))))

    def proj(self, name, x_in, pos, rows=None):
        """``[H, B, |pos|, w]``: query/key/value projections at ``pos``."""
        g = self.g
        if self.kind == "token" and not self.v2:
            tok, ptab = self.tables[name]
            return g.add(tok[:, x_in], ptab[:, pos][:, None])
        if rows is None:
            rows = self.rows(x_in, pos)
        m = {"q": self.wq, "k": self.wk, "v": self.wv}[name]
        out = g.round(np.einsum("bld,hwd->hblw", self.norm(rows, self.norm_attn), m))
        return out if self.bias is None else g.add(out, self.bias[name][:, None, None])

    def finish(self, x_last, heads):
        """Bob's last steps: ``W_O``, residual, MLP, readout. ``x_last [B, D]``, ``heads [H, B, wv]``."""
        g = self.g
        x = g.add(x_last, g.round(np.einsum("hbv,hvd->bd", heads, self.wo)))
        if self.bias is not None:
            x = g.add(x, self.bias["o"])
        hidden = self.act(g.add(g.round(self.norm(x, self.norm_mlp) @ self.w1), self.b1))
        x = g.add(x, g.add(g.round(hidden @ self.w2), self.b2))
        x = self.norm(x, self.norm_final)
        return g.decode(g.add(g.round(x @ self.wr), self.br))


def _party(tm: _Model, x, positions, q):
    """A party's local work up to the scores: ``(s [H, B, |P|], v [H, B, |P|, wv])``."""
    pos = np.asarray(positions, dtype=np.int64)
    x_in = x[:, pos]
    rows = tm.rows(x_in, pos) if tm.kind != "token" or tm.v2 else None
    k, v = tm.proj("k", x_in, pos, rows), tm.proj("v", x_in, pos, rows)
    s = tm.g.round(np.einsum("hbw,hbpw->hbp", q, k))
    return s, v


def tf1_protocol(
    model: Model, inputs: Inputs, alice: Iterable[int], precision: str, *, round_partials: bool = False
) -> ProtocolRun:
    """Run Theorem 4's protocol on a batch. ``alice``: Alice's positions (any subset of
    ``range(L)``; Bob holds the rest). Returns Bob's logits and the transcript.

    ``round_partials=True`` runs a naive variant that is *not* Theorem 4's protocol: each party
    rounds its partial ``U`` to the grid (b bits) before the two are added. It exists to show that
    the exact 2b-bit partial sums matter: the variant disagrees with the model on some inputs.
    """
    g = parse_fixed(precision)
    tm = _Model(model, g)
    x = np.asarray(model.encode_inputs(inputs))
    B, L = x.shape[:2]
    A = sorted({int(i) for i in alice})
    if any(not 0 <= i < L for i in A):
        raise BoundError(f"Alice's positions must lie in [0, {L})")
    Bp = [i for i in range(L) if i not in set(A)]
    last = L - 1
    reader = "alice" if last in A else "bob"
    other = "bob" if reader == "alice" else "alice"
    b = g.bits
    msgs = []

    # step 1: the last token crosses to the other side (Bob must read out; Alice needs the query)
    if not (reader == "bob" and not A):
        if tm.kind == "token":
            vocab = tm.E.shape[0]
            msg = Message("last token", reader, other, unsigned_bits(x[:, last:], max(1, ceil_log2(vocab))))
            tok = unsigned_from_bits(msg.bits, msg.length)[:, 0]  # what the receiver decodes
            x_last = tm.rows(tok[:, None], np.array([last]))[:, 0]
            q = tm.proj("q", tok[:, None], np.array([last]))[:, :, 0]
        else:
            row = tm.rows(x[:, last:], np.array([last]))[:, 0]
            msg = Message("last token", reader, other, signed_bits(row, b + 1, what="embedded last row entry"))
            x_last = signed_from_bits(msg.bits, b + 1)
            q = tm.g.round(np.einsum("bd,hwd->hbw", x_last, tm.wq))
        msgs.append(msg)
    else:  # Bob holds everything
        if tm.kind == "token":
            x_last = tm.rows(x[:, last:], np.array([last]))[:, 0]
            q = tm.proj("q", x[:, last:], np.array([last]))[:, :, 0]
        else:
            x_last = tm.rows(x[:, last:], np.array([last]))[:, 0]
            q = tm.g.round(np.einsum("bd,hwd->hbw", x_last, tm.wq))

    parts = {"alice": A, "bob": Bp}
    local = {p: _party(tm, x, pos, q) for p, pos in parts.items() if pos}
    both = len(local) == 2

    # step 2: local maxima
    maxima = {p: s.max(axis=2) for p, (s, _) in local.items()}  # [H, B]
    if both:
        seen = {}
        for p, o in (("alice", "bob"), ("bob", "alice")):
            msg = Message("local max", p, o, signed_bits(maxima[p].T, b + 1, what="local max of the scores"))
            msgs.append(msg)
            seen[o] = signed_from_bits(msg.bits, b + 1).T  # what o learns
        M = {p: np.maximum(maxima[p], seen[p]) for p in local}
    else:
        M = dict(maxima)

    # step 3: partial normalisers, exact
    e = {p: tm.g.exp_floor(tm.g.clip(s - M[p][:, :, None])) for p, (s, _) in local.items()}
    zpart = {p: e[p].sum(axis=2) for p in local}  # [H, B], exact, unclipped
    if both:
        width = b + ceil_log2(L)
        seen = {}
        for p, o in (("alice", "bob"), ("bob", "alice")):
            msg = Message("partial Z", p, o, unsigned_bits(zpart[p].T, width, what="partial normaliser"))
            msgs.append(msg)
            seen[o] = unsigned_from_bits(msg.bits, width).T
        Z = {p: tm.g.clip(zpart[p] + seen[p]) for p in local}
    else:
        Z = {p: tm.g.clip(zpart[p]) for p in local}

    # step 4: partial weighted values (exact, units 2^-2F)
    U = {}
    for p, (_, v) in local.items():
        alpha = (e[p] * tm.g.scale) // np.maximum(Z[p], 1)[:, :, None]
        U[p] = np.einsum("hbp,hbpv->hbv", alpha, v)
    if round_partials:
        U = {p: tm.g.round(u) for p, u in U.items()}
    ub = b + 1 if round_partials else 2 * b
    total = U.get("bob", 0)
    if "alice" in U:
        msg = Message(
            "partial U",
            "alice",
            "bob",
            signed_bits(U["alice"].transpose(1, 0, 2).reshape(B, -1), ub, what="partial weighted value"),
        )
        msgs.append(msg)
        total = total + signed_from_bits(msg.bits, ub).reshape(B, tm.H, tm.wv_dim).transpose(1, 0, 2)
    heads = tm.g.clip(total) if round_partials else tm.g.round(total)
    logits = tm.finish(x_last, heads)

    info = {
        "theorem": "Theorem 4",
        "precision": str(precision),
        "b": b,
        "L": L,
        "heads": tm.H,
        "w": tm.w,
        "wv": tm.wv_dim,
        "D": tm.D,
        "reader": reader,
        "alice": A,
        "bob": Bp,
        "formula_bits": tf1_protocol_bits(
            L=L,
            b=b,
            heads=tm.H,
            wv=tm.wv_dim,
            vocab=tm.E.shape[0] if tm.kind == "token" else None,
            D=tm.D,
            alice_empty=not A,
            bob_empty=not Bp,
        ),
    }
    return ProtocolRun(logits, tuple(msgs), info)
