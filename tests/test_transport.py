"""RetryingPool against a real scripted server on 127.0.0.1 (never a mocked urllib3)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest
import urllib3
from httpserver import LoopbackServer, Reply, free_port
from hypothesis import given
from hypothesis import strategies as st
from strategies import header_lines
from tls import TLSCerts, TLSLoopbackServer, certs_or_skip

import policy
import transport


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


class FakeClock:
    """A monotonic clock that only moves when the pool sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def attempts_of(r: urllib3.BaseHTTPResponse) -> tuple[transport.Attempt, ...]:
    """The history RetryingPool attached to a response."""
    out: tuple[transport.Attempt, ...] = r.attempts  # type: ignore[attr-defined]
    return out


def _no_wait(_seconds: float) -> None:
    pass


def make_pool(text: str, **kw: object) -> tuple[transport.RetryingPool, list[float]]:
    delays: list[float] = []
    pool = transport.RetryingPool(policy.parse(text), sleep=delays.append, **kw)  # type: ignore[arg-type]
    return pool, delays


def test_503_503_200_returns_the_200_with_history(server: LoopbackServer) -> None:
    """Two 503s are retried with the policy's backoff and the 200 comes back with history."""
    url = server.route("/f", Reply(503), Reply(503), Reply(200, body=b'{"ok": true}'))
    pool, delays = make_pool("5xx:backoff(5,1s..30s,x2)")
    with pool:
        r = pool.request("GET", url)
    assert r.status == 200
    assert r.json() == {"ok": True}
    assert delays == [1.0, 2.0]
    assert [a.label for a in attempts_of(r)] == ["503", "503", "200"]
    assert [a.delay for a in attempts_of(r)] == [1.0, 2.0, None]
    assert len(server.requests_to("/f")) == 3


def test_give_up_on_status_returns_the_final_response(server: LoopbackServer) -> None:
    """When the policy's limit is spent the last response is returned, body included."""
    url = server.route("/down", Reply(503, body=b"busy"))
    pool, delays = make_pool("5xx:backoff(2,1s)")
    with pool:
        r = pool.request("GET", url)
    assert r.status == 503
    assert r.data == b"busy"
    assert len(attempts_of(r)) == 3
    assert "limit" in attempts_of(r)[-1].reason
    assert delays == [1.0, 1.0]


def test_unmatched_status_is_not_retried(server: LoopbackServer) -> None:
    """A status no rule matches comes back after one request."""
    url = server.route("/nf", Reply(404))
    pool, delays = make_pool("5xx:backoff(3)")
    with pool:
        assert pool.request("GET", url).status == 404
    assert delays == []
    assert len(server.requests_to("/nf")) == 1


def test_429_retry_after_is_honoured(server: LoopbackServer) -> None:
    """The wait after a 429 is the server's Retry-After."""
    url = server.route("/rl", Reply(429, headers={"Retry-After": "7"}), Reply(200))
    pool, delays = make_pool("429:headers()")
    with pool:
        assert pool.request("GET", url).status == 200
    assert delays == [7.0]


def test_repeated_header_first_value_wins_any_case(server: LoopbackServer) -> None:
    """A header sent twice in different cases is read by its first value, as policy does."""
    url = server.route(
        "/twice", Reply(429, headers=[("Retry-After", "7"), ("RETRY-AFTER", "99")]), Reply(200)
    )
    pool, delays = make_pool("429:headers()")
    with pool:
        r = pool.request("GET", url)
    assert delays == [7.0]
    first = attempts_of(r)[0].outcome
    assert isinstance(first, policy.Response)
    assert first.headers["retry-after"] == "7"


def test_shared_pool_manager_cleared_between_calls(server: LoopbackServer) -> None:
    """A shared PoolManager cleared (its pools closed) between calls does not break the next."""
    url = server.route("/c", Reply(503), Reply(200, body=b"again"), cycle=True)
    pm = urllib3.PoolManager()
    pool = transport.RetryingPool(policy.parse("5xx:backoff(1,1s)"), pool=pm, sleep=_no_wait)
    with pool:
        assert pool.request("GET", url).data == b"again"
        pm.clear()
        assert pool.request("GET", url).data == b"again"
    assert len(server.requests_to("/c")) == 4
    pm.clear()


