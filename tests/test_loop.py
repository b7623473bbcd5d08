"""The sans-IO attempt loop (``Call``) and the local fleet state (``LocalState``)."""

from __future__ import annotations

import json
import threading

from hypothesis import example, given
from hypothesis import strategies as st

import policy
from policy.loop import Call, Done, Send, Wait, start_recording, stop_recording
from policy.loop._state import (
    BLIND_WAIT,
    FLOOR,
    IN_FLIGHT,
    NEW_WINDOW,
    WINDOW,
    LocalState,
    origin_of,
)


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


def test_local_state_budget_bound_is_never_exceeded_by_rounding() -> None:
    """20 % of 48 first attempts and a floor of 10 is 19.6: 19 retries, not 20."""
    s = LocalState()
    for i in range(48):
        s.record_request("o", 1000.0 + i * 0.01)
    granted = sum(s.spend_retry("o", 1001.0, 0.2, FLOOR)[0] for _ in range(40))
    assert granted == 19


def test_local_state_budget_window_takes_times_out_of_order() -> None:
    """Times reported out of order (racing threads, test mode's skipped-ahead clocks)
    still age out: the window holds exactly those of the last WINDOW seconds."""
    s = LocalState()
    for t in (100.0, 50.0, 99.0, 10.0):
        s.record_request("o", t)
    assert s.spend_retry("o", 100.0 + WINDOW - 5, 0.0, 1) == (True, 2)  # 100 and 99
    s.spend_retry("o", 30.0, 1.0, 1)  # an old retry, reported late: already outside
    assert s.spend_retry("o", 100.0 + WINDOW - 5, 0.0, 2)[0]  # so a second one fits


def test_local_state_hold_is_seen_while_other_origins_are_touched() -> None:
    """A held origin reads as held from any thread, even while another thread updates
    the state (which reorders its origins) at the same time."""
    s = LocalState()
    s.hold("held", 1e12, 1.0)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            s.take("held", 1.0)
            s.record_request("other", 1.0)

    t = threading.Thread(target=churn)
    t.start()
    try:
        misses = sum(s.hold_until("held", 1.0) is None for _ in range(200_000))
    finally:
        stop.set()
        t.join(10)
    assert misses == 0


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


# --- the remaining quota -----------------------------------------------------------------------


def test_local_state_quota_is_spent_then_waits_for_the_reset() -> None:
    """N units go, then the reset time is the answer until it passes; then no quota."""
    s = LocalState()
    assert s.take("o", 100.0) is None  # nothing recorded: unlimited
    s.set_quota("o", 2, 110.0, 100.0)
    assert [s.take("o", 101.0) for _ in range(4)] == [None, None, 110.0, 110.0]
    assert s.take("o", 110.0) is None  # the reset passed: forgotten
    assert s.take("o", 110.5) is None
    assert s.take("other", 101.0) is None


def test_local_state_quota_only_falls_within_a_window() -> None:
    """Same reset: only a lower count is kept; a later reset starts a new window."""
    s = LocalState()
    s.set_quota("o", 3, 110.0, 100.0)
    s.set_quota("o", 5, 110.0, 101.0)  # a late answer from earlier in the window
    s.set_quota("o", 9, 105.0, 101.0)  # an earlier reset: not a new window
    s.set_quota("o", 8, 110.9, 101.0)  # within a second: the same window, told later
    assert [s.take("o", 102.0) for _ in range(4)] == [None, None, None, 110.0]
    s.set_quota("o", 1, 120.0, 103.0)  # a later reset: the next window
    assert [s.take("o", 104.0) for _ in range(2)] == [None, 120.0]
    s.set_quota("o", 4, 100.0, 104.0)  # already past: ignored
    assert s.take("o", 104.0) == 120.0


