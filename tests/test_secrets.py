"""Secrets: a ``Redacted`` header value reaches the server and nothing else.

Each test sends a ``Redacted`` header through a failing or succeeding path (retries,
connection failures, timeouts, redirects to another origin, background fetches with an
``SqliteStore``), then collects everything the library *shows*: every log record of every
logger at DEBUG (message and formatted traceback), every exception's ``str``, ``repr``
and full formatted traceback (causes included), the reprs of attempts and results, and
the raw bytes of the SQLite database with its ``-wal`` and ``-shm`` files.  The secret
must appear in none of it -- while the server did receive it in full, so the test would
notice a secret that was simply never sent.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from httpserver import LoopbackServer, Reply, free_port
from hypothesis import given
from hypothesis import strategies as st

import policy
import transport
from transport._redact import MaskQueryFilter

SECRET = "sk-7f3a9c1e-TOPSECRET"


def _token() -> transport.Redacted:
    return transport.Redacted("Bearer {}", SECRET)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger, from DEBUG up."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def _shown_logs(caplog: pytest.LogCaptureFixture) -> str:
    fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(fmt.format(r) for r in caplog.records)


def _shown_error(e: BaseException) -> str:
    parts = [str(e), repr(e), "".join(traceback.format_exception(e))]
    for attr in ("attempts", "headers", "body", "url", "reason"):
        if hasattr(e, attr):
            parts.append(repr(getattr(e, attr)))
    if e.__cause__ is not None:
        parts.append(_shown_error(e.__cause__))
    return "\n".join(parts)


def _sqlite_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _no_sleep(seconds: float) -> None:
    pass


def _hidden(text: str | bytes) -> None:
    if isinstance(text, bytes):
        assert SECRET.encode() not in text
    else:
        assert SECRET not in text


def test_redacted_value_is_masked_everywhere_it_is_shown() -> None:
    """str, repr, format and %-formatting show the mask; pickling refuses without the value."""
    t = _token()
    for shown in (str(t), repr(t), f"{t}", f"{t!r}", "%s" % t, f"{t}"):  # noqa: UP031
        _hidden(shown)
        assert "********" in shown
    with pytest.raises(TypeError) as info:
        import pickle

        pickle.dumps(t)
    _hidden(_shown_error(info.value))


def test_retries_and_final_status(server: LoopbackServer, logs: pytest.LogCaptureFixture) -> None:
    """Retried 503s and a final 401: logs, attempts and the response never show the secret."""
    url = server.route("/a", Reply(503), Reply(503), Reply(401, body=b"denied"))
    with transport.RetryingPool(policy.parse("5xx:backoff(3,1ms)"), sleep=lambda s: None) as rp:
        resp = rp.request("GET", url + "?api_key=QUERY", headers={"Authorization": _token()})
    assert resp.status == 401
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {SECRET}"] * 3
    attempts = resp.attempts  # type: ignore[attr-defined]
    shown = _shown_logs(logs) + repr(attempts) + repr([a.as_dict() for a in attempts])
    assert "retry 2" in shown
    _hidden(shown)


def test_connection_failure_and_timeout_errors(
    server: LoopbackServer, logs: pytest.LogCaptureFixture
) -> None:
    """RetryError after refused connections and timeouts shows no secret, nor do its logs."""
    p = policy.parse("connect,timeout:backoff(2,1ms)")
    slow = server.route("/slow", Reply(200, delay=0.5))
    with transport.RetryingPool(p, sleep=lambda s: None) as rp:
        for url, timeout in ((f"http://127.0.0.1:{free_port()}/x", None), (slow, 0.1)):
            with pytest.raises(transport.RetryError) as info:
                rp.request(
                    "POST", url, headers={"X-Api-Key": _token()}, body=b"{}", timeout=timeout
                )
            _hidden(_shown_error(info.value))
    _hidden(_shown_logs(logs))


def test_redirect_to_another_origin_drops_the_secret(
    server: LoopbackServer, logs: pytest.LogCaptureFixture
) -> None:
    """A redirect to another origin does not carry a Redacted header (of any name)."""
    with LoopbackServer() as other:
        target = other.route("/landing", Reply(200, body=b"ok"))
        url = server.route("/go", Reply(302, headers={"Location": target}))
        with transport.RetryingPool(policy.parse("5xx:backoff(1,1ms)")) as rp:
            resp = rp.request(
                "GET", url, headers={"Authorization": _token(), "X-Api-Key": _token()}
            )
        assert resp.status == 200
        assert server.requests[0].headers["x-api-key"] == f"Bearer {SECRET}"
        got = other.requests[0].headers
        assert "authorization" not in got and "x-api-key" not in got
    _hidden(_shown_logs(logs))


def test_background_fetch_with_sqlite_store(
    server: LoopbackServer, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    """Background fetches (success, failure, refused) keep no secret in the store or errors."""
    ok = server.route("/ok", Reply(503), Reply(200, body=b'{"fine": true}'))
    bad = server.route("/bad", Reply(500, body=b"broken"))
    refused = f"http://127.0.0.1:{free_port()}/gone"
    db = tmp_path / "results.sqlite"
    shown: list[str] = []
    with transport.BackgroundFetcher(store=transport.SqliteStore(db)) as f:
        f._sleep = _no_sleep  # type: ignore[method-assign]
        futures = {
            key: f.fetch(
                key,
                url,
                method="PUT",
                headers={"Authorization": _token(), "Cookie": _token()},
                body=b'{"n": 1}',
                retry="5xx,connect:backoff(1,1ms)",
            )
            for key, url in (("ok", ok), ("bad", bad), ("refused", refused))
        }
        assert futures["ok"].result(10) == {"fine": True}
        for key in ("bad", "refused"):
            with pytest.raises(transport.FetchError) as info:
                futures[key].result(10)
            shown.append(_shown_error(info.value))
        for key in futures:
            shown.append(repr(f.store.get(key)))
        with pytest.raises(ValueError) as mismatch:
            f.fetch("ok", ok + "?other=1", headers={"Authorization": _token()})
        shown.append(_shown_error(mismatch.value))
        shown.append(repr(f.store))
        _hidden(_sqlite_bytes(db))  # while open: the WAL file holds the latest writes
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests)
    _hidden("\n".join(shown) + _shown_logs(logs))
    _hidden(_sqlite_bytes(db))


BAD_SECRETS = [
    pytest.param("sk-TOP\r\nX-Injected: 1", id="crlf"),
    pytest.param("sk-TOP\nSECRET", id="lf"),
    pytest.param("sk-TOP\u20acSECRET", id="not-latin-1"),
    pytest.param("sk-TOP\x00SECRET", id="nul"),
]


@pytest.mark.parametrize("secret", BAD_SECRETS)
def test_invalid_redacted_value_is_rejected_without_showing_it(
    server: LoopbackServer, secret: str
) -> None:
    """A Redacted value no header can carry is refused, and the error does not show it."""
    url = server.route("/a", Reply(200))
    with (
        transport.RetryingPool(policy.parse("5xx:backoff(1,1ms)")) as rp,
        pytest.raises((ValueError, TypeError)) as info,
    ):
        rp.request("GET", url, headers={"Authorization": transport.Redacted("{}", secret)})
    assert "TOP" not in _shown_error(info.value)
    assert server.requests == []


def test_query_values_are_masked_in_every_log_line(
    server: LoopbackServer, logs: pytest.LogCaptureFixture
) -> None:
    """A key in the query string is masked in every log line, urllib3's included."""
    url = server.route("/a", Reply(503), Reply(200))
    with transport.RetryingPool(policy.parse("5xx:backoff(1,1ms)"), sleep=_no_sleep) as rp:
        rp.request("GET", url + "?api_key=QUERYSECRET")
    assert server.requests[0].path.endswith("QUERYSECRET")
    assert "QUERYSECRET" not in _shown_logs(logs)


