"""Certified mode for RNNs: the whole-row plans of verify/certify/_registry.py.

* Dyck (any types and depth): the finite-state induction of verify/certify/_rnn_states.py — the
  reachable hidden states, enumerated in the model's own arithmetic, paired with the states of the
  task's minimal automaton (written from the task definition in verify/certify/_reference_dfa.py);
  it decides length n exactly and, when every reachable pair is right, proves every length at once.
* Equality and disjointness: the bit-level proof of verify/certify/_rnn_bits.py at length n.

Index lookup and associative recall have their own plans (verify/certify/_rnn_lookup.py,
verify/certify/_rnn_recall.py): their readout reads more units than the bit-level proof
enumerates, and their states do not close.
"""

from __future__ import annotations

from ._registry import register_certifier
from ._rnn_states import certify_rnn


@register_certifier(task="dyck", family="rnn")
@register_certifier(task="equality", family="rnn")
@register_certifier(task="disjointness", family="rnn")
class RNNPlan:
    """Dispatches to :func:`certify_rnn` (which picks the finite-state or the bit-level proof)."""

    @staticmethod
    def certify_row(model, precision: str, task, witnesses: bool) -> dict:
        # both proofs search their own counterexample (a real failing input) whatever ``witnesses``
        return certify_rnn(model, precision, task=task)
