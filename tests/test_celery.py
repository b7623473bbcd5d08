"""``transport.CeleryFetcher`` on a real redis-server and real ``celery worker`` processes.

No eager mode and no fake broker: messages go through Redis to worker subprocesses, which
are SIGKILLed to show that nothing is lost and no attempt is made twice.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

import policy
import transport

try:
    from tests.celery_app import make_app
    from tests.celery_worker import CeleryWorker
    from tests.httpserver import LoopbackServer, Reply, Request
    from tests.redis_server import RedisServer
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from celery_app import make_app  # type: ignore[no-redef]
    from celery_worker import CeleryWorker  # type: ignore[no-redef]
    from httpserver import LoopbackServer, Reply, Request  # type: ignore[no-redef]
    from redis_server import RedisServer  # type: ignore[no-redef]

TESTS = Path(__file__).resolve().parent
SECRET = "s3cr3t-" + uuid.uuid4().hex
_db_lock = threading.Lock()
_next_db = [10]


def _fresh_db() -> int:
    with _db_lock:
        _next_db[0] += 1
        return _next_db[0]


class Fleet:
    """One Redis database, an app + fetcher in this process, and a worker subprocess."""

    def __init__(self, server: RedisServer, *, visibility: float = 3600.0) -> None:
        self.db = _fresh_db()
        self.broker = server.db_url(self.db)
        self.prefix = f"t{uuid.uuid4().hex[:8]}:"
        self.visibility = visibility
        self.app, self.fetcher = make_app(self.broker, self.prefix, visibility)
        self.worker = self.new_worker()
        self.redis = redis.Redis.from_url(self.broker)

    def new_worker(self) -> CeleryWorker:
        return CeleryWorker(
            self.broker, self.prefix, visibility=self.visibility, env={"RP_API_KEY": SECRET}
        ).start()

    def restart(self) -> None:
        self.worker.kill()
        self.worker.close()
        self.worker = self.new_worker()

    def close(self) -> None:
        self.worker.close()
        self.redis.flushdb()
        self.redis.close()


@pytest.fixture(scope="module")
def fleet(redis_server: RedisServer) -> Iterator[Fleet]:
    f = Fleet(redis_server)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def http() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_503_503_200_by_key_then_joins_then_refuses_another_request(
    fleet: Fleet, http: LoopbackServer
) -> None:
    """The seed's contract on Celery: JSON, joins without a request, ValueError on mismatch."""
    url = http.route("/json", Reply(503), Reply(503), Reply(200, body=b'{"n": 1}'))
    key = "k-" + uuid.uuid4().hex
    handle = fleet.fetcher.fetch(key, url, retry="5xx:backoff(3,50ms)")
    assert handle.result(timeout=30) == {"n": 1}
    assert handle.done()
    assert len(http.requests_to("/json")) == 3
    assert [a["outcome"] for a in fleet.fetcher.attempts(key)] == ["503", "503", "200"]
    # Same key, same request: the stored result, no new request.
    again = fleet.fetcher.fetch_response(key, url, retry="5xx:backoff(3,50ms)")
    status, _headers, data = again.result(timeout=5)
    assert (status, data) == (200, {"n": 1})
    assert len(http.requests_to("/json")) == 3
    # Same key, another request: refused, whatever differs.
    with pytest.raises(ValueError, match="different request"):
        fleet.fetcher.fetch(key, url, method="POST")
    with pytest.raises(ValueError, match="different request"):
        fleet.fetcher.fetch(key, url + "/other")
    with pytest.raises(ValueError, match="different request"):
        fleet.fetcher.fetch(key, url, body=b"x")
    # Header values are not part of the identity.
    assert fleet.fetcher.fetch(key, url, headers={"X-Trace": "1"}).result(5) == {"n": 1}
    # forget() frees the key: the next fetch makes a new request.
    fleet.fetcher.forget(key)
    http.route("/json", Reply(200, body=b'{"n": 2}'))
    assert fleet.fetcher.fetch(key, url).result(timeout=30) == {"n": 2}
    assert len(http.requests_to("/json")) == 4


