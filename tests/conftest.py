"""Shared test set-up: the Hypothesis profiles and the session-wide model builder.

Profiles: ``ci`` (the default) is reproducible: derandomized, no example database, no
deadline (the first call of a model compiles it), 60 examples per test unless a test asks
for its own count through ``testkit.examples``. ``dev`` (``HYPOTHESIS_PROFILE=dev``) runs a
sixth of the examples, randomized, for quick local runs. Both suppress the ``too_slow``
health check: the construction tests draw inputs for models with thousands of positions.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

import testkit

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=10,
    derandomize=False,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def built():
    """``testkit.built``: ``built(task, arch, **params)`` builds a construction once per session."""
    return testkit.built
