"""The checking engine, reports and the ``verify`` command.

from verify import check
row = check(model, mode="exhaustive")          # one report row (a dict)
"""

from ._cli import main
from ._engine import MAX_EXHAUSTIVE, VerifyError, check, task_of

__all__ = ["check", "main", "task_of", "VerifyError", "MAX_EXHAUSTIVE"]
