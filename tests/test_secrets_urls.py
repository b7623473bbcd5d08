"""Secrets in URLs and header values: userinfo, query strings, bad header values.

Attacks from a hostile-input probe, each against a real loopback server: a URL's user
name carrying an API key (``https://sk_live_...:@host``, ``https://TOKEN@host``), a token
read from a file with its trailing newline, a non-Latin-1 character in a token,
urllib3's ``MaxRetryError`` quoting the query string (also through requests), and URL
credentials (``http://user:pw@host/``), which are sent as Basic auth and shown nowhere.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from httpserver import LoopbackServer, Reply, free_port
from hypothesis import given
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

import policy
import transport

SECRET = "Zq9SECRETz"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def _shown_logs(caplog: pytest.LogCaptureFixture) -> str:
    fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(fmt.format(r) for r in caplog.records)


def _chain(e: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _shown_error(e: BaseException) -> str:
    """Everything an exception shows: str, repr, args, attributes, the whole chain."""
    parts = ["".join(traceback.format_exception(e))]
    for x in _chain(e):
        parts += [str(x), repr(x), repr(x.args)]
        for attr in ("attempts", "url", "reason", "history", "request"):
            if hasattr(x, attr):
                parts.append(repr(getattr(x, attr)))
    return "\n".join(parts)


def _no_sleep(seconds: float) -> None:
    pass


# --- 12.8: mask_url masks all of the userinfo ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"https://sk_live_{SECRET}:@api.stripe.com/v1",
        f"https://{SECRET}@host/x",
        f"https://user:{SECRET}@host/x",
        f"https://{SECRET}:{SECRET}@host:8443/x?q=1",
        f"http://a@b:{SECRET}@host/",
    ],
)
def test_mask_url_masks_any_userinfo(url: str) -> None:
    """The user name is masked as well as the password: keys are often the user name."""
    shown = transport.mask_url(url)
    assert SECRET not in shown
    assert "***@" in shown


def test_userinfo_token_is_masked_in_retry_error_and_retry_logs(
    logs: pytest.LogCaptureFixture,
) -> None:
    """A token as the URL's user name appears in neither RetryError nor the INFO lines."""
    url = f"http://{SECRET}@127.0.0.1:{free_port()}/v1"
    with (
        transport.RetryingPool(policy.parse("connect:backoff(2,1ms)"), sleep=_no_sleep) as rp,
        pytest.raises(transport.RetryError) as info,
    ):
        rp.request("GET", url)
    assert "retry 1" in _shown_logs(logs)
    assert SECRET not in _shown_error(info.value) + _shown_logs(logs)


def test_userinfo_in_free_text_log_lines_is_masked() -> None:
    """The log filter masks a user-name-only userinfo in free text too."""
    from transport._redact import mask_text

    for text in (f"GET https://{SECRET}@h/x", f"to http://u:{SECRET}@h/ done"):
        assert SECRET not in mask_text(text)


_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%"
_SECRETS = st.text(alphabet=_UNRESERVED, min_size=1, max_size=12).map(lambda s: "Zq9" + s)
_QUERY_SECRETS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="&#\t\r\n\x0b\x0c"),
    min_size=0,
    max_size=12,
).map(lambda s: "Zq9" + s)


@given(
    user=st.one_of(st.just(""), st.sampled_from(["u", "api"]), _SECRETS),
    password=st.one_of(st.none(), st.just(""), _SECRETS),
    query=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["key", "a", "token"]), _QUERY_SECRETS),
            # a bare value: with an '=' it would be a key
            st.tuples(st.none(), _QUERY_SECRETS.map(lambda v: v.replace("=", ""))),
        ),
        max_size=3,
    ),
    fragment=st.one_of(st.none(), _SECRETS),
    scheme=st.sampled_from(["http", "https", "HTTPS"]),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)
def test_no_secret_survives_mask_url(
    user: str,
    password: str | None,
    query: list[tuple[str | None, str]],
    fragment: str | None,
    scheme: str,
    port: int | None,
) -> None:
    """For any URL with userinfo and/or a query, no secret part survives mask_url."""
    userinfo = user if password is None else f"{user}:{password}"
    netloc = ("" if not userinfo and password is None else userinfo + "@") + "api.example"
    netloc += f":{port}" if port is not None else ""
    url = f"{scheme}://{netloc}/v1/items"
    if query:
        url += "?" + "&".join(v if k is None else f"{k}={v}" for k, v in query)
    if fragment is not None:
        url += "#" + fragment
    shown = transport.mask_url(url)
    assert "Zq9" not in shown
    assert "api.example" in shown or shown == "<unparsable URL>"


# --- 12.9: bad header values are refused without showing them ---------------------------