def test_query_values_are_masked_in_urllib3_redirect_and_retry_logs(
    server: LoopbackServer, logs: pytest.LogCaptureFixture
) -> None:
    """PolicyRetry inside urllib3: its retry, redirect and request lines mask query values."""
    server.route("/b", Reply(200, body=b"ok"))
    url = server.route(
        "/a", Reply(503), Reply(302, headers={"Location": "/b?token=QRED1RECT&bare"})
    )
    retry = transport.PolicyRetry(policy.parse("5xx:backoff(1,1ms)"), sleep=_no_sleep)
    with urllib3.PoolManager(retries=retry) as pm:
        resp = pm.request("GET", url + "?api_key=QUERYSECRET&QBARESECRET")
    assert resp.status == 200
    paths = [r.path for r in server.requests]
    assert paths[0].endswith("QBARESECRET") and paths[-1] == "/b?token=QRED1RECT&bare"
    shown = _shown_logs(logs)
    assert "api_key=***&***" in shown and "token=***&***" in shown  # the lines were logged
    for value in ("QUERYSECRET", "QBARESECRET", "QRED1RECT"):
        assert value not in shown


def test_log_filter_is_installed_once_per_urllib3_logger() -> None:
    """Installing the log filter again (a re-import) adds nothing: one filter per logger."""
    from transport._redact import URLLIB3_LOGGERS, MaskQueryFilter, install_log_filter

    install_log_filter()
    install_log_filter()
    for name in URLLIB3_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, MaskQueryFilter) for f in filters) == 1, name


_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", max_size=8)
_VALUES = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters="&#?\"'<> \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"
    ),
    max_size=12,
).map(lambda v: "Z9" + v)  # a marker no key, path or host contains


@given(
    pairs=st.lists(
        st.one_of(
            st.tuples(_KEYS, _VALUES),  # key=value (the value may hold "=")
            st.tuples(st.none(), _VALUES.filter(lambda v: "=" not in v)),  # a bare value
        ),
        min_size=1,
        max_size=5,
    )
)
def test_masking_hides_every_query_value(pairs: list[tuple[str | None, str]]) -> None:
    """mask_url and the log filter's mask_text hide every query value, keyed or bare."""
    query = "&".join(v if k is None else f"{k}={v}" for k, v in pairs)
    url = f"https://api.example/v1/items?{query}"
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s "GET %s HTTP/1.1" 200',
        ("https://api.example", url),
        None,
    )
    assert MaskQueryFilter().filter(record)
    for shown in (transport.mask_url(url), record.getMessage()):
        assert "Z9" not in shown
        assert shown.count("***") == len(pairs)


def test_nul_in_a_plain_header_value_is_refused() -> None:
    """A NUL byte in a plain header value is refused before anything is sent."""
    from transport._redact import reveal_headers

    with pytest.raises(ValueError, match="may not contain NUL"):
        reveal_headers({"X-Trace": "a\0b"})