def test_requests_sent_before_a_quota_was_known_count_against_it() -> None:
    """4 requests sent at a window's start, blind; the first answer says 3 left: the
    server may not have counted the other 3 yet, so none is left.  Sends older than
    IN_FLIGHT seconds are not counted."""
    s = LocalState()
    assert [s.take("o", 100.0) for _ in range(4)] == [None] * 4
    s.set_quota("o", 3, 101.0, 100.01)
    assert s.take("o", 100.02) == 101.0
    s.set_quota("o", 2, 102.0, 101.0)  # the next window: nothing sent blind
    assert [s.take("o", 101.1) for _ in range(3)] == [None, None, 102.0]
    assert [s.take("o", 110.0) for _ in range(3)] == [None] * 3  # forgotten: blind again
    s.set_quota("o", 5, 120.0, 110.0 + IN_FLIGHT + 0.01)  # those are answered by now
    assert [s.take("o", 110.5 + IN_FLIGHT) for _ in range(6)] == [None] * 5 + [120.0]


def test_the_herd_at_a_reset_waits_for_the_new_count() -> None:
    """A window of 5 (its first answer said 4 left): just after its reset only 5 requests
    go before the new window's count is known; the others wait BLIND_WAIT at a time,
    then follow the count the first answer reports.  Long after a reset, nothing is
    known and requests go."""
    s = LocalState()
    s.set_quota("o", 4, 101.0, 100.0)
    s.set_quota("o", 0, 101.0, 100.1)
    got = [s.take("o", 101.0) for _ in range(8)]
    assert got == [None] * 5 + [101.0 + BLIND_WAIT] * 3
    # The new window's first answer: 4 left, 4 more of the 5 on the wire: none to spare.
    s.set_quota("o", 4, 102.0, 101.01)
    assert s.take("o", 101.05) == 102.0
    # The limit rose to 8: the first of the 5 is answered "7 left", so one goes.
    s.set_quota("o", 7, 102.0, 101.02)
    assert [s.take("o", 101.05) for _ in range(2)] == [None, 102.0]  # 4 - (5 - 2)
    assert [s.take("o", 102.0 + IN_FLIGHT + 0.5) for _ in range(8)] == [None] * 8


def test_late_answers_of_the_last_window_are_not_this_windows() -> None:
    """A failure seen in CI (tests/test_cost_adapters.py, the fetcher), replayed: a fixed
    window of 4 requests per second, each answer telling what is left and the reset
    counted from when the server decided (as OpenAI's Go durations do).  Two answers of
    window [0, 1) stall past the boundary and arrive after window [1, 2) started: their
    resets, counted from their arrival, are not a second later, so they are read as that
    window's reports.  Counted as its answers they hid its requests still in flight, and
    a fifth request went into it.  Taken as the last window's, no request is refused,
    and once every answer is in the fourth goes (nothing is left unused)."""
    s = LocalState()
    used: dict[int, int] = {}  # the server's count per window
    refused: list[float] = []
    wire: dict[str, tuple[int, float]] = {}  # sent, answer not read: (left, reset in)

    def send(name: str, t: float) -> None:
        if s.take("o", t) is not None:
            return  # told to wait
        w = int(t)
        if used.get(w, 0) == 4:
            refused.append(t)
        used[w] = min(used.get(w, 0) + 1, 4)
        wire[name] = (4 - used[w], w + 1 - t)

    def answer(name: str, t: float) -> None:
        left, reset_in = wire.pop(name)
        s.set_quota("o", left, t + reset_in, t)

    for name in ("a1", "a2", "a3"):
        send(name, 0.78)  # blind, counted by the server: 3, 2, 1 left
    answer("a1", 0.782)
    send("a4", 0.782)
    answer("a4", 0.783)
    send("a5", 0.79)
    assert list(wire) == ["a2", "a3"]  # the window is spent; a2 and a3 stall
    send("b1", 1.003)  # past the reset: the herd's first, blind
    answer("b1", 1.005)  # the new window: 3 left
    send("b2", 1.005)
    answer("a2", 1.047)  # late: "2 left, reset in 0.22 s", read as [1, 2)'s
    send("b3", 1.048)
    answer("b2", 1.064)
    send("b4", 1.065)
    if "b3" in wire:
        answer("b3", 1.10)
    send("b5", 1.10)
    answer("a3", 1.16)  # the last late one
    send("b6", 1.16)
    assert refused == []
    assert used == {0: 4, 1: 4}


