"""The attempt loop, sans-IO: ``Call`` drives one call's attempts; ``State`` holds what
calls share (pacing holds, quotas, retry budgets), with ``LocalState`` for one process.

This floor sits above ``policy.language`` and ``policy.evaluate`` and may import only
them: it never sends, sleeps or reads a clock (every shell in ``transport`` does that
and hands this floor ``now``).  ``transport``'s Redis state implements the same
``State`` interface.  Users reach these names through ``transport``.

``_attempt`` holds the records and steps (``Attempt``, ``Send``, ``Wait``, ``Done``),
``_loop`` the driver (``Call``, ``Call.resume``), ``_observe`` test mode and tracing,
``_state`` the shared state, ``_breaker`` / ``_adaptive`` the pure circuit breaker and
adaptive bucket and ``_resilience`` / ``_guard`` how the loop and ``LocalState`` use them
(``add_breaker_listener``: told of every change of a circuit's phase);
``start_recording`` / ``stop_recording`` are what ``transport.testing()`` switches test
mode with.
"""

from ._attempt import Attempt, Done, Send, Wait, as_policy, fleet_settings, label_of
from ._loop import Call
from ._observe import start_recording, stop_recording
from ._resilience import (
    add_breaker_listener,
    circuit_of,
    guard_of,
    heard,
    remove_breaker_listener,
)
from ._state import LocalState, State, origin_of

__all__ = [
    "Attempt",
    "Call",
    "Done",
    "LocalState",
    "Send",
    "State",
    "Wait",
    "add_breaker_listener",
    "as_policy",
    "circuit_of",
    "fleet_settings",
    "guard_of",
    "heard",
    "label_of",
    "origin_of",
    "remove_breaker_listener",
    "start_recording",
    "stop_recording",
]