def test_a_stored_failure_raises_again(fleet: Fleet, http: LoopbackServer) -> None:
    """A final 503 is a FetchError with the history; asking again raises it, no request."""
    url = http.route("/down", Reply(503, body=b"down"))
    key = "f-" + uuid.uuid4().hex
    with pytest.raises(transport.FetchError) as e:
        fleet.fetcher.fetch(key, url, retry="5xx:backoff(1,10ms)").result(timeout=30)
    assert e.value.status == 503 and e.value.body == b"down"
    assert [a.label for a in e.value.attempts] == ["503", "503"]
    with pytest.raises(transport.FetchError):
        fleet.fetcher.fetch(key, url, retry="5xx:backoff(1,10ms)").result(timeout=5)
    assert len(http.requests_to("/down")) == 2
    # A connection failure: FetchError with status None, chained to the RetryError.
    dead = "http://127.0.0.1:9/nothing"
    with pytest.raises(transport.FetchError) as e2:
        fleet.fetcher.fetch("c-" + key, dead).result(timeout=30)
    assert e2.value.status is None
    assert isinstance(e2.value.__cause__, transport.RetryError)


def test_result_timeout_and_bad_arguments(fleet: Fleet, http: LoopbackServer) -> None:
    """result(timeout=) raises TimeoutError in time; bad keys and URLs are refused up front."""
    url = http.route("/slow", Reply(200, body=b"1", delay=1.5))
    handle = fleet.fetcher.fetch("t-" + uuid.uuid4().hex, url)
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.2)
    assert time.monotonic() - t < 1.0
    assert handle.result(timeout=30) == 1
    with pytest.raises(ValueError, match="non-empty"):
        fleet.fetcher.fetch("", url)
    with pytest.raises(ValueError, match="absolute http"):
        fleet.fetcher.fetch("x", "ftp://host/file")
    with pytest.raises(ValueError, match="one task per app"):
        transport.CeleryFetcher(fleet.app)
    assert transport.CeleryFetcher.of(fleet.app) is fleet.fetcher


def test_a_literal_secret_is_refused(fleet: Fleet) -> None:
    """A Redacted value or a URL password would be in the broker: refused, env form shown."""
    with pytest.raises(ValueError, match=re.escape("Redacted.env('Bearer {}', 'API_KEY')")) as e:
        fleet.fetcher.fetch(
            "s",
            "http://127.0.0.1:1/",
            headers={"Authorization": transport.Redacted("Bearer {}", SECRET)},
        )
    assert SECRET not in str(e.value)
    with pytest.raises(ValueError, match="password") as e2:
        fleet.fetcher.fetch("s", f"http://user:{SECRET}@127.0.0.1:1/")
    assert SECRET not in str(e2.value)
    with pytest.raises(ValueError, match=re.escape("query_in_broker=True")) as e3:
        fleet.fetcher.fetch("s", f"http://127.0.0.1:1/?api_key={SECRET}")
    assert SECRET not in str(e3.value)
    assert "Redacted.env('https://api.example/v1?key={}', 'API_KEY')" in str(e3.value)
    with pytest.raises(ValueError, match="Redacted URL would travel"):
        fleet.fetcher.fetch("s", transport.Redacted("http://127.0.0.1:1/?k={}", SECRET))
    assert fleet.redis.exists(f"{fleet.prefix}fetch:s") == 0  # nothing claimed


