"""``RedisState``: pacing holds and retry budgets shared by every process using one Redis.

A ``LocalState`` lives in one process.  When many workers share one API key they need
one view of its rate limit: a hold set because *one* worker saw ``remaining: 0`` must
make *every* worker wait, and a retry budget must count the whole fleet's first attempts
and retries.  ``RedisState`` keeps both in Redis:

* a hold is a string key ``<prefix>hold:<origin>`` holding the wall-clock time it lasts
  until, set by a Lua script that keeps the later of the old and new times (holds only
  grow) and expires on its own a second after the hold ends;
* a budget is two sorted sets per origin (first attempts and retries, scored by time),
  trimmed to the last ``WINDOW`` seconds and counted in one Lua script, so "count, then
  spend" is atomic across the fleet; each set expires a second after its newest entry
  leaves the window.

* a quota ("``N`` requests left until ``T``") is a hash ``<prefix>quota:<origin>``
  (``u``: the reset time; ``lo``, ``s``, ``a``: the lowest count reported in the window,
  the requests sent in it and the answers reported, as ``LocalState`` keeps them;
  ``b``/``bs``: requests sent while no quota was known, and since when), replaced or
  lowered by one Lua script and spent by another (go ahead while ``lo - (s - a) > 0``,
  else answer the reset time), so no two processes spend the same unit; it expires on
  its own a second after ``T``.

Every Redis call is bounded: the client's connect and read timeouts are at most 50 ms
and redis-py's own retries are off.  When Redis does not answer (down, slow, failing
mid-run) the state falls back to a ``LocalState`` in this process, logs **one** WARNING
for the outage (on the ``policy`` logger), never raises, and tries Redis again at most
once a second (one caller probes; the others stay local meanwhile).  When Redis answers
again, sharing resumes and an INFO line says so.  Holds are also mirrored locally, so a
hold learnt before or during an outage is still honoured.

``redis`` is imported here only: ``import transport`` does not load it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any, Final

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from policy.loop._state import BLIND_WAIT, IN_FLIGHT, MAX_QUOTA, NEW_WINDOW, WINDOW, LocalState

from ._redact import mask_text, mask_url

__all__ = ["DEFAULT_PREFIX", "RedisState", "bounded_client"]

log = logging.getLogger("policy")

#: The key prefix of every key ``RedisState`` writes.
DEFAULT_PREFIX: Final = "retry-policy:"
#: The longest a Redis call may take (connect, then each read), in seconds.
MAX_CALL_SECONDS: Final = 0.05
#: After a failure, Redis is tried again at most this often (seconds).
RETRY_EVERY: Final = 1.0
# Keys outlive what they record by this much (ms), so a reader never races the expiry.
_GRACE_MS: Final = 1000

_HOLD = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur ~= nil and cur >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_RECORD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

_SPEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local requests = redis.call('ZCARD', KEYS[1])
local spent = redis.call('ZCARD', KEYS[2])
if spent + 1 <= tonumber(ARGV[4]) * requests + tonumber(ARGV[5]) + 1e-9 then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  return {1, requests}
end
return {0, requests}
"""

# KEYS[1] quota hash (u: reset; lo: the lowest remaining reported in its window; s: the
# requests sent in it; a: the answers reported in it, at most s; b: requests sent while no
# quota was known, bs: when the first of them was sent).  ARGV: until, remaining, now, ttl
# ms, NEW_WINDOW, IN_FLIGHT, MAX_QUOTA; L: the window's size, the most a report said was
# left plus one.  A reset at least NEW_WINDOW later (or none live) starts a
# new window whose first sent are the unknown requests (the answer's own at least);
# otherwise only a lower count is kept, under the same reset, and one more answer counted.
_SET_QUOTA = """
local now = tonumber(ARGV[3])
local cu = tonumber(redis.call('HGET', KEYS[1], 'u') or '')
local live = cu ~= nil and cu > now
if not live or tonumber(ARGV[1]) >= cu + tonumber(ARGV[5]) then
  local sent = 1
  if not live then
    local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0') or 0
    local bs = tonumber(redis.call('HGET', KEYS[1], 'bs') or '0') or 0
    if b > 1 and now - bs <= tonumber(ARGV[6]) then
      sent = b
    end
  end
  local limit = math.min(tonumber(ARGV[2]) + 1, tonumber(ARGV[7]))
  redis.call('HSET', KEYS[1], 'u', ARGV[1], 'lo', ARGV[2], 's', sent, 'a', 1, 'b', 0, 'L', limit)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
local lo = tonumber(redis.call('HGET', KEYS[1], 'lo') or '')
if lo == nil or tonumber(ARGV[2]) < lo then
  redis.call('HSET', KEYS[1], 'lo', ARGV[2])
end
local limit = tonumber(redis.call('HGET', KEYS[1], 'L') or '0') or 0
if tonumber(ARGV[2]) + 1 > limit then
  redis.call('HSET', KEYS[1], 'L', math.min(tonumber(ARGV[2]) + 1, tonumber(ARGV[7])))
end
local sent = tonumber(redis.call('HGET', KEYS[1], 's') or '0') or 0
local answered = tonumber(redis.call('HGET', KEYS[1], 'a') or '0') or 0
if answered < sent then
  redis.call('HINCRBY', KEYS[1], 'a', 1)
end
return 0
"""

