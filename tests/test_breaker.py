"""The circuit breaker's pure transitions (``breaker=N``, ``breaker=P%``).

Three kinds of evidence: Hypothesis runs random admit/record sequences through the
implementation and through a plain, list-based model of the rules (every attempt kept,
the window counted by brute force); a differential test runs ``breaker=N`` against
pybreaker's ``fail_max=N`` on the same event sequences; and a few worked examples.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pybreaker
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy import ConnectFailure, ConnectionReset, Error, Response, Timeout
from policy.loop._breaker import (
    BUCKETS,
    BUSY,
    CLOSED,
    HALF_OPEN,
    OPEN,
    PROBE,
    SEND,
    BreakerConfig,
    BreakerState,
    admit,
    from_fields,
    is_failure,
    record,
    release,
    start,
    to_fields,
)

# -- the model ----------------------------------------------------------------------------


class Model:
    """The rules written the obvious way: every attempt since the circuit last closed is
    kept in a list; the streak and the window are recomputed from it each time."""

    def __init__(self, cfg: BreakerConfig) -> None:
        self.cfg = cfg
        self.phase = CLOSED
        self.log: list[tuple[int, bool]] = []  # (bucket counted in, failed)
        self.newest = -1
        self.until = 0.0
        self.sent = 0
        self.passed = 0

    def streak(self) -> int:
        n = 0
        for _, failed in reversed(self.log):
            if not failed:
                break
            n += 1
        return n

    def window(self) -> list[bool]:
        return [f for b, f in self.log if b > self.newest - BUCKETS]

    def _open(self, now: float) -> str:
        self.phase, self.until, self.log, self.newest = OPEN, now + self.cfg.open, [], -1
        return OPEN

    def _new_round(self, now: float, lease: float) -> str:
        self.phase, self.sent, self.passed = HALF_OPEN, 1, 0
        self.until = now + max(self.cfg.open, lease)
        return PROBE

    def admit(self, now: float, lease: float = 0.0) -> tuple[str, float]:
        """A probe's answer is due ``max(open, lease)`` after it goes; the round's
        probes count as lost when the last of them is past due."""
        if self.phase == CLOSED:
            return SEND, 0.0
        if self.phase == OPEN:
            if now < self.until:
                return OPEN, self.until - now
            return self._new_round(now, lease), 0.0
        if self.sent < self.cfg.probes:
            self.sent += 1
            self.until = max(self.until, now + max(self.cfg.open, lease))
            return PROBE, 0.0
        if now >= self.until:
            return self._new_round(now, lease), 0.0
        return BUSY, self.until - now

    def release(self, now: float, due: float) -> None:
        """A probe with no answer gives its place back, unless its answer was due already
        (its place lapsed)."""
        if self.phase == HALF_OPEN and self.sent > self.passed and now < due:
            self.sent -= 1

    def record(self, failed: bool, now: float, probe: bool) -> str | None:
        cfg = self.cfg
        if self.phase == CLOSED:
            b = math.floor(now / (cfg.window / BUCKETS)) if cfg.ratio else 0
            self.newest = max(self.newest, b)
            self.log.append((self.newest, failed))
            if not cfg.ratio:
                return self._open(now) if self.streak() >= cfg.threshold else None
            w = self.window()  # checked after every answer, a success too
            if len(w) >= cfg.min and sum(w) * 100 >= cfg.threshold * len(w):
                return self._open(now)
            return None
        if self.phase == OPEN or not probe:
            return None
        if failed:
            others, until = self.sent - self.passed > 1, self.until
            self._open(now)
            if others:  # the round's other probes still out: no new round before they are due
                self.until = max(self.until, until)
            return OPEN
        self.passed += 1
        if self.passed >= cfg.probes:
            self.phase, self.log, self.newest = CLOSED, [], -1
            return CLOSED
        return None


# -- strategies ---------------------------------------------------------------------------

count_configs = st.builds(
    BreakerConfig,
    threshold=st.integers(1, 6),
    ratio=st.just(False),
    open=st.sampled_from([0.5, 1.0, 5.0, 30.0]),
    probes=st.integers(1, 3),
)
ratio_configs = st.builds(
    BreakerConfig,
    threshold=st.integers(1, 100),
    ratio=st.just(True),
    window=st.sampled_from([1.0, 5.0, 30.0]),
    open=st.sampled_from([0.5, 2.0, 30.0]),
    min=st.integers(1, 12),
    probes=st.integers(1, 3),
)
#: (seconds later, admit a request / answer the oldest one in flight / the oldest one
#: in flight ends without an answer, failed, the request's lease)
ops = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.125, 0.25, 1.0, 2.5, 7.0, 31.0]),
        st.sampled_from(["admit", "answer", "admit", "answer", "release"]),
        st.booleans(),
        st.sampled_from([0.0, 0.0, 0.3, 5.0, 60.0]),
    ),
    max_size=120,
)


def drive(cfg: BreakerConfig, steps: list[tuple[float, str, bool, float]]) -> Iterator[Any]:
    """Run the steps through the implementation and the model side by side."""
    model, state = Model(cfg), start(cfg)
    now = 1000.0
    flight: list[tuple[bool, float]] = []  # let through, oldest first: (a probe?, due)
    for dt, action, failed, lease in steps:
        now += dt
        if action == "admit":
            state, verdict, wait = admit(cfg, state, now, lease)
            expected, expected_wait = model.admit(now, lease)
            assert verdict == expected and wait == pytest.approx(expected_wait)
            if verdict in (SEND, PROBE):
                flight.append((verdict == PROBE, now + max(cfg.open, lease)))
            else:
                assert wait > 0
            # never more probes out than ``probes``, until they are past due
            assert sum(1 for p, due in flight if p and due > now) <= cfg.probes
        elif action == "release":
            if flight:
                probe, due = flight.pop(0)
                if probe:
                    state = release(cfg, state, now, due)
                    model.release(now, due)
        else:
            probe = flight.pop(0)[0] if flight else False  # else: a late, unadmitted answer
            state, change = record(cfg, state, failed, now, probe=probe)
            assert change == model.record(failed, now, probe)
        assert state.phase == model.phase
        yield state, model, now


@settings(max_examples=300, deadline=None)
@given(cfg=count_configs, steps=ops)
def test_breaker_n_matches_the_model(cfg: BreakerConfig, steps: Any) -> None:
    """Same verdicts, waits, changes and phases; the streak is the model's trailing run."""
    for state, model, _ in drive(cfg, steps):
        if state.phase == CLOSED:
            assert state.streak == model.streak() < cfg.threshold