def _every_value(client: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) for every value of every key of every database, whatever its type."""
    dbs = [int(name[2:]) for name in client.info("keyspace")]
    pool_kwargs = client.connection_pool.connection_kwargs
    for db in dbs:
        c = redis.Redis(host=pool_kwargs["host"], port=pool_kwargs["port"], db=db)
        for key in c.scan_iter():
            kind = c.type(key).decode()
            if kind == "string":
                values = [c.get(key) or b""]
            elif kind == "list":
                values = c.lrange(key, 0, -1)
            elif kind == "hash":
                values = [b for kv in c.hgetall(key).items() for b in kv]
            elif kind == "set":
                values = list(c.smembers(key))
            elif kind == "zset":
                values = [m for m, _ in c.zrange(key, 0, -1, withscores=True)]
            else:
                values = [c.dump(key) or b""]
            for v in [key, *values]:
                yield key, v
        c.close()


def _contains(value: bytes, secret: bytes) -> bool:
    """``secret`` in ``value`` as is, or in any base64 piece of it (message bodies)."""
    if secret in value:
        return True
    for piece in re.findall(rb"[A-Za-z0-9+/=]{16,}", value):
        try:
            decoded = base64.b64decode(piece + b"=" * (-len(piece) % 4))
        except ValueError:
            continue
        if secret in decoded or _contains_json(decoded, secret):
            return True
    return False


def _contains_json(decoded: bytes, secret: bytes) -> bool:
    try:
        text = json.dumps(json.loads(decoded))
    except ValueError:
        return False
    return secret.decode() in text


def test_an_env_secret_is_read_on_the_worker_and_never_stored(
    fleet: Fleet, redis_server: RedisServer, http: LoopbackServer
) -> None:
    """Redacted.env in a header and a URL: the server gets the secret; Redis never holds it."""
    seen: list[str] = []
    queries: list[str] = []

    def answer(req: Request) -> Reply:
        seen.append(req.headers.get("authorization", ""))
        queries.append(req.path.partition("?")[2])
        if len(seen) == 1:
            return Reply(503, headers={"Retry-After": "1"})
        return Reply(200, body=b'{"ok": true}', headers={"Set-Cookie": f"s={SECRET}"})

    url = http.route("/auth", answer)
    key = "secret-" + uuid.uuid4().hex
    handle = fleet.fetcher.fetch(
        key,
        transport.Redacted.env(url + "?key={}&page=2", "RP_API_KEY"),
        headers={"Authorization": transport.Redacted.env("Bearer {}", "RP_API_KEY")},
        retry="503:headers()",
    )
    _wait_for(lambda: len(seen) == 1, 20, "the first attempt")
    time.sleep(0.2)  # the retry message is now in the broker, waiting out Retry-After
    client = redis.Redis.from_url(redis_server.url)
    scanned = list(_every_value(client))
    assert any(k.startswith(fleet.prefix.encode()) for k, _ in scanned)
    assert not [k for k, v in scanned if _contains(v, SECRET.encode())]
    assert handle.result(timeout=30) == {"ok": True}
    assert seen == [f"Bearer {SECRET}"] * 2
    assert queries == [f"key={SECRET}&page=2"] * 2
    scanned = list(_every_value(client))
    assert not [k for k, v in scanned if _contains(v, SECRET.encode())]
    client.close()


def test_a_missing_env_secret_is_a_fetch_error(fleet: Fleet, http: LoopbackServer) -> None:
    """A variable the worker does not have: the fetch fails with a clear error, no request."""
    url = http.route("/noenv", Reply(200))
    with pytest.raises(transport.FetchError, match="RP_NOT_SET") as e:
        fleet.fetcher.fetch(
            "noenv-" + uuid.uuid4().hex,
            url,
            headers={"Authorization": transport.Redacted.env("Bearer {}", "RP_NOT_SET")},
        ).result(timeout=30)
    assert e.value.status is None
    assert http.requests_to("/noenv") == []


def test_200_fetches_wait_out_a_reset_without_holding_the_worker(
    fleet: Fleet, http: LoopbackServer
) -> None:
    """200 fetches each told to wait 10 s, one worker process: all done in about 10 s.

    A worker that slept through the waits would need 200 x 10 s; the bound below is 4x the
    reset, far from that.  The figure is printed, not asserted as a speed.
    """
    n = 200
    run = uuid.uuid4().hex[:6]
    urls = [
        http.route(
            f"/reset/{run}/{i}",
            Reply(429, headers={"Retry-After": "10"}),
            Reply(200, body=str(i).encode()),
        )
        for i in range(n)
    ]
    t = time.monotonic()
    handles = [
        fleet.fetcher.fetch(f"reset-{run}-{i}", u, retry="429:headers()")
        for i, u in enumerate(urls)
    ]
    results = [h.result(timeout=60) for h in handles]
    elapsed = time.monotonic() - t
    print(f"\n200 fetches waiting out a 10 s reset, one worker: {elapsed:.1f}s")
    assert results == list(range(n))
    assert all(len(http.requests_to(f"/reset/{run}/{i}")) == 2 for i in range(n))
    assert elapsed < 40


def test_a_duplicate_delivery_makes_no_second_request(
    redis_server: RedisServer, http: LoopbackServer
) -> None:
    """visibility_timeout 2 s, a 5 s wait: the message comes back while it waits; one request.

    Celery's Redis transport re-delivers a message that is not acknowledged within its
    visibility timeout, so the waiting retry is delivered twice (or more); the attempt
    markers make every extra copy a no-op.
    """
    fleet = Fleet(redis_server, visibility=2.0)
    try:
        url = http.route(
            "/dup", Reply(503, headers={"Retry-After": "5"}), Reply(200, body=b'"once"')
        )
        handle = fleet.fetcher.fetch("dup", url, retry="503:headers()")
        assert handle.result(timeout=40) == "once"
        time.sleep(1.0)  # let any late copy run too
        assert len(http.requests_to("/dup")) == 2
        log = fleet.worker.log()
        copies = len(re.findall(r"succeeded in [0-9.]+s: '(?:dup|wait|finished)'", log))
        assert copies >= 1, log[-3000:]  # the re-delivery did happen, and was harmless
    finally:
        fleet.close()


def test_sigkill_during_an_attempt_and_during_a_wait(
    redis_server: RedisServer, http: LoopbackServer
) -> None:
    """A worker SIGKILLed mid-attempt and mid-wait; a new one finishes every fetch, one 2xx each."""
    fleet = Fleet(redis_server, visibility=3.0)
    try:
        ok = Reply(200, body=b'"done"')
        twos: dict[str, int] = {}

        def two(path: str, first: Reply) -> str:
            replies = iter([first])

            def answer(req: Request) -> Reply:
                r = next(replies, ok)
                if r is ok:
                    twos[path] = twos.get(path, 0) + 1
                return r

            return http.route(path, answer)

        waiting = two("/wait", Reply(503))
        slow = two("/slow", Reply(503, delay=2.5))
        policy_text = "reset,5xx:backoff(3,2s) timeout=4s"
        h_wait = fleet.fetcher.fetch("wait", waiting, retry=policy_text)
        _wait_for(lambda: len(http.requests_to("/wait")) == 1, 20, "the first /wait attempt")
        h_slow = fleet.fetcher.fetch("slow", slow, retry=policy_text)
        _wait_for(lambda: len(http.requests_to("/slow")) == 1, 20, "the slow attempt")
        time.sleep(0.3)  # /slow is mid-attempt; /wait is in its 2 s wait
        fleet.restart()  # SIGKILL, then a new worker
        assert h_wait.result(timeout=40) == "done"
        assert h_slow.result(timeout=40) == "done"
        time.sleep(0.5)
        assert twos == {"/wait": 1, "/slow": 1}
        assert len(http.requests_to("/wait")) == 2  # the wait was not restarted from scratch
        outcomes = [a["outcome"] for a in fleet.fetcher.attempts("slow")]
        assert outcomes == ["reset", "200"]  # the killed attempt counts as a broken connection
    finally:
        fleet.close()


def test_the_command_submits_and_watches_a_fetch(fleet: Fleet, http: LoopbackServer) -> None:
    """python -m transport.celery_fetch: attempts as they come, then status and JSON."""
    seen: list[str] = []

    def answer(req: Request) -> Reply:
        seen.append(req.headers.get("authorization", "") + " " + req.path.partition("?")[2])
        return Reply(503) if len(seen) == 1 else Reply(200, body=b'{"via": "cli"}')

    url = http.route("/cli", answer)
    env = dict(os.environ)
    env.update(
        RP_BROKER=fleet.broker,
        RP_PREFIX=fleet.prefix,
        PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent)]),
    )
    key = "cli-" + uuid.uuid4().hex
    cmd = [
        sys.executable,
        "-m",
        "transport.celery_fetch",
        "celery_app:app",
        key,
        url + "?token=${RP_API_KEY}",
        "--retry",
        "5xx:backoff(2,100ms)",
        "--header",
        "Authorization: Bearer ${RP_API_KEY}",
        "--wait",
        "30",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=TESTS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": 200, "data": {"via": "cli"}}
    assert "attempt 1: 503, then wait 0.1s" in done.stderr
    assert "attempt 2: 200" in done.stderr
    assert seen == [f"Bearer {SECRET} token={SECRET}"] * 2  # read on the worker
    # Run again: the key joins the stored outcome, no new request; a failure exits 1.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=TESTS)
    assert again.returncode == 0 and len(seen) == 2
    http.route("/cli-down", Reply(503))
    cmd[4:6] = [key + "-down", http.url("/cli-down")]
    failed = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=TESTS)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == 503


def _redelivered(fleet: Fleet, key: str, url: str, retry: str, marker: dict[str, Any]) -> None:
    """Leave a key as a worker killed mid-attempt 1 leaves it, then deliver attempt 1 again."""
    from transport import _celery, _fetch  # the tests may use private names

    ident = _fetch.identity("GET", url, None)
    name = f"{fleet.prefix}fetch:{key}"
    fleet.redis.hset(name, mapping={"identity": ident, **marker})
    message = {
        "v": 1,
        "key": key,
        "id": ident,
        "method": "GET",
        "url": url,
        "headers": [],
        "body": None,
        "policy": retry,
        "timeout": None,
        "n": 1,
        "state": None,
        "attempts": [],
    }
    fleet.fetcher._send(message, None)
    assert fleet.fetcher.task.name == _celery.TASK_NAME


def test_an_answer_recorded_before_a_crash_is_used_not_asked_again(
    fleet: Fleet, http: LoopbackServer
) -> None:
    """Attempt 1 got its 200, then the worker died: the next delivery stores that 200."""
    url = http.route("/answered", Reply(200, body=b'"second"'))
    key = "answered-" + uuid.uuid4().hex
    answer = {"label": "200", "status": 200, "headers": [["Content-Type", "x"]], "final": None}
    _redelivered(
        fleet,
        key,
        url,
        "5xx:backoff(2,10ms)",
        {"attempt:1": "answered", "answer:1": json.dumps(answer), "answer_body:1": b'"first"'},
    )
    handle = fleet.fetcher.fetch_response(key, url, retry="5xx:backoff(2,10ms)")
    status, headers, data = handle.result(timeout=30)
    assert (status, headers["content-type"], data) == (200, "x", "first")
    assert http.requests_to("/answered") == []  # no second request for attempt 1
    assert not [f for f in fleet.redis.hkeys(f"{fleet.prefix}fetch:{key}") if b"answer" in f]


def test_an_attempt_cut_short_counts_as_a_reset(fleet: Fleet, http: LoopbackServer) -> None:
    """Attempt 1 began (its lease is over) with no answer: a reset; the policy decides."""
    url = http.route("/cut", Reply(200, body=b'"retried"'))
    key = "cut-" + uuid.uuid4().hex
    gone = {"attempt:1": f"run dead-worker {time.time() - 1!r}"}
    _redelivered(fleet, key, url, "reset:backoff(1,10ms)", gone)
    assert fleet.fetcher.fetch(key, url, retry="reset:backoff(1,10ms)").result(30) == "retried"
    assert [a["outcome"] for a in fleet.fetcher.attempts(key)] == ["reset", "200"]
    assert len(http.requests_to("/cut")) == 1
    # Without a rule for resets the fetch ends there: a FetchError, no request at all.
    key2 = "cut2-" + uuid.uuid4().hex
    url2 = http.route("/cut2", Reply(200))
    _redelivered(fleet, key2, url2, "5xx:backoff(1,10ms)", gone)
    with pytest.raises(transport.FetchError) as e:
        fleet.fetcher.fetch(key2, url2, retry="5xx:backoff(1,10ms)").result(30)
    assert e.value.status is None
    assert http.requests_to("/cut2") == []


def test_the_task_is_crash_safe_and_keys_expire(fleet: Fleet, http: LoopbackServer) -> None:
    """acks_late + reject_on_worker_lost on the one task; a key's hash expires after ttl."""
    task = fleet.fetcher.task
    assert task.name == "retry_policy.fetch"
    assert task.acks_late is True and task.reject_on_worker_lost is True
    url = http.route("/ttl", Reply(200, body=b"1"))
    key = "ttl-" + uuid.uuid4().hex
    assert fleet.fetcher.fetch(key, url).result(timeout=30) == 1
    ttl_ms = fleet.redis.pttl(f"{fleet.prefix}fetch:{key}")
    assert 0 < ttl_ms <= 7 * 24 * 3600 * 1000
    # Every key this fetcher wrote has a TTL: nothing grows without bound.
    mine = list(fleet.redis.scan_iter(match=f"{fleet.prefix}*"))
    assert mine and all(fleet.redis.pttl(k) > 0 for k in mine)


