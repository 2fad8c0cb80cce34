"""Blocks that several proofs use, each with its lemma: ReLU ramps, the bit-cleaning FFN and the
code readout, the mean-and-threshold second layer, and the scale factor of an attention fetch.

The builders assemble their weights from these blocks (and from :mod:`constructions._codes`);
every lemma below holds in exact arithmetic, and the margins it states are what the precision
checks of ``verify`` measure against.

MLP blocks
    A :class:`Units` is a group of hidden units of a position-wise MLP, named by block: what it
    reads from the residual stream (``w1``), its biases (``b1``), what it writes (``w2``, ``b2``).
    :func:`mlp` lays several groups side by side in one hidden layer, in the order given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from ._layout import Layout, linear, linear_in
from ._registry import ConstructionError
from ._transformer import MLP, Attention

__all__ = [
    "Units",
    "attention_lower_bound",
    "bits_mlp_and_readout",
    "clean_bits",
    "code_readout",
    "mean_and_threshold",
    "mlp",
    "ramp",
    "softmax_scale",
]


@dataclasses.dataclass(frozen=True)
class Units:
    """Hidden units of an MLP. ``hidden``: ``(name, size)`` blocks; ``w1[(resid block, hidden
    block)]``, ``b1[hidden block]``, ``w2[(hidden block, resid block)]``, ``b2[resid block]``: the
    block values as :func:`constructions._layout.linear` takes them."""

    hidden: tuple
    w1: Mapping
    b1: Mapping
    w2: Mapping
    b2: Mapping = dataclasses.field(default_factory=dict)


def mlp(resid: Layout, *groups: Units) -> MLP:
    """One MLP ``relu(X W1 + b1) W2 + b2`` holding the groups side by side (hidden blocks in order)."""
    hidden = Layout(*[block for g in groups for block in g.hidden])
    w1: dict = {}
    b1: dict = {}
    w2: dict = {}
    b2: dict = {}
    for g in groups:
        w1.update(g.w1)
        b1.update(g.b1)
        w2.update(g.w2)
        for block, value in g.b2.items():
            if block in b2:
                raise ValueError(f"two groups of units bias the output block {block!r}")
            b2[block] = value
    return MLP(
        w1=linear_in(resid, hidden, w1), b1=hidden.vector(**b1), w2=linear_in(hidden, resid, w2), b2=resid.vector(**b2)
    )


def ramp(
    size: int,
    reads: Mapping[str, object],
    out: str,
    *,
    bias: tuple,
    gain=1.0,
    names: tuple[str, str] = ("hi", "lo"),
    out_bias=None,
) -> Units:
    """Two ReLUs whose difference is a ramp: ``size`` copies of

        ``out += gain·(ReLU(z + b_hi) − ReLU(z + b_lo)) (+ out_bias)``,   ``z = Σ_s reads[s]·x_s``,

    with ``bias = (b_hi, b_lo)``, ``b_hi > b_lo`` (scalars or ``[size]`` vectors, one per copy).

    Lemma. The bracket is exactly 0 for ``z ≤ −b_hi``, exactly ``b_hi − b_lo`` for ``z ≥ −b_lo``,
    and increases linearly in between. So the block is a step that is *exact* on inputs kept at
    least ``(b_hi − b_lo)/2`` away from its midpoint ``−(b_hi + b_lo)/2``: both ReLUs are then
    either zero or linear, whatever the input's error inside that range.

    ``reads[s]`` is the coefficient block of residual block s (a scalar c means ``c·I``);
    ``gain`` may be a ``[out size, size]`` array (e.g. ones, to sum the copies into one number).
    ``names``: the hidden blocks of the two ReLUs.
    """
    hi, lo = names
    gain = np.asarray(gain, dtype=np.float64)
    return Units(
        hidden=((hi, size), (lo, size)),
        w1={**{(s, hi): c for s, c in reads.items()}, **{(s, lo): c for s, c in reads.items()}},
        b1={hi: bias[0], lo: bias[1]},
        w2={(hi, out): gain, (lo, out): -gain},
        b2={} if out_bias is None else {out: out_bias},
    )


def clean_bits(size: int, src: str, out: str = "bits") -> Units:
    """The bit-cleaning ramp ``h(u) = (ReLU(4u − 1) − ReLU(4u − 3))/2`` on each of ``size``
    coordinates of block ``src``, written to ``out``.

    Lemma. ``h(u) = 0`` exactly for ``u ≤ 1/4`` and ``h(u) = 1`` exactly for ``u ≥ 3/4`` (the
    :func:`ramp` with ``z = 4u``, ``b = (−1, −3)``, gain 1/2). A soft bit within 1/4 of 0 or 1
    (an attention fetch that puts weight ≥ 3/4 on its target, for example) becomes that bit.
    """
    return ramp(size, {src: 4.0}, out, bias=(-1.0, -3.0), gain=0.5)


def code_readout(resid: Layout, rho: np.ndarray, block: str = "bits"):
    """Readout ``(w [D, s], b [s])`` scoring symbol c against the 0/1 bits in ``block``:

        ``logit_c = Σ_j (2ρ(c)_j − 1)(2·bit_j − 1) = B − 2·Hamming(ρ(c), bits)``

    (weights ``2·signs``, bias ``−Σ signs``). Lemma: if the bits are ``ρ(c*)`` then ``c*`` scores
    B and every other symbol at most ``B − 2``: logit margin 2. ``rho``: ``[s, B]`` binary codes.
    """
    s = rho.shape[0]
    signs = 2 * rho - 1  # [s, B]
    readout_w = np.zeros((resid.dim, s))
    readout_w[resid[block]] = 2 * signs.T
    readout_b = -signs.sum(axis=1)
    return readout_w, readout_b


def bits_mlp_and_readout(resid: Layout, rho: np.ndarray, src: str = "symbol"):
    """The FFN and readout of every construction that fetches a binary code by attention (index
    lookup and its variants; nearest neighbour's label): ``(mlp, readout_w, readout_b)``.

    Reads the attention output in block ``src`` (bit j of the fetched symbol's code is ``≥ 4/5`` or
    ``≤ 1/5`` when the target holds ``≥ 4/5`` of the attention), writes clean bits into block
    ``bits`` (:func:`clean_bits`: exact 0/1 on those ranges) and scores the symbols by
    :func:`code_readout` (logit margin 2). ``rho``: ``[s, B]`` binary codes of the symbols.
    """
    readout_w, readout_b = code_readout(resid, rho, "bits")
    return mlp(resid, clean_bits(rho.shape[1], src)), readout_w, readout_b


def mean_and_threshold(resid: Layout, n: int, *, src: str, out: str, c: int):
    """The second layer of equality and THRES: ``(attention, mlp)``.

    Attention with Q = 0 averages the 0/1 block ``src`` uniformly over the n positions into block
    ``mean`` (= count/n exactly at the last position); the MLP writes ``[count > c]`` into block
    ``out`` by the :func:`ramp` ``ReLU(2n·mean − 2c − 1/2) − ReLU(2n·mean − 2c − 3/2)``.

    Lemma. The ramp is 0 for ``n·mean ≤ c + 1/4`` and 1 for ``n·mean ≥ c + 3/4``; the count is an
    integer, so ``out = [count ≥ c + 1]`` exactly, with room ``1/(4n)`` for a rounded uniform
    weight on a fixed-point grid.
    """
    val = Layout(**{src: 1})
    average = Attention(
        wq=np.zeros((1, 1, resid.dim)),
        wk=np.zeros((1, 1, resid.dim)),
        wv=linear(resid, val, {(src, src): 1.0})[None],
        wo=linear(val, resid, {(src, "mean"): 1.0}).T[None],
    )
    step = ramp(1, {"mean": 2.0 * n}, out, bias=(-2.0 * c - 0.5, -2.0 * c - 1.5))
    return average, mlp(resid, step)


def softmax_scale(competitors: int, gap: float, miss: float) -> float:
    """Smallest β with ``1/(1 + N e^{−β·gap}) ≥ 1 − miss``: ``β = ln(N(1−miss)/miss)/gap``.

    ``competitors`` N is the number of other positions a query can see, each scoring at least
    ``β·gap`` below the target (``gap = 1 − μ`` for an address fetch with certified coherence μ).

    Lemma (the fetch). If the target scores β·gap above each of N competitors, softmax puts weight
    ``α ≥ 1/(1 + N e^{−β·gap})`` (:func:`attention_lower_bound`) on it, so with this β
    ``α ≥ 1 − miss`` and the fetched value is within ``miss·max|v − v_target|`` of the target's.
    """
    if gap <= 0:
        raise ConstructionError(f"the score gap must be positive, got {gap}")
    return math.log(max(1, competitors) * (1 - miss) / miss) / gap


def attention_lower_bound(competitors: int, gap: float, beta: float) -> float:
    """``1/(1 + N e^{−β·gap})``: the weight a target at least ``β·gap`` above N others receives."""
    return 1.0 / (1.0 + max(1, competitors) * math.exp(-beta * gap))
