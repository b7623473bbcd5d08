"""Background fetch with stable keys, stores and close(), against a real loopback server."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import policy
import transport

try:
    from tests.httpserver import LoopbackServer, Reply, Request, free_port
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from httpserver import (  # type: ignore[no-redef]
        LoopbackServer,
        Reply,
        Request,
        free_port,
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def fetcher() -> Iterator[transport.BackgroundFetcher]:
    with transport.BackgroundFetcher() as f:
        yield f


def test_resolves_to_parsed_json(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """The future resolves to the JSON body; fetch_response adds status and headers."""
    url = server.route("/j", Reply(200, headers={"X-Id": "7"}, body=b'{"a": [1, 2]}'))
    assert fetcher.fetch("k1", url).result(5) == {"a": [1, 2]}
    status, headers, data = fetcher.fetch_response("k1", url).result(5)
    assert (status, headers["x-id"], data) == (200, "7", {"a": [1, 2]})


@pytest.mark.parametrize("body", [b"", b"not json"])
def test_empty_or_non_json_body_is_none(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher, body: bytes
) -> None:
    """An empty or non-JSON body resolves to None."""
    url = server.route("/t", Reply(200, body=body))
    assert fetcher.fetch("t", url).result(5) is None


def test_same_key_answers_from_the_store(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """A second call with the same key returns the stored result without a request."""
    url = server.route("/once", Reply(200, body=b"1"), Reply(200, body=b"2"))
    assert fetcher.fetch("once", url).result(5) == 1
    assert fetcher.fetch("once", url).result(5) == 1
    assert len(server.requests_to("/once")) == 1


def test_concurrent_calls_share_one_fetch(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """Calls with one key made while it runs share the single request."""
    url = server.route("/slow", Reply(200, body=b'"x"', delay=0.3))
    futures = [fetcher.fetch("shared", url) for _ in range(5)]
    assert [f.result(5) for f in futures] == ["x"] * 5
    assert len(server.requests_to("/slow")) == 1


def test_same_key_different_request_is_an_error(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """Reusing a key for another method, URL or body raises ValueError."""
    url = server.route("/v", Reply(200))
    fetcher.fetch("v", url, method="POST", body=b"a").result(5)
    for kwargs in ({"method": "PUT", "body": b"a"}, {"method": "POST", "body": b"b"}):
        with pytest.raises(ValueError, match="different request"):
            fetcher.fetch("v", url, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="different request"):
        fetcher.fetch("v", url + "?other", method="POST", body=b"a")


def test_retry_none_means_no_retries(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """Without retry options a 503 is final: FetchError with status, body and one attempt."""
    url = server.route("/e", Reply(503, body=b"busy"), Reply(200))
    with pytest.raises(transport.FetchError) as info:
        fetcher.fetch("e", url).result(5)
    err = info.value
    assert (err.status, err.body, len(err.attempts)) == (503, b"busy", 1)


def test_stored_failure_raises_again(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """A failed key raises again on the next call, without a new request; forget() drops it."""
    url = server.route("/fail", Reply(500), Reply(200, body=b"3"))
    for _ in range(2):
        with pytest.raises(transport.FetchError):
            fetcher.fetch("fail", url).result(5)
    assert len(server.requests_to("/fail")) == 1
    fetcher.forget("fail")
    assert fetcher.fetch("fail", url).result(5) == 3


def test_seed_retry_options_are_followed(server: LoopbackServer) -> None:
    """The seed's retry object drives the retries (limit counts retries)."""
    url = server.route("/seed", Reply(503), Reply(503), Reply(200, body=b"true"))
    seed = {"5xx": {"strategy": "backoff", "limit": 2, "minTimeoutInMs": 1000, "randomize": False}}
    with transport.BackgroundFetcher() as f:
        f._sleep = lambda s: None  # type: ignore[method-assign]
        assert f.fetch("seed", url, retry=seed).result(5) is True
    assert len(server.requests_to("/seed")) == 3


def test_connection_failure_is_fetch_error_chained_to_retry_error(
    fetcher: transport.BackgroundFetcher,
) -> None:
    """Nothing listening: FetchError(status=None) whose cause is the RetryError."""
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(transport.FetchError) as info:
        fetcher.fetch("c", url).result(5)
    assert info.value.status is None
    assert isinstance(info.value.__cause__, transport.RetryError)
    assert info.value.attempts[0].label == "connect"