@given(
    start=st.floats(0, 4e9, allow_nan=False),
    retries=st.integers(0, 1000),
    counters=st.lists(st.integers(0, 1000), max_size=6),
    prev=st.lists(st.floats(0, 1e6, allow_nan=False), max_size=6),
    deadline=st.one_of(st.just(float("inf")), st.floats(0, 4e9, allow_nan=False)),
)
def test_attempt_state_survives_the_message(
    start: float, retries: int, counters: list[int], prev: list[float], deadline: float
) -> None:
    """The evaluator's AttemptState round-trips through the task message's JSON exactly."""
    from transport import _celery_wire  # the tests may use private names

    state = policy.AttemptState(start, retries, counters, prev, deadline)
    text = json.dumps(_celery_wire.state_json(state), allow_nan=False)
    assert _celery_wire.state_from(json.loads(text)) == state


def test_an_unreachable_redis_is_a_clear_error(http: LoopbackServer) -> None:
    """No Redis: fetch raises ConnectionError saying so, promptly; nothing hangs."""
    with RedisServer() as gone:
        url = gone.url
    _app, fetcher = make_app(url, "gone:")
    t = time.monotonic()
    with pytest.raises(ConnectionError, match=r"Redis at redis://127\.0\.0\.1:\d+/0 did not"):
        fetcher.fetch("k", http.url("/x"))
    with pytest.raises(ConnectionError, match="nothing was forgotten"):
        fetcher.forget("k")
    assert time.monotonic() - t < 10
    assert http.requests == []


