"""The wire to Redis under ``RedisState``: bounded clients, one connection per thread,
commands pipelined, and what the answers told (the room an origin's quotas have left).

``RedisState`` (``_redis``) decides what to send; this module sends it.  Each thread keeps
one connection of the client's pool for itself: a round trip then costs a send and a
read, not the pool's bookkeeping.  A command whose answer nobody waits for (a record with
no retry to grant, a check whose verdict the last answer told) is sent and its answer
left on the wire, read once it has arrived (looked at before each command, never waited
for), before any answer the thread waits for, or when ``PIPELINED`` are unread.

Every answer read is *learnt*: a check that let a request go says how much room the
origin's quotas have left after it (all of it when none is limited) and until when that
room stays what it is (a reset); a record of a quota says the same; a hold, a quota
spent or the herd at a reset says: wait for the next answer.  ``trusted`` then tells
whether the next check's verdict is known already -- go ahead -- so that it may be sent
without waiting: while the knowledge is younger than ``TRUST_SECONDS`` and before its
reset, while at least ``TRUST_ROOM`` units stay after the request (counted down here as
requests go).  An answer to a call made before the one the knowledge came from never
overwrites it, so a refusal cannot be undone by an older "go ahead".

The same for a circuit breaker and the adaptive bucket: an answer to a call that asked
them tells the breaker's phase once the script ran (per origin and breaker config) and
whether the origin's bucket is on.  ``guard_known`` then tells whether their verdict on
the next check is known -- a closed breaker admits and changes nothing, a bucket that is
off lets the request go at once -- while that answer is younger than ``TRUST_SECONDS``.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from ._redis_lua import AFTER, BEFORE, BOTH, Script, packed, run_script

__all__ = [
    "CARRY",
    "MAX_CALL_SECONDS",
    "PIPELINED",
    "SEND",
    "TRUST_ROOM",
    "TRUST_SECONDS",
    "WAIT",
    "Wire",
    "bounded_client",
]

#: The longest a Redis call may take (connect, then each read), in seconds.
MAX_CALL_SECONDS: Final = 0.05
#: A check is sent without waiting for its answer only on an answer this recent (seconds)
#: that left at least ``TRUST_ROOM`` units of every quota after the request.
TRUST_SECONDS: Final = 0.1
TRUST_ROOM: Final = 64
#: At most this many commands a thread sent without waiting are left unread on the wire.
PIPELINED: Final = 32

#: How ``Wire.eval`` sends a command: waits for its answer, sends it and reads the answer
#: later, or carries it to be sent with the thread's next command (all read later).
WAIT: Final = 0
SEND: Final = 1
CARRY: Final = 2

_INF: Final = float("inf")

_CLOSED: Final = (b"closed", "closed")
_OFF: Final = (b"0", "0")
#: At most this many (origin, breaker) and origins are remembered (then forgotten at once).
_MAX_KNOWN: Final = 4096

#: A command on the wire whose answer is not read yet: script, keys, args, origin, now.
_Pending: TypeAlias = "tuple[Script, tuple[str, str, str], list[Any], str, float]"


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


class Wire:
    """One connection per thread to ``client``'s server, commands pipelined, and per
    origin what the last answer told: ``[when, valid until, room left, records due]``
    (the last: ``1.0`` when the last answer learnt was a record's, of a quota: the
    origin's answers bring records); per origin and breaker config ``(when, closed)``,
    per origin ``(when, bucket off)``.  ``waited`` counts the answers waited for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._mine = threading.local()
        self.known: dict[str, list[float]] = {}
        self.phases: dict[tuple[str, str], tuple[float, bool]] = {}
        self.buckets: dict[str, tuple[float, bool]] = {}
        self.waited = 0
        self._lock = threading.Lock()
        #: Told ``(origin, new phase)`` when an answer read later (not waited for) says a
        #: record moved a breaker: a success can open a ``breaker=P%`` (``RedisState``).
        self.on_change: Callable[[str, str], object] | None = None

    def forget(self) -> None:
        """Forget what the answers told (Redis failed: nothing is known any more)."""
        self.known.clear()
        self.phases.clear()
        self.buckets.clear()

    def guard_known(self, origin: str, config: str, adaptive: bool, now: float) -> bool:
        """Whether the breaker ``config`` (``""``: none) and, with ``adaptive``, the bucket
        of ``origin`` let the next request go, as answers younger than ``TRUST_SECONDS``
        told: the breaker closed, the bucket off."""
        if config:
            k = self.phases.get((origin, config))
            if k is None or not (k[1] and k[0] <= now < k[0] + TRUST_SECONDS):
                return False
        if adaptive:
            b = self.buckets.get(origin)
            if b is None or not (b[1] and b[0] <= now < b[0] + TRUST_SECONDS):
                return False
        return True

    def _learn_guard(self, origin: str, now: float, config: str, adaptive: bool, got: Any) -> None:
        """Keep the breaker's phase and the bucket's flag an answer told (``got``: its
        phase and flag; ``None``: not told, so not to be trusted)."""
        phase, on = got if got is not None else (None, None)
        with self._lock:
            if config:
                key = (origin, config)
                k = self.phases.get(key)
                if k is None or now >= k[0]:
                    if len(self.phases) >= _MAX_KNOWN:
                        self.phases.clear()
                    self.phases[key] = (now, phase in _CLOSED)
            if adaptive:
                b = self.buckets.get(origin)
                if b is None or now >= b[0]:
                    if len(self.buckets) >= _MAX_KNOWN:
                        self.buckets.clear()
                    self.buckets[origin] = (now, on in _OFF)

    def trusted(self, origin: str, now: float, cost: Mapping[str, float] | None) -> int:
        """How to send a check of ``origin``: ``WAIT`` for its answer, unless the last
        answer tells its verdict (go ahead) -- younger than ``TRUST_SECONDS``, before the
        room it told of may change, and leaving at least ``TRUST_ROOM`` units after this
        request's (which it then counts): then ``CARRY`` it when the last answer learnt was
        a record's with a quota (answers bring records to send it with), else ``SEND`` it."""
        k = self.known.get(origin)
        if k is None:
            return WAIT
        c = max(cost.values(), default=1) if cost else 1
        with self._lock:
            if not (k[0] <= now < k[0] + TRUST_SECONDS and now < k[1]) or k[2] - c < TRUST_ROOM:
                return WAIT
            k[2] -= c
        return CARRY if k[3] else SEND

    def learn(self, script: Script, origin: str, now: float, got: Any, args: list[Any]) -> None:
        """Keep what an answer tells about the room ``origin`` has (``trusted`` reads it);
        a hold, a quota spent or the herd at a reset: the next check is waited for.  The
        breaker's phase and the bucket's flag likewise (``guard_known``), when the call
        (``args``) asked them.  An answer to a call made before the one the knowledge came
        from is not learnt."""
        if script is BOTH:  # a check and the record it went with: their two answers
            n = int(args[0])
            self.learn(BEFORE, origin, now, got[0] if got else None, args[1 : n + 1])
            self.learn(AFTER, origin, now, got[1] if got else None, args[n + 1 :])
            return
        try:
            if script is BEFORE:
                if args[5] or args[6]:
                    told = (got[5], got[6]) if got and len(got) > 6 else None
                    self._learn_guard(origin, now, args[5], bool(args[6]), told)
            elif args[9] or args[10]:
                told = (got[6], got[7]) if got and len(got) > 7 else None
                self._learn_guard(origin, now, args[9][3:], bool(args[10]), told)
        except (TypeError, IndexError):
            pass
        if not got:
            return
        known = [now, 0.0, 0.0, 0.0]  # not to be trusted
        try:
            if script is BEFORE:
                if got[0] in (b"", ""):
                    known = [now, float(got[2]) if got[2] else _INF, float(got[1]), 0.0]
            elif not got[0]:  # AFTER, no hold in force
                if not got[3]:  # no quota recorded: nothing told of the room, no record due
                    with self._lock:
                        k = self.known.get(origin)
                        if k is not None:
                            k[3] = 0.0
                    return
                known = [now, float(got[4]) if got[4] else _INF, float(got[3]), 1.0]
        except (TypeError, ValueError, IndexError):
            pass
        with self._lock:
            k = self.known.get(origin)
            if k is None or now >= k[0]:
                self.known[origin] = known

    def eval(
        self,
        script: Script,
        keys: tuple[str, str, str],
        args: list[Any],
        mode: int,
        origin: str,
        now: float,
    ) -> Any:
        """One ``EVALSHA``; on ``NOSCRIPT`` (a restarted or flushed server) load and retry once.

        Each thread keeps one connection of the pool for itself (taken on its first call,
        dropped on any error): a round trip then costs a send and a read, not the pool's
        bookkeeping.  ``WAIT`` sends the script and reads its answer.  ``SEND`` sends it
        and leaves its answer (which nobody waits for: a record with no retry to grant, a
        check whose verdict the last answer told) on the wire: the thread reads it once it
        has arrived (looked at, not waited for, before each command), before any answer it
        waits for, or when ``PIPELINED`` are on the wire.  ``CARRY`` (a check told, of an
        origin whose answers bring records) keeps the command to be sent in one write with
        the thread's next command -- the attempt's record, usually, and then one script
        (``BOTH``) runs the two: one command, one wake-up of Redis.  At most one command
        is carried: a second is sent with the first.
        Every answer is learnt.
        """
        mine = self._mine
        conn = getattr(mine, "conn", None)
        if conn is None:
            conn = mine.conn = self._client.connection_pool.get_connection()
            mine.pending = deque()
            mine.carried = None
        try:
            pending: deque[_Pending] = mine.pending
            carried: _Pending | None = mine.carried
            if carried is not None and mode != CARRY:
                mine.carried = None
            if mode == WAIT:
                if carried is not None:
                    conn.send_packed_command((packed(*carried[:3]),), False)
                    pending.append(carried)
                self._read(conn, pending, len(pending))
                got = run_script(conn, script, keys, args)
                self.waited += 1
                self.learn(script, origin, now, got, args)
                return got
            entry = (script, keys, args, origin, now)
            if mode == CARRY and carried is None:
                mine.carried = entry  # packed, and the answers looked at, with the next write
                return None
            while pending and (len(pending) >= PIPELINED or conn.can_read(0)):
                self._read(conn, pending, 1)
            if carried is None:
                data = packed(script, keys, args)
            else:
                mine.carried = None
                if script is AFTER and carried[0] is BEFORE and carried[1] == keys:
                    # The attempt's check and its record: one script runs both.
                    args = [len(carried[2]), *carried[2], *args]
                    data = packed(BOTH, keys, args)
                    entry = (BOTH, keys, args, origin, now)
                else:
                    data = packed(*carried[:3]) + packed(script, keys, args)
                    pending.append(carried)
            conn.send_packed_command((data,), False)
            pending.append(entry)
            return None
        except redis.ResponseError:
            raise  # an error answer (out of memory...): the connection itself is fine
        except BaseException:
            mine.conn = None
            with contextlib.suppress(Exception):
                conn.disconnect()
                self._client.connection_pool.release(conn)
            raise

    def peek(self) -> None:
        """Read the answers to this thread's commands that have arrived, waiting for none
        (what they tell is learnt).  May raise, as ``eval``."""
        mine = self._mine
        conn = getattr(mine, "conn", None)
        if conn is None or not mine.pending:
            return
        try:
            while mine.pending and conn.can_read(0):
                self._read(conn, mine.pending, 1)
        except redis.ResponseError:
            raise
        except BaseException:
            mine.conn = None
            with contextlib.suppress(Exception):
                conn.disconnect()
                self._client.connection_pool.release(conn)
            raise

    def flush(self) -> None:
        """Send what this thread carries and read every answer it has on the wire (Redis
        has then run all this thread asked of it).  May raise, as ``eval``."""
        mine = self._mine
        conn = getattr(mine, "conn", None)
        if conn is None:
            return
        try:
            if mine.carried is not None:
                entry = mine.carried
                mine.carried = None
                conn.send_packed_command((packed(*entry[:3]),), False)
                mine.pending.append(entry)
            self._read(conn, mine.pending, len(mine.pending))
        except redis.ResponseError:
            raise
        except BaseException:
            mine.conn = None
            with contextlib.suppress(Exception):
                conn.disconnect()
                self._client.connection_pool.release(conn)
            raise

    def _read(self, conn: Any, pending: deque[_Pending], count: int) -> None:
        """Read and learn the answers of the ``count`` oldest commands on the wire.  A
        ``NOSCRIPT`` (the scripts were flushed) reads every answer on the wire, then loads
        the script and runs those commands again, in order."""
        redo: list[_Pending] = []
        error: redis.ResponseError | None = None
        while pending and (count > 0 or redo):
            count -= 1
            entry = pending.popleft()
            try:
                got = conn.read_response()
                self.learn(entry[0], entry[3], entry[4], got, entry[2])
                self._changed(entry[0], entry[3], got)
            except NoScriptError:
                redo.append(entry)
            except redis.ResponseError as e:
                if not redo:
                    raise
                error = error or e
        for script, keys, args, origin, now in redo:
            got = run_script(conn, script, keys, args)
            self.learn(script, origin, now, got, args)
            self._changed(script, origin, got)
        if error is not None:
            raise error

    def _changed(self, script: Script, origin: str, got: Any) -> None:
        """Tell ``on_change`` of a change of phase in a record's answer read late."""
        try:
            if script is BOTH:
                script, got = AFTER, got[1]
            if script is AFTER and self.on_change is not None and len(got) > 5 and got[5]:
                change = got[5]
                self.on_change(origin, change.decode() if type(change) is bytes else str(change))
        except (TypeError, IndexError):
            pass
