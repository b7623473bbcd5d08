"""Test mode and metrics for every adapter: ``testing()`` and ``prometheus_hooks()``.

Both work through the one attempt loop (``_loop.Call``), so they reach every adapter
alike -- ``RetryingPool``, ``PolicyRetry``, the httpx and aiohttp adapters, ``retrying``
and the background fetcher -- in every thread and task of the process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

from policy.loop import Attempt, add_breaker_listener, start_recording, stop_recording

__all__ = ["Hooks", "prometheus_hooks", "testing"]


@contextlib.contextmanager
def testing() -> Iterator[list[float]]:
    """Skip every retry wait in the process and record it instead: ``with testing() as waits``.

    While the block runs, every adapter (any thread, any task) waits 0 s where the
    policy said to wait, and appends the wait it skipped (seconds) to ``waits``.  The
    call's own clock moves on by the skipped time, so deadlines and pacing holds still
    resolve as they would have.  Blocks nest: the innermost one records.
    """
    waits: list[float] = []
    start_recording(waits)
    try:
        yield waits
    finally:
        stop_recording(waits)


class Hooks(TypedDict):
    """``on_retry`` and ``on_giveup`` for an adapter: ``RetryTransport(p, **hooks)``."""

    on_retry: Callable[[Attempt], None]
    on_giveup: Callable[[Attempt], None]


_lock = threading.Lock()
_by_registry: dict[int, tuple[Any, Hooks]] = {}


def prometheus_hooks(registry: Any = None) -> Hooks:
    """Hooks that count retries and give-ups and observe waits in a Prometheus registry.

    Metrics (in ``registry``, default ``prometheus_client.REGISTRY``):

    * ``retry_policy_retries_total{rule, outcome}`` -- retries granted;
    * ``retry_policy_giveups_total{rule, outcome}`` -- calls that gave up;
    * ``retry_policy_wait_seconds`` -- a histogram of the waits before retries;
    * ``retry_policy_circuit_changes_total{origin, state}`` -- changes of a circuit
      breaker's phase (``breaker=``) seen by this process, by origin and the phase entered
      (``open``, ``half-open``, ``closed``).  Counted from the first ``prometheus_hooks``
      call with the registry on, for every adapter of the process (a circuit is the
      origin's, not one adapter's).

    ``rule`` is the deciding rule in canonical form (``none`` when no rule matched),
    ``outcome`` the status code or ``timeout``/``connect``/``reset``/``error``.  Calling
    it again with the same registry returns the same hooks (metrics register once).
    Needs ``prometheus_client`` (the ``retry-policy[prometheus]`` extra).
    """
    from prometheus_client import REGISTRY, Counter, Histogram

    reg = registry if registry is not None else REGISTRY
    with _lock:
        known = _by_registry.get(id(reg))
        if known is not None and known[0] is reg:
            return known[1]
        retries = Counter(
            "retry_policy_retries",
            "Retries granted by the retry policy",
            ("rule", "outcome"),
            registry=reg,
        )
        giveups = Counter(
            "retry_policy_giveups",
            "Calls the retry policy gave up on",
            ("rule", "outcome"),
            registry=reg,
        )
        waits = Histogram(
            "retry_policy_wait_seconds",
            "Waits before retries, in seconds",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, float("inf")),
            registry=reg,
        )

        changes = Counter(
            "retry_policy_circuit_changes",
            "Changes of a circuit breaker's phase, by origin and the phase entered",
            ("origin", "state"),
            registry=reg,
        )

        def on_change(origin: str, old: str, new: str) -> None:
            changes.labels(origin, new).inc()

        add_breaker_listener(on_change)

        def on_retry(attempt: Attempt) -> None:
            retries.labels(attempt.rule or "none", attempt.label).inc()
            waits.observe(attempt.delay or 0.0)

        def on_giveup(attempt: Attempt) -> None:
            giveups.labels(attempt.rule or "none", attempt.label).inc()

        hooks = Hooks(on_retry=on_retry, on_giveup=on_giveup)
        _by_registry[id(reg)] = (reg, hooks)
        return hooks