def test_a_malformed_message_is_dropped_not_looped(fleet: Fleet, http: LoopbackServer) -> None:
    """A message that is not a fetch attempt is logged and acknowledged; work goes on."""
    fleet.fetcher.task.apply_async(("not json",), queue="retry-policy-tests")
    fleet.fetcher.task.apply_async((json.dumps({"v": 99}),), queue="retry-policy-tests")
    url = http.route("/after", Reply(200, body=b'"fine"'))
    assert fleet.fetcher.fetch("after-" + uuid.uuid4().hex, url).result(timeout=30) == "fine"
    _wait_for(
        lambda: fleet.worker.log().count("dropped a message that is not a fetch") == 2,
        10,
        "both messages to be dropped",
    )


def test_eager_mode_is_refused(redis_server: RedisServer) -> None:
    """task_always_eager would run every retry inline without its wait: a clear error."""
    app, fetcher = make_app(redis_server.db_url(63), "eager:")
    app.conf.task_always_eager = True
    with pytest.raises(RuntimeError, match="needs real workers"):
        fetcher.fetch("k", "http://127.0.0.1:1/")


def test_a_plain_query_when_allowed(redis_server: RedisServer, http: LoopbackServer) -> None:
    """query_in_broker=True: a plain query string is accepted, and it is part of the key's
    identity (another query under the same key is another request)."""
    from celery import Celery

    broker = redis_server.db_url(_fresh_db())
    app = Celery("query", broker=broker)
    fetcher = transport.CeleryFetcher(app, prefix="q:", query_in_broker=True)
    client = redis.Redis.from_url(broker)
    try:
        fetcher.fetch("q", http.url("/q?page=1"))  # claimed and sent (no worker needed)
        fetcher.fetch("q", http.url("/q?page=1"))  # joins
        with pytest.raises(ValueError, match="different request"):
            fetcher.fetch("q", http.url("/q?page=2"))
    finally:
        client.flushdb()
        client.close()