def test_timeout_duration_string_bounds_the_attempt(
    server: LoopbackServer, fetcher: transport.BackgroundFetcher
) -> None:
    """timeout="1s" turns a slow reply into a FetchError(status=None) after about a second."""
    url = server.route("/slow", Reply(200, delay=3.0))
    with pytest.raises(transport.FetchError) as info:
        fetcher.fetch("s", url, timeout="1s").result(10)
    assert info.value.attempts[0].label == "timeout"


def test_compose_policy_accepts_every_form() -> None:
    """retry and timeout combine from strings, Policy objects and seed objects."""
    p, t = transport.compose_policy("5xx:backoff(2)", "10s")
    assert p.timeout_ms == 10_000 and t is None
    p, _ = transport.compose_policy(policy.parse("429:headers()"), {"durationInMs": 5000})
    assert p.timeout_ms == 5000
    p, t = transport.compose_policy(None, 2.5)
    assert p == policy.Policy() and t == 2.5


def test_sqlite_store_survives_a_new_fetcher(server: LoopbackServer, tmp_path: Path) -> None:
    """A result in SqliteStore is answered by a new fetcher on the same file."""
    url = server.route("/p", Reply(200, body=b'{"n": 1}'), Reply(200, body=b'{"n": 2}'))
    db = tmp_path / "results.db"
    with transport.BackgroundFetcher(store=transport.SqliteStore(db)) as f:
        assert f.fetch("p", url).result(5) == {"n": 1}
    with transport.BackgroundFetcher(store=transport.SqliteStore(db)) as f:
        assert f.fetch("p", url).result(5) == {"n": 1}
    assert len(server.requests_to("/p")) == 1


