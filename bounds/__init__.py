"""Communication-complexity lower bounds (paper §4, App. B–G; docs/BOUNDS.md).

Three kinds of object, each checkable on its own:

* closed forms (sympy) for every row of docs/PAPER.md §12, evaluated to the smallest width they
  allow, each with the hypotheses of its theorem as data (:class:`Domain`; outside them "no bound
  known" and the reason, never a number) — :func:`lower_bounds`, :func:`closed_form`,
  :data:`CLOSED_FORMS`;
* exact certificates at small n, re-checked by independent checkers —
  :func:`one_way_certificate`, :func:`dyck_fooling_set`, :func:`rank_certificate`, :func:`check`;
* executable reductions: Theorem 2 (:func:`rnn_protocol`) and Theorem 4 (:func:`tf1_protocol`)
  run our models as two-party protocols in ``fixed:I.F`` arithmetic, bit for bit; Theorem 8's
  reduction from disjointness through multi-query recall (:func:`disjointness_via_mqar`);

Corollary 13.1's numbers for the two-layer barrier (:func:`barrier`), and the separation report beside them (:func:`report`, :func:`format_report`, :func:`plot_report`):
constructions' sizes against every lower bound, with the crossover lengths.

This package imports ``tasks`` (reference solvers) but never ``constructions``: the protocols
take a built model and read its weights and metadata.
"""

from ._barrier import barrier
from ._certificates import FoolingSetCertificate, OneWayCertificate, ceil_log2, dyck_fooling_set, one_way_certificate
from ._check import CertificateError, check, check_fooling_set, check_one_way, check_rank
from ._closed_forms import (
    CLOSED_FORMS,
    FALLBACKS,
    BoundError,
    LowerBound,
    closed_form,
    lower_bounds,
    min_width_rnn,
    nn_keys,
    tf1_cost,
)
from ._domains import Domain, Requirement
from ._grid import Grid, GridOverflow, parse_fixed
from ._matrix import CommMatrix, communication_matrix, matrix, product_matrix
from ._mqar import disjointness_via_mqar, mqar_instance
from ._protocol import Message, ProtocolRun
from ._rank import RankCertificate, rank_certificate
from ._report import BOUND_TASKS, format_report, plot_report, report, save_png_svg
from ._rnn_protocol import rnn_protocol
from ._tf1_protocol import tf1_protocol, tf1_protocol_bits

__all__ = [
    "BOUND_TASKS",
    "BoundError",
    "CLOSED_FORMS",
    "CertificateError",
    "CommMatrix",
    "Domain",
    "FALLBACKS",
    "FoolingSetCertificate",
    "Grid",
    "GridOverflow",
    "LowerBound",
    "Message",
    "OneWayCertificate",
    "ProtocolRun",
    "RankCertificate",
    "Requirement",
    "barrier",
    "ceil_log2",
    "check",
    "check_fooling_set",
    "check_one_way",
    "check_rank",
    "closed_form",
    "communication_matrix",
    "disjointness_via_mqar",
    "dyck_fooling_set",
    "format_report",
    "lower_bounds",
    "matrix",
    "min_width_rnn",
    "mqar_instance",
    "nn_keys",
    "one_way_certificate",
    "parse_fixed",
    "plot_report",
    "product_matrix",
    "rank_certificate",
    "report",
    "rnn_protocol",
    "save_png_svg",
    "tf1_cost",
    "tf1_protocol",
    "tf1_protocol_bits",
]
