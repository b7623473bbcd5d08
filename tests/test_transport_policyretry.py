"""PolicyRetry inside urllib3's own retry loop and inside requests, on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import urllib3
from requests.adapters import HTTPAdapter

import policy
import transport

try:
    from tests.httpserver import LoopbackServer, Reply, free_port
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import LoopbackServer, Reply, free_port  # type: ignore[no-redef]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def retry(text: str, delays: list[float]) -> transport.PolicyRetry:
    return transport.PolicyRetry(policy.parse(text), sleep=delays.append)


def test_pool_manager_follows_the_policy(server: LoopbackServer) -> None:
    """PoolManager(retries=PolicyRetry(p)) retries 503s with the policy's delays."""
    url = server.route("/f", Reply(503), Reply(503), Reply(200, body=b"ok"))
    delays: list[float] = []
    with urllib3.PoolManager(retries=retry("5xx:backoff(5,1s..30s,x3)", delays)) as pm:
        r = pm.request("GET", url)
    assert (r.status, r.data) == (200, b"ok")
    assert delays == [1.0, 3.0]
    assert len(server.requests_to("/f")) == 3


def test_pool_manager_gives_up_with_the_final_response(server: LoopbackServer) -> None:
    """When the policy gives up on a status, urllib3 returns that response."""
    url = server.route("/down", Reply(503, body=b"still down"))
    delays: list[float] = []
    with urllib3.PoolManager(retries=retry("5xx:backoff(2,1s)", delays)) as pm:
        r = pm.request("GET", url)
    assert (r.status, r.data) == (503, b"still down")
    assert delays == [1.0, 1.0]


def test_header_driven_wait_in_pool_manager(server: LoopbackServer) -> None:
    """A 429's Retry-After decides the wait through PolicyRetry."""
    url = server.route("/rl", Reply(429, headers={"Retry-After": "3"}), Reply(200))
    delays: list[float] = []
    with urllib3.PoolManager(retries=retry("429:headers()", delays)) as pm:
        assert pm.request("GET", url).status == 200
    assert delays == [3.0]


def test_connect_failure_raises_max_retry_error_after_the_policy() -> None:
    """Connection failures are retried per the connect rule, then MaxRetryError."""
    delays: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/"
    pm = urllib3.PoolManager(retries=retry("connect:backoff(2,1s)", delays))
    with pm, pytest.raises(urllib3.exceptions.MaxRetryError) as info:
        pm.request("GET", url)
    assert isinstance(info.value.reason, urllib3.exceptions.NewConnectionError)
    assert delays == [1.0, 1.0]


def test_redirects_stay_with_urllib3(server: LoopbackServer) -> None:
    """A redirect is followed by urllib3 and is no retry of the policy."""
    server.route("/b", Reply(200, body=b"b"))
    url = server.route("/a", Reply(301, headers={"Location": "/b"}))
    delays: list[float] = []
    with urllib3.PoolManager(retries=retry("5xx:backoff(1,1s)", delays)) as pm:
        assert pm.request("GET", url).data == b"b"
    assert delays == []


def test_requests_session_with_policy_retry(server: LoopbackServer) -> None:
    """requests with HTTPAdapter(max_retries=PolicyRetry(p)) follows a policy unchanged."""
    url = server.route("/r", Reply(502), Reply(429, headers={"Retry-After": "2"}), Reply(200))
    delays: list[float] = []
    with requests.Session() as s:
        s.mount(
            "http://", HTTPAdapter(max_retries=retry("429:headers() 5xx:backoff(3,1s)", delays))
        )
        r = s.get(url)
    assert r.status_code == 200
    assert delays == [1.0, 2.0]


def test_method_outside_methods_setting_is_not_retried(server: LoopbackServer) -> None:
    """methods=GET keeps urllib3 from retrying a POST on 503."""
    url = server.route("/p", Reply(503), Reply(200))
    delays: list[float] = []
    with urllib3.PoolManager(retries=retry("5xx:backoff(3,1s) methods=GET", delays)) as pm:
        assert pm.request("POST", url, body=b"x").status == 503
    assert delays == []


def test_new_keeps_policy_state_and_delay() -> None:
    """new() carries the policy, state and delay (urllib3 copies Retry objects this way)."""
    p = policy.parse("5xx:backoff(3,2s)")
    r = transport.PolicyRetry(p)
    state = p.start(now=0.0)
    copy = r.new(state=state, delay=2.0)
    assert copy.policy is p and copy.state is state and copy.get_backoff_time() == 2.0
    assert copy.new().state is state


def test_a_policy_string_is_accepted(server: LoopbackServer) -> None:
    """PolicyRetry("5xx:backoff(...)") works like PolicyRetry(policy.parse(...))."""
    url = server.route("/s", Reply(503), Reply(503), Reply(200, body=b"ok"))
    delays: list[float] = []
    text = "5xx:backoff(5,1s..30s,x3)"
    r0 = transport.PolicyRetry(text, sleep=delays.append)
    assert r0.policy is policy.parse(text)
    assert r0.new().policy is r0.policy
    with urllib3.PoolManager(retries=r0) as pm:
        r = pm.request("GET", url)
    assert (r.status, r.data) == (200, b"ok")
    assert delays == [1.0, 3.0]


def test_a_policy_string_in_requests(server: LoopbackServer) -> None:
    """HTTPAdapter(max_retries=PolicyRetry("...")) retries as the string says."""
    url = server.route("/q", Reply(502), Reply(200, body=b"fine"))
    delays: list[float] = []
    with requests.Session() as s:
        s.mount(
            "http://",
            HTTPAdapter(
                max_retries=transport.PolicyRetry("502:backoff(1,2s)", sleep=delays.append)
            ),
        )
        assert s.get(url, timeout=5).text == "fine"
    assert delays == [2.0]


def test_a_bad_policy_string_or_type_fails_at_construction() -> None:
    with pytest.raises(policy.PolicyError):
        transport.PolicyRetry("5xx:backof(2)")
    with pytest.raises(TypeError, match=r"policy string or a policy\.Policy, not NoneType"):
        transport.PolicyRetry(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("5xx:backoff(2) pace=on", "pace=on"),
        ("5xx:backoff(2) budget=20%", "budget=20%"),
        ("429:headers() pace=on budget=12.5%", "pace=on and budget=12.5%"),
    ],
)
def test_pacing_and_budgets_are_refused_not_ignored(text: str, said: str) -> None:
    """urllib3 asks a Retry only after a failure, so pace=on and budget= cannot work in
    PolicyRetry: it says so when built, naming them and where they do work."""
    with pytest.raises(ValueError, match=f"PolicyRetry cannot apply {said}: ") as info:
        transport.PolicyRetry(text)
    assert "RetryingPool" in str(info.value)
    assert not transport.PolicyRetry("5xx:backoff(2) pace=off").policy.pace  # off is fine
