"""transport.RetryAdapter: requests with the whole attempt loop, against loopback servers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from httpserver import LoopbackServer, Reply, free_port

import transport

FAST = "5xx:backoff(3,10ms..20ms) 429:headers()"


def _session(p: str, **kw: object) -> requests.Session:
    s = requests.Session()
    adapter = transport.RetryAdapter(p, **kw)  # type: ignore[arg-type]
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def test_503_503_200_one_connection() -> None:
    with LoopbackServer() as server:
        url = server.route("/f", Reply(503, body=b"busy"), Reply(503), Reply(200, body=b"ok"))
        with transport.testing() as waits, _session(FAST) as s:
            r = s.get(url, timeout=5)
        assert r.status_code == 200 and r.content == b"ok"
        assert server.connections == 1
    attempts = r.retry_attempts  # type: ignore[attr-defined]
    assert [a.label for a in attempts] == ["503", "503", "200"]
    assert [a.delay for a in attempts[:2]] == waits


def test_give_up_on_status_returns_the_last_response_and_hooks_run() -> None:
    seen: list[transport.Attempt] = []
    with LoopbackServer() as server:
        url = server.route("/d", Reply(503), cycle=True)
        with transport.testing(), _session(FAST, on_retry=seen.append, on_giveup=seen.append) as s:
            r = s.get(url, timeout=5)
    assert r.status_code == 503
    assert [a.label for a in r.retry_attempts] == ["503"] * 4  # type: ignore[attr-defined]
    assert [a.delay is None for a in seen] == [False, False, False, True]


def test_refused_port_raises_requests_error_with_a_note() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with (
        transport.testing(),
        _session("connect:backoff(2,10ms)") as s,
        pytest.raises(requests.ConnectionError) as info,
    ):
        s.get(url, timeout=5)
    assert [a.label for a in info.value.retry_attempts] == ["connect"] * 3  # type: ignore[attr-defined]
    assert any("retry policy" in n for n in info.value.__notes__)


def test_the_policy_timeout_and_deadline_bound_each_attempt() -> None:
    """The caller asks 30 s; the policy's timeout=1s lowers it per attempt, and the
    deadline ends the call: a silent server costs ~2 s, not 30."""
    with LoopbackServer() as server:
        url = server.route("/slow", Reply(200, delay=10.0), cycle=True)
        t0 = time.monotonic()
        with (
            _session("timeout:backoff(5,10ms) timeout=1s deadline=2s") as s,
            pytest.raises(requests.Timeout) as info,
        ):
            s.get(url, timeout=30)
        took = time.monotonic() - t0
    assert 0.9 < took < 4.0
    labels = [a.label for a in info.value.retry_attempts]  # type: ignore[attr-defined]
    assert labels[0] == "timeout" and set(labels) == {"timeout"}


def test_pacing_holds_the_next_call() -> None:
    """pace=on: a 429 with Retry-After: 1 holds the origin; the next call waits for it
    (recorded in test mode) instead of being sent into another 429."""
    with LoopbackServer() as server:
        url = server.route("/q", Reply(429, headers={"Retry-After": "1"}), Reply(200), Reply(200))
        with transport.testing() as waits, _session("429:headers() pace=on") as s:
            assert s.get(url, timeout=5).status_code == 200
            assert s.get(url, timeout=5).status_code == 200
        assert len(server.requests_to("/q")) == 3
    assert waits[0] == pytest.approx(1.0, abs=0.05)


def test_a_generator_body_is_not_replayed() -> None:
    with LoopbackServer() as server:
        url = server.route("/p", Reply(503), Reply(200))

        def body() -> Iterator[bytes]:
            yield b"chunk"

        with transport.testing(), _session("5xx:backoff(3,10ms)") as s:
            r = s.post(url, data=body(), timeout=5)
        assert r.status_code == 503
        assert "cannot be replayed" in r.retry_attempts[-1].reason  # type: ignore[attr-defined]


def test_budget_is_shared_by_calls_through_one_adapter() -> None:
    """budget=: the adapter's state counts every call; a 100% 503 server stops being
    retried once the budget is spent."""
    with LoopbackServer() as server:
        url = server.route("/b", Reply(503), cycle=True)
        with transport.testing(), _session("5xx:backoff(3,10ms) budget=20%") as s:
            for _ in range(30):
                s.get(url, timeout=5)
        sent = len(server.requests_to("/b"))
    assert sent < 30 * 4 / 2  # without the budget: 120 requests