def test_workers_honour_a_hold_set_by_another_fetch(fleet: Fleet, http: LoopbackServer) -> None:
    """pace=on: one fetch's 429 Retry-After: 2 holds the origin for the next fetch's first
    attempt (server-side arrival times); the waiting fetch occupies no worker meanwhile."""
    first = http.route("/held", Reply(429, headers={"Retry-After": "2"}))
    second = http.route("/next", Reply(200, body=b'"after the hold"'))
    run = uuid.uuid4().hex[:6]
    with pytest.raises(transport.FetchError):
        fleet.fetcher.fetch(f"held-{run}", first, retry="pace=on").result(timeout=30)
    handle = fleet.fetcher.fetch(f"next-{run}", second, retry="5xx:backoff(1,10ms) pace=on")
    # Meanwhile the one worker is free: a fetch to another origin goes straight through.
    with LoopbackServer() as other:
        url = other.route("/free", Reply(200, body=b"1"))
        assert fleet.fetcher.fetch(f"free-{run}", url).result(timeout=30) == 1
        free_at = other.requests_to("/free")[0].time
    assert handle.result(timeout=30) == "after the hold"
    held_at = http.requests_to("/held")[0].time
    next_at = http.requests_to("/next")[0].time
    assert next_at - held_at >= 1.9
    assert free_at < next_at


