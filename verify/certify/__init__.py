"""Certified mode: a proof that a model answers correctly on *every* input (mode ``"certified"``).

    from verify.certify import certify
    row = certify(model, "fixed:4.4")          # one report row (a dict)

Sampling checks a few thousand of the ``s^n·n`` inputs; this package proves all of them, for the
Transformer constructions whose attention pattern does not depend on the symbols and for the RNNs
whose states a finite or bit-level induction covers. It reads only the model's
arrays (``model.weights``) and the task named in its metadata, never the construction's
``meta["construction"]``, so it works on saved, foreign and tampered models alike.

Each certified task has a *plan* that cuts its inputs into cells and proves each cell with one
enclosure of the forward pass; the plans are registered per task, model family and depth, and
:func:`certify` looks them up (a new construction adds a plan module, imported below):

* _arithmetic.py — boxes, and enclosures of each format (float64, fixed:I.F); the soundness of
  each format;
* _attention.py — one head's scores, softmax weights and output (key/value mixing);
* _affine.py — affine forms through ``Wo``, the residual, the MLP and the readout; margins;
* _index_lookup.py — the plan for index lookup (one layer), cells ``(t, s_t)``;
* _index_code.py — its off-target score bound from the Reed–Solomon ⊗ Hadamard code's distance
  (O(r) per cell, no Gram matrix; float64, one head; ``certify(..., method="code")``);
* _pairs.py — the plan for equality and disjointness (two layers), cells by the first deciding pair;
* _bit_cases.py — layer 1 of a two-layer model on bits, enclosed per case (the bits a position
  reads), shared by the pair and THRES plans;
* _threshold.py — THRES (two layers): cells by the count ``Σ_j g_j``, layer 2 a uniform average
  (checked) whose sum over positions is bounded by ``λ·count`` plus per-position brackets;
* _recall.py — associative recall (two layers): cells (queried pair, its key, its value);
* _rnn_plan.py — RNNs: Dyck for every length (_rnn_states.py: reachable hidden states × the
  task's minimal automaton of _reference_dfa.py), equality and disjointness at length n
  (_rnn_bits.py: a bit-level proof from the arrays);
* _rnn_lookup.py, _rnn_recall.py — the index-lookup RNN (symbol steps are input units and copies,
  the last step and the readout per index token) and the associative-recall RNN (per-key blocks,
  one automaton each) at their length, from per-unit tables in the model's arithmetic (_rnn_units.py);
* _registry.py — the registry and the protocol a plan implements;
* _driver.py — :func:`certify`: the plan's cells chunk by chunk, witness search, the report row.

Not covered: for Transformers, other floating formats (their attention sums are left to the sampled
and exhaustive modes); nearest neighbour (real-valued inputs; docs/PRECISION.md §3 says why);
tasks other than those in :data:`CERTIFIABLE` (the registered tasks; read live, so a plan
registered later appears in it).
"""

from .._engine import VerifyError
from . import (  # noqa: F401  (each module registers its plans)
    _index_lookup,
    _pairs,
    _recall,
    _rnn_lookup,
    _rnn_plan,
    _rnn_recall,
    _threshold,
)
from ._arithmetic import Box
from ._driver import certify
from ._index_lookup import index_lookup_boxes
from ._pairs import PAIR_TASKS, pair_boxes
from ._recall import recall_boxes
from ._registry import (
    Certifier,
    can_certify,
    certifiable,
    register_certifier,
    register_family,
    registered,
    unregister_certifier,
)
from ._threshold import threshold_boxes

__all__ = [
    "CERTIFIABLE",
    "PAIR_TASKS",
    "Box",
    "Certifier",
    "VerifyError",
    "can_certify",
    "certifiable",
    "certify",
    "index_lookup_boxes",
    "pair_boxes",
    "recall_boxes",
    "register_certifier",
    "register_family",
    "registered",
    "threshold_boxes",
    "unregister_certifier",
]


def __getattr__(name: str):
    if name == "CERTIFIABLE":  # derived from the registry each time it is read
        return certifiable()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