@settings(max_examples=300, deadline=None)
@given(cfg=ratio_configs, steps=ops)
def test_breaker_ratio_matches_the_model(cfg: BreakerConfig, steps: Any) -> None:
    """Same verdicts and phases; the ring of buckets holds exactly the model's window."""
    for state, model, _ in drive(cfg, steps):
        if state.phase == CLOSED and model.log:
            w = model.window()
            assert (sum(state.fails), sum(state.total)) == (sum(w), len(w))


@settings(max_examples=200, deadline=None)
@given(cfg=st.one_of(count_configs, ratio_configs), steps=ops)
def test_invariants(cfg: BreakerConfig, steps: Any) -> None:
    """Probes out never exceed ``probes``; an open span is never longer than ``open``;
    the state survives its flat (Redis hash) form."""
    for state, _, now in drive(cfg, steps):
        if state.phase == HALF_OPEN:
            assert 0 <= state.sent <= cfg.probes and state.passed < cfg.probes
        if state.phase != CLOSED:
            assert state.until - now <= max(cfg.open, 60.0)
        fields = to_fields(state)
        assert all(isinstance(v, str) for v in fields.values())
        assert from_fields(cfg, fields) == state


# -- pybreaker ----------------------------------------------------------------------------


class _Clock:
    """A virtual clock for pybreaker, which reads ``datetime.now(UTC)`` in its module."""

    now = 0.0