def test_ratelimit_epoch_reset_measured_against_date(server: LoopbackServer) -> None:
    """An x-ratelimit epoch reset is read against the response's Date header."""
    date_epoch = 1_700_000_000

    def limited(_req: object) -> Reply:
        return Reply(
            429,
            headers={
                "Date": formatdate(date_epoch, usegmt=True),
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(date_epoch + 42),
            },
        )

    url = server.route("/epoch", limited, Reply(200))
    pool, delays = make_pool("429:headers(x-ratelimit-*)")
    with pool:
        assert pool.request("GET", url).status == 200
    assert delays == [pytest.approx(42.0)]


def test_slow_headers_trip_the_attempt_timeout(server: LoopbackServer) -> None:
    """A reply slower than the per-attempt timeout is a timeout outcome, then retried."""
    url = server.route("/slow", Reply(200, delay=2.0), Reply(200, body=b"fast"))
    pool, _ = make_pool("timeout:backoff(1,1s)")
    with pool:
        t0 = time.monotonic()
        r = pool.request("GET", url, timeout=0.3)
        elapsed = time.monotonic() - t0
    assert r.data == b"fast"
    assert [a.label for a in attempts_of(r)] == ["timeout", "200"]
    assert elapsed < 1.9  # the 2 s reply was abandoned, not waited for


def test_dripping_body_times_out_as_a_whole(server: LoopbackServer) -> None:
    """A body that arrives byte by byte, each byte in time, still hits the attempt budget."""
    url = server.route("/drip", Reply(200, body=b"x" * 40, drip=0.05))
    pool, _ = make_pool("")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("GET", url, timeout=0.4)
    assert [a.label for a in info.value.attempts] == ["timeout"]


def test_policy_timeout_setting_is_the_default_budget(server: LoopbackServer) -> None:
    """Without a call timeout, the policy's timeout= bounds each attempt."""
    url = server.route("/slow2", Reply(200, delay=3.0))
    pool, _ = make_pool("timeout=1s")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("GET", url)
    assert info.value.attempts[0].label == "timeout"


def test_nothing_listening_is_a_connect_failure() -> None:
    """A closed port gives ConnectFailure outcomes, retried by connect rules, then RetryError."""
    url = f"http://127.0.0.1:{free_port()}/"
    pool, delays = make_pool("connect:backoff(2,1s)")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("POST", url, body=b"x")
    assert [a.label for a in info.value.attempts] == ["connect"] * 3
    assert delays == [1.0, 1.0]


def test_close_mid_body_is_a_reset(server: LoopbackServer) -> None:
    """A connection closed halfway through the body is a reset, and the retry succeeds."""
    url = server.route("/half", Reply(200, body=b"abcdefgh", close_after=3), Reply(200, body=b"ok"))
    pool, _ = make_pool("reset:backoff(1,1s)")
    with pool:
        r = pool.request("GET", url)
    assert r.data == b"ok"
    assert [a.label for a in attempts_of(r)] == ["reset", "200"]


def test_tcp_reset_before_response_is_a_reset(server: LoopbackServer) -> None:
    """A connection aborted with RST before any response is a reset outcome."""
    url = server.route("/rst", Reply(reset=True))
    pool, _ = make_pool("")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("GET", url)
    assert info.value.attempts[0].label == "reset"


@pytest.mark.parametrize(
    "body, sent",
    [
        (b"\x00binary\xff", b"\x00binary\xff"),
        ("héllo", "héllo".encode()),
        (io.BytesIO(b"stream once"), b"stream once"),
    ],
)
def test_post_body_is_resent_byte_for_byte(
    server: LoopbackServer, body: object, sent: bytes
) -> None:
    """Every attempt of a POST carries the same bytes, whatever form the body came in."""
    url = server.route("/post", Reply(503), Reply(503), Reply(201))
    pool, _ = make_pool("5xx:backoff(3,1s)")
    with pool:
        assert pool.request("POST", url, body=body).status == 201  # type: ignore[arg-type]
    assert [r.body for r in server.requests_to("/post")] == [sent] * 3


def test_iterator_body_is_rejected() -> None:
    """A body that could not be re-sent (a generator) is a TypeError, not an empty retry."""
    pool, _ = make_pool("")
    with pool, pytest.raises(TypeError, match="re-sent"):
        pool.request("POST", "http://127.0.0.1:9/", body=(b for b in [b"a"]))  # type: ignore[arg-type]