BAD_VALUES = [
    pytest.param(f"Bearer {SECRET}\n", id="trailing-lf"),
    pytest.param(f"Bearer {SECRET}\r\n", id="trailing-crlf"),
    pytest.param(f"Bearer {SECRET}\r\nX-Injected: 1", id="crlf-injection"),
    pytest.param(f"Bearer {SECRET}\u20ac", id="not-latin-1"),
    pytest.param(f"Bearer {SECRET}\ud800", id="lone-surrogate"),
    pytest.param(f"Bearer {SECRET}\x00", id="nul"),
]
SENT = [
    *BAD_VALUES,
    pytest.param(f"Bearer {SECRET}\n".encode(), id="bytes-lf"),
    *(
        pytest.param(transport.Redacted("{}", p.values[0]), id="redacted-" + str(p.id))
        for p in BAD_VALUES
    ),
]


@pytest.mark.parametrize("sent", SENT)
def test_bad_header_value_is_refused_naming_only_the_header(
    server: LoopbackServer, sent: object
) -> None:
    """str, repr, args and the __cause__/__context__ chain name the header, not the value."""
    url = server.route("/a", Reply(200))
    with (
        transport.RetryingPool(policy.parse("5xx:backoff(1,1ms)")) as rp,
        pytest.raises(transport.HeaderValueError) as info,
    ):
        rp.request("GET", url, headers={"X-Api-Key": sent})
    err = info.value
    assert isinstance(err, ValueError)
    assert "X-Api-Key" in str(err)
    assert SECRET not in _shown_error(err)
    assert err.__cause__ is None and err.__context__ is None
    assert server.requests == []


def test_trailing_newline_message_says_what_to_do(server: LoopbackServer) -> None:
    """A token with its file's trailing newline: the message says to strip it."""
    url = server.route("/a", Reply(200))
    with (
        transport.RetryingPool(policy.parse("5xx:backoff(1,1ms)")) as rp,
        pytest.raises(transport.HeaderValueError, match=r"ends with a line break.*strip"),
    ):
        rp.request("GET", url, headers={"Authorization": f"Bearer {SECRET}\n"})


def test_bad_header_value_in_background_fetch(server: LoopbackServer) -> None:
    """Background fetch refuses it the same way: the future fails, nothing is sent."""
    url = server.route("/a", Reply(200))
    with transport.BackgroundFetcher() as f:
        fut = f.fetch("k", url, headers={"Authorization": f"Bearer {SECRET}\n"})
        with pytest.raises(transport.HeaderValueError) as info:
            fut.result(10)
    assert SECRET not in _shown_error(info.value)
    assert server.requests == []


# --- 12.10: PolicyRetry's MaxRetryError masks the URL -----------------------------------


def test_max_retry_error_masks_the_query_in_urllib3() -> None:
    """Connection refused until the policy gives up: MaxRetryError shows no query value."""
    url = f"http://127.0.0.1:{free_port()}/v1?api_key={SECRET}&page=2"
    retry = transport.PolicyRetry(policy.parse("connect:backoff(2,1ms)"), sleep=_no_sleep)
    with (
        urllib3.PoolManager(retries=retry) as pm,
        pytest.raises(urllib3.exceptions.MaxRetryError) as info,
    ):
        pm.request("GET", url)
    assert "api_key=***" in str(info.value)
    assert SECRET not in _shown_error(info.value)


def test_max_retry_error_masks_the_query_on_status_give_up(server: LoopbackServer) -> None:
    """raise_on_status=True: giving up on a 503 raises MaxRetryError, masked."""
    url = server.route("/down", Reply(503))
    retry = transport.PolicyRetry(
        policy.parse("5xx:backoff(1,1ms)"), sleep=_no_sleep, raise_on_status=True
    )
    with (
        urllib3.PoolManager(retries=retry) as pm,
        pytest.raises(urllib3.exceptions.MaxRetryError) as info,
    ):
        pm.request("GET", url + f"?api_key={SECRET}")
    assert len(server.requests) == 2
    assert server.requests[0].path.endswith(SECRET)  # it was sent
    assert SECRET not in _shown_error(info.value)


def test_too_many_redirects_error_masks_the_query(server: LoopbackServer) -> None:
    """urllib3's own give-up on redirects goes through PolicyRetry: masked too."""
    url = server.route("/loop", Reply(302, headers={"Location": f"/loop?token={SECRET}"}))
    retry = transport.PolicyRetry(policy.parse("5xx:backoff(1,1ms)"), redirect=2)
    with (
        urllib3.PoolManager(retries=retry) as pm,
        pytest.raises(urllib3.exceptions.MaxRetryError) as info,
    ):
        pm.request("GET", url + f"?token={SECRET}")
    assert SECRET not in _shown_error(info.value)