@contextlib.contextmanager
def pybreaker_clock() -> Iterator[type[_Clock]]:
    epoch = datetime(2030, 1, 1, tzinfo=UTC)

    class VirtualDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return epoch + timedelta(seconds=_Clock.now)

    real = pybreaker.datetime  # type: ignore[attr-defined]
    pybreaker.datetime = VirtualDatetime  # type: ignore[attr-defined]
    try:
        yield _Clock
    finally:
        pybreaker.datetime = real  # type: ignore[attr-defined]


class Boom(Exception):
    pass


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 6),
    open_s=st.sampled_from([1, 2, 5, 30]),
    probes=st.integers(1, 3),
    events=st.lists(
        # eighths of a second: exact in floats and in datetime's microseconds
        st.tuples(st.integers(0, 8 * 40).map(lambda k: k / 8), st.booleans()),
        max_size=150,
    ),
)
def test_breaker_n_agrees_with_pybreaker(
    n: int, open_s: int, probes: int, events: list[tuple[float, bool]]
) -> None:
    """``breaker=N/open=…/probes=…`` and ``CircuitBreaker(fail_max=N, reset_timeout=…,
    success_threshold=…)`` let the same calls through and are in the same state after
    every call, one call at a time (pybreaker's half-open lets every call through; one at
    a time, each is a probe here too)."""
    cfg = BreakerConfig(n, open=float(open_s), probes=probes)
    state = start(cfg)
    with pybreaker_clock() as clock:
        cb = pybreaker.CircuitBreaker(fail_max=n, reset_timeout=open_s, success_threshold=probes)
        now = 0.0
        for dt, failed in events:
            now += dt
            clock.now = now
            ran: list[bool] = []

            def call(failed: bool = failed, ran: list[bool] = ran) -> None:
                ran.append(True)
                if failed:
                    raise Boom

            with contextlib.suppress(Boom, pybreaker.CircuitBreakerError):
                cb.call(call)
            state, verdict, _ = admit(cfg, state, now)
            assert (verdict in (SEND, PROBE)) == bool(ran)
            if ran:
                state, _ = record(cfg, state, failed, now, probe=verdict == PROBE)
            assert state.phase == cb.current_state
            if state.phase == CLOSED:
                assert state.streak == cb.fail_counter


# -- worked examples ----------------------------------------------------------------------


def test_five_in_a_row_open_for_thirty_seconds_then_one_probe() -> None:
    cfg = BreakerConfig(5)
    s = start(cfg)
    for t in range(4):
        s, change = record(cfg, s, True, 100.0 + t)
        assert change is None
    s, change = record(cfg, s, False, 104.0)  # a success breaks the run
    assert (s.streak, change) == (0, None)
    for t in range(5):
        s, change = record(cfg, s, True, 105.0 + t)
    assert change == OPEN and s.phase == OPEN
    assert admit(cfg, s, 110.0)[1:] == (OPEN, 29.0)
    s, verdict, _ = admit(cfg, s, 139.0)
    assert (s.phase, verdict) == (HALF_OPEN, PROBE)
    assert admit(cfg, s, 139.5)[1:] == (BUSY, 29.5)  # the probe is out
    s, change = record(cfg, s, False, 140.0, probe=True)
    assert (s.phase, change) == (CLOSED, CLOSED)


def test_ratio_needs_the_minimum_then_opens_at_the_share() -> None:
    cfg = BreakerConfig(50, ratio=True)  # 50 % over 30 s, at least 20 attempts
    s = start(cfg)
    for k in range(19):
        s, change = record(cfg, s, True, 10.0 + k * 0.1)
        assert change is None  # 19 failures of 19: below the minimum
    s, change = record(cfg, s, True, 12.0)
    assert change == OPEN
    s = start(cfg)
    for k in range(30):  # 10 failures of 30: a third, under half
        s, change = record(cfg, s, k % 3 == 0, 10.0 + k * 0.1)
        assert change is None
    # thirty seconds later the old attempts have left the window
    s, change = record(cfg, s, True, 45.0)
    assert (sum(s.total), sum(s.fails)) == (1, 1)


