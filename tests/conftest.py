"""Shared test configuration: Hypothesis profiles and the ``redis_server`` fixture.

The suite runs in parallel (``pytest -n auto``, pytest-xdist): every fixture that starts a
server is session-scoped per worker process and binds a free port, and tests keep their
files under ``tmp_path``, so no test depends on another's order, port or files.

Profiles: ``dev`` (fast, the default on a workstation) and ``ci`` (thorough; the default
when the ``CI`` environment variable is set).  ``HYPOTHESIS_PROFILE`` chooses explicitly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

try:
    from tests.redis_server import redis_server
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from redis_server import redis_server  # type: ignore[no-redef]

__all__ = ["redis_server"]  # the fixture, registered here for every test module

settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
