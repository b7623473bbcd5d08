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

``celery`` and ``redis`` are imported here and in ``_celery_keys`` (the key store) only;
``_celery_wire`` holds the messages: ``import transport`` loads none of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis
import urllib3

import policy
from policy.loop import Attempt, Call, Done, State, Wait, circuit_of, origin_of

from ._attempt import DEFAULT_TIMEOUT, Sender, after_response
from ._celery_keys import BEGIN, KEEP_TRYING, CeleryFetch, FetchKeys, redis_url_of
from ._celery_wire import (
    VERSION,
    answer,
    answer_of,
    call_of,
    encode_headers,
    encode_url,
    first_message,
    outcome_of_answer,
    state_json,
    text,
)
from ._check import positive_seconds_or_none
from ._fetch import (
    compose_policy,
    data_of,
    identity,
    response_of,
    same_request,
    with_idempotency_key,
)
from ._redact import Redacted, mask_url
from ._redis import DEFAULT_PREFIX
from ._wire import Body, buffer_body

__all__ = ["TASK_NAME", "CeleryFetch", "CeleryFetcher"]

log = logging.getLogger("policy")

#: The name of the one task ``CeleryFetcher`` registers on the app.
TASK_NAME: Final = "retry_policy.fetch"
#: How long a key's claim and result are kept by default (seconds): a week.
DEFAULT_TTL: Final = 7 * 24 * 3600.0
#: How long past its timeout an attempt's lease lasts (seconds).
LEASE_GRACE: Final = 2.0
#: A message held (pacing, the adaptive limiter, a circuit not yet closed) comes back no
#: sooner than this (seconds): a half-open circuit's probe may take ``open`` seconds to
#: answer, and asking every 50 ms meanwhile would flood the broker.
HELD_MIN_S: Final = 0.25


