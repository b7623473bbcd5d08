"""``LocalState`` tallies a closed ``breaker=P%``'s successes and records them in one step
when the window must be read: the states and phase changes are exactly those of recording
every answer in turn with the pure functions.

Two pieces of evidence: ``record_successes(n)`` equals ``n`` successive ``record``s from
any state the breaker can reach while closed (opening it where one of them would); and
random sequences of admissions (with leases), answers (late ones included, through both
of ``LocalState``'s recording paths: the answer alone, and with a hold) and released
probes give the same verdicts, changes and states as the pure functions in that order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy.loop import LocalState
from policy.loop._breaker import (
    CLOSED,
    PROBE,
    SEND,
    BreakerConfig,
    admit,
    record,
    record_successes,
    release,
    start,
)
from policy.loop._guard import record_answer

ratio_configs = st.builds(
    BreakerConfig,
    threshold=st.integers(1, 100),
    ratio=st.just(True),
    window=st.sampled_from([0.3, 1.0, 5.0, 30.0]),
    open=st.sampled_from([0.5, 2.0, 30.0]),
    min=st.integers(1, 12),
    probes=st.integers(1, 3),
)
count_configs = st.builds(
    BreakerConfig,
    threshold=st.integers(1, 6),
    ratio=st.just(False),
    window=st.just(30.0),
    open=st.sampled_from([0.5, 2.0]),
    min=st.just(20),
    probes=st.integers(1, 3),
)

#: (seconds later, admit / answer / release, failed, how late the answer is, answered
#: with a hold, the request's lease)
ops = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.1, 0.25, 1.0, 2.5, 7.0, 31.0]),
        st.sampled_from(["admit", "answer", "answer", "release"]),
        st.sampled_from([False, False, False, True]),
        st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.4, 3.0]),
        st.sampled_from([False, False, True]),
        st.sampled_from([0.0, 0.0, 1.0, 40.0]),
    ),
    min_size=10,
    max_size=150,
)


@settings(max_examples=300, deadline=None)
@given(
    cfg=ratio_configs,
    history=st.lists(
        st.tuples(st.sampled_from([0.0, 0.1, 0.5, 2.0, 9.0]), st.booleans()), max_size=60
    ),
    dt=st.sampled_from([-3.0, -0.2, 0.0, 0.05, 0.3, 1.0, 4.0, 40.0]),
    n=st.integers(1, 50),
)
def test_record_successes_is_n_records(
    cfg: BreakerConfig, history: list[tuple[float, bool]], dt: float, n: int
) -> None:
    state, now = start(cfg), 500.0
    for step, failed in history:
        now += step
        state, _ = record(cfg, state, failed, now)
        if state.phase != CLOSED:
            state = start(cfg)  # only closed states are tallied
    at = now + dt
    one_by_one = state
    for _ in range(n):  # (one of them may open it: the window reaches ``min``, or rolls)
        one_by_one, _ = record(cfg, one_by_one, False, at)
    assert record_successes(cfg, state, n, at) == one_by_one


@settings(max_examples=400, deadline=None)
@given(cfg=st.one_of(ratio_configs, count_configs), steps=ops)
def test_local_state_records_as_the_pure_functions(cfg: BreakerConfig, steps: Any) -> None:
    local, origin = LocalState(), "http://a:80"
    pure = start(cfg)
    now, flight = 1000.0, []  # requests let through: was it a probe?
    for dt, action, failed, late, with_hold, lease in steps:
        now += dt
        if action == "admit":
            pure, verdict, wait = admit(cfg, pure, now, lease)
            got = local.before(origin, now, pace=False, first=False, breaker=cfg, lease=lease)
            if verdict == SEND:
                assert got is None
            elif verdict == PROBE:
                assert got is not None and got[0] in ("probe", "half-open")
            else:
                assert got == (verdict, now + wait)
            if verdict in (SEND, PROBE):
                flight.append(verdict == PROBE)
        elif action == "release":
            if flight and flight.pop(0):
                pure = release(cfg, pure)
                local.after(origin, now, breaker=cfg, released=True)
        else:
            probe = flight.pop(0) if flight else False
            at = now - late
            pure, change = record(cfg, pure, failed, at, probe=probe)
            if with_hold:  # the answer with a hold: LocalState.after's general path
                changes: list[str] = []
                local.after(
                    origin, at, hold=at + 0.001, breaker=cfg, failed=failed, probe=probe,
                    changes=changes,
                )  # fmt: skip
                assert changes == ([] if change is None else [change])
            else:  # the answer alone: the direct path (a tally, or a lock-free read)
                got_change = record_answer(local, origin, at, cfg, failed, probe, False, False)
                assert got_change == change
        o = local._origins.get(origin)
        circuits = o.circuit if o is not None else None
        if circuits is not None and cfg in circuits:
            c = circuits[cfg]  # read without recording the tally (that would empty it)
            assert (record_successes(cfg, c.state, c.n, c.t) if c.n else c.state) == pure
            assert circuits.tripped == (pure.phase != CLOSED)  # before asks only then
        else:
            assert pure == start(cfg)
