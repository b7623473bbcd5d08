"""Fleet state: the holds and retry budgets that calls sharing an adapter agree on.

A policy decides for one call; pacing (``pace=on``) and retry budgets (``budget=20%``)
need to know what *other* calls to the same origin saw and spent.  That knowledge lives
behind the small ``State`` interface below, so the attempt loop (``_loop.Call``) does
not care whether it is a dict in this process (``LocalState``, the default: one per
adapter, shared by every thread and task using that adapter) or a Redis server shared by
a fleet of processes (``RedisState``).

The interface has six methods, each one atomic on its own:

* ``hold_until(origin, now)`` -- the wall-clock time until which ``origin`` is held
  (``None`` when it is not held at ``now``);
* ``hold(origin, until, now)`` -- hold ``origin`` until ``until``; an existing later
  hold is kept (holds only ever grow);
* ``record_request(origin, now)`` -- count a first attempt (the budget's denominator);
* ``spend_retry(origin, now, ratio, floor)`` -- try to spend one retry: granted when the
  retries spent in the last ``WINDOW`` seconds, this one included, stay within
  ``ratio × first attempts in that window + floor`` (20 % of 48 and a floor of 10:
  19 retries, not 20); returns ``(granted, requests)``
  with ``requests`` the first attempts counted in the window (for the give-up reason);
* ``set_quota(origin, remaining, until, now)`` -- the server said ``remaining`` requests
  are left until ``until`` (an answer to one of the requests ``take`` let through):
  record that, unless a quota with a later reset is already recorded; for the same or an
  earlier reset only a lower count is kept (counts only go down within a window, a later
  reset starts a new window), and the answer is counted as one request no longer in
  flight;
* ``take(origin, now)`` -- spend one request of the recorded quota before sending:
  ``None`` to go ahead (a unit was spent, or no quota is recorded, or its reset has
  passed and it is forgotten), else the wall-clock reset time to wait until.

How many are left.  Answers arrive out of order and while other requests are still on
the wire, so the lowest count reported in a window is not what may still be sent: the
requests in flight may not have been counted yet.  A window therefore keeps the lowest
count reported (``low``), the requests sent in it (``sent``) and the answers reported in
it (``answered``, never more than ``sent``), and lets a request go while
``low - (sent - answered) > 0``.  Against one fixed-window server this never lets a
request go that the window has no room for (each request in flight is assumed not yet
counted), and once every answer is in it is exact: nothing is left unused.  Requests
sent while no quota was known (at a window's start, within ``IN_FLIGHT`` seconds of the
first of them) are the new window's first ``sent``: the answer that reports its quota is
one of them.

The herd at the reset.  When a window's quota runs out, every call waits for its reset
and all of them wake at once, before any answer has told the new window's count.  So
the state remembers the window's size (the most a report of the window said was left,
plus the request that report answered: ``limit``), and within ``IN_FLIGHT`` seconds
after a reset it lets only that many requests go before the new count is known; the
others wait ``BLIND_WAIT`` seconds at a time until the first answers tell it.  (Longer
after a reset, or before any report, nothing is known and requests go.)

An origin is ``scheme://host:port`` (``origin_of(url)``).  Times are wall-clock seconds
(what the evaluator's ``now`` is).  Implementations must be thread-safe, must never
raise into the caller, and must never block for long (a shared store falls back to
local state when it cannot answer quickly).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from ..language._ast import BUDGET_FLOOR, BUDGET_WINDOW_S

__all__ = [
    "BLIND_WAIT",
    "FLOOR",
    "IN_FLIGHT",
    "MAX_QUOTA",
    "NEW_WINDOW",
    "WINDOW",
    "LocalState",
    "State",
    "origin_of",
]

#: The retry budget's sliding window, in seconds (the language's constant).
WINDOW: float = BUDGET_WINDOW_S
#: Retries a budget always allows per window, however few first attempts were made.
FLOOR: int = BUDGET_FLOOR

#: A reported reset this much later than the recorded one starts a new window (seconds):
#: resets are known to the second (``Date`` and the reset headers), so two answers from
#: one window may disagree by up to that much.
NEW_WINDOW: float = 1.0

#: Requests sent while no quota was known (at a window's start) count against the first
#: quota reported after them when sent within this many seconds of the first of them:
#: the answer that reports it may have been counted before the others arrived.
IN_FLIGHT: float = 2.0

#: Slack for the budget's bound (``ratio × requests + floor`` is computed in floats).
_EPSILON = 1e-9

#: How long a request waits, at a window's start, for the first answers to tell the new
#: window's count once as many requests as the last window allowed have gone (seconds).
BLIND_WAIT: float = 0.05

#: A larger reported remaining is taken as this (it is never reached within a window).
MAX_QUOTA: int = 2**31 - 1

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, lower case, default port filled in.

    >>> origin_of("HTTPS://API.Example.com/v1?q=1")
    'https://api.example.com:443'
    """
    u = urlsplit(url)
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    try:
        port = u.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 0)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