# KEYS[1] quota hash; ARGV: now, IN_FLIGHT, ttl ms.  '' : go ahead (a unit spent: lo - (s -
# a) > 0, then s + 1; or no live quota: then counted as an unknown request); 'w': wait
# BLIND_WAIT for the new window's count (the last window's size L already sent since its
# reset); otherwise the reset time to wait until (a string: Lua numbers become integers).
_TAKE = """
local now = tonumber(ARGV[1])
local u = redis.call('HGET', KEYS[1], 'u')
local cu = tonumber(u or '')
if cu ~= nil and cu > now then
  local lo = tonumber(redis.call('HGET', KEYS[1], 'lo') or '0') or 0
  local sent = tonumber(redis.call('HGET', KEYS[1], 's') or '0') or 0
  local answered = tonumber(redis.call('HGET', KEYS[1], 'a') or '0') or 0
  if lo - (sent - answered) > 0 then
    redis.call('HINCRBY', KEYS[1], 's', 1)
    return ''
  end
  return u
end
local b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0') or 0
local bs = tonumber(redis.call('HGET', KEYS[1], 'bs') or '')
if bs == nil or b == 0 or now - bs > tonumber(ARGV[2]) then
  b = 0
end
local limit = tonumber(redis.call('HGET', KEYS[1], 'L') or '0') or 0
if limit > 0 and b >= limit and cu ~= nil and now - cu <= tonumber(ARGV[2]) then
  return 'w'
end
if b == 0 then
  redis.call('HSET', KEYS[1], 'b', 1, 'bs', ARGV[1])
else
  redis.call('HINCRBY', KEYS[1], 'b', 1)
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return ''
"""

_FAILED: Final = object()


def bounded_client(url_or_client: str | redis.Redis, timeout: float = MAX_CALL_SECONDS) -> Any:
    """A ``redis.Redis`` whose every call is bounded by ``timeout`` and never retried.

    A URL gets a new client; a client is copied (same server, database and credentials)
    with the timeouts lowered to ``timeout`` and redis-py's retries off: the client given
    is not changed.
    """
    bounded: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_error": [],
        "health_check_interval": 0,
    }
    if isinstance(url_or_client, str):
        return redis.Redis.from_url(url_or_client, **bounded)
    pool = getattr(url_or_client, "connection_pool", None)
    if pool is None:
        raise TypeError(
            "RedisState takes a redis:// URL or a redis.Redis client "
            f"(got {type(url_or_client).__name__})"
        )
    kwargs = dict(pool.connection_kwargs)
    for name in ("socket_timeout", "socket_connect_timeout"):
        given = kwargs.get(name)
        if given is None or given > timeout:
            kwargs[name] = timeout
    kwargs.update(
        retry=bounded["retry"], retry_on_error=[], health_check_interval=0, decode_responses=False
    )
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith("orig_")}
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