_fetchers: weakref.WeakKeyDictionary[Any, CeleryFetcher] = weakref.WeakKeyDictionary()


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
        self._keys = FetchKeys(
            redis if redis is not None else redis_url_of(app),
            prefix,
            0 if ttl is None else max(1, int(ttl * 1000)),
            state,
        )
        self._queue = queue
        self._query_in_broker = query_in_broker
        self._idempotency_key = idempotency_key
        self._sender: Sender | None = None
        self._lock = threading.Lock()
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
        return CeleryFetch(self._keys, key, data_of)

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
        return CeleryFetch(self._keys, key, response_of)

    def forget(self, key: str) -> None:
        """Drop the claim and stored outcome of ``key`` (a running fetch stores it again)."""
        self._keys.forget(key)

    def attempts(self, key: str) -> list[dict[str, Any]]:
        """The attempts of ``key`` so far (as ``Attempt.as_dict``): what ``watch`` shows."""
        return self._keys.attempts(key)

    def __repr__(self) -> str:
        return f"<CeleryFetcher {getattr(self.app, 'main', '?')!r} prefix={self.prefix!r}>"

    # -- client side -------------------------------------------------------------------

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
        sent_url, shown, identity_url = encode_url(url, self._query_in_broker)
        method = method.upper()
        if self._idempotency_key if idempotency is None else idempotency:
            headers = with_idempotency_key(headers, key)
        encoded = encode_headers(headers)
        data = buffer_body(body)
        ident = identity(method, identity_url, data)
        p, call_timeout = compose_policy(retry, timeout)
        request = json.dumps({"method": method, "url": shown, "created": time.time()})
        keys = self._keys
        name = keys.name(key)
        verdict, stored = keys.claim(name, ident, request)
        if verdict == "mismatch":
            same_request(key, stored, ident)
        if verdict != "claimed":
            return
        message = first_message(key, ident, method, sent_url, encoded, data, str(p), call_timeout)
        try:
            self._send(message, None)
        except Exception as e:
            with contextlib.suppress(redis.RedisError):
                keys.client().delete(name)  # nothing was sent: the key is free again
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

    def _attempts_sender(self) -> Sender:
        """What this worker's attempts share: a ``PoolManager`` of its own, made on first use."""
        sender = self._sender
        if sender is None:
            with self._lock:
                if self._sender is None:
                    self._sender = Sender(
                        urllib3.PoolManager(maxsize=4), own_pool=False, clock=time.monotonic
                    )
                sender = self._sender
        return sender

    def _run(self, token: str, raw: str) -> str:
        """Handle one task message; returns what happened (for logs and tests)."""
        try:
            m = json.loads(raw)
            if m.get("v") != VERSION:
                raise ValueError(f"message version {m.get('v')!r}, expected {VERSION}")
            key, n = str(m["key"]), int(m["n"])
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            # Acknowledged and dropped: re-delivering it would only fail again.
            log.error("%s: dropped a message that is not a fetch attempt (%s)", TASK_NAME, e)
            return "malformed"
        keys = self._keys
        name = keys.name(key)
        p = policy.parse(m["policy"])
        method = m["method"]
        url = m["url"]
        if isinstance(url, dict):  # Redacted.env: revealed when the request is sent
            url = Redacted.env(url["template"], *url["env"])
        masked = mask_url(str(url))
        now = time.time()
        t = p.timeout_ms
        per_attempt = float(m["timeout"] or (t / 1000 if t is not None else DEFAULT_TIMEOUT))
        shared = p.pace or p.budget is not None or p.breaker is not None or p.adaptive
        state = keys.state() if shared else None  # the fleet's: holds, budget, circuit
        origin = origin_of(str(url))

        def make(state: State | None) -> Call:
            return call_of(m, p, now, per_attempt, origin, masked, state, random.random)

        call = make(state)
        step = call.before(now)
        if type(step) is Wait:  # a pacing hold, the circuit: come back later (nothing sent)
            self._send(m, max(step.seconds, HELD_MIN_S))
            return "held"
        if type(step) is Done:  # a hold past the deadline, or the circuit is open
            circuit = circuit_of(call)
            half_open = None if circuit is None else (circuit[0], now + circuit[1])
            what = keys.refuse(
                name, n, call.attempts, step.reason, m["id"], method, masked, half_open
            )
            if what == "stored":
                return "gave up" if circuit is None else "circuit open"
            if what != "taken":
                return what  # finished, stale: nothing to do
            # A delivery of attempt n began it before: follow that one (its answer kept,
            # or its loss), never a request of this message's own.
            call = make(None)
            limit = min(per_attempt, max(call.deadline_at - now, 0.0))
        else:
            limit = step.timeout  # type: ignore[union-attr]
        begin = keys.script(BEGIN)
        args = [n, token, repr(now), repr(now + limit + LEASE_GRACE), m["id"], keys.ttl_ms]
        verdict = keys.persist(
            f"begin attempt {n} of {name!r}",
            lambda: begin(keys=[name], args=args),
            time.time() + KEEP_TRYING,
        )
        what = text(verdict[0])
        if what in ("finished", "dup", "stale", "wait") or (what == "go" and type(step) is Done):
            call.abandon(now)  # nothing goes: a probe this call was let through is given back
        if what in ("finished", "dup", "stale"):
            return what
        if what == "wait" or (what == "go" and type(step) is Done):
            # another delivery is making this attempt: look again when its lease ends
            lease = float(text(verdict[1])) if what == "wait" else now + limit + LEASE_GRACE
            self._send(m, max(0.05, lease - now + 0.05))
            return "wait"
        if what == "answered":  # the worker that made it died after the answer came
            got, body = json.loads(text(verdict[1])), bytes(verdict[2] or b"")
        elif what == "lost":
            # The worker that began this attempt died during it, before its answer came:
            # whether the request left is unknown, so it counts as a broken connection
            # (and is never sent again as is).
            got, body = answer("reset"), b""
        else:
            got, body = answer_of(self._attempts_sender(), m, url, method, limit)
            until = max(now + limit + LEASE_GRACE, time.time() + KEEP_TRYING)
            keys.keep_answer(name, n, json.dumps(got), body, until)
        outcome = outcome_of_answer(got)
        if got["final"] is not None:  # it ended before an answer (a secret not found)
            call.abandon(now)
            call.attempts.append(Attempt(n, outcome, None, got["final"], None))
            keys.store(name, n, call.attempts, None, b"", got["final"], m["id"], method, masked)
            return "gave up"
        nxt = after_response(call, outcome, time.time(), got.get("sent_by"))
        if type(nxt) is Wait:
            follow = dict(m)
            follow.update(
                n=n + 1,
                state=state_json(call.state),
                attempts=[a.as_dict() for a in call.attempts],
            )
            self._send(follow, nxt.seconds)  # first the next message, then "done"
            keys.finish(name, n, call.attempts, "", b"")
            return "retry"
        assert isinstance(nxt, Done)
        reason = nxt.reason if nxt.gave_up else None
        keys.store(name, n, call.attempts, got, body, reason, m["id"], method, masked)
        return "done"


def _make_task(fetcher: CeleryFetcher) -> Callable[..., str]:
    def fetch_attempt(task: Any, message: str) -> str:
        token = str(getattr(task.request, "id", None) or uuid.uuid4().hex)
        return fetcher._run(token, message)

    fetch_attempt.__name__ = "fetch"
    fetch_attempt.__qualname__ = "retry_policy.fetch"
    return fetch_attempt