def test_an_idempotency_key_goes_with_every_attempt(fleet: Fleet, http: LoopbackServer) -> None:
    """idempotency_key=True: the same Idempotency-Key (SHA-256 of the stable key) each time."""
    url = http.route("/idem", Reply(503), Reply(200, body=b"1"))
    key = "idem-" + uuid.uuid4().hex
    handle = fleet.fetcher.fetch(
        key, url, method="POST", body=b"x", retry="503[POST]:backoff(1,10ms)", idempotency_key=True
    )
    assert handle.result(timeout=30) == 1
    sent = [r.headers.get("idempotency-key") for r in http.requests_to("/idem")]
    from transport._fetch import idempotency_key  # the tests may use private names

    assert sent == [idempotency_key(key)] * 2
    assert sent[0] != key
    plain = http.route("/plain", Reply(200))
    fleet.fetcher.fetch("plain-" + key, plain).result(timeout=30)
    assert "idempotency-key" not in http.requests_to("/plain")[0].headers


def test_workers_share_the_circuit_and_a_refusal_is_not_kept(
    fleet: Fleet, http: LoopbackServer
) -> None:
    """breaker=: the workers' calls share one circuit (the fleet's RedisState): after one
    fetch's three 503s a fetch of another key is refused without a request
    (``CircuitOpenFetchError`` with origin and retry_after), and that refusal is not the
    key's result: fetched again once the circuit half-opens, the key sends its request."""
    p = "5xx:backoff(2,10ms) breaker=3/open=2s"
    url = http.route("/down", Reply(503))
    run = uuid.uuid4().hex[:6]
    with pytest.raises(transport.FetchError) as failed:
        fleet.fetcher.fetch(f"a-{run}", url, retry=p).result(timeout=30)
    assert failed.value.status == 503 and len(failed.value.attempts) == 3
    with pytest.raises(transport.CircuitOpenFetchError) as refused:
        fleet.fetcher.fetch(f"b-{run}", url, retry=p).result(timeout=30)
    e = refused.value
    assert e.status is None and e.attempts == () and 0 < e.retry_after <= 2.0
    assert e.origin == url.rsplit("/", 1)[0]
    assert len(http.requests_to("/down")) == 3
    http.route("/down", Reply(200, body=b'"up"'))
    time.sleep(e.retry_after + 0.1)
    assert fleet.fetcher.fetch(f"b-{run}", url, retry=p).result(timeout=30) == "up"
    assert len(http.requests_to("/down")) == 4