def test_lost_probes_give_way_to_a_new_round() -> None:
    """A probe whose answer never comes does not keep the circuit half-open forever."""
    cfg = BreakerConfig(1, open=10.0)
    s, _ = record(cfg, start(cfg), True, 0.0)
    s, verdict, _ = admit(cfg, s, 10.0)
    assert verdict == PROBE
    assert admit(cfg, s, 19.9)[1] == BUSY
    s, verdict, _ = admit(cfg, s, 20.0)
    assert (verdict, s.phase, s.sent) == (PROBE, HALF_OPEN, 1)


def test_late_answers_do_not_move_an_open_circuit() -> None:
    cfg = BreakerConfig(2)
    s, _ = record(cfg, start(cfg), True, 0.0)
    s, _ = record(cfg, s, True, 0.1)
    assert record(cfg, s, False, 0.2) == (s, None)
    assert record(cfg, s, True, 0.2) == (s, None)


@pytest.mark.parametrize(
    ("outcome", "failed"),
    [
        (Response(500), True),
        (Response(503), True),
        (Response(599), True),
        (Response(429), False),
        (Response(404), False),
        (Response(200), False),
        (Timeout(), True),
        (ConnectFailure(), True),
        (ConnectionReset(), True),
        (Error(), True),
    ],
)
def test_what_counts_as_failed(outcome: Any, failed: bool) -> None:
    assert is_failure(outcome) is failed


def test_a_damaged_store_gives_a_closed_breaker() -> None:
    cfg = BreakerConfig(50, ratio=True)
    fields = to_fields(start(cfg))
    assert from_fields(cfg, {**fields, "phase": "ajar"}) == start(cfg)
    assert from_fields(cfg, {**fields, "fails": "1,2"}) == start(cfg)
    assert from_fields(cfg, {**fields, "until": "soon"}) == start(cfg)
    assert from_fields(cfg, {}) == start(cfg)
    assert isinstance(from_fields(cfg, fields), BreakerState)


def test_ratio_opens_on_the_answer_that_reaches_the_minimum_a_success_too() -> None:
    """19 failures, then a success: 95 % of 20 attempts failed; the success opens it."""
    cfg = BreakerConfig(50, ratio=True)
    s = start(cfg)
    for k in range(19):
        s, change = record(cfg, s, True, 10.0 + k * 0.1)
        assert change is None
    s, change = record(cfg, s, False, 12.0)
    assert (change, s.phase) == (OPEN, OPEN)
    # min=2: a failure, then a success: half of two attempts
    cfg2 = BreakerConfig(50, ratio=True, min=2)
    s, _ = record(cfg2, start(cfg2), True, 1.0)
    assert record(cfg2, s, False, 1.1)[1] == OPEN


def test_ratio_opens_when_old_successes_leave_the_window() -> None:
    """Successes that leave the window can leave a share of failures over the ratio: the
    next answer, a success, finds it."""
    cfg = BreakerConfig(50, ratio=True, window=10.0, min=4)
    s = start(cfg)
    for k in range(20):  # successes at 0..1.9 s
        s, _ = record(cfg, s, False, k * 0.1)
    for k in range(4):  # failures at 8.0..8.3 s: 4 of 24
        s, change = record(cfg, s, True, 8.0 + k * 0.1)
        assert change is None
    s, change = record(cfg, s, False, 11.0)  # the successes' bucket left: 4 of 5 failed
    assert change == OPEN