def test_local_state_quota_is_thread_safe() -> None:
    """Many threads taking at once spend exactly the quota, no unit twice."""
    s = LocalState()
    s.set_quota("o", 37, 50.0, 10.0)
    results: list[float | None] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [s.take("o", 11.0) for _ in range(20)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results.count(None) == 37
    assert results.count(50.0) == 8 * 20 - 37


_quota_ops = st.lists(
    st.tuples(
        st.booleans(),  # set_quota (else take)
        st.floats(0, 3, allow_nan=False),  # time step
        st.integers(0, 6),  # remaining
        st.floats(-1, 8, allow_nan=False),  # reset, from now
    ),
    max_size=60,
)


@given(ops=_quota_ops)
def test_local_state_never_grants_more_than_the_window_allows(ops: list) -> None:  # type: ignore[type-arg]
    """Within a window, the takes granted after any report never exceed what that report
    said was left plus the answers reported after it (each one request no longer in
    flight); a refusal names a reset still ahead; after the reset, takes are granted (the
    quota is forgotten), but for a short wait for the new count just after it."""
    s = LocalState()
    now = 0.0
    window_end = 0.0  # the latest reset recorded
    # This window's reports: [remaining, takes granted since, reports since].
    reports: list[list[int]] = []
    for is_set, dt, remaining, ahead in ops:
        now += dt
        if is_set:
            until = now + ahead
            s.set_quota("o", remaining, until, now)
            if until > now:
                if window_end <= now or until >= window_end + NEW_WINDOW:
                    window_end, reports = until, [[remaining, 0, 0]]
                else:
                    for report in reports:
                        report[2] += 1
                    reports.append([remaining, 0, 0])
            continue
        got = s.take("o", now)
        if window_end <= now:
            # Forgotten -- but just after the reset, the herd waits for the new count.
            assert got is None or (got == now + BLIND_WAIT and now - window_end <= IN_FLIGHT)
        elif got is None:
            for report in reports:
                report[1] += 1
                assert report[1] <= report[0] + report[2], (report, reports)
        else:
            assert got == window_end > now


@given(
    limit=st.integers(1, 8),
    steps=st.lists(st.tuples(st.sampled_from("tca"), st.integers(0, 50)), max_size=80),
)
# Three sent at a window's start, all counted (4, 3, 2 left), the "3 left" answer read
# first: once every answer is in, two are left and both must be let through.
@example(
    limit=5,
    steps=[("t", 0)] * 3 + [("c", 0)] * 3 + [("a", 1), ("a", 0), ("a", 0)]
    + [("t", 0), ("c", 0), ("a", 0), ("t", 0)],
)  # fmt: skip
def test_quota_against_a_fixed_window_server(limit: int, steps: list) -> None:  # type: ignore[type-arg]
    """Clients sharing one state against one fixed-window limiter, with requests counted
    by the server and answered in any order: no request let through after the first
    answer is over the limit, and a take is refused only while answers are outstanding
    or the window is really spent (nothing is left unused)."""
    s = LocalState()
    now, reset = 100.0, 1_000.0
    counted = 0  # requests the server has counted this window
    on_wire: list[bool] = []  # sent, not yet counted: was it let through under a quota?
    answers: list[tuple[int, bool]] = []  # counted, answer not yet read: (remaining, paced)
    known = False  # a quota has been reported
    for kind, i in steps:
        if kind == "t":  # a client wants to send
            got = s.take("o", now)
            if got is None:
                on_wire.append(known)
            else:
                assert got == reset
                assert on_wire or answers or counted >= limit, (counted, limit)
        elif kind == "c" and on_wire:  # the server counts one request on the wire
            paced = on_wire.pop(i % len(on_wire))
            counted += 1
            assert not (paced and counted > limit), (counted, limit)
            answers.append((max(0, limit - counted), paced))
        elif kind == "a" and answers:  # a client reads one answer
            remaining, _ = answers.pop(i % len(answers))
            s.set_quota("o", remaining, reset, now)
            known = True


def test_call_spends_the_quota_and_waits_for_its_reset() -> None:
    """A response saying 1 request is left until +2 s: the next call goes, the one after
    waits until the reset; with a deadline before the reset it gives up unsent."""
    state = LocalState()
    now = 1_000.0
    headers = {"x-ratelimit-remaining": "1", "x-ratelimit-reset": "2"}

    def call() -> Call:
        return Call(
            policy.parse("pace=on"),
            now=now,
            origin="http://h:80",
            state=state,
            rand=lambda: 0.5,
        )

    c = call()
    assert type(c.before(now)) is Send
    assert type(c.after(policy.Response(200, headers), now)) is Done
    assert type(call().before(now + 0.1)) is Send  # the one unit left
    step = call().before(now + 0.2)
    assert type(step) is Wait and abs(step.seconds - 1.8) < 1e-9
    done = Call(
        policy.parse("pace=on deadline=1s"),
        now=now + 0.2,
        origin="http://h:80",
        state=state,
        rand=lambda: 0.5,
    ).before(now + 0.2)
    assert type(done) is Done and done.gave_up and "quota" in done.reason
    assert type(call().before(now + 2.0)) is Send  # reset passed: forgotten
    # Pacing off: the state is not consulted at all.
    off = Call(policy.parse(""), now=now, origin="http://h:80", state=state, rand=lambda: 0.5)
    state.set_quota("http://h:80", 0, now + 50, now + 2.0)
    assert type(off.before(now + 3.0)) is Send


_RESUMED = "5xx:backoff(6,100ms..20s,x2,jitter=decorrelated) timeout:backoff(3,1s) deadline=30s"


@given(
    codes=st.lists(st.sampled_from([500, 503, 0, 200]), min_size=1, max_size=9),
    cut=st.integers(min_value=1, max_value=8),
    draws=st.lists(st.floats(min_value=0.0, max_value=0.999), min_size=12, max_size=12),
)
def test_a_resumed_call_goes_on_as_if_it_never_stopped(
    codes: list[int], cut: int, draws: list[float]
) -> None:
    """Stopping a call after any attempt, keeping its ``AttemptState`` and attempts as
    JSON (what a Celery message carries) and rebuilding it with ``Call.resume`` changes
    nothing: the same waits, the same attempts, the same end, the deadline included."""
    from policy.loop import Attempt

    p = policy.parse(_RESUMED)
    outcomes = [policy.Timeout() if c == 0 else policy.Response(c, {}) for c in codes]

    def drive(call: Call, now: float, rand: list[float], upto: int | None) -> tuple[list, float]:  # type: ignore[type-arg]
        seen: list[object] = []
        while upto is None or len(call.attempts) < upto:
            step = call.before(now)
            if isinstance(step, Done):
                seen.append(("done", step.reason))
                break
            assert isinstance(step, Send)
            seen.append(("send", step.timeout))
            n = len(call.attempts)
            step = call.after(outcomes[n] if n < len(outcomes) else policy.Response(200, {}), now)
            if isinstance(step, Done):
                seen.append(("done", step.gave_up, step.reason))
                break
            seen.append(("wait", step.seconds))
            now += step.seconds
        return seen, now

    start = 1_000_000.0
    once = iter(draws)
    whole = Call(p, now=start, timeout=5.0, rand=lambda: next(once))
    expected, _ = drive(whole, start, draws, None)

    it = iter(draws)
    first = Call(p, now=start, timeout=5.0, rand=lambda: next(it))
    head, now = drive(first, start, draws, cut)
    if head and head[-1][0] == "done":
        assert head == expected
        return
    kept = json.loads(json.dumps([a.as_dict() for a in first.attempts]))
    start_at, retries, counters, prev, deadline = json.loads(json.dumps(list(first.state)))
    state = policy.AttemptState(start_at, retries, tuple(counters), tuple(prev), deadline)
    resumed = Call.resume(
        p, state, [Attempt.from_dict(a) for a in kept], timeout=5.0, rand=lambda: next(it)
    )
    assert resumed.deadline_at == first.deadline_at
    tail, _ = drive(resumed, now, draws, None)
    assert head + tail == expected
    assert [a.as_dict() for a in resumed.attempts] == [a.as_dict() for a in whole.attempts]