def _trip(p: policy.Policy, state: transport.LocalState, origin: str, times: int) -> None:
    """``times`` failed attempts to ``origin`` through ``state`` (another call's)."""
    from policy.loop import Call

    for _ in range(times):
        c = Call(p, now=time.time(), origin=origin, state=state, rand=lambda: 0.5)
        c.before(time.time())
        c.after(policy.Response(503), time.time())


def _local_fleet(server: RedisServer) -> tuple[Any, transport.LocalState, list[dict[str, Any]]]:
    """A CeleryFetcher whose breaker state the test holds, and the messages it sends (the
    test plays the worker: ``fetcher._run``)."""
    from celery import Celery

    app = Celery("retry_policy_circuit_tests", broker=server.db_url(_fresh_db()))
    state = transport.LocalState()
    fetcher = transport.CeleryFetcher(app, prefix=f"c{uuid.uuid4().hex[:6]}:", state=state)
    sent: list[dict[str, Any]] = []
    publish = fetcher._send

    def record(m: Any, countdown: float | None) -> None:
        sent.append(dict(m))
        publish(m, countdown)

    fetcher._send = record  # type: ignore[method-assign]
    return fetcher, state, sent


def test_a_kept_answer_is_followed_though_the_circuit_opened(
    redis_server: RedisServer, http: LoopbackServer
) -> None:
    """A worker kept attempt 1's answer (a 201 to a POST) and died; the circuit opened
    meanwhile.  The message delivered again follows the kept answer -- the fetch's
    result is the 201 -- and never stores a circuit refusal that a later fetch of the key
    would replace by sending the POST again."""
    from transport._celery_keys import BEGIN

    pol = "5xx[POST]:backoff(2,1s..2s,jitter) breaker=3"
    url = http.route("/pay", Reply(201, body=b'{"ok": 1}'))
    fetcher, state, sent = _local_fleet(redis_server)
    fetcher.fetch_response("k", url, method="POST", body=b"pay", retry=pol)
    m = sent[0]
    keys, name, now = fetcher._keys, fetcher._keys.name("k"), time.time()
    keys.script(BEGIN)(keys=[name], args=[1, "tokX", repr(now), repr(now + 30), m["id"], 0])
    kept = json.dumps({"status": 201, "headers": [], "final": None})
    keys.keep_answer(name, 1, kept, b'{"ok": 1}', now + 10)
    _trip(policy.parse(pol), state, url.rsplit("/", 1)[0], 3)
    assert fetcher._run("tokY", json.dumps(m)) == "done"
    again = fetcher.fetch_response("k", url, method="POST", body=b"pay", retry=pol)
    assert again.result(timeout=5)[0] == 201
    assert len(sent) == 1 and http.requests_to("/pay") == []


def test_a_message_that_sends_nothing_gives_its_probe_back(
    redis_server: RedisServer, http: LoopbackServer
) -> None:
    """Half-open, a duplicate message of a finished key is let through as the probe, then
    finds the key finished and sends nothing: the probe's place goes to the next call at
    once (it does not wait for a probe that never went)."""
    from policy.loop import Call, Send

    pol = "5xx:backoff(2,1s..2s,jitter) timeout=20s breaker=3/open=500ms"
    url = http.route("/x", Reply(200, body=b"{}"))
    fetcher, state, sent = _local_fleet(redis_server)
    fetcher.fetch_response("k", url, retry=pol)
    m, keys = sent[0], fetcher._keys
    keys.store(
        keys.name("k"), 1, [], {"status": 200, "headers": []}, b"{}", None, m["id"], "GET", url
    )
    p = policy.parse(pol)
    origin = url.rsplit("/", 1)[0]
    _trip(p, state, origin, 3)
    time.sleep(0.6)  # half-open
    assert fetcher._run("tokD", json.dumps(m)) == "finished"
    c = Call(p, now=time.time(), origin=origin, state=state, rand=lambda: 0.5, timeout=20)
    assert type(c.before(time.time())) is Send
    assert http.requests_to("/x") == []
