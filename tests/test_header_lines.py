"""Repeated header lines (SPEC §2.4, §2.6): list-valued fields join, single-valued ones keep
their first line, and multi-valued mappings are read line by line -- in ``policy.Response``
with the header objects real clients hand over, and through the transports on a real
loopback server."""

from __future__ import annotations

import email.message
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import multidict
import pytest
import urllib3
from hypothesis import given
from strategies import header_lines

import policy
import transport

try:
    from tests.httpserver import LoopbackServer, Reply
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import LoopbackServer, Reply  # type: ignore[no-redef]

T0 = 1_795_867_200.0

#: A RateLimit field split over two lines: only the second item is exhausted (t=30).
RATELIMIT_LINES = [("RateLimit", '"burst";r=5;t=1'), ("RateLimit", '"day";r=0;t=30')]
#: Retry-After sent twice: the first line wins; comma-joined it would be malformed.
RETRY_AFTER_LINES = [("Retry-After", "5"), ("retry-after", "7")]
#: A malformed or missing wait falls through to this backoff's 3s.
POLICY = "429:headers()|backoff(1,3s)"


def _httpx(lines: list[tuple[str, str]]) -> Any:
    return httpx.Headers(lines)


def _urllib3(lines: list[tuple[str, str]]) -> Any:
    h = urllib3.HTTPHeaderDict()
    for name, value in lines:
        h.add(name, value)
    return h


def _multidict(lines: list[tuple[str, str]]) -> Any:
    return multidict.CIMultiDict(lines)


def _email(lines: list[tuple[str, str]]) -> Any:
    m = email.message.Message()
    for name, value in lines:
        m[name] = value
    return m


def _pairs(lines: list[tuple[str, str]]) -> Any:
    return list(lines)


def _bytes_pairs(lines: list[tuple[str, str]]) -> Any:
    return [(n.encode(), v.encode()) for n, v in lines]


SHAPES: list[Callable[[list[tuple[str, str]]], Any]] = [
    _httpx,
    _urllib3,
    _multidict,
    _email,
    _pairs,
    _bytes_pairs,
]


def delay(headers: Any) -> float:
    p = policy.parse(POLICY)
    d = p.decide(p.start(now=T0), policy.Response(429, headers), now=T0, rand=lambda: 0.0)
    assert isinstance(d, policy.Retry), d
    return d.delay


@pytest.mark.parametrize("shape", SHAPES, ids=lambda f: f.__name__.strip("_"))
def test_ratelimit_over_two_lines_is_one_list(shape: Callable[..., Any]) -> None:
    """Two RateLimit lines are one list: the exhausted item on the second line decides."""
    h = policy.Response(429, shape(RATELIMIT_LINES)).headers
    assert h["ratelimit"] == '"burst";r=5;t=1, "day";r=0;t=30'
    assert delay(shape(RATELIMIT_LINES)) == 30.0


@pytest.mark.parametrize("shape", SHAPES, ids=lambda f: f.__name__.strip("_"))
def test_repeated_retry_after_takes_the_first_line(shape: Callable[..., Any]) -> None:
    """Retry-After sent twice reads as its first line, never as the malformed '5, 7'."""
    assert policy.Response(429, shape(RETRY_AFTER_LINES)).headers["retry-after"] == "5"
    assert delay(shape(RETRY_AFTER_LINES)) == 5.0


def test_httpx_headers_are_read_through_multi_items() -> None:
    """httpx.Headers.items() comma-joins repeated lines; Response reads multi_items()."""
    policies = [("RateLimit-Policy", '"a";q=1'), ("ratelimit-policy", '"b";q=2')]
    h = httpx.Headers([*RETRY_AFTER_LINES, *policies, *RATELIMIT_LINES])
    assert dict(h.items())["retry-after"] == "5, 7"  # what a naive reader would get
    got = policy.Response(429, h).headers
    assert got["retry-after"] == "5"
    assert got["ratelimit-policy"] == '"a";q=1, "b";q=2'


def test_reset_family_takes_the_first_line() -> None:
    """A repeated X-RateLimit-Reset (single-valued) keeps its first line."""
    lines = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "20")]
    lines += [("x-ratelimit-reset", "40")]
    for shape in SHAPES:
        p = policy.parse("429:headers(x-ratelimit-*)")
        d = p.decide(p.start(now=T0), policy.Response(429, shape(lines)), now=T0)
        assert isinstance(d, policy.Retry) and d.delay == 20.0, shape


def _expected(lines: list[tuple[str, str]]) -> dict[str, str]:
    """The SPEC's reading of header lines, written out plainly."""
    out: dict[str, list[str]] = {}
    for name, value in lines:
        out.setdefault(name.lower(), []).append(value)
    return {
        k: ", ".join(v) if k in ("ratelimit", "ratelimit-policy") else v[0] for k, v in out.items()
    }


@given(header_lines())
def test_every_shape_reads_lines_alike(lines: list[tuple[str, str]]) -> None:
    """Whatever the lines, every header shape gives the same headers: list-valued fields
    joined with ', ' in order, any other name its first line."""
    expected = _expected(lines)
    for shape in (_httpx, _urllib3, _multidict, _pairs):
        assert dict(policy.Response(429, shape(lines)).headers) == expected, shape


# --- through the transports, on a real server -----------------------------------------


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


@pytest.mark.parametrize(
    ("lines", "wait"),
    [
        (RATELIMIT_LINES, 30.0),
        (RETRY_AFTER_LINES, 5.0),
        ([*RETRY_AFTER_LINES, *RATELIMIT_LINES], 5.0),  # Retry-After comes first
        ([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), *RATELIMIT_LINES], 30.0),
    ],
)
def test_retrying_pool_reads_repeated_lines(
    server: LoopbackServer, lines: list[tuple[str, str]], wait: float
) -> None:
    """RetryingPool hands every header line to the policy: two RateLimit lines are one
    list, two Retry-After lines read as the first."""
    url = server.route("/h", Reply(429, headers=lines), Reply(200, body=b"ok"))
    delays: list[float] = []
    with transport.RetryingPool(policy.parse(POLICY), sleep=delays.append) as rp:
        r = rp.request("GET", url)
    assert (r.status, r.data) == (200, b"ok")
    assert delays == [wait]


def test_policy_retry_reads_repeated_lines(server: LoopbackServer) -> None:
    """PolicyRetry inside urllib3's own loop reads both RateLimit lines too."""
    url = server.route("/h", Reply(429, headers=RATELIMIT_LINES), Reply(200))
    delays: list[float] = []
    retry = transport.PolicyRetry(policy.parse(POLICY), sleep=delays.append)
    with urllib3.PoolManager(retries=retry) as pm:
        assert pm.request("GET", url).status == 200
    assert delays == [30.0]


def test_httpx_response_headers_from_a_real_server(server: LoopbackServer) -> None:
    """The headers of a real httpx response, repeated lines and all, decide as sent."""
    url = server.route("/h", Reply(429, headers=[*RETRY_AFTER_LINES, *RATELIMIT_LINES]))
    with httpx.Client() as client:
        r = client.get(url)
    assert r.headers["retry-after"] == "5, 7"  # httpx joins them
    got = policy.Response(r.status_code, r.headers).headers
    assert got["retry-after"] == "5"
    assert got["ratelimit"] == '"burst";r=5;t=1, "day";r=0;t=30'
    assert delay(r.headers) == 5.0
