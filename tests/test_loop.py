"""The sans-IO attempt loop (``Call``) and the local fleet state (``LocalState``)."""

from __future__ import annotations

import threading

import policy
from transport._loop import Call, Done, Send, Wait, start_recording, stop_recording
from transport._state import FLOOR, WINDOW, LocalState, origin_of


def _run(p: str, outcomes: list[object], *, timeout: float = 5.0) -> tuple[list[object], Call]:
    """Drive a call through ``outcomes`` with a virtual clock; return the steps."""
    now = 1_000_000.0
    call = Call(policy.parse(p), method="GET", now=now, timeout=timeout, rand=lambda: 0.5)
    steps: list[object] = []
    it = iter(outcomes)
    while True:
        step = call.before(now)
        steps.append(step)
        if isinstance(step, Wait):
            now += step.seconds
            continue
        if isinstance(step, Done):
            return steps, call
        step = call.after(next(it), now)
        steps.append(step)
        if isinstance(step, Done):
            return steps, call
        now += step.seconds


def test_503_503_200_retries_twice_then_accepts() -> None:
    """Two retries with the policy's delays, then the 2xx ends the call as accepted."""
    r = policy.Response
    steps, call = _run("5xx:backoff(3,1s..8s,x2)", [r(503, {}), r(503, {}), r(200, {})])
    waits = [s.seconds for s in steps if isinstance(s, Wait)]
    assert waits == [1.0, 2.0]
    last = steps[-1]
    assert isinstance(last, Done) and not last.gave_up
    assert [a.label for a in call.attempts] == ["503", "503", "200"]
    assert [a.delay for a in call.attempts] == [1.0, 2.0, None]


def test_give_up_reports_the_policy_reason() -> None:
    """A spent limit ends the call with the evaluator's reason on the last attempt."""
    r = policy.Response
    steps, call = _run("5xx:backoff(1,1s)", [r(503, {}), r(503, {})])
    last = steps[-1]
    assert isinstance(last, Done) and last.gave_up
    assert "limit" in last.reason
    assert last.attempt is call.attempts[-1]


def test_deadline_shrinks_the_attempt_timeout() -> None:
    """Each attempt gets min(timeout, time left before the deadline)."""
    now = 500.0
    call = Call(
        policy.parse("deadline=3s 5xx:backoff(3,2s)"), now=now, timeout=10.0, rand=lambda: 0.0
    )
    first = call.before(now)
    assert isinstance(first, Send) and first.timeout == 3.0
    step = call.after(policy.Response(503, {}), now + 0.5)
    assert isinstance(step, Wait) and step.seconds == 2.0
    second = call.before(now + 2.5)
    assert isinstance(second, Send) and abs(second.timeout - 0.5) < 1e-9


def test_test_mode_records_waits_and_moves_the_calls_clock() -> None:
    """Under test mode a wait is recorded, the shell is told 0 s, and deadlines still pass."""
    waits: list[float] = []
    start_recording(waits)
    try:
        now = 0.0
        call = Call(policy.parse("deadline=5s 5xx:backoff(9,2s)"), now=now, rand=lambda: 0.0)
        seen = []
        while True:
            step = call.before(now)
            if isinstance(step, Done):
                break
            step = call.after(policy.Response(503, {}), now)
            seen.append(step)
            if isinstance(step, Done):
                break
            assert step.seconds == 0.0
    finally:
        stop_recording(waits)
    assert waits == [2.0, 2.0]  # the third 2 s wait would end past the 5 s deadline
    assert isinstance(seen[-1], Done) and "deadline" in seen[-1].reason


def test_origin_of_fills_default_ports_and_lowercases() -> None:
    """Origins compare equal however the URL spells scheme, host and port."""
    assert origin_of("HTTP://Example.COM/a") == origin_of("http://example.com:80/b")
    assert origin_of("https://h/") == "https://h:443"
    assert origin_of("http://[::1]:8080/") == "http://[::1]:8080"


def test_local_state_holds_only_grow_and_expire() -> None:
    """A later hold wins, an earlier one is ignored, and a hold is gone once passed."""
    s = LocalState()
    s.hold("o", 110.0, 100.0)
    s.hold("o", 105.0, 100.0)
    assert s.hold_until("o", 100.0) == 110.0
    assert s.hold_until("o", 110.0) is None
    assert s.hold_until("other", 100.0) is None


def test_local_state_budget_floor_ratio_and_window() -> None:
    """Retries ≤ ratio × first attempts + floor within the window; old ones age out."""
    s = LocalState()
    for i in range(100):
        s.record_request("o", 1000.0 + i * 0.01)
    now = 1001.0
    granted = sum(s.spend_retry("o", now, 0.2, FLOOR)[0] for _ in range(100))
    assert granted == 20 + FLOOR
    assert s.spend_retry("o", now, 0.2, FLOOR) == (False, 100)
    later = now + WINDOW + 0.01
    assert s.spend_retry("o", later, 0.2, FLOOR) == (True, 0)


def test_local_state_budget_is_thread_safe() -> None:
    """Many threads spending at once never exceed the budget."""
    s = LocalState()
    for _ in range(50):
        s.record_request("o", 10.0)
    results: list[bool] = []
    lock = threading.Lock()

    def spend() -> None:
        mine = [s.spend_retry("o", 11.0, 0.2, FLOOR)[0] for _ in range(50)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(results) == 10 + FLOOR
