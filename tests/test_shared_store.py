"""One store, many fetchers: a key is claimed atomically and its request sent once.

Attacks from a hostile-input probe: two ``BackgroundFetcher`` objects (or two processes)
on one ``SqliteStore`` fetching ``"K"`` at the same time, one ``GET /a`` and one
``POST /b`` -- the second got ``/a``'s result while its POST was still sent.  Now
claiming a key compares the request in one transaction: a different request is a
``ValueError`` and sends nothing; the same request waits for the stored result.  Then
crashes: a claim whose process is gone (SIGKILL) is taken over at once, a frozen one
(SIGSTOP) when its lease runs out -- the request is sent again (at-least-once), with the
same ``Idempotency-Key`` when asked for, so the server can tell.

Real subprocesses share a real SQLite file; a loopback server counts the requests.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpserver import LoopbackServer, Reply, Request

import transport

CHILD = r"""
import json, sys, time
import transport

args = json.loads(sys.argv[1])
store = transport.SqliteStore(args["db"], lease=args.get("lease", 30.0))
f = transport.BackgroundFetcher(store, idempotency_key=args.get("idem", False))
print(json.dumps({"started": time.monotonic()}), flush=True)
try:
    fut = f.fetch(args["key"], args["url"], method=args.get("method", "GET"),
                  body=args.get("body"))
    out = {"ok": fut.result(60)}
except ValueError as e:
    out = {"error": type(e).__name__, "text": str(e)}
out["done"] = time.monotonic()
print(json.dumps(out), flush=True)
f.close()
"""

_WATCHDOG_S = 60.0


def _child(**args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=_WATCHDOG_S)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert "started" in lines[0]
    last: dict[str, object] = lines[-1]
    return last


def _wait_until(cond: object, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=_WATCHDOG_S)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def _stores(tmp_path: Path) -> Iterator[transport.Store]:
    yield transport.InMemoryStore()
    yield transport.SqliteStore(tmp_path / "r.sqlite")


# --- in one process: two fetchers on one store -------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_different_request_under_a_claimed_key_is_refused_and_not_sent(
    server: LoopbackServer, tmp_path: Path, kind: str
) -> None:
    """fetch(K, GET /a) running, fetch(K, POST /b) on another fetcher: ValueError, no POST."""
    a = server.route("/a", Reply(200, body=b'{"from": "a"}', delay=0.5))
    b = server.route("/b", Reply(200, body=b'{"from": "b"}'))
    store = transport.InMemoryStore() if kind == "memory" else transport.SqliteStore(tmp_path / "s")
    with transport.BackgroundFetcher(store) as f1, transport.BackgroundFetcher(store) as f2:
        first = f1.fetch("K", a)
        with pytest.raises(ValueError, match="different request"):
            f2.fetch("K", b, method="POST", body=b"{}")
        assert first.result(10) == {"from": "a"}
        with pytest.raises(ValueError, match="different request"):
            f2.fetch("K", b, method="POST", body=b"{}")
    assert server.requests_to("/b") == []
    assert len(server.requests_to("/a")) == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_same_request_from_two_fetchers_is_sent_once(
    server: LoopbackServer, tmp_path: Path, kind: str
) -> None:
    """Two fetchers, one key, the same request at once: one request, one shared result."""
    a = server.route("/a", Reply(200, body=b'{"n": 1}', delay=0.3))
    store = transport.InMemoryStore() if kind == "memory" else transport.SqliteStore(tmp_path / "s")
    with transport.BackgroundFetcher(store) as f1, transport.BackgroundFetcher(store) as f2:
        futures = [f.fetch("K", a) for f in (f1, f2, f1, f2)]
        assert [fut.result(10) for fut in futures] == [{"n": 1}] * 4
    assert len(server.requests_to("/a")) == 1


def test_a_waiting_fetch_wakes_on_close(server: LoopbackServer, tmp_path: Path) -> None:
    """A fetch waiting for another fetcher's claim fails with FetcherClosed on close()."""
    slow = server.route("/slow", Reply(200, body=b"{}", delay=2.0))
    store = transport.SqliteStore(tmp_path / "s")
    with transport.BackgroundFetcher(store) as f1:
        running = f1.fetch("K", slow)
        f2 = transport.BackgroundFetcher(store)
        waiting = f2.fetch("K", slow)
        time.sleep(0.1)
        t0 = time.monotonic()
        f2.close()
        with pytest.raises(transport.FetcherClosed):
            waiting.result(5)
        assert time.monotonic() - t0 < 1.5
        assert running.result(10) == {}
    assert len(server.requests_to("/slow")) == 1


