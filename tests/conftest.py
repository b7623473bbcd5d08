"""Shared test configuration: Hypothesis profiles and the loopback HTTP server fixture.

Profiles: ``dev`` (fast, the default on a workstation) and ``ci`` (thorough; the default
when the ``CI`` environment variable is set).  ``HYPOTHESIS_PROFILE`` chooses explicitly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
