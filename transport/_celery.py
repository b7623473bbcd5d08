"""``CeleryFetcher``: background fetch with stable keys on Celery workers.

``BackgroundFetcher`` runs a fetch on a thread of the calling process and sleeps
through its retry waits.  ``CeleryFetcher(app)`` runs the same fetch on the workers of
a Celery app the user already has, the way the seed's platform runs a background fetch
outside the job:

* **One task message = one attempt.**  A worker takes a message, makes one attempt
  (``Call`` + one urllib3 request), and either stores the outcome or re-sends the task
  with ``countdown=delay`` carrying the attempt state as JSON (the policy string, the
  evaluator's ``AttemptState``, the attempts so far).  No worker sleeps through a wait:
  a thousand fetches waiting out a 10-minute reset occupy no worker.
* **Stable keys in Redis.**  A key is one Redis hash ``<prefix>fetch:<key>``.  The first
  call claims it atomically (a Lua script: set the request identity -- a SHA-256 of the
  method, URL and body digest, never a header value -- unless one is set); later calls
  join it; another request under the same key is a ``ValueError``; the outcome is stored
  in the hash (it survives worker and client restarts, as far as Redis persists).
* **Crash safety.**  The task is ``acks_late`` + ``reject_on_worker_lost``: a message is
  acknowledged after its attempt, so a worker killed mid-attempt or while holding a
  waiting message loses nothing -- the broker delivers the message again.  A message
  can also be delivered twice on purpose: Celery's Redis transport re-delivers a message
  not acknowledged within ``visibility_timeout`` (1 h by default), and a message with a
  countdown longer than that is delivered again while the first copy waits.  Every
  message therefore names its attempt (key, attempt number); before sending, the worker
  marks "attempt N running, lease until T" in the hash (atomically, once), and keeps
  the answer there as soon as it arrives ("attempt N answered").  A second copy that
  finds attempt N finished does nothing; one that finds its answer kept carries on from
  it (no request); one that finds it running re-sends itself for when the lease ends;
  one that finds the lease over with no answer knows the first worker died during the
  request and records it as a broken connection (``reset``): the policy then decides,
  as for any dropped connection, whether a new attempt follows.  No attempt is ever
  sent twice, and an answer that arrived is never lost.
* **No secrets in the broker.**  A literal ``Redacted`` header is refused (its secret
  would be in the message); ``Redacted.env("Bearer {}", "API_KEY")`` travels as its
  template and variable name and is read from the worker's environment when the
  request is sent.  A URL with a password is refused.  Stored results keep the masked
  URL, no request header and no ``Set-Cookie``.

``celery`` and ``redis`` are imported here only: ``import transport`` loads neither.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urlsplit

import redis
import urllib3

import policy
from policy.loop._loop import Attempt, Call, Done, Wait, label_of
from policy.loop._state import State, origin_of

from ._background import (
    StoredResult,
    _data_of,
    _identity,
    _response_of,
    _same,
    _with_idempotency_key,
    compose_policy,
)
from ._check import positive_seconds_or_none
from ._pool import DEFAULT_TIMEOUT, Body, RetryingPool, _buffer_body, _Fail, _Final, _parse
from ._redact import Redacted, mask_url, reveal_headers
from ._redis import DEFAULT_PREFIX, RedisState, _describe

__all__ = ["TASK_NAME", "CeleryFetch", "CeleryFetcher"]

log = logging.getLogger("policy")

#: The name of the one task ``CeleryFetcher`` registers on the app.
TASK_NAME: Final = "retry_policy.fetch"
#: How long a key's claim and result are kept by default (seconds): a week.
DEFAULT_TTL: Final = 7 * 24 * 3600.0
#: How long past its timeout an attempt's lease lasts (seconds).
LEASE_GRACE: Final = 2.0
_VERSION: Final = 1

T = TypeVar("T")

# The request identity of a key, claimed once; "joined" when it is the same request.
_CLAIM = """
local id = redis.call('HGET', KEYS[1], 'identity')
if id then
  if id ~= ARGV[1] then return {'mismatch', id} end
  return {'joined', id}