def test_a_slow_probe_is_not_lost_before_its_lease() -> None:
    """``open=300ms`` and a probe that may take 1 s: the others wait for its answer."""
    cfg = BreakerConfig(1, open=0.3)
    s, _ = record(cfg, start(cfg), True, 0.0)
    s, verdict, _ = admit(cfg, s, 0.3, lease=1.0)
    assert verdict == PROBE
    for t in (0.6, 0.9, 1.2):
        assert admit(cfg, s, t)[1] == BUSY
    s, verdict, _ = admit(cfg, s, 1.3)  # past due: counted lost, a new round
    assert verdict == PROBE


def test_a_probe_without_an_answer_gives_its_place_back() -> None:
    cfg = BreakerConfig(1, open=10.0)
    s, _ = record(cfg, start(cfg), True, 0.0)
    s, verdict, _ = admit(cfg, s, 10.0)
    assert verdict == PROBE and admit(cfg, s, 10.5)[1] == BUSY
    s = release(cfg, s)
    s, verdict, _ = admit(cfg, s, 10.5)
    assert verdict == PROBE
    assert release(cfg, start(cfg)) == start(cfg)  # nothing to give back when closed


def test_a_lapsed_probe_has_no_place_to_give_back() -> None:
    """A probe whose answer was due before it was given up has lapsed: a new round's
    probe holds the place now, and the late release frees nothing (two probes would be
    out with ``probes=1``)."""
    cfg = BreakerConfig(1, open=0.5)
    s, _ = record(cfg, start(cfg), True, 0.0)
    s, verdict, _ = admit(cfg, s, 1.0)  # probe A, due 1.5
    assert verdict == PROBE
    s, verdict, _ = admit(cfg, s, 2.0)  # A lapsed: probe B, a new round, due 2.5
    assert verdict == PROBE
    assert release(cfg, s, 2.0, 1.5) == s  # A given up late
    assert admit(cfg, s, 2.0)[1] == BUSY
    assert admit(cfg, release(cfg, s, 2.0, 2.5), 2.0)[1] == PROBE  # B's own release


def test_a_call_that_abandons_a_lapsed_probe_frees_no_other_probes_place() -> None:
    """The same through the loop: call A's probe lapses, call B probes a new round, A
    then ends without an answer (``Call.abandon``): call C still waits for B."""
    from policy import parse
    from policy.loop import Call, LocalState, Send, Wait

    p = parse("breaker=1/open=500ms 5xx:never")
    state, origin = LocalState(), "http://a.example:80"

    def call(now: float) -> Call:
        return Call(p, now=now, origin=origin, state=state, rand=lambda: 0.5)

    opener = call(0.0)
    opener.before(0.0)
    opener.after(Response(503), 0.0)
    a, b, c = call(1.0), call(2.0), call(2.0)
    assert type(a.before(1.0)) is Send  # probe A, due 1.5
    assert type(b.before(2.0)) is Send  # A lapsed: probe B
    a.abandon(2.0)
    assert type(c.before(2.0)) is Wait  # B's answer decides
    b.abandon(2.1)
    assert type(c.before(2.1)) is Send  # B gave its place back


def test_a_failed_probe_reopens_until_the_rounds_other_probes_are_due() -> None:
    """probes=2: one probe fails while the other (a 5 s lease) is still out; the circuit
    half-opens again only once that one is due, so no third probe joins it."""
    cfg = BreakerConfig(1, open=0.5, probes=2)
    s, _ = record(cfg, start(cfg), True, 0.0)
    s, _, _ = admit(cfg, s, 1.0)  # probe 1, due 1.5
    s, _, _ = admit(cfg, s, 1.0, 5.0)  # probe 2, due 6.0
    s, change = record(cfg, s, True, 1.0, probe=True)
    assert change == OPEN and s.until == 6.0
    assert admit(cfg, s, 2.0)[1] == OPEN
    # a lone probe's failure reopens for open, as always
    one, _ = record(cfg, start(cfg), True, 0.0)
    one, _, _ = admit(cfg, one, 1.0, 5.0)
    one, _ = record(cfg, one, True, 1.0, probe=True)
    assert one.until == 1.5