def _describe(url_or_client: Any) -> str:
    if isinstance(url_or_client, str):
        return mask_url(url_or_client)
    kw = getattr(getattr(url_or_client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kw:
        return f"unix://{kw['path']}"
    return f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


class RedisState:
    """The ``State`` of pacing holds and retry budgets, shared through Redis.

    ``url_or_client`` is a ``redis://`` (or ``rediss://``, ``unix://``) URL or a
    ``redis.Redis`` client (copied with bounded timeouts); ``prefix`` starts every key.
    ``timeout`` bounds each Redis call (connect, then each read; 50 ms by default: a
    slower answer counts as an outage).  ``retry_every`` is how often Redis is tried again
    after a failure.  Safe to share between threads; one per process is enough.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        timeout: float = MAX_CALL_SECONDS,
        retry_every: float = RETRY_EVERY,
    ) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str (got {type(prefix).__name__})")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds (got {timeout!r})")
        self.prefix = prefix
        self._where = _describe(url_or_client)
        self._client = bounded_client(url_or_client, timeout)
        self._hold_script = self._client.register_script(_HOLD)
        self._record_script = self._client.register_script(_RECORD)
        self._spend_script = self._client.register_script(_SPEND)
        self._set_quota_script = self._client.register_script(_SET_QUOTA)
        self._take_script = self._client.register_script(_TAKE)
        self._local = LocalState()
        self._lock = threading.Lock()
        self._retry_every = retry_every
        self._down = False
        self._next_try = 0.0
        self._window_ms = int(WINDOW * 1000) + _GRACE_MS
        self._blind_ms = int(IN_FLIGHT * 1000) + _GRACE_MS
        self._salt = os.urandom(4).hex()
        self._seq = 0

    # -- the State interface -----------------------------------------------------------

    def hold_until(self, origin: str, now: float) -> float | None:
        local = self._local.hold_until(origin, now)
        raw = self._run(self._client.get, self._hold_key(origin))
        shared: float | None = None
        if raw is not _FAILED and raw is not None:
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = 0.0
            shared = value if value > now else None
        if shared is None:
            return local
        return shared if local is None or shared > local else local

    def hold(self, origin: str, until: float, now: float) -> None:
        if until <= now:
            return
        self._local.hold(origin, until, now)
        ttl = int((until - now) * 1000) + _GRACE_MS
        self._run(self._hold_script, [self._hold_key(origin)], [repr(until), ttl])

    def record_request(self, origin: str, now: float) -> None:
        got = self._run(
            self._record_script,
            [self._budget_key(origin, "firsts")],
            [repr(now), repr(now - WINDOW), self._member(now), self._window_ms],
        )
        if got is _FAILED:
            self._local.record_request(origin, now)

    def spend_retry(self, origin: str, now: float, ratio: float, floor: int) -> tuple[bool, int]:
        got = self._run(
            self._spend_script,
            [self._budget_key(origin, "firsts"), self._budget_key(origin, "retries")],
            [
                repr(now),
                repr(now - WINDOW),
                self._member(now),
                repr(float(ratio)),
                int(floor),
                self._window_ms,
            ],
        )
        if got is _FAILED:
            return self._local.spend_retry(origin, now, ratio, floor)
        try:
            granted, requests = got
            return bool(int(granted)), int(requests)
        except (TypeError, ValueError):
            return self._local.spend_retry(origin, now, ratio, floor)

    def set_quota(self, origin: str, remaining: int, until: float, now: float) -> None:
        if until <= now:
            return
        remaining = min(max(0, int(remaining)), MAX_QUOTA)
        self._local.set_quota(origin, remaining, until, now)  # mirrored, as holds are
        # Kept IN_FLIGHT past the reset too: the window's size bounds the next start.
        ttl = int((until - now) * 1000) + self._blind_ms
        self._run(
            self._set_quota_script,
            [self._quota_key(origin)],
            [
                repr(float(until)),
                remaining,
                repr(float(now)),
                ttl,
                repr(NEW_WINDOW),
                repr(IN_FLIGHT),
                MAX_QUOTA,
            ],
        )

    def take(self, origin: str, now: float) -> float | None:
        got = self._run(
            self._take_script,
            [self._quota_key(origin)],
            [repr(float(now)), repr(IN_FLIGHT), self._blind_ms],
        )
        if got is _FAILED:
            return self._local.take(origin, now)
        if not got:
            return None
        if got in (b"w", "w"):
            return now + BLIND_WAIT
        try:
            until = float(got)
        except (TypeError, ValueError):
            return self._local.take(origin, now)
        return until if until > now else None

    # -- extras ------------------------------------------------------------------------

    @property
    def shared(self) -> bool:
        """Whether the last Redis call answered (``False`` while running on local state)."""
        return not self._down

    def close(self) -> None:
        """Close the connections to Redis (the state keeps working locally if used again)."""
        with contextlib.suppress(Exception):  # closing never raises into the caller
            self._client.connection_pool.disconnect()

    def __repr__(self) -> str:
        mode = "local fallback" if self._down else "shared"
        return f"<RedisState {self._where} prefix={self.prefix!r}: {mode}>"

    # -- internals ---------------------------------------------------------------------

    def _hold_key(self, origin: str) -> str:
        return f"{self.prefix}hold:{origin}"

    def _quota_key(self, origin: str) -> str:
        return f"{self.prefix}quota:{origin}"

    def _budget_key(self, origin: str, which: str) -> str:
        # The braces are a Redis Cluster hash tag: both windows of an origin on one node.
        return f"{self.prefix}budget:{{{origin}}}:{which}"

    def _member(self, now: float) -> str:
        with self._lock:
            self._seq += 1
            seq = self._seq
        return f"{now!r}:{self._salt}:{seq}"

    def _run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` against Redis, or ``_FAILED`` (fall back to local) -- never raises."""
        if self._down:
            t = time.monotonic()
            with self._lock:
                if t < self._next_try:
                    return _FAILED
                self._next_try = t + self._retry_every  # this caller probes; others wait
        try:
            result = fn(*args)
        except Exception as e:  # any failure of the store: fall back, never raise
            self._failed(e)
            return _FAILED
        if self._down:
            self._recovered()
        return result

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            first = not self._down
            self._down = True
            self._next_try = time.monotonic() + self._retry_every
        if first:
            log.warning(
                "Redis at %s did not answer (%s: %s): pacing holds, quotas and retry budgets "
                "are kept in this process until it does; trying again every %gs",
                self._where,
                type(error).__name__,
                mask_text(str(error))[:200],
                self._retry_every,
            )

    def _recovered(self) -> None:
        with self._lock:
            was = self._down
            self._down = False
        if was:
            log.info("Redis at %s answers again: holds and budgets are shared again", self._where)
