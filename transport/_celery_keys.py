"""Where ``CeleryFetcher`` keeps its keys: one Redis hash per key, changed by Lua scripts.

A key's hash holds its claim (the request identity), each attempt's progress ("attempt N
running, lease until T", "answered", "done"), an answer kept as soon as it arrives, the
attempt history and, at the end, the stored result.  The scripts that change it
atomically, the client that runs them (made on first use, with bounded timeouts) and
``CeleryFetch``, the handle that polls a key for its outcome, live here; the fetcher
(``_celery``) decides what to do with what they say.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import redis

from policy.loop import Attempt, State

from ._celery_wire import text
from ._fetch import stored_result
from ._redis import RedisState, _describe
from ._store import StoredResult

__all__ = [
    "ANSWER",
    "BEGIN",
    "CLAIM",
    "FINISH",
    "KEEP_TRYING",
    "REFUSE",
    "CeleryFetch",
    "FetchKeys",
    "redis_url_of",
]

T = TypeVar("T")

log = logging.getLogger("policy")

#: How long a worker keeps asking a Redis that refuses writes (out of memory) to keep an
#: answer in hand or a finished attempt, at least (seconds).
KEEP_TRYING = 10.0

# The request identity of a key, claimed once; "joined" when it is the same request.
CLAIM = """
local id = redis.call('HGET', KEYS[1], 'identity')
if id then
  if id ~= ARGV[1] then return {'mismatch', id} end
  if redis.call('HGET', KEYS[1], 'refused') ~= '1' then return {'joined', id} end
  -- the circuit breaker refused it before anything was sent: not a result to keep
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'identity', ARGV[1], 'request', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {'claimed', ARGV[1]}
"""

# Before attempt N: mark it running (once), or say why this message must not send it.
BEGIN = """
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
ANSWER = """
local field = 'attempt:' .. ARGV[1]
if redis.call('HGET', KEYS[1], field) == 'done' then return 0 end
redis.call('HSET', KEYS[1], field, 'answered', 'answer:' .. ARGV[1], ARGV[2],
           'answer_body:' .. ARGV[1], ARGV[3])
return 1
"""

# After attempt N: mark it done, keep the history, and store the outcome if final.
FINISH = """
redis.call('HSET', KEYS[1], 'attempt:' .. ARGV[1], 'done', 'attempts', ARGV[2])
redis.call('HDEL', KEYS[1], 'answer:' .. ARGV[1], 'answer_body:' .. ARGV[1])
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[1], 'result') == 0 then
  redis.call('HSET', KEYS[1], 'result', ARGV[3], 'body', ARGV[4])
end
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1
"""


# Attempt N never went (a pacing hold past the deadline, an open circuit): store that
# outcome only while nothing else of the key says otherwise -- no outcome yet, the same
# request, and no delivery of attempt N began it (one that did is followed instead:
# 'taken').  Then as FINISH, and 'refused' when the circuit refused a first attempt.
REFUSE = """
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 'finished' end
local id = redis.call('HGET', KEYS[1], 'identity')
if id and id ~= ARGV[2] then return 'stale' end
if redis.call('HEXISTS', KEYS[1], 'attempt:' .. ARGV[1]) == 1 then return 'taken' end
if not id then redis.call('HSET', KEYS[1], 'identity', ARGV[2]) end
redis.call('HSET', KEYS[1], 'attempt:' .. ARGV[1], 'done', 'attempts', ARGV[3],
           'result', ARGV[4], 'body', ARGV[5])
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'refused', '1') end
if tonumber(ARGV[6]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
return 'stored'
"""


