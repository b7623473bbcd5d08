"""Token pacing: ``pace=on`` with a request cost counts units, not requests, in the loop.

The properties of the request quotas (tests/test_loop.py) extended to costs, through the
real attempt loop (``Call``) and both states (``LocalState`` and ``RedisState`` on a real
redis-server): clients sharing one state against one fixed-window token limiter, requests
of any cost counted by the server and answered in any order -- no request let through
after the first answer overspends the window, and a request is held only while answers
are outstanding or the window really has too little left for it (nothing left unused).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import policy
import transport
from policy.loop import Call, Done, LocalState, Send, Wait
from policy.loop._state import IN_FLIGHT

try:
    from tests.redis_server import RedisServer, redis_server
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from redis_server import RedisServer, redis_server  # type: ignore[no-redef]

__all__ = ["redis_server"]

ORIGIN = "http://llm.example:80"
P = policy.parse("429:headers(x-ratelimit-*-tokens,max=1h) pace=on")
NOW, RESET = 100.0, 1_000.0


def _answer(remaining: int) -> policy.Response:
    return policy.Response(
        200,
        {
            "x-ratelimit-limit-tokens": "100",
            "x-ratelimit-remaining-tokens": str(remaining),
            "x-ratelimit-reset-tokens": str(RESET - NOW),
        },
    )


@pytest.fixture(params=["local", "redis"])
def make_state(request: pytest.FixtureRequest) -> Iterator[object]:
    """A factory of fresh shared states (one per Hypothesis example)."""
    made: list[transport.RedisState] = []
    if request.param == "local":
        yield LocalState
        return
    server: RedisServer = request.getfixturevalue("redis_server")

    def redis_state() -> transport.RedisState:
        s = transport.RedisState(server.url, prefix=f"c-{uuid.uuid4().hex[:10]}:", timeout=0.5)
        s._defer = False  # every record waits for Redis' answer
        made.append(s)
        return s

    yield redis_state
    for s in made:
        s.close()


_steps = st.lists(
    st.tuples(st.sampled_from("tca"), st.integers(0, 50), st.integers(1, 40)), max_size=60
)


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=300
)
@given(limit=st.integers(1, 100), steps=_steps)
# Two blind requests of 30 and 50 against 60, then one of 10 once both answers are in:
# 60 - 80 < 0 is all spent, nothing may go; the window is over-spent by the blind ones only.
@example(
    limit=60,
    steps=[
        *[("t", 0, 30), ("t", 0, 50), ("c", 0, 1), ("c", 0, 1), ("a", 0, 1), ("a", 0, 1)],
        ("t", 0, 10),
    ],
)
# One of 30 answered (20 left): another of 30 must wait, one of 20 may go.
@example(limit=50, steps=[("t", 0, 30), ("c", 0, 1), ("a", 0, 1), ("t", 0, 30), ("c", 0, 1)])
@example(limit=50, steps=[("t", 0, 30), ("c", 0, 1), ("a", 0, 1), ("t", 0, 20), ("t", 0, 1)])
def test_costs_against_a_fixed_window_token_server(
    make_state: object, limit: int, steps: list[tuple[str, int, int]]
) -> None:
    state = make_state()  # type: ignore[operator]
    counted = 0  # tokens the server has counted this window
    on_wire: list[tuple[Call, int, bool]] = []  # sent, not counted: (call, cost, paced)
    answers: list[tuple[Call, int]] = []  # counted, answer not read: (call, remaining)
    known = False  # a quota has been reported
    for kind, i, cost in steps:
        if kind == "t":  # a client wants to send a request of `cost` tokens
            call = Call(
                P, now=NOW, origin=ORIGIN, state=state, rand=lambda: 0.5, cost={"tokens": cost}
            )
            step = call.before(NOW)
            if type(step) is Send:
                on_wire.append((call, cost, known))
            else:
                assert type(step) is Wait and step.seconds == pytest.approx(RESET - NOW)
                # held only while answers are outstanding or the window is really short
                assert on_wire or answers or counted + cost > limit, (counted, cost, limit)
        elif kind == "c" and on_wire:  # the server counts one request on the wire
            call, cost, paced = on_wire.pop(i % len(on_wire))
            counted += cost
            assert not (paced and counted > limit), (counted, limit)
            answers.append((call, max(0, limit - counted)))
        elif kind == "a" and answers:  # a client reads one answer
            call, remaining = answers.pop(i % len(answers))
            assert type(call.after(_answer(remaining), NOW)) is Done
            known = True
    if isinstance(state, transport.RedisState):
        assert state.shared  # Redis answered every call: no local fallback


def test_a_token_quota_holds_a_large_request_and_lets_a_small_one_go() -> None:
    """900 tokens against 30 left: held until the tokens' reset; 20 tokens: sent."""
    state = LocalState()

    def call(tokens: int) -> Call:
        return Call(
            P, now=NOW, origin=ORIGIN, state=state, rand=lambda: 0.5, cost={"tokens": tokens}
        )

    first = call(50)
    assert type(first.before(NOW)) is Send
    first.after(_answer(30), NOW)
    big = call(900).before(NOW)
    assert type(big) is Wait and big.seconds == pytest.approx(RESET - NOW)
    assert type(call(20).before(NOW)) is Send
    assert type(call(20).before(NOW)) is Wait  # 10 left
    # Past the reset: a request the window's known size admits goes at once; a larger
    # one waits a moment for the new window's count (the herd at the reset), then goes.
    assert type(call(20).before(RESET + 0.1)) is Send
    assert type(call(900).before(RESET + 0.2)) is Wait
    assert type(call(900).before(RESET + IN_FLIGHT + 0.3)) is Send


def test_decide_reads_the_cost_in_the_loop() -> None:
    """A 429 saying 30 tokens are left: a 900-token call waits for the tokens' reset (the
    family limits it), a call of no cost falls through to the chain's backoff."""
    p = policy.parse("429:headers(x-ratelimit-*-tokens,2)|backoff(2,1s) pace=on")
    headers = {
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "30",
        "x-ratelimit-reset-tokens": "7",
    }
    costly = Call(p, now=NOW, origin=ORIGIN, rand=lambda: 0.5, cost={"tokens": 900})
    costly.before(NOW)
    step = costly.after(policy.Response(429, headers), NOW)
    assert type(step) is Wait and step.seconds == pytest.approx(7)
    plain = Call(p, now=NOW, origin=ORIGIN, rand=lambda: 0.5)
    plain.before(NOW)
    step = plain.after(policy.Response(429, headers), NOW)
    assert type(step) is Wait and step.seconds == pytest.approx(1)
    # A cost above the family's limit can never succeed: give up.
    huge = Call(p, now=NOW, origin=ORIGIN, rand=lambda: 0.5, cost={"tokens": 5000})
    huge.before(NOW)
    assert type(huge.after(policy.Response(429, headers), NOW)) is Done


def test_a_bad_cost_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="finite number"):
        Call(P, now=NOW, origin=ORIGIN, rand=lambda: 0.5, cost={"tokens": -1})
    with pytest.raises(TypeError, match="mapping"):
        Call(P, now=NOW, origin=ORIGIN, rand=lambda: 0.5, cost=900)  # type: ignore[arg-type]