end
redis.call('HSET', KEYS[1], 'identity', ARGV[1], 'request', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {'claimed', ARGV[1]}
"""

# Before attempt N: mark it running (once), or say why this message must not send it.
_BEGIN = """
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return {'finished'} end
local id = redis.call('HGET', KEYS[1], 'identity')
if id and id ~= ARGV[5] then return {'stale'} end
if not id then redis.call('HSET', KEYS[1], 'identity', ARGV[5]) end
if tonumber(ARGV[6]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
local field = 'attempt:' .. ARGV[1]
local cur = redis.call('HGET', KEYS[1], field)
if not cur then
  redis.call('HSET', KEYS[1], field, 'run ' .. ARGV[2] .. ' ' .. ARGV[4])
  return {'go'}
end
if cur == 'done' then return {'dup'} end
if cur == 'answered' then
  return {'answered', redis.call('HGET', KEYS[1], 'answer:' .. ARGV[1]),
          redis.call('HGET', KEYS[1], 'answer_body:' .. ARGV[1]) or ''}
end
local lease = tonumber(string.match(cur, '(%S+)$')) or 0
if tonumber(ARGV[3]) < lease then return {'wait', tostring(lease)} end
redis.call('HSET', KEYS[1], field, 'run ' .. ARGV[2] .. ' ' .. ARGV[4])
return {'lost'}
"""

# As soon as attempt N has its answer: keep it, so a crash from here on loses nothing.
_ANSWER = """
local field = 'attempt:' .. ARGV[1]
if redis.call('HGET', KEYS[1], field) == 'done' then return 0 end
redis.call('HSET', KEYS[1], field, 'answered', 'answer:' .. ARGV[1], ARGV[2],
           'answer_body:' .. ARGV[1], ARGV[3])
return 1
"""

# After attempt N: mark it done, keep the history, and store the outcome if final.
_FINISH = """
redis.call('HSET', KEYS[1], 'attempt:' .. ARGV[1], 'done', 'attempts', ARGV[2])
redis.call('HDEL', KEYS[1], 'answer:' .. ARGV[1], 'answer_body:' .. ARGV[1])
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[1], 'result') == 0 then
  redis.call('HSET', KEYS[1], 'result', ARGV[3], 'body', ARGV[4])
end
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1
"""

_fetchers: weakref.WeakKeyDictionary[Any, CeleryFetcher] = weakref.WeakKeyDictionary()


def _encode_headers(headers: Mapping[str, Any] | None) -> list[list[Any]]:
    """Headers as JSON for the message; a literal ``Redacted`` is refused."""
    if not headers:
        return []
    items: Any = headers.items() if hasattr(headers, "items") else headers
    out: list[list[Any]] = []
    for name, value in items:
        if isinstance(value, Redacted):
            to_json = getattr(value, "to_json", None)
            if to_json is None:
                template = getattr(value, "_template", "Bearer {}")
                raise ValueError(
                    f"header {name!r}: a Redacted value would travel to the workers through "
                    "the broker with its secret; name an environment variable that the "
                    f"workers have instead: Redacted.env({template!r}, 'API_KEY')"
                )
            out.append([name, to_json()])
        elif isinstance(value, str):
            out.append([name, value])
        elif isinstance(value, bytes):
            out.append([name, value.decode("latin-1")])
        else:
            raise TypeError(
                f"header {name!r} must be a str, bytes or Redacted.env value "
                f"(got {type(value).__name__})"
            )
    return out


def _encode_url(url: Any, query_in_broker: bool) -> tuple[Any, str, str]:
    """(what the message carries, the masked URL, what the identity hashes) for ``url``.

    A plain URL travels as given, so a password or (unless allowed) a query value in it
    is refused; a ``Redacted.env`` URL travels as its template and variable names.
    """
    if isinstance(url, Redacted):
        to_json = getattr(url, "to_json", None)
        if to_json is None:
            raise ValueError(
                "url: a Redacted URL would travel to the workers through the broker with its "
                "secret; name an environment variable that the workers have instead: "
                "Redacted.env('https://api.example/v1?key={}', 'API_KEY')"
            )
        shown = str(url)
        _check_url(shown)
        data = to_json()
        return data, mask_url(shown), f"env:{data['template']}:{','.join(data['env'])}"
    if not isinstance(url, str):
        raise TypeError(f"url must be a str or Redacted.env (got {type(url).__name__})")
    parts = _check_url(url)
    if parts.password is not None:
        raise ValueError(
            f"{mask_url(url)}: a password in the URL would travel to the workers through "
            "the broker; send the credentials in a header with "
            "Redacted.env('Basic {}', 'API_CREDENTIALS') instead"
        )
    if parts.query and not query_in_broker:
        raise ValueError(
            f"{mask_url(url)}: the query values would travel to the workers through the broker "
            "in plain text; put a secret one in an environment variable the workers have, "
            "url=Redacted.env('https://api.example/v1?key={}', 'API_KEY'), or, when none is "
            "secret, allow them: CeleryFetcher(app, query_in_broker=True)"
        )
    return url, mask_url(url), url


def _check_url(url: str) -> Any:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {mask_url(url)}")
    return parts


def _decode_headers(items: list[list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in items:
        if isinstance(value, dict):
            out[name] = Redacted.env(value["template"], *value["env"])
        else:
            out[name] = value
    return out


def _state_json(s: policy.AttemptState) -> list[Any]:
    start, retries, counters, prev, deadline_at = s
    return [
        start,
        retries,
        list(counters),
        list(prev),
        None if deadline_at == float("inf") else deadline_at,
    ]


def _state_from(v: list[Any]) -> policy.AttemptState:
    start, retries, counters, prev, deadline_at = v
    return policy.AttemptState(
        float(start),
        int(retries),
        tuple(int(c) for c in counters),
        tuple(float(p) for p in prev),
        float("inf") if deadline_at is None else float(deadline_at),
    )


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class CeleryFetch(Generic[T]):
    """A fetch running on Celery workers: a future-like handle on its stored outcome.

    ``result(timeout=None)`` waits for the outcome (polling Redis) and returns it or
    raises (``FetchError``; ``TimeoutError`` when ``timeout`` passes first);
    ``exception(timeout=None)`` returns the error instead; ``done()`` says whether the
    outcome is stored.
    """

    def __init__(
        self, fetcher: CeleryFetcher, key: str, convert: Callable[[StoredResult], T]
    ) -> None:
        self.key = key
        self._fetcher = fetcher
        self._convert = convert
        self._stored: StoredResult | None = None

    def done(self) -> bool:
        return self._poll() is not None

    def result(self, timeout: float | None = None) -> T:
        return self._convert(self._wait(timeout))

    def exception(self, timeout: float | None = None) -> BaseException | None:
        stored = self._wait(timeout)
        try:
            self._convert(stored)
        except Exception as e:
            return e
        return None

    def _poll(self) -> StoredResult | None:
        if self._stored is None:
            try:
                self._stored = self._fetcher._stored(self.key)
            except redis.RedisError:  # Redis away for a moment: keep waiting
                return None
        return self._stored

    def _wait(self, timeout: float | None) -> StoredResult:
        end = None if timeout is None else time.monotonic() + timeout
        pause = 0.005
        while True:
            stored = self._poll()
            if stored is not None:
                return stored
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fetch {self.key!r} has no outcome yet")
                time.sleep(min(pause, left))
            else:
                time.sleep(pause)
            pause = min(pause * 1.5, 0.2)

    def __repr__(self) -> str:
        return f"<CeleryFetch {self.key!r}: {'done' if self._stored is not None else 'pending'}>"


class CeleryFetcher:
    """``BackgroundFetcher``'s ``fetch`` / ``fetch_response`` / ``forget`` on Celery workers.

    ``app`` is the user's Celery app: one task (``retry_policy.fetch``) is registered on
    it, so build the fetcher where the app is built, in the module the workers import.
    ``redis`` is where keys are claimed and outcomes stored (a URL or a ``redis.Redis``;
    default: the app's broker URL when it is a Redis one).  ``state`` is the pacing and
    budget state the workers use (default: a ``RedisState`` on that Redis, so the
    whole fleet honours one reset).  ``ttl`` bounds how long a key's claim and outcome
    are kept (seconds; ``None``: until ``forget``).  ``queue`` is the queue the task is
    sent to (default: the app's default queue).  A URL with a query string is refused
    unless ``query_in_broker=True`` (its values would sit in the broker in plain text);
    a secret in a URL goes in as ``Redacted.env("https://api.example/x?key={}", "API_KEY")``.
    ``idempotency_key=True`` sends ``Idempotency-Key`` (the SHA-256 of the stable key) with
    every attempt, as ``BackgroundFetcher`` does, so a server that honours it can tell a
    request asked again after a crash (a fetch's own ``idempotency_key=`` overrides it).
    """

    def __init__(
        self,
        app: Any,
        redis: str | Any = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        state: State | None = None,
        ttl: float | None = DEFAULT_TTL,
        queue: str | None = None,
        query_in_broker: bool = False,
        idempotency_key: bool = False,
    ) -> None:
        ttl = positive_seconds_or_none("ttl", ttl)
        if app in _fetchers:
            raise ValueError(
                "this Celery app already has a CeleryFetcher (one task per app); share that one"
            )
        self.app = app
        self.prefix = prefix
        self._url = redis if redis is not None else _redis_url_of(app)
        self._client_obj: Any = None
        self._scripts: dict[str, Any] = {}
        self._state_obj = state
        self._lock = threading.Lock()
        self._ttl_ms = 0 if ttl is None else max(1, int(ttl * 1000))
        self._queue = queue
        self._query_in_broker = query_in_broker
        self._idempotency_key = idempotency_key
        self._pm: urllib3.PoolManager | None = None
        self.task = app.task(
            name=TASK_NAME,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            acks_on_failure_or_timeout=False,
            ignore_result=True,
            typing=False,
        )(_make_task(self))
        _fetchers[app] = self

    # -- public API --------------------------------------------------------------------

    @classmethod
    def of(cls, app: Any) -> CeleryFetcher:
        """The ``CeleryFetcher`` registered on ``app`` (``LookupError`` when none is)."""
        try:
            return _fetchers[app]
        except KeyError:
            raise LookupError("no CeleryFetcher is registered on this Celery app") from None

    def fetch(
        self,
        key: str,
        url: str | Redacted,
        *,
        method: str = "GET",
        headers: Mapping[str, Any] | None = None,
        body: Body = None,
        retry: Any = None,
        timeout: Any = None,
        idempotency_key: bool | None = None,
    ) -> CeleryFetch[Any]:
        """A handle for the parsed JSON body (``None`` if empty or not JSON)."""
        self._start(key, url, method, headers, body, retry, timeout, idempotency_key)
        return CeleryFetch(self, key, _data_of)

    def fetch_response(
        self,
        key: str,
        url: str | Redacted,
        *,
        method: str = "GET",
        headers: Mapping[str, Any] | None = None,
        body: Body = None,
        retry: Any = None,
        timeout: Any = None,
        idempotency_key: bool | None = None,
    ) -> CeleryFetch[tuple[int, urllib3.HTTPHeaderDict, Any]]:
        """A handle for ``(status, headers, data)``."""
        self._start(key, url, method, headers, body, retry, timeout, idempotency_key)
        return CeleryFetch(self, key, _response_of)

    def forget(self, key: str) -> None:
        """Drop the claim and stored outcome of ``key`` (a running fetch stores it again)."""
        try:
            self._client().delete(self._key(key))
        except redis.RedisError as e:
            raise self._unavailable(e, "nothing was forgotten") from e

    def attempts(self, key: str) -> list[dict[str, Any]]:
        """The attempts of ``key`` so far (as ``Attempt.as_dict``): what ``watch`` shows."""
        try:
            raw = self._client().hget(self._key(key), "attempts")
        except redis.RedisError as e:
            raise self._unavailable(e, "the attempts are not known") from e
        return [] if raw is None else list(json.loads(raw))

    def __repr__(self) -> str:
        return f"<CeleryFetcher {getattr(self.app, 'main', '?')!r} prefix={self.prefix!r}>"

    # -- client side -------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return f"{self.prefix}fetch:{key}"

    def _unavailable(self, error: BaseException, consequence: str) -> ConnectionError:
        return ConnectionError(
            f"CeleryFetcher: Redis at {_describe(self._url)} did not answer "
            f"({type(error).__name__}); {consequence}"
        )

    def _client(self) -> Any:
        c = self._client_obj
        if c is None:
            with self._lock:
                if self._client_obj is None:
                    u = self._url
                    self._client_obj = (
                        redis.Redis.from_url(u, socket_timeout=5, socket_connect_timeout=5)
                        if isinstance(u, str)
                        else u
                    )
                c = self._client_obj
        return c

    def _script(self, source: str) -> Any:
        """The Lua script ``source`` on the key store (EVALSHA; loaded again if Redis forgot)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._client().register_script(source)
        return script

    def _state(self) -> State:
        s = self._state_obj
        if s is None:
            with self._lock:
                if self._state_obj is None:
                    self._state_obj = RedisState(self._url, prefix=self.prefix)
                s = self._state_obj
        return s

    def _stored(self, key: str) -> StoredResult | None:
        meta, body = self._client().hmget(self._key(key), ["result", "body"])
        if meta is None:
            return None
        return StoredResult.from_json(_text(meta), bytes(body or b""))

    def _start(
        self,
        key: str,
        url: str | Redacted,
        method: str,
        headers: Mapping[str, Any] | None,
        body: Body,
        retry: Any,
        timeout: Any,
        idempotency: bool | None = None,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if getattr(self.app.conf, "task_always_eager", False):
            raise RuntimeError(
                "CeleryFetcher needs real workers: with task_always_eager every retry would "
                "run at once, inside this call, without its wait (Celery ignores countdown "
                "in eager mode); in tests, run a worker or use BackgroundFetcher"
            )
        sent_url, shown, identity_url = _encode_url(url, self._query_in_broker)
        method = method.upper()
        if self._idempotency_key if idempotency is None else idempotency:
            headers = _with_idempotency_key(headers, key)
        encoded = _encode_headers(headers)
        data = _buffer_body(body)
        ident = _identity(method, identity_url, data)
        p, call_timeout = compose_policy(retry, timeout)
        request = json.dumps({"method": method, "url": shown, "created": time.time()})
        client = self._client()
        name = self._key(key)
        try:
            verdict, stored = self._script(_CLAIM)(keys=[name], args=[ident, request, self._ttl_ms])
        except redis.RedisError as e:
            raise self._unavailable(e, "nothing was sent") from e
        if _text(verdict) == "mismatch":
            _same(key, _text(stored), ident)
        if _text(verdict) != "claimed":
            return
        message = {
            "v": _VERSION,
            "key": key,
            "id": ident,
            "method": method,
            "url": sent_url,
            "headers": encoded,
            "body": None if data is None else base64.b64encode(data).decode("ascii"),
            "policy": str(p),
            "timeout": call_timeout,
            "n": 1,
            "state": None,
            "attempts": [],
        }
        try:
            self._send(message, None)
        except Exception as e:
            with contextlib.suppress(redis.RedisError):
                client.delete(name)  # nothing was sent: the key is free again
            raise ConnectionError(
                f"CeleryFetcher: the broker did not take the task for key {key!r} "
                f"({type(e).__name__}); nothing was sent and the key is free again"
            ) from e

    def _send(self, message: Mapping[str, Any], countdown: float | None) -> None:
        options: dict[str, Any] = {}
        if countdown is not None and countdown > 0:
            options["countdown"] = countdown
        if self._queue is not None:
            options["queue"] = self._queue
        self.task.apply_async((json.dumps(message),), **options)

    # -- worker side: one attempt per message ------------------------------------------

    def _pool(self) -> urllib3.PoolManager:
        pm = self._pm
        if pm is None:
            with self._lock:
                if self._pm is None:
                    self._pm = urllib3.PoolManager(maxsize=4)
                pm = self._pm
        return pm

    def _run(self, token: str, raw: str) -> str:
        """Handle one task message; returns what happened (for logs and tests)."""
        try:
            m = json.loads(raw)
            if m.get("v") != _VERSION:
                raise ValueError(f"message version {m.get('v')!r}, expected {_VERSION}")
            key, n = str(m["key"]), int(m["n"])
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            # Acknowledged and dropped: re-delivering it would only fail again.
            log.error("%s: dropped a message that is not a fetch attempt (%s)", TASK_NAME, e)
            return "malformed"
        name = self._key(key)
        p = policy.parse(m["policy"])
        method = m["method"]
        url = m["url"]
        if isinstance(url, dict):  # Redacted.env: revealed when the request is sent
            url = Redacted.env(url["template"], *url["env"])
        masked = mask_url(str(url))
        restored = m["state"]
        now = time.time()
        start = float(restored[0]) if restored is not None else now
        t = p.timeout_ms
        per_attempt = float(m["timeout"] or (t / 1000 if t is not None else DEFAULT_TIMEOUT))
        call = Call(
            p,
            method=method,
            now=start,
            timeout=per_attempt,
            origin=origin_of(str(url)),
            display=masked,
            state=self._state() if (p.pace or p.budget is not None) else None,
            rand=random.random,
        )
        if restored is not None:
            call.state = _state_from(restored)
            call.attempts = [Attempt.from_dict(a) for a in m["attempts"]]
            call._sent = n - 1
        step = call.before(now)
        if type(step) is Wait:  # a pacing hold: come back when it ends (nothing sent)
            self._send(m, step.seconds)
            return "held"
        if type(step) is Done:  # the hold would pass the deadline
            self._store(name, n, call, None, b"", step.reason, m["id"], method, masked)
            return "gave up"
        limit = step.timeout  # type: ignore[union-attr]
        verdict = self._script(_BEGIN)(
            keys=[name],
            args=[n, token, repr(now), repr(now + limit + LEASE_GRACE), m["id"], self._ttl_ms],
        )
        what = _text(verdict[0])
        if what in ("finished", "dup", "stale"):
            return what
        if what == "wait":  # another delivery is making this attempt: look again later
            self._send(m, max(0.05, float(_text(verdict[1])) - now + 0.05))
            return "wait"
        if what == "answered":  # the worker that made it died after the answer came
            answer, body = json.loads(_text(verdict[1])), bytes(verdict[2] or b"")
        elif what == "lost":
            # The worker that began this attempt died during it, before its answer came:
            # whether the request left is unknown, so it counts as a broken connection
            # (and is never sent again as is).
            answer, body = _answer("reset"), b""
        else:
            answer, body = self._one_attempt(p, m, url, method, limit)
            self._script(_ANSWER)(keys=[name], args=[n, json.dumps(answer), body])
        outcome = _outcome_of(answer)
        if answer["final"] is not None:
            call.attempts.append(Attempt(n, outcome, None, answer["final"], None))
            self._store(name, n, call, None, b"", answer["final"], m["id"], method, masked)
            return "gave up"
        nxt = call.after(outcome, time.time())
        if type(nxt) is Wait:
            follow = dict(m)
            follow.update(
                n=n + 1,
                state=_state_json(call.state),
                attempts=[a.as_dict() for a in call.attempts],
            )
            self._send(follow, nxt.seconds)  # first the next message, then "done"
            self._finish(name, n, call, "", b"")
            return "retry"
        assert isinstance(nxt, Done)
        reason = nxt.reason if nxt.gave_up else None
        self._store(name, n, call, answer, body, reason, m["id"], method, masked)
        return "done"

    def _one_attempt(
        self,
        p: policy.Policy,
        m: Mapping[str, Any],
        url: str | Redacted,
        method: str,
        limit: float,
    ) -> tuple[dict[str, Any], bytes]:
        """The answer (JSON-able) and body of one request made within ``limit`` seconds."""
        try:
            send_headers, secret = reveal_headers(_decode_headers(m["headers"]))
            if isinstance(url, Redacted):
                url = url.reveal()
                _parse(url)
        except (LookupError, ValueError) as e:
            return _answer("connect", final=f"the request could not be built: {e}"), b""
        data = None if m["body"] is None else base64.b64decode(m["body"])
        rp = RetryingPool(p, pool=self._pool())
        try:
            target = _parse(url)
            cp = rp._pool_for(target)
            resp = rp._attempt(cp, target, url, method, data, send_headers, secret, limit)
        except _Fail as f:
            return _answer(label_of(f.outcome)), b""
        except _Final as e:
            return _answer(label_of(e.outcome), final=e.reason), b""
        finally:
            rp.close()
        headers = [[k, v] for k, v in resp.headers.iteritems() if k.lower() != "set-cookie"]
        return _answer(str(resp.status), resp.status, headers), resp.data or b""

    def _finish(self, name: str, n: int, call: Call, meta: str, body: bytes) -> None:
        history = json.dumps([a.as_dict() for a in call.attempts])
        self._script(_FINISH)(keys=[name], args=[n, history, meta, body, self._ttl_ms])

    def _store(
        self,
        name: str,
        n: int,
        call: Call,
        answer: Mapping[str, Any] | None,
        body: bytes,
        reason: str | None,
        ident: str,
        method: str,
        masked: str,
    ) -> None:
        """Store the outcome: the answer when it is a response, else the reason."""
        status = None if answer is None else answer["status"]
        headers: tuple[tuple[str, str], ...] = ()
        if answer is not None and status is not None:
            headers = tuple((str(k), str(v)) for k, v in answer["headers"])
        result = StoredResult(
            identity=ident,
            method=method,
            url=masked,
            status=status,
            headers=headers,
            body=body if status is not None else b"",
            attempts=tuple(a.as_dict() for a in call.attempts),
            reason=None if status is not None else (reason or "failed"),
        )
        self._finish(name, n, call, result.to_json(), result.body)


def _answer(
    label: str,
    status: int | None = None,
    headers: list[list[str]] | None = None,
    final: str | None = None,
) -> dict[str, Any]:
    """What one attempt got, as JSON: its label, the response status and headers, or a
    reason that ends the call (``final``: too many redirects, a request that cannot be built).
    """
    return {"label": label, "status": status, "headers": headers or [], "final": final}


def _outcome_of(answer: Mapping[str, Any]) -> Any:
    status = answer["status"]
    if status is not None:
        headers: dict[str, str] = {}
        for k, v in answer["headers"]:
            headers.setdefault(str(k).lower(), str(v))
        return policy.Response(int(status), headers)
    label = answer["label"]
    if label == "timeout":
        return policy.Timeout()
    if label == "connect":
        return policy.ConnectFailure()
    return policy.ConnectionReset()


def _make_task(fetcher: CeleryFetcher) -> Callable[..., str]:
    def fetch_attempt(task: Any, message: str) -> str:
        token = str(getattr(task.request, "id", None) or uuid.uuid4().hex)
        return fetcher._run(token, message)

    fetch_attempt.__name__ = "fetch"
    fetch_attempt.__qualname__ = "retry_policy.fetch"
    return fetch_attempt


def _redis_url_of(app: Any) -> str:
    for setting in ("broker_url", "result_backend"):
        url = getattr(app.conf, setting, None)
        if isinstance(url, str) and url.split("://", 1)[0] in ("redis", "rediss", "unix"):
            return url
    raise ValueError(
        "CeleryFetcher needs a Redis for its keys: pass redis='redis://host:6379/0' "
        "(the app's broker is not a Redis one)"
    )