def test_sqlite_store_survives_a_new_process(server: LoopbackServer, tmp_path: Path) -> None:
    """Another Python process reads the stored result (and failure) without a request."""
    url = server.route("/proc", Reply(200, body=b'{"from": "parent"}'))
    bad = server.route("/bad", Reply(418, body=b"teapot"))
    db = tmp_path / "results.db"
    with transport.BackgroundFetcher(store=transport.SqliteStore(db)) as f:
        f.fetch("proc", url).result(5)
        with pytest.raises(transport.FetchError):
            f.fetch("bad", bad).result(5)
    code = (
        "import sys, json, transport\n"
        "f = transport.BackgroundFetcher(store=transport.SqliteStore(sys.argv[1]))\n"
        "out = {'data': f.fetch('proc', sys.argv[2]).result(5)}\n"
        "try:\n"
        "    f.fetch('bad', sys.argv[3]).result(5)\n"
        "except transport.FetchError as e:\n"
        "    out['status'] = e.status\n"
        "f.close()\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(db), url, bad],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(proc.stdout) == {"data": {"from": "parent"}, "status": 418}
    assert len(server.requests_to("/proc")) == 1 and len(server.requests_to("/bad")) == 1


def test_secrets_never_reach_logs_errors_or_store(
    server: LoopbackServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redacted headers are sent in full but absent from logs, errors and the SQLite file."""
    url = server.route("/auth", Reply(503), Reply(401, body=b"no"))
    db = tmp_path / "s.db"
    token = transport.Redacted("Bearer {}", "sk-TOPSECRET")
    with (
        caplog.at_level(logging.DEBUG, logger="policy"),
        transport.BackgroundFetcher(store=transport.SqliteStore(db)) as f,
    ):
        f._sleep = lambda s: None  # type: ignore[method-assign]
        fut = f.fetch(
            "auth",
            url + "?key=QSECRET",
            headers={"Authorization": token},
            retry="5xx:backoff(2,1s)",
        )
        with pytest.raises(transport.FetchError) as info:
            fut.result(5)
    assert server.requests[0].headers["authorization"] == "Bearer sk-TOPSECRET"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("policy"))
    assert "retry 1" in ours
    shown = ours + str(info.value) + repr(info.value.attempts)
    assert "TOPSECRET" not in shown and "QSECRET" not in shown
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    conn.close()
    assert "TOPSECRET" not in dump and "QSECRET" not in dump


def test_close_wakes_a_sleeping_retry_promptly(server: LoopbackServer) -> None:
    """close() interrupts a retry wait of minutes and cancels queued fetches."""
    url = server.route("/wait", Reply(503))
    started = threading.Event()

    def record(req: Request) -> Reply:
        started.set()
        return Reply(503)

    waiting = server.route("/wait2", record)
    f = transport.BackgroundFetcher(max_workers=1)
    sleeper = f.fetch("w", waiting, retry="5xx:backoff(3,10m)")
    queued = f.fetch("q", url)
    assert started.wait(5)
    time.sleep(0.1)  # let the worker reach its 10-minute wait
    t0 = time.monotonic()
    f.close()
    assert time.monotonic() - t0 < 5
    with pytest.raises(transport.FetcherClosed):
        sleeper.result(5)
    assert queued.cancelled()
    assert server.requests_to("/wait") == []


def test_module_level_background_fetch(server: LoopbackServer) -> None:
    """background_fetch and background_fetch_response use the default fetcher."""
    url = server.route("/m", Reply(200, body=b"[1]"))
    try:
        assert transport.background_fetch("mod-key", url).result(5) == [1]
        assert transport.background_fetch_response("mod-key", url).result(5)[0] == 200
    finally:
        transport.default_fetcher().close()
    assert len(server.requests_to("/m")) == 1


def test_an_open_circuit_fails_a_fetch_fast_and_is_not_its_result(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """breaker=: a fetch the open circuit refuses before sending raises
    ``CircuitOpenFetchError`` (origin, retry_after; it pickles) and is not kept as the
    key's result: the same key fetched once the circuit half-opens sends its request.
    A refusal after attempts were sent is kept, as any failure is, and raises again."""
    import pickle

    p = "5xx:backoff(2,10ms) breaker=3/open=1s"
    url = server.route("/down", Reply(503, body=b"down"))
    with transport.BackgroundFetcher(transport.SqliteStore(tmp_path / "r.db")) as f:
        with pytest.raises(transport.FetchError) as failed:
            f.fetch("a", url, retry=p).result(timeout=10)
        assert failed.value.status == 503 and len(failed.value.attempts) == 3
        with pytest.raises(transport.CircuitOpenFetchError) as refused:
            f.fetch("b", url, retry=p).result(timeout=10)
        e = refused.value
        assert e.status is None and e.attempts == () and 0 < e.retry_after <= 1.0
        assert e.origin == url.rsplit("/", 1)[0] and "circuit open" in str(e)
        assert isinstance(e.__cause__, transport.CircuitOpenError)
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is transport.CircuitOpenFetchError
        assert (back.origin, back.retry_after, str(back)) == (e.origin, e.retry_after, str(e))
        assert len(server.requests_to("/down")) == 3  # nothing was sent for "b"
        assert f.store.get("b") is None  # nor kept
        server.route("/down", Reply(200, body=b'"up"'))
        time.sleep(e.retry_after + 0.05)
        assert f.fetch("b", url, retry=p).result(timeout=10) == "up"  # the probe
        assert len(server.requests_to("/down")) == 4
        # a retry whose wait ends in the open span, past its deadline: kept, with the circuit
        server.route("/down", Reply(503), Reply(503), Reply(503), Reply(503))
        with pytest.raises(transport.FetchError):
            f.fetch("c", url, retry="5xx:never breaker=3/open=1s").result(timeout=10)
        with pytest.raises(transport.FetchError):
            f.fetch("d", url, retry="5xx:never breaker=3/open=1s").result(timeout=10)
        q = "5xx:backoff(3,10ms) breaker=3/open=1s deadline=500ms"
        with pytest.raises(transport.CircuitOpenFetchError) as kept:
            f.fetch("e", url, retry=q).result(timeout=10)
        assert len(kept.value.attempts) == 1 and kept.value.retry_after > 0
        stored = f.store.get("e")
        assert stored is not None and stored.circuit is not None
        assert stored.circuit[0] == e.origin
        with pytest.raises(transport.CircuitOpenFetchError):
            f.fetch("e", url, retry=q).result(timeout=10)  # raises again, nothing sent
        assert len(server.requests_to("/down")) == 7


def test_a_fetch_error_pickles_with_every_field() -> None:
    import pickle

    import urllib3

    e = transport.FetchError(503, urllib3.HTTPHeaderDict({"a": "1"}), b"x", (), "ended")
    back = pickle.loads(pickle.dumps(e))
    assert (back.status, dict(back.headers), back.body, back.attempts, str(back)) == (
        503,
        {"a": "1"},
        b"x",
        (),
        "ended",
    )