def test_same_host_redirect_is_followed_without_counting(server: LoopbackServer) -> None:
    """A redirect is followed and is not a retry (no delay, one attempt)."""
    server.route("/new", Reply(200, body=b"here"))
    url = server.route("/old", Reply(302, headers={"Location": "/new"}))
    pool, delays = make_pool("5xx:backoff(1,1s)")
    with pool:
        r = pool.request("GET", url, headers={"Authorization": "Bearer same-host"})
    assert r.data == b"here"
    assert len(attempts_of(r)) == 1 and delays == []
    assert server.requests_to("/new")[0].headers["authorization"] == "Bearer same-host"


def test_cross_host_redirect_strips_credentials(server: LoopbackServer) -> None:
    """Authorization, Cookie and Redacted headers are dropped when the host changes."""
    with LoopbackServer() as other:
        target = other.route("/landing", Reply(200))
        url = server.route("/away", Reply(307, headers={"Location": target}))
        pool, _ = make_pool("")
        headers = {
            "Authorization": "Bearer top",
            "Cookie": "session=1",
            "X-Api-Key": transport.Redacted("{}", "k3y"),
            "X-Plain": "kept",
        }
        with pool:
            assert pool.request("GET", url, headers=headers).status == 200
        got = other.requests_to("/landing")[0].headers
    assert server.requests_to("/away")[0].headers["x-api-key"] == "k3y"
    assert "authorization" not in got and "cookie" not in got and "x-api-key" not in got
    assert got["x-plain"] == "kept"


def test_redirect_loop_raises_retry_error(server: LoopbackServer) -> None:
    """More than ten redirects raise RetryError, not an endless loop."""
    url = server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    pool, _ = make_pool("3xx:backoff(2,1s)")
    with pool, pytest.raises(transport.RetryError, match="too many redirects"):
        pool.request("GET", url)
    assert len(server.requests_to("/loop")) == 11


def test_deadline_is_never_slept_past(server: LoopbackServer) -> None:
    """With deadline=5s, waits stop before the deadline would pass (fake clock)."""
    url = server.route("/d", Reply(503))
    clock = FakeClock()
    pool = transport.RetryingPool(
        policy.parse("5xx:backoff(10,2s) deadline=5s"), sleep=clock.sleep, clock=clock
    )
    with pool:
        r = pool.request("GET", url)
    assert r.status == 503
    assert sum(clock.slept) <= 5.0
    assert clock.slept == [2.0, 2.0]
    assert "deadline" in attempts_of(r)[-1].reason


def test_deadline_shrinks_the_attempt_timeout(server: LoopbackServer) -> None:
    """The last attempt gets only the time left before the deadline (real time, loose bound)."""
    url = server.route("/late", Reply(200, delay=3.0))
    pool = transport.RetryingPool(policy.parse("deadline=1s timeout=10s"))
    with pool, pytest.raises(transport.RetryError):
        t0 = time.monotonic()
        pool.request("GET", url)
    assert time.monotonic() - t0 < 2.5


def test_connections_are_reused_after_drained_retries(server: LoopbackServer) -> None:
    """Drained retries return their connection: three attempts use one TCP connection."""
    url = server.route("/reuse", Reply(503, body=b"x" * 1000), Reply(503), Reply(200))
    pm = urllib3.PoolManager()
    pool = transport.RetryingPool(policy.parse("5xx:backoff(3,1s)"), pool=pm, sleep=lambda s: None)
    with pool:
        pool.request("GET", url)
    cp = pm.connection_from_url(url)
    assert cp.num_connections == 1
    pm.clear()


