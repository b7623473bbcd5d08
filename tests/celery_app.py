"""The Celery app the tests' workers run: ``celery -A celery_app worker`` (cwd ``tests/``).

Configured from the environment, so each test's worker talks to its own Redis database:
``RP_BROKER`` (the broker URL, also where keys are claimed), ``RP_PREFIX`` (the key
prefix), ``RP_VISIBILITY`` (Celery's Redis ``visibility_timeout``, seconds).
``make_app`` builds the same app in the test process (the client side).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

import transport


def make_app(broker: str, prefix: str, visibility: float = 3600.0) -> tuple[Any, Any]:
    """A Celery app on ``broker`` and its ``CeleryFetcher`` (keys under ``prefix``)."""
    app = Celery("retry_policy_tests", broker=broker)
    app.conf.update(
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
        task_default_queue="retry-policy-tests",
    )
    # Half a second per Redis call for the workers' pacing state: on a loaded test machine
    # a 50 ms stall would make a worker fall back to local holds for a second.
    state = transport.RedisState(broker, prefix=prefix, timeout=0.5)
    return app, transport.CeleryFetcher(app, prefix=prefix, state=state)


if "RP_BROKER" in os.environ:
    app, fetcher = make_app(
        os.environ["RP_BROKER"],
        os.environ.get("RP_PREFIX", "retry-policy:"),
        float(os.environ.get("RP_VISIBILITY", "3600")),
    )