def test_requests_error_masks_the_query(server: LoopbackServer) -> None:
    """requests re-wraps MaxRetryError (ConnectionError, RetryError): masked in both."""
    down = server.route("/down", Reply(503))
    refused = f"http://127.0.0.1:{free_port()}/v1?api_key={SECRET}"
    retry = transport.PolicyRetry(
        policy.parse("5xx,connect:backoff(1,1ms)"), sleep=_no_sleep, raise_on_status=True
    )
    with requests.Session() as s:
        s.mount("http://", HTTPAdapter(max_retries=retry))
        with pytest.raises(requests.exceptions.ConnectionError) as refused_info:
            s.get(refused, timeout=5)
        with pytest.raises(requests.exceptions.RetryError) as down_info:
            s.get(down + f"?api_key={SECRET}", timeout=5)
    for info in (refused_info, down_info):
        shown = _shown_error(info.value).replace(repr(info.value.request), "")
        assert SECRET not in shown


# --- 12.11: URL credentials are sent as Basic auth, shown nowhere -----------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_url_credentials_are_sent_as_basic_auth(
    server: LoopbackServer, logs: pytest.LogCaptureFixture
) -> None:
    """http://user:pw@host/ arrives as Authorization: Basic; nothing shows the password."""
    url = server.route("/a", Reply(503), Reply(200, body=b"ok")).replace(
        "http://", f"http://alice:{SECRET}@"
    )
    with transport.RetryingPool(policy.parse("5xx:backoff(1,1ms)"), sleep=_no_sleep) as rp:
        resp = rp.request("GET", url)
    assert resp.status == 200
    assert [r.headers.get("authorization") for r in server.requests] == [
        _basic("alice", SECRET)
    ] * 2
    shown = _shown_logs(logs) + repr(resp.attempts)  # type: ignore[attr-defined]
    assert "retry 1" in shown
    assert SECRET not in shown
    assert base64.b64encode(f"alice:{SECRET}".encode()).decode() not in shown


def test_url_credentials_are_percent_decoded(server: LoopbackServer) -> None:
    """Percent-encoded user and password are decoded before encoding, as requests does."""
    url = server.route("/a", Reply(200)).replace("http://", "http://a%40b:p%3Aw%20x@")
    with transport.RetryingPool(policy.parse("5xx:never")) as rp:
        rp.request("GET", url)
    assert server.requests[0].headers["authorization"] == _basic("a@b", "p:w x")


def test_explicit_authorization_wins_over_url_credentials(server: LoopbackServer) -> None:
    """An Authorization header given explicitly is sent instead of the URL's credentials."""
    url = server.route("/a", Reply(200)).replace("http://", f"http://alice:{SECRET}@")
    with transport.RetryingPool(policy.parse("5xx:never")) as rp:
        rp.request("GET", url, headers={"authorization": "Bearer explicit"})
    assert server.requests[0].headers["authorization"] == "Bearer explicit"


def test_url_credentials_are_masked_in_retry_error(logs: pytest.LogCaptureFixture) -> None:
    """A refused connection with credentials in the URL: RetryError and logs show none."""
    url = f"http://alice:{SECRET}@127.0.0.1:{free_port()}/x"
    with (
        transport.RetryingPool(policy.parse("connect:backoff(2,1ms)"), sleep=_no_sleep) as rp,
        pytest.raises(transport.RetryError) as info,
    ):
        rp.request("GET", url)
    assert SECRET not in _shown_error(info.value) + _shown_logs(logs)
    assert "alice" not in info.value.url


def test_url_credentials_are_dropped_on_a_cross_host_redirect(server: LoopbackServer) -> None:
    """A redirect to another host does not carry the URL's credentials."""
    with LoopbackServer() as other:
        target = other.route("/landing", Reply(200, body=b"ok"))
        url = server.route("/go", Reply(302, headers={"Location": target}))
        url = url.replace("http://", f"http://alice:{SECRET}@")
        with transport.RetryingPool(policy.parse("5xx:never")) as rp:
            assert rp.request("GET", url).status == 200
        assert server.requests[0].headers["authorization"] == _basic("alice", SECRET)
        assert "authorization" not in other.requests[0].headers


def test_url_credentials_in_background_fetch_store(server: LoopbackServer, tmp_path: Path) -> None:
    """Background fetch sends the credentials and stores the URL without them."""
    url = server.route("/a", Reply(500, body=b"no")).replace("http://", f"http://alice:{SECRET}@")
    db = tmp_path / "r.sqlite"
    with transport.BackgroundFetcher(store=transport.SqliteStore(db)) as f:
        with pytest.raises(transport.FetchError) as info:
            f.fetch("k", url).result(10)
        stored = f.store.get("k")
    assert server.requests[0].headers["authorization"] == _basic("alice", SECRET)
    assert stored is not None and SECRET not in repr(stored)
    assert SECRET not in _shown_error(info.value)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("r.sqlite*"))
    assert SECRET.encode() not in raw