@runtime_checkable
class State(Protocol):
    """What pacing and retry budgets need to share between calls (see the module doc)."""

    def hold_until(self, origin: str, now: float) -> float | None: ...

    def hold(self, origin: str, until: float, now: float) -> None: ...

    def record_request(self, origin: str, now: float) -> None: ...

    def spend_retry(
        self, origin: str, now: float, ratio: float, floor: int
    ) -> tuple[bool, int]: ...

    def set_quota(self, origin: str, remaining: int, until: float, now: float) -> None: ...

    def take(self, origin: str, now: float) -> float | None: ...


class _Origin:
    __slots__ = (
        "answered",
        "blind",
        "blind_since",
        "firsts",
        "hold",
        "limit",
        "low",
        "quota_until",
        "retries",
        "sent",
    )

    def __init__(self) -> None:
        self.hold = 0.0
        self.low = 0  # the lowest remaining reported in the quota's window
        self.sent = 0  # requests sent in that window (let through by take, or blind)
        self.answered = 0  # answers reported in it (at most sent)
        self.limit = 0  # the window's size, as its reports tell it (0: not known)
        self.quota_until = 0.0
        self.blind = 0  # requests sent while no quota was known, since blind_since
        self.blind_since = 0.0
        self.firsts: deque[float] = deque()  # times of first attempts, sorted
        self.retries: deque[float] = deque()  # times of granted retries, sorted


class LocalState:
    """``State`` in this process: a lock and, per origin, a hold and two time windows.

    Memory is bounded: windows keep only the last ``WINDOW`` seconds, and at most
    ``max_origins`` origins are tracked (the least recently touched are dropped first).
    """

    def __init__(self, *, max_origins: int = 4096) -> None:
        self._lock = threading.Lock()
        self._origins: dict[str, _Origin] = {}
        self._max = max_origins

    def _get(self, origin: str) -> _Origin:
        o = self._origins.pop(origin, None)  # re-insert: most recently used last
        if o is None:
            o = _Origin()
            if len(self._origins) >= self._max:
                del self._origins[next(iter(self._origins))]
        self._origins[origin] = o
        return o

    def hold_until(self, origin: str, now: float) -> float | None:
        # Under the lock: ``_get`` moves an origin to the end (pop, then insert), and a
        # reader between the two would see no hold at all.
        with self._lock:
            o = self._origins.get(origin)
            h = o.hold if o is not None else 0.0
        return h if h > now else None

    def hold(self, origin: str, until: float, now: float) -> None:
        if until <= now:
            return
        with self._lock:
            o = self._get(origin)
            if until > o.hold:
                o.hold = until

    def record_request(self, origin: str, now: float) -> None:
        with self._lock:
            o = self._get(origin)
            _trim(o.firsts, now)
            _add(o.firsts, now)

    def spend_retry(self, origin: str, now: float, ratio: float, floor: int) -> tuple[bool, int]:
        with self._lock:
            o = self._get(origin)
            _trim(o.firsts, now)
            _trim(o.retries, now)
            requests = len(o.firsts)
            if len(o.retries) + 1 <= ratio * requests + floor + _EPSILON:
                _add(o.retries, now)
                return True, requests
            return False, requests

    def set_quota(self, origin: str, remaining: int, until: float, now: float) -> None:
        if until <= now:
            return
        remaining = min(max(0, int(remaining)), MAX_QUOTA)
        with self._lock:
            o = self._get(origin)
            live = o.quota_until > now
            if not live or until >= o.quota_until + NEW_WINDOW:
                recent = not live and now - o.blind_since <= IN_FLIGHT
                o.low = remaining
                o.sent = max(1, o.blind) if recent else 1  # the answer's own request at least
                o.answered = 1
                o.quota_until = until
                o.blind = 0
                o.limit = min(remaining + 1, MAX_QUOTA)
            else:
                if remaining < o.low:
                    o.low = remaining
                if remaining + 1 > o.limit:
                    o.limit = min(remaining + 1, MAX_QUOTA)
                if o.answered < o.sent:
                    o.answered += 1

    def take(self, origin: str, now: float) -> float | None:
        with self._lock:
            o = self._get(origin)
            until = o.quota_until
            if until > now:
                if o.low - (o.sent - o.answered) > 0:
                    o.sent += 1
                    return None
                return until
            if o.blind == 0 or now - o.blind_since > IN_FLIGHT:
                o.blind = 0  # a new run of blind requests starts with this one
                o.blind_since = now
            if o.limit and o.blind >= o.limit and now - until <= IN_FLIGHT:
                return now + BLIND_WAIT  # the herd at the reset: wait for the new count
            o.blind += 1
            return None

    def __repr__(self) -> str:
        return f"<LocalState: {len(self._origins)} origins>"


def _trim(window: deque[float], now: float) -> None:
    """Forget the times at least ``WINDOW`` seconds before ``now``."""
    edge = now - WINDOW
    while window and window[0] <= edge:
        window.popleft()


def _add(window: deque[float], now: float) -> None:
    """Record ``now``, keeping the window sorted: calls may report times out of order
    (threads race to the lock; in test mode each call's clock runs ahead by the waits it
    skipped), and trimming reads the oldest first.  In order (the rule) it is an append;
    out of order, the place is found from the newest end, where it nearly always is."""
    if not window or now >= window[-1]:
        window.append(now)
        return
    i = len(window) - 1
    while i > 0 and window[i - 1] > now:
        i -= 1
    window.insert(i, now)
