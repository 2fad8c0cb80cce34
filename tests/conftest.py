"""Shared test set-up: the Hypothesis profiles, the session-wide model builder, and the split of
the suite into its fast and slow groups.

Profiles: ``ci`` (the default) is reproducible: derandomized, no example database, no
deadline (the first call of a model compiles it), 60 examples per test unless a test asks
for its own count through ``testkit.examples``. ``dev`` (``HYPOTHESIS_PROFILE=dev``) runs a
sixth of the examples, randomized, for quick local runs. Both suppress the ``too_slow``
health check: the construction tests draw inputs for models with thousands of positions.
"""

import json
import os
import pathlib

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


# --- The fast and the slow group ---------------------------------------------------------------
# README's test command runs ``-m "not slow"``: the fast group, for a developer's turnaround; `.ci/run`
# runs it and then ``-m slow``, so CI runs every test. Besides the tests marked ``slow`` in their
# files (the heavy end-to-end runs), a test joins the slow group by its measured time, recorded in
# tests/durations.json (setup + call + teardown, seconds, one clean run on 2 cores with ``-n 2``;
# re-record by running the suite with ``RECORD_DURATIONS=tests/durations.json`` in the environment): a test measured at SLOW_S or more
# is slow, except the cheapest case of each test function when it is measured under KEEP_S, which
# stays fast so that each function keeps its cheapest case in the fast group. A test without a
# record (new, or under 0.05 s) is fast until the next recording.
DURATIONS = pathlib.Path(__file__).with_name("durations.json")
SLOW_S, KEEP_S = 1.5, 3.0


def _recorded() -> dict[str, float]:
    try:
        return json.loads(DURATIONS.read_text())
    except FileNotFoundError:
        return {}


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects by ``-m``
def pytest_collection_modifyitems(config, items):
    times = _recorded()
    cheapest: dict[str, str] = {}
    for item in items:
        fn = item.nodeid.split("[")[0]
        if fn not in cheapest or times.get(item.nodeid, 0.0) < times.get(cheapest[fn], 0.0):
            cheapest[fn] = item.nodeid
    for item in items:
        t = times.get(item.nodeid, 0.0)
        kept = cheapest[item.nodeid.split("[")[0]] == item.nodeid and t < KEEP_S
        if t >= SLOW_S and not kept:
            item.add_marker(pytest.mark.slow)


_measured: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """On the controller (under xdist the workers' reports arrive here too)."""
    _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    """``RECORD_DURATIONS=PATH``: each test's measured seconds (setup + call + teardown) merged into
    the JSON file PATH (tests/durations.json decides the slow group); entries under 0.05 s dropped."""
    path = os.environ.get("RECORD_DURATIONS")
    if not path or hasattr(session.config, "workerinput"):  # xdist workers leave it to the controller
        return
    path = pathlib.Path(path)
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        old = {}
    old.update({k: round(v, 2) for k, v in _measured.items()})
    keep = {k: v for k, v in sorted(old.items()) if v >= 0.05}
    tmp = path.with_suffix(".tmp")
    tmp.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {v}" for k, v in keep.items()) + "\n}\n")
    tmp.replace(path)
