"""Communication-complexity lower bounds (paper §4, App. B–G).

This first version holds the closed forms the verifier prints beside each construction; the
bounds issue extends it with exact certificates and executable reductions.
"""

from ._closed_forms import BoundError, LowerBound, lower_bounds, min_width_rnn
from ._matrix import CommMatrix, communication_matrix

__all__ = ["BoundError", "CommMatrix", "LowerBound", "communication_matrix", "lower_bounds", "min_width_rnn"]