def test_retry_log_line_and_hook_without_secrets(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry logs one line (rule, outcome, wait) and calls on_retry; no secret appears."""
    url = server.route("/s", Reply(503), Reply(200))
    seen: list[transport.Attempt] = []
    pool = transport.RetryingPool(
        policy.parse("5xx:backoff(2,1s)"), sleep=lambda s: None, on_retry=seen.append
    )
    token = transport.Redacted("Bearer {}", "sk-SECRET-123")
    with caplog.at_level(logging.INFO, logger="policy"), pool:
        pool.request("GET", url + "?api_key=QSECRET", headers={"Authorization": token})
    lines = [r.getMessage() for r in caplog.records if r.name == "policy"]
    assert len(lines) == 1
    assert "5xx:backoff" in lines[0] and "503" in lines[0] and "1.000s" in lines[0]
    assert "SECRET" not in caplog.text
    assert server.requests_to("/s?api_key=QSECRET")[0].headers["authorization"] == (
        "Bearer sk-SECRET-123"
    )
    assert [a.label for a in seen] == ["503"]


def test_retry_error_text_masks_query_secrets() -> None:
    """RetryError names the URL with query values masked."""
    pool, _ = make_pool("")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("GET", f"http://127.0.0.1:{free_port()}/x?token=QSECRET")
    assert "QSECRET" not in str(info.value)
    assert "token=***" in str(info.value)


def test_redacted_is_masked_everywhere_but_the_wire() -> None:
    """str, repr and format show the template; reveal() gives the value sent."""
    r = transport.Redacted("Bearer {}", "tok")
    assert str(r) == "Bearer ********" and f"{r}" == "Bearer ********"
    assert "tok" not in repr(r)
    assert r.reveal() == "Bearer tok"


def test_refused_https_connection_is_a_connect_failure() -> None:
    """An https URL with nothing listening fails as connect (the handshake never happened)."""
    pool, _ = make_pool("")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("GET", f"https://127.0.0.1:{free_port()}/")
    assert info.value.attempts[0].label == "connect"


# -- over TLS (a throwaway CA from the openssl command line; tests/tls.py) -------------------


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCerts:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    return certs_or_skip(tmp_path_factory)


def _trusting(certs: TLSCerts) -> urllib3.PoolManager:
    return urllib3.PoolManager(ca_certs=str(certs.ca))


def test_https_retries_with_a_trusted_certificate(tls_certs: TLSCerts) -> None:
    """Over TLS with the CA trusted, 503s are retried and the 200 comes back."""
    pm = _trusting(tls_certs)
    with TLSLoopbackServer(tls_certs) as s:
        url = s.route("/f", Reply(503), Reply(200, body=b"secure"))
        pool = transport.RetryingPool(policy.parse("5xx:backoff(2,1s)"), pool=pm, sleep=_no_wait)
        with pool:
            r = pool.request("GET", url)
        assert url.startswith("https://")
        assert r.data == b"secure"
        assert [a.label for a in attempts_of(r)] == ["503", "200"]
    pm.clear()


def test_https_to_http_redirect_is_refused(tls_certs: TLSCerts, server: LoopbackServer) -> None:
    """A redirect from https to http raises RetryError and nothing reaches the http server."""
    pm = _trusting(tls_certs)
    plain = server.route("/landing", Reply(200))
    with TLSLoopbackServer(tls_certs) as s:
        url = s.route("/up", Reply(302, headers={"Location": plain}))
        pool, delays = make_pool("3xx,5xx:backoff(3,1s)", pool=pm)
        with pool, pytest.raises(transport.RetryError) as info:
            pool.request("GET", url, headers={"Authorization": "Bearer tls-only"})
        assert len(s.requests_to("/up")) == 1
    assert "https to http" in info.value.reason
    assert [a.label for a in info.value.attempts] == ["302"]
    assert delays == []
    assert server.requests == []
    pm.clear()


def test_https_cross_host_redirect_strips_credentials(tls_certs: TLSCerts) -> None:
    """https → https on another host drops Authorization, Cookie and Redacted headers."""
    pm = _trusting(tls_certs)
    headers = {
        "Authorization": "Bearer top",
        "Cookie": "session=1",
        "X-Api-Key": transport.Redacted("{}", "k3y"),
        "X-Plain": "kept",
    }
    with TLSLoopbackServer(tls_certs) as s, TLSLoopbackServer(tls_certs, "localhost") as other:
        target = other.route("/landing", Reply(200, body=b"landed"))
        url = s.route("/away", Reply(307, headers={"Location": target}))
        pool, _ = make_pool("", pool=pm)
        with pool:
            r = pool.request("GET", url, headers=headers)
        assert target.startswith("https://localhost:") and url.startswith("https://127.0.0.1:")
        assert r.data == b"landed"
        sent = s.requests_to("/away")[0].headers
        got = other.requests_to("/landing")[0].headers
    assert (sent["authorization"], sent["cookie"], sent["x-api-key"]) == (
        "Bearer top",
        "session=1",
        "k3y",
    )
    assert "authorization" not in got and "cookie" not in got and "x-api-key" not in got
    assert got["x-plain"] == "kept"
    pm.clear()


def test_untrusted_certificate_is_a_connect_failure(tls_certs: TLSCerts) -> None:
    """A certificate the client does not trust fails the handshake: a connect outcome."""
    with TLSLoopbackServer(tls_certs) as s:
        url = s.route("/x", Reply(200))
        pool, delays = make_pool("connect:backoff(1,1s)")  # the system CAs only
        with pool, pytest.raises(transport.RetryError) as info:
            pool.request("GET", url)
        assert s.requests == []
    assert [a.label for a in info.value.attempts] == ["connect", "connect"]
    assert delays == [1.0]


def test_https_to_a_plain_http_server_is_a_connect_failure(server: LoopbackServer) -> None:
    """Speaking TLS to a plain HTTP server fails the handshake: a connect outcome."""
    url = server.route("/x", Reply(200)).replace("http://", "https://", 1)
    pool, delays = make_pool("connect:backoff(1,1s)")
    with pool, pytest.raises(transport.RetryError) as info:
        pool.request("GET", url, timeout=10)
    assert [a.label for a in info.value.attempts] == ["connect", "connect"]
    assert delays == [1.0]
    assert server.requests_to("/x") == []


def test_a_policy_string_is_accepted_and_parsed_once(server: LoopbackServer) -> None:
    """RetryingPool("5xx:backoff(2)") works like RetryingPool(policy.parse(...))."""
    url = server.route("/s", Reply(503), Reply(503), Reply(200, body=b"ok"))
    clock = FakeClock()
    text = "5xx:backoff(3,1s..30s,x2)"
    with transport.RetryingPool(text, sleep=clock.sleep, clock=clock) as pool:
        assert pool.policy is policy.parse(text)  # parsed once, through parse's cache
        r = pool.request("GET", url)
    assert (r.status, r.data) == (200, b"ok")
    assert clock.slept == [1.0, 2.0]
    assert [a.label for a in attempts_of(r)] == ["503", "503", "200"]


def test_a_policy_string_sets_timeout_and_deadline() -> None:
    """The string's own settings reach the pool as they do from a parsed Policy."""
    with transport.RetryingPool("timeout=2s deadline=1m 5xx:backoff(1)") as pool:
        assert isinstance(pool.policy, policy.Policy)
        assert str(pool.policy) == str(policy.parse("timeout=2s deadline=1m 5xx:backoff(1)"))


def test_a_bad_policy_string_is_a_positioned_policy_error() -> None:
    """A broken string fails at construction with the parser's message, not later."""
    with pytest.raises(policy.PolicyError) as e:
        transport.RetryingPool("5xx:backof(2)")
    assert "backof" in str(e.value)


def test_a_policy_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"policy string or a policy\.Policy, not int"):
        transport.RetryingPool(5)  # type: ignore[arg-type]