class FetchKeys:
    """The key store of one ``CeleryFetcher``: ``url`` is a Redis URL or client, every
    key is ``<prefix>fetch:<key>``, kept ``ttl_ms`` milliseconds (0: until forgotten).
    ``state`` is the pacing and budget state (a ``RedisState`` on the same Redis unless
    one is given)."""

    def __init__(self, url: str | Any, prefix: str, ttl_ms: int, state: State | None) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl_ms = ttl_ms
        self._client_obj: Any = None
        self._scripts: dict[str, Any] = {}
        self._state_obj = state
        self._lock = threading.Lock()

    def name(self, key: str) -> str:
        """The Redis key of the fetch key ``key``."""
        return f"{self.prefix}fetch:{key}"

    def unavailable(self, error: BaseException, consequence: str) -> ConnectionError:
        """The error to raise when Redis did not answer, and what that means."""
        return ConnectionError(
            f"CeleryFetcher: Redis at {_describe(self.url)} did not answer "
            f"({type(error).__name__}); {consequence}"
        )

    def client(self) -> Any:
        c = self._client_obj
        if c is None:
            with self._lock:
                if self._client_obj is None:
                    u = self.url
                    self._client_obj = (
                        redis.Redis.from_url(u, socket_timeout=5, socket_connect_timeout=5)
                        if isinstance(u, str)
                        else u
                    )
                c = self._client_obj
        return c

    def script(self, source: str) -> Any:
        """The Lua script ``source`` on the key store (EVALSHA; loaded again if Redis forgot)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client().register_script(source)
        return script

    def persist(self, what: str, write: Callable[[], T], until: float) -> T:
        """``write()``, tried again while Redis refuses it (out of memory, a dropped
        connection) until the wall-clock time ``until``: an answer in hand is never given
        up for a moment's refusal (a re-delivered message would send the request again).
        One WARNING when Redis first refuses; an ERROR, then the refusal raised, at
        ``until``."""
        pause, warned = 0.05, False
        while True:
            try:
                return write()
            except redis.RedisError as e:
                if time.time() + pause > until:
                    log.error(
                        "CeleryFetcher: Redis at %s refused to %s until %.1fs had passed "
                        "(%s: %s); this fetch gets no stored outcome",
                        _describe(self.url),
                        what,
                        until - time.time() if until > time.time() else 0.0,
                        type(e).__name__,
                        e,
                    )
                    raise
                if not warned:
                    warned = True
                    log.warning(
                        "CeleryFetcher: Redis at %s refuses to %s (%s: %s); trying again",
                        _describe(self.url),
                        what,
                        type(e).__name__,
                        e,
                    )
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def keep_answer(self, name: str, n: int, answer: str, body: bytes, until: float) -> None:
        """Keep attempt ``n``'s answer of ``name`` at once (``persist``ed until ``until``)."""
        script = self.script(ANSWER)
        self.persist(
            f"keep attempt {n}'s answer of {name!r}",
            lambda: script(keys=[name], args=[n, answer, body]),
            until,
        )

    def state(self) -> State:
        s = self._state_obj
        if s is None:
            with self._lock:
                if self._state_obj is None:
                    self._state_obj = RedisState(self.url, prefix=self.prefix)
                s = self._state_obj
        return s

    def stored(self, key: str) -> StoredResult | None:
        """The stored outcome of ``key``, or ``None`` while it has none."""
        meta, body = self.client().hmget(self.name(key), ["result", "body"])
        if meta is None:
            return None
        return StoredResult.from_json(text(meta), bytes(body or b""))

    def forget(self, key: str) -> None:
        try:
            self.client().delete(self.name(key))
        except redis.RedisError as e:
            raise self.unavailable(e, "nothing was forgotten") from e

    def attempts(self, key: str) -> list[dict[str, Any]]:
        try:
            raw = self.client().hget(self.name(key), "attempts")
        except redis.RedisError as e:
            raise self.unavailable(e, "the attempts are not known") from e
        return [] if raw is None else list(json.loads(raw))

    def claim(self, name: str, ident: str, request: str) -> tuple[str, str]:
        """Claim ``name`` for the request ``ident``: ``claimed``, ``joined`` (the same
        request holds it) or ``mismatch``, with the identity that holds it."""
        try:
            verdict, held = self.script(CLAIM)(keys=[name], args=[ident, request, self.ttl_ms])
        except redis.RedisError as e:
            raise self.unavailable(e, "nothing was sent") from e
        return text(verdict), text(held)

    def finish(
        self, name: str, n: int, attempts: Iterable[Attempt], meta: str, body: bytes
    ) -> None:
        """Attempt ``n`` of ``name`` is done: keep the history, and the outcome if final."""
        history = json.dumps([a.as_dict() for a in attempts])
        script, args = self.script(FINISH), [n, history, meta, body, self.ttl_ms]
        until = time.time() + KEEP_TRYING
        self.persist(
            f"finish attempt {n} of {name!r}", lambda: script(keys=[name], args=args), until
        )

    def store(
        self,
        name: str,
        n: int,
        attempts: Sequence[Attempt],
        got: Mapping[str, Any] | None,
        body: bytes,
        reason: str | None,
        ident: str,
        method: str,
        masked: str,
    ) -> None:
        """Store the outcome: the answer ``got`` when it is a response, else the reason."""
        status = None if got is None else got["status"]
        headers: tuple[tuple[str, str], ...] = ()
        if got is not None and status is not None:
            headers = tuple((str(k), str(v)) for k, v in got["headers"])
        result = stored_result(
            ident,
            method,
            masked,
            attempts,
            status=status,
            headers=headers,
            body=body,
            reason=reason,
        )
        self.finish(name, n, attempts, result.to_json(), result.body)

    def refuse(
        self,
        name: str,
        n: int,
        attempts: Sequence[Attempt],
        reason: str,
        ident: str,
        method: str,
        masked: str,
        circuit: tuple[str, float] | None,
    ) -> str:
        """Attempt ``n`` never went: store the give-up (``circuit``: the breaker's
        ``(origin, half-open time)``) unless the key says otherwise (``REFUSE``):
        ``stored``, ``finished``, ``stale`` or ``taken`` (a delivery of attempt ``n``
        began it: follow that one).  A first attempt the circuit refused is marked so
        that the next claim of the same request replaces it (nothing was sent)."""
        result = stored_result(
            ident, method, masked, attempts, status=None, reason=reason, circuit=circuit
        )
        history = json.dumps([a.as_dict() for a in attempts])
        refused = "1" if circuit is not None and not attempts else ""
        args = [n, ident, history, result.to_json(), b"", self.ttl_ms, refused]
        script = self.script(REFUSE)
        verdict = self.persist(
            f"store the give-up of attempt {n} of {name!r}",
            lambda: script(keys=[name], args=args),
            time.time() + KEEP_TRYING,
        )
        return text(verdict)


class CeleryFetch(Generic[T]):
    """A fetch running on Celery workers: a future-like handle on its stored outcome.

    ``result(timeout=None)`` waits for the outcome (polling Redis) and returns it or
    raises (``FetchError``; ``TimeoutError`` when ``timeout`` passes first);
    ``exception(timeout=None)`` returns the error instead; ``done()`` says whether the
    outcome is stored.
    """

    def __init__(self, keys: FetchKeys, key: str, convert: Callable[[StoredResult], T]) -> None:
        self.key = key
        self._keys = keys
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
                self._stored = self._keys.stored(self.key)
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


def redis_url_of(app: Any) -> str:
    """The Redis URL of a Celery app (its broker, else its result backend)."""
    for setting in ("broker_url", "result_backend"):
        url = getattr(app.conf, setting, None)
        if isinstance(url, str) and url.split("://", 1)[0] in ("redis", "rediss", "unix"):
            return url
    raise ValueError(
        "CeleryFetcher needs a Redis for its keys: pass redis='redis://host:6379/0' "
        "(the app's broker is not a Redis one)"
    )
