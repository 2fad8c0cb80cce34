"""Helpers shared by the test files: one cached construction builder and the Hypothesis
example count of a test that needs its own.

Importable from every test folder (``pyproject.toml`` puts ``tests/`` on the path); inside
``@given`` tests, where pytest fixtures are awkward, import these directly.
"""

import functools

from hypothesis import settings

import constructions
import tasks


def built(task: str, arch: str, **params):
    """``constructions.build(task, arch=arch, **params)``, built once per test session.

    The model is shared by every test that asks for the same arguments: treat it as read-only
    (``Model.with_arrays`` gives a modified copy)."""
    return _built(task, arch, tuple(sorted(params.items())))


@functools.cache
def _built(task, arch, items):
    return constructions.build(task, arch=arch, **dict(items))


def task(name: str, **params):
    """``tasks.get(name, **params)``, made once per test session (read-only, as ``built``)."""
    return _task(name, tuple(sorted(params.items())))


@functools.cache
def _task(name, items):
    return tasks.get(name, **dict(items))


def examples(ci: int) -> int:
    """A test's own ``max_examples``: ``ci`` under the ``ci`` profile, scaled down in the same
    ratio as the profile's default under ``dev`` (at least 1)."""
    ratio = settings.default.max_examples / settings.get_profile("ci").max_examples
    return max(1, round(ci * ratio))


def samples_to_catch(rate: float = 0.01, power: float = 0.99) -> int:
    """Independent samples that catch a fault on a fraction ``rate`` of the inputs with probability
    at least ``power``: the fault is missed with probability ``(1 - rate)^k``, at most
    ``1 - power`` once ``k >= ln(1 - power) / ln(1 - rate)`` (459 for 1% at 99%)."""
    import math

    return math.ceil(math.log(1 - power) / math.log(1 - rate))
