"""``RedisState``: pacing holds, quotas and retry budgets shared through one Redis.

A ``LocalState`` lives in one process.  When many workers share one API key they need
one view of its rate limit: a hold set because *one* worker saw ``remaining: 0`` must
make *every* worker wait, a quota must be spent once by the whole fleet, and a retry
budget must count the whole fleet's first attempts and retries.  ``RedisState`` keeps
them in Redis, per origin, and answers the ``State`` interface's two calls with one
``EVALSHA`` each (``_redis_lua`` documents the keys, the scripts' arguments and their
answers): at most two Redis commands per attempt, the second sent as soon as the answer
arrives.  The scripts are loaded once per server (``NOSCRIPT``: loaded again, the call
retried once).  A call that has nothing to share (no pacing, not a first attempt; an
answer with no hold, no quota and no retry to grant) sends nothing.

Nothing is waited for that the last answer already told (``_redis_wire`` sends, reads
and learns).  Each answer about an origin says how much room its quotas have left (none
limited: all of it) and until when; a check (``before``) is then *sent* but not waited
for while that answer is younger than ``TRUST_SECONDS`` (0.1 s), before its reset, and
at least ``TRUST_ROOM`` (64) units stay after the request (this process counts down what
it sends meanwhile).  When the last answer was a record of a quota (the origin's answers
bring records), the check is *carried*: written with the attempt's record, in one write,
one wake-up of Redis for both (or with the thread's next command when the answer brings
none).  Redis runs the check as it comes -- spends the quota, counts the first attempt,
atomically -- and its answer is read as soon as it has arrived: a hold, a quota spent or
the herd at a reset make the next check wait for its answer again.

The staleness bound.  A hold another process puts in Redis at time T stops this process's
requests to that origin from the first answer it reads of a check sent after T (one
Redis round trip), and by T + ``TRUST_SECONDS`` at the latest, whatever the lag (no check
is trusted on an answer to a call made more than ``TRUST_SECONDS`` ago).  A quota is
spent exactly by the fleet unless other processes spend more than ``TRUST_ROOM`` units
of it within ``TRUST_SECONDS`` of one of this process's answers (a carried check's unit
is seen by the fleet with its record, so it is not "in flight" for the others): with
fewer than that left every check is waited for.  A check without pacing (a first attempt
counted for a budget) has no verdict and is never waited for; a record (``after``) is
waited for only when it carries a hold, asks for a retry, or records a breaker's failure
or probe.  ``_defer = False`` (the tests comparing the scripts with ``LocalState``) waits
for every answer.

The circuit breaker and the adaptive bucket likewise.  Every answer to a call that asked
them tells the breaker's phase and whether the bucket is on; while the last one (younger
than ``TRUST_SECONDS``) said "closed" (and, with ``pace=adaptive``, "off"), their verdict
is known -- admit on a closed breaker sends and changes nothing, a bucket that is off
lets the request go at once -- so the check asks Redis only what pacing and the budget
need (nothing at all without them), carried to go with the attempt's record.  A record
of a success that was no probe cannot move the phase, nor can a bucket's: it is sent, not
waited for, and its answer is learnt when read (a circuit another process opened: the
next check is waited for).  A failure's record and a probe's are waited for: the change
of phase they cause is reported at once.  The staleness bound: a circuit another process
opens at time T stops this process's requests by T + ``TRUST_SECONDS`` at the latest
(usually one round trip, as soon as an answer tells it); the requests this process sends
meanwhile are recorded as non-probes, which change nothing while the circuit is open or
half-open.  A bucket another process turns on paces this one within the same bound.

Every Redis call is bounded: the client's connect and read timeouts are at most 50 ms
and redis-py's own retries are off.  When Redis does not answer (down, slow, refusing
writes when out of memory) the state falls back to a ``LocalState`` in this process,
logs **one** WARNING for the outage (on the ``policy`` logger), never raises, and tries
Redis again at most once a second (one caller probes; the others stay local meanwhile).
Sharing resumes as soon as Redis answers; the outage is over, and an INFO line says so,
once Redis has answered without a failure for ``QUIET`` probe periods -- so a Redis that
answers reads but refuses writes (out of memory) is one outage, not one per second.
Holds and quotas are also mirrored locally, so one learnt before or during an outage is
still honoured.

``redis`` is imported here only: ``import transport`` does not load it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import redis

from policy.loop._breaker import BreakerConfig
from policy.loop._state import BLIND_WAIT, FLOOR, MAX_QUOTA, WINDOW, After, LocalState, Verdict

from ._redact import mask_text, mask_url
from ._redis_guard import after_args, config_arg, read_before, reported
from ._redis_lua import AFTER, BEFORE, GRACE_MS, cost_tail
from ._redis_wire import CARRY, MAX_CALL_SECONDS, SEND, WAIT, Wire, bounded_client

__all__ = ["DEFAULT_PREFIX", "MAX_CALL_SECONDS", "RedisState", "bounded_client"]

log = logging.getLogger("policy")

#: The key prefix of every key ``RedisState`` writes.
DEFAULT_PREFIX: Final = "retry-policy:"
#: After a failure, Redis is tried again at most this often (seconds).
RETRY_EVERY: Final = 1.0
#: An outage is over once Redis answered for this many ``retry_every`` without a failure.
QUIET: Final = 3

_INF: Final = float("inf")
_ONE: Final = ("", "1")  # the cost tail of a request that costs one request
_NO: Final = (None, True, 0)

_FAILED: Final = object()


def _describe(url_or_client: Any) -> str:
    if isinstance(url_or_client, str):
        return mask_url(url_or_client)
    kw = getattr(getattr(url_or_client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kw:
        return f"unix://{kw['path']}"
    return f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


class RedisState:
    """The ``State`` of pacing holds, quotas and retry budgets, shared through Redis.

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
        self._local = LocalState()
        self._lock = threading.Lock()
        self._retry_every = retry_every
        self._down = False  # calls go to the local state (Redis failed lately)
        self._outage = False  # an outage was reported and is not over
        self._last_failure = 0.0
        self._next_try = 0.0
        self._salt = os.urandom(4).hex()
        self._seq = itertools.count()
        self._keys: dict[str, tuple[str, str, str]] = {}
        self._wire = Wire(self._client)
        self._wire.on_change = reported  # a success read late may have opened a circuit
        self._defer = True  # checks and records not waited for when they may (module doc)

    # -- the State interface -----------------------------------------------------------

    def before(
        self,
        origin: str,
        now: float,
        *,
        pace: bool,
        first: bool,
        cost: Mapping[str, float] | None = None,
        breaker: BreakerConfig | None = None,
        adaptive: bool = False,
        lease: float = 0.0,
    ) -> Verdict:
        guarded = breaker is not None or adaptive  # the breaker's verdict comes first
        config = "" if breaker is None else config_arg(breaker)
        if guarded and self._defer:
            if not pace and not first and self._run(self._wire.peek) is _FAILED:
                return self._local.before(
                    origin, now, pace=pace, first=first, breaker=breaker, adaptive=adaptive,
                    lease=lease,
                )  # fmt: skip
            # Known: a closed breaker admits and changes nothing, a bucket that is off
            # lets the request go at once -- ask Redis the rest, as if unguarded.
            guarded = not self._wire.guard_known(origin, config, adaptive, now)
        if pace and not guarded:
            local = self._local.hold_until(origin, now)  # mirrored: learnt in an outage
            if local is not None:
                return ("hold", local)
        elif not first and not guarded:
            return None
        args: list[Any] = [repr(now), "1" if pace else "0", "1" if first else "0"]
        args += (self._member(now), repr(now - WINDOW)) if first else ("", "")
        args += (config, "1" if adaptive else "", repr(lease)) if guarded else ("", "", "")
        args += _ONE if not cost else cost_tail(cost)
        # Without pacing there is no verdict to wait for; with it, none while the last
        # answer left room enough (see the module doc): the check is sent, not waited for.
        # A breaker's or a bucket's verdict is waited for unless known (above).
        if guarded or not self._defer:
            mode = WAIT
        else:
            mode = self._wire.trusted(origin, now, cost) if pace else SEND
            if mode == SEND and (breaker is not None or adaptive):
                mode = CARRY  # a breaker's or bucket's record follows: one write for both
        got = self._run(self._wire.eval, BEFORE, self._keys_of(origin), args, mode, origin, now)
        if got is _FAILED:
            return self._local.before(
                origin, now, pace=pace, first=first, cost=cost, breaker=breaker,
                adaptive=adaptive, lease=lease,
            )  # fmt: skip
        if not got:
            return None
        try:
            why = got[0]
            if why in (b"", ""):
                return read_before(got, now) if guarded else None
            if why in (b"o", "o", b"b", "b", b"r", "r"):
                return read_before(got, now)
            if why in (b"w", "w"):
                return ("quota", now + BLIND_WAIT)
            until = float(got[1])
        except (TypeError, ValueError, IndexError):
            return self._local.before(
                origin, now, pace=pace, first=first, cost=cost, breaker=breaker,
                adaptive=adaptive, lease=lease,
            )  # fmt: skip
        if until <= now:
            return None
        return ("hold" if why in (b"h", "h") else "quota", until)

    def after(
        self,
        origin: str,
        now: float,
        *,
        hold: float | None = None,
        quotas: Iterable[tuple[str, float, float]] = (),
        cost: Mapping[str, float] | None = None,
        retry: bool = False,
        budget: float | None = None,
        floor: int = FLOOR,
        deadline: float = _INF,
        **guard: Any,
    ) -> After:
        quotas = tuple(q for q in quotas if q[2] > now)
        if hold is not None and hold <= now:
            hold = None
        if hold is None and not quotas and not retry and not guard:
            return _NO
        if hold is not None or quotas:  # mirrored, so an outage keeps what was learnt
            self._local.after(origin, now, hold=hold, quotas=quotas, cost=cost)
        args: list[Any] = [repr(now)]
        if hold is None:
            args += ("", 0)
        else:
            args += (repr(float(hold)), int((hold - now) * 1000) + GRACE_MS)
        args.append("1" if retry else "0")
        if retry and budget is not None:
            args += (repr(float(budget)), int(floor))
        else:
            args += ("", 0)
        args.append("" if deadline == _INF else repr(float(deadline)))
        if retry and budget is not None:
            args += (self._member(now), repr(now - WINDOW))
        else:
            args += ("", "")
        args += after_args(guard) if guard else ("", "")  # the breaker's, the bucket's
        for family, remaining, until in quotas:
            c = cost.get(family, 1) if cost else 1
            args += (
                f"{family}:" if family else "",
                min(max(0, int(remaining)), MAX_QUOTA),
                repr(float(until)),
                repr(float(c)) if type(c) is float else int(c),
            )
        # A hold or a retry waits for Redis' answer; a quota alone is sent (with the check
        # this thread carries) and not waited for: its answer is read once it has arrived.
        # A breaker's record of a failure or a probe is waited for too: its answer says
        # whether the phase moved.  A non-probe success never moves it (nor a bucket's).
        breaker = guard.get("breaker") is not None
        told = breaker and (guard.get("failed") or guard.get("probe"))
        mode = WAIT if retry or hold is not None or told or not self._defer else SEND
        got = self._run(self._wire.eval, AFTER, self._keys_of(origin), args, mode, origin, now)
        if got is _FAILED:
            return self._local.after(
                origin, now, retry=retry, budget=budget, floor=floor, deadline=deadline, **guard
            )
        changes = guard.get("changes")
        if breaker and changes is not None and got and len(got) > 5 and got[5]:
            changes.append(got[5].decode() if type(got[5]) is bytes else str(got[5]))
        if not retry:
            return _NO
        try:
            held_raw, granted, requests = got[0], got[1], got[2]
            held = float(held_raw) if held_raw else None
            local = self._local.hold_until(origin, now)  # mirrored: learnt in an outage
            if local is not None and (held is None or local > held):
                held = local
            return (held, bool(int(granted)), int(requests))
        except (TypeError, ValueError):
            return self._local.after(
                origin, now, retry=retry, budget=budget, floor=floor, deadline=deadline, **guard
            )

    # -- single steps ------------------------------------------------------------------

    def hold_until(self, origin: str, now: float) -> float | None:
        """The time until which ``origin`` is held (``None``: not held at ``now``); a read."""
        local = self._local.hold_until(origin, now)
        raw = self._run(self._client.hget, self._keys_of(origin)[0], "h")
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
        """Hold ``origin`` until ``until`` (a later hold already there is kept)."""
        self.after(origin, now, hold=until)

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

    def _keys_of(self, origin: str) -> tuple[str, str, str]:
        keys = self._keys.get(origin)
        if keys is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            # The braces are a Redis Cluster hash tag: an origin's keys on one node.
            base = f"{self.prefix}{{{origin}}}"
            keys = self._keys[origin] = (base, f"{base}:firsts", f"{base}:retries")
        return keys

    def _member(self, now: float) -> str:
        return f"{now!r}:{self._salt}:{next(self._seq)}"

    def _run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``'s answer from Redis, or ``_FAILED`` (go local) -- never raises."""
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
        if self._down or self._outage:
            self._answered()
        return result

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            first = not self._outage
            self._down = self._outage = True
            self._wire.forget()
            self._last_failure = time.monotonic()
            self._next_try = self._last_failure + self._retry_every
        if first:
            log.warning(
                "Redis at %s did not answer (%s: %s): pacing holds, quotas and retry budgets "
                "are kept in this process until it does; trying again every %gs",
                self._where,
                type(error).__name__,
                mask_text(str(error))[:200],
                self._retry_every,
            )

    def _answered(self) -> None:
        """Redis answered: share again; the outage is over once it stayed quiet."""
        with self._lock:
            self._down = False
            over = self._outage and (
                time.monotonic() - self._last_failure >= QUIET * self._retry_every
            )
            if over:
                self._outage = False
        if over:
            log.info("Redis at %s answers again: holds and budgets are shared again", self._where)