def test_a_claim_released_unfinished_is_taken_over(server: LoopbackServer, tmp_path: Path) -> None:
    """The claiming fetcher closes mid-retry (nothing stored): the waiting one sends it."""
    url = server.route("/flaky", Reply(503), Reply(200, body=b'{"ok": true}'))
    store = transport.SqliteStore(tmp_path / "s")
    f1 = transport.BackgroundFetcher(store)
    first = f1.fetch("K", url, retry="503:backoff(1,10s)")  # waits 10 s after the 503
    _wait_until(lambda: len(server.requests_to("/flaky")) == 1)
    with transport.BackgroundFetcher(store) as f2:
        second = f2.fetch("K", url, retry="503:backoff(1,10s)")
        f1.close()  # wakes the retry wait: FetcherClosed, the claim is released
        with pytest.raises(transport.FetcherClosed):
            first.result(5)
        assert second.result(10) == {"ok": True}
    assert len(server.requests_to("/flaky")) == 2


# --- across processes --------------------------------------------------------------------


def test_processes_racing_for_one_key_send_one_request(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """4 processes fetch K at once, the fetch outlasting the lease: one request, one result.

    The claim's heartbeat (every lease / 3) keeps it alive past its 2 s lease while the
    owner lives.
    """
    url = server.route("/a", Reply(200, body=b'{"n": 42}', delay=3.0))
    db = str(tmp_path / "shared.sqlite")
    procs = [_child(db=db, url=url, key="K", lease=2.0) for _ in range(4)]
    results = [_result(p) for p in procs]
    assert [r["ok"] for r in results] == [{"n": 42}] * 4
    assert len(server.requests_to("/a")) == 1
    assert "idempotency-key" not in server.requests[0].headers  # not asked for


def test_a_process_with_a_different_request_is_refused(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """Process A fetches K = GET /a; process B asks K = POST /b meanwhile: ValueError, no POST."""
    a = server.route("/a", Reply(200, body=b'{"from": "a"}', delay=1.5))
    b = server.route("/b", Reply(200, body=b'{"from": "b"}'))
    db = str(tmp_path / "shared.sqlite")
    pa = _child(db=db, url=a, key="K")
    _wait_until(lambda: len(server.requests_to("/a")) == 1)
    pb = _child(db=db, url=b, key="K", method="POST", body="{}")
    rb = _result(pb)
    assert rb["error"] == "ValueError" and "different request" in str(rb["text"])
    assert _result(pa)["ok"] == {"from": "a"}
    assert server.requests_to("/b") == []


def _pay_route(server: LoopbackServer) -> tuple[str, list[Request]]:
    """/pay: the first request is answered slowly (a byte per 0.2 s), later ones at once."""
    seen: list[Request] = []
    lock = threading.Lock()

    def reply(req: Request) -> Reply:
        with lock:
            seen.append(req)
            first = len(seen) == 1
        body = b'{"paid": true}'
        return Reply(200, body=body, drip=0.2) if first else Reply(200, body=body)

    return server.route("/pay", reply), seen


def test_killed_mid_answer_the_post_is_sent_again_with_the_same_idempotency_key(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """SIGKILL while the server answers: the restarted process sends the POST again
    (at-least-once), carrying the same Idempotency-Key, derived from the stable key."""
    url, seen = _pay_route(server)
    db = str(tmp_path / "shared.sqlite")
    pa = _child(db=db, url=url, key="order-1234", method="POST", body='{"n": 1}', idem=True)
    _wait_until(lambda: len(seen) == 1)
    time.sleep(0.3)  # the answer has started
    _kill(pa)
    assert pa.returncode == -signal.SIGKILL
    pb = _child(db=db, url=url, key="order-1234", method="POST", body='{"n": 1}', idem=True)
    assert _result(pb)["ok"] == {"paid": True}
    assert len(seen) == 2  # at-least-once: the claim of the dead process was taken over
    expected = hashlib.sha256(b"order-1234").hexdigest()
    assert [r.headers.get("idempotency-key") for r in seen] == [expected, expected]
    assert "order-1234" not in expected


def test_the_claim_of_a_killed_process_is_taken_over_at_once(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """SIGKILL: its claim (pid and start time gone) is taken over without waiting the lease;
    the request is sent again: at-least-once after a crash."""
    url = server.route("/a", Reply(200, body=b'{"n": 1}', delay=3.0))
    db = str(tmp_path / "shared.sqlite")
    pa = _child(db=db, url=url, key="K", lease=30.0)
    _wait_until(lambda: len(server.requests_to("/a")) == 1)
    _kill(pa)
    server.route("/a", Reply(200, body=b'{"n": 2}'))
    t0 = time.monotonic()
    pb = _child(db=db, url=url, key="K", lease=30.0)
    assert _result(pb)["ok"] == {"n": 2}
    assert time.monotonic() - t0 < 20.0  # not the 30 s lease
    assert len(server.requests_to("/a")) == 2


def test_a_frozen_owner_loses_its_claim_when_the_lease_runs_out(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """SIGSTOP: the owner lives but sends no heartbeat; after the lease another takes over."""
    url = server.route("/a", Reply(200, body=b'{"n": 1}', delay=3.0))
    db = str(tmp_path / "shared.sqlite")
    pa = _child(db=db, url=url, key="K", lease=1.0)
    try:
        _wait_until(lambda: len(server.requests_to("/a")) == 1)
        pa.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        server.route("/a", Reply(200, body=b'{"n": 2}'))
        pb = _child(db=db, url=url, key="K", lease=1.0)
        assert _result(pb)["ok"] == {"n": 2}
        # It waited for the lease (1 s after the last heartbeat, at most 1/3 s before t0).
        assert time.monotonic() - t0 >= 0.6
        assert len(server.requests_to("/a")) == 2
    finally:
        _kill(pa)


def test_idempotency_key_per_fetch_and_explicit_header(server: LoopbackServer) -> None:
    """Per-fetch idempotency_key=True sends it (on every retry); an explicit header wins."""
    url = server.route("/p", Reply(503), Reply(200, body=b"{}"), cycle=True)
    with transport.BackgroundFetcher() as f:
        f._sleep = lambda s: None  # type: ignore[method-assign]
        retry = "503:backoff(1,1ms)"
        f.fetch("k1", url, method="POST", idempotency_key=True, retry=retry).result(5)
        mine = {"Idempotency-Key": "mine"}
        f.fetch("k2", url, method="POST", headers=mine, idempotency_key=True, retry=retry).result(5)
        f.fetch("k3", url, method="POST", retry="503:backoff(1,1ms)").result(5)
    keys = [r.headers.get("idempotency-key") for r in server.requests]
    k1 = hashlib.sha256(b"k1").hexdigest()
    assert keys == [k1, k1, "mine", "mine", None, None]


def test_close_stops_the_heartbeat(server: LoopbackServer, tmp_path: Path) -> None:
    """A fetcher that held claims leaves no heartbeat thread behind after close()."""

    def beats() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "fetch-heartbeat"}

    url = server.route("/a", Reply(200, body=b"{}"))
    before = beats()  # other tests' fetchers (the module-wide one) may have theirs
    with transport.BackgroundFetcher(transport.SqliteStore(tmp_path / "s")) as f:
        f.fetch("K", url).result(5)
        assert beats() - before
    assert beats() <= before


def test_processes_opening_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Several processes opening the same new file at the same instant all get the store:
    the switch to WAL mode is retried while another process holds the file's lock."""

    start = time.time() + 1.5
    code = (
        "import sys, time\n"
        "from transport import SqliteStore\n"
        f"time.sleep(max(0.0, {start!r} - time.time()))\n"
        "for i in range(15):\n"
        "    SqliteStore(sys.argv[1] + f'/s{i}.sqlite')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