def test_attempts_of_is_the_history_of_a_pool_response(server: LoopbackServer) -> None:
    """transport.attempts_of(r) returns the attempts, the same ones as r.attempts."""
    url = server.route("/h", Reply(500), Reply(200))
    pool, delays = make_pool("5xx:backoff(2,1s)")
    with pool:
        r = pool.request("GET", url)
    history = transport.attempts_of(r)
    assert history is r.attempts  # type: ignore[attr-defined]
    assert [(a.number, a.label, a.delay) for a in history] == [(1, "500", 1.0), (2, "200", None)]
    assert delays == [1.0]


def test_attempts_of_a_response_from_elsewhere_is_a_value_error(server: LoopbackServer) -> None:
    """A plain urllib3 response has no history: a clear ValueError, never a silent ()."""
    url = server.route("/plain", Reply(200))
    with urllib3.PoolManager() as pm:
        r = pm.request("GET", url)
    with pytest.raises(ValueError, match="carries no attempts"):
        transport.attempts_of(r)


@given(lines=header_lines(), status=st.integers(100, 599))
def test_pool_outcome_of_urllib3_headers_equals_policy_response(
    lines: list[tuple[str, str]], status: int
) -> None:
    """The pool's shortcut (a urllib3 header dict read once, not normalised again) gives
    exactly the ``policy.Response`` the headers make the long way: names, joined list
    fields, first line of single-valued ones, and the stop signal."""
    from transport._wire import response_outcome as _response

    headers = urllib3.HTTPHeaderDict()
    for name, value in lines:
        headers.add(name, value)
    got = _response(status, headers)
    want = policy.Response(status, list(headers.items()))
    assert got == want
    assert got.headers == want.headers and got.stop == want.stop
    assert type(got.headers) is dict
