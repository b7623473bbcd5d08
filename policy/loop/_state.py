"""Fleet state: the holds, quotas and retry budgets that calls sharing an adapter agree on.

Pacing (``pace=on``) and retry budgets (``budget=20%``) need to know what *other* calls
to the same origin saw and spent: a dict in this process (``LocalState``, one per
adapter, shared by its threads and tasks) or a Redis server shared by a fleet of
processes (``RedisState``), behind two calls per attempt, each atomic on its own:

* ``before(origin, now, *, pace, first, cost=None)`` -- before sending.  With ``pace``:
  when ``origin`` is held, answer ``("hold", until)``; else spend the request's cost
  (``cost``: units per quota family, ``None``: one request) of every recorded quota, or
  answer ``("quota", t)`` with the time to wait until when one has too little left (and
  spend nothing).  Then, with ``first``, count a first attempt for the retry budget.
  ``None``: go ahead (what was to be spent and counted is).
* ``after(origin, now, *, hold=None, quotas=(), cost=None, retry=False, budget=None,
  floor=FLOOR, deadline=inf)`` -- when the answer arrives.  Hold ``origin`` until
  ``hold`` (an existing later hold is kept: holds only grow); record each
  ``(family, remaining, until)`` of ``quotas`` (below); then, when the policy grants a
  ``retry``: the origin's hold is read and, when it ends past ``deadline``, no retry is
  spent; else with a ``budget`` (a ratio) one retry is spent when the retries spent in
  the last ``WINDOW`` seconds, this one included, stay within ``ratio × first attempts
  in that window + floor`` (20 % of 48 and a floor of 10: 19 retries, not 20).  Answers
  ``(held, granted, requests)``: the hold in force (``None``: none), whether the retry
  may go, and the first attempts counted in the window (for the give-up reason).

Callers skip a call with nothing to do.  The circuit breaker (``before(..., breaker=,
lease=)``; ``after(..., breaker=, failed=, probe=, changes=, released=)``) and the adaptive
bucket (``adaptive=``, ``throttled=``) travel in the same two calls: see ``_resilience``.

A quota ("``N`` left until ``T``", one per family; ``""`` is the request count, the only
one the policy reports today).  Answers arrive out of order and while other requests are
still on the wire, so the lowest count reported in a window is not what may still be
sent: the requests in flight may not have been counted yet.  A window therefore keeps the
lowest count reported (``low``), the units sent in it (``sent``) and the units answered
(``answered``, never more than ``sent``), and lets a request of cost ``c`` go while
``low - (sent - answered) >= c``.  Against one fixed-window server this never lets a
request go that the window has no room for, and once every answer is in it is exact.  A
report with a reset at least ``NEW_WINDOW`` later than the recorded one (or none live)
starts a new window; otherwise only a lower count is kept and one more answer counted.
Units sent while no quota was known (at a window's start, within ``IN_FLIGHT`` seconds
of the first of them) are the new window's first ``sent``.  Answers of the previous
window may still be on the wire when a new one starts (a slow answer told "200 left,
reset in 0.2 s" just before the boundary arrives after the new window's first report,
and its reset, counted from its arrival, is not a second later): the units that window
sent and had no answer for are the new one's ``prior``, and the next answers pay them
off (``paid``) before any counts as this window's: which answer is which is not known,
so the in-flight count errs high until all are in, never low.  A window passes on only
its own unanswered units (less what it paid off: those may have been its own), so a
request that is never answered is not carried from window to window.

The herd at the reset.  When a window's quota runs out, every call waits for its reset
and all of them wake at once, before any answer has told the new window's count.  So
the state remembers the window's size (the most a report of the window said was left,
plus the request that report answered: ``limit``), and within ``IN_FLIGHT`` seconds
after a reset it lets only that many units go before the new count is known; the
others wait ``BLIND_WAIT`` seconds at a time until the first answers tell it.

An origin is ``scheme://host:port`` (``origin_of(url)``); times are wall-clock seconds.
Implementations are thread-safe, never raise, never block for long (a shared store falls
back to local state).  ``LocalState`` also offers single steps (``hold_until``, ``hold``,
``record_request``, ``spend_retry``, ``set_quota``, ``take``) for tests and the simulator.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeAlias, runtime_checkable

from ..language._ast import BUDGET_FLOOR, BUDGET_WINDOW_S
from ._breaker import BreakerConfig
from ._guard import guard_admit, guard_go, guard_record, guard_token
from ._origin import origin_of
from ._quota import BLIND_WAIT, IN_FLIGHT, MAX_QUOTA, NEW_WINDOW, Quota, set_quota, take

__all__ = [
    "BLIND_WAIT",
    "FLOOR",
    "IN_FLIGHT",
    "MAX_QUOTA",
    "NEW_WINDOW",
    "WINDOW",
    "After",
    "LocalState",
    "State",
    "Verdict",
    "origin_of",
]

#: The retry budget's sliding window, in seconds (the language's constant).
WINDOW: float = BUDGET_WINDOW_S
#: Retries a budget always allows per window, however few first attempts were made.
FLOOR: int = BUDGET_FLOOR

#: Slack for the budget's bound (``ratio × requests + floor`` is computed in floats).
_EPSILON = 1e-9

_INF = float("inf")

#: ``before``'s answer: ``None`` (go ahead) or ``(why, until)``, ``why`` one of ``"hold"``
#: (the origin is held), ``"quota"`` (a quota has too little left), and for the breaker and
#: the bucket ``"open"``, ``"busy"``, ``"probe"``, ``"half-open"``, ``"rate"`` (``_resilience``).
Verdict: TypeAlias = "tuple[str, float] | None"
#: ``after``'s answer: ``(held, granted, requests)`` (see the module doc).
After: TypeAlias = "tuple[float | None, bool, int]"
_NOTHING: After = (None, True, 0)
_ONE: Mapping[str, float] = {"": 1}


@runtime_checkable
class State(Protocol):
    """What pacing and retry budgets share between calls: two calls per attempt."""

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
    ) -> Verdict: ...

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
    ) -> After: ...


class _Origin:
    __slots__ = ("bucket", "circuit", "firsts", "hold", "quotas", "retries")

    def __init__(self) -> None:
        self.circuit: Any = None  # ``_guard.Circuits`` (None: no breaker used yet)
        self.bucket: Any = None  # the adaptive bucket's state, None: not created
        self.hold = 0.0
        self.quotas: dict[str, Quota] = {}  # per family ("": the request count)
        self.firsts: deque[float] = deque()  # times of first attempts, sorted
        self.retries: deque[float] = deque()  # times of granted retries, sorted


class LocalState:
    """``State`` in this process: a lock and, per origin, a hold, quotas and two windows.

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

    # -- the State interface ------------------------------------------------------------

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
        with self._lock:
            o = self._get(origin)
            admitted = token = None
            if breaker is not None and o.circuit is not None and o.circuit.tripped:
                admitted = guard_admit(o, breaker, now, lease)  # open: refused, nothing spent
                if admitted is not None and admitted[2] is not None:
                    return admitted[2]
            if pace and o.hold > now:
                return ("hold", o.hold)
            if adaptive:  # no token yet: wait for one, nothing spent
                token, wait = guard_token(o, now)
                if wait is not None:
                    return wait
            if pace:
                until = take(o.quotas, now, cost or _ONE)
                if until is not None:
                    return ("quota", until)
            if first:
                _trim(o.firsts, now)
                _add(o.firsts, now)
            if admitted is not None or token is not None:
                go: Verdict = guard_go(o, admitted, token, now)
                return go
        return None

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
        with self._lock:
            o = self._get(origin)
            if guard:
                guard_record(o, now, **guard)
            if hold is not None and hold > now and hold > o.hold:
                o.hold = hold
            for family, remaining, until in quotas:
                c = cost.get(family, 1) if cost else 1
                set_quota(o.quotas, family, remaining, until, now, c)
            if not retry:
                return _NOTHING
            held = o.hold if o.hold > now else None
            if held is not None and held > deadline:
                return (held, False, 0)
            if budget is None:
                return (held, True, 0)
            granted, requests = _spend(o, now, budget, floor)
            return (held, granted, requests)

    # -- single steps (tests, the simulator, hand-written states) ---------------------

    def hold_until(self, origin: str, now: float) -> float | None:
        """The time until which ``origin`` is held (``None``: not held at ``now``)."""
        # Under the lock: ``_get`` moves an origin to the end (pop, then insert), and a
        # reader between the two would see no hold at all.
        with self._lock:
            o = self._origins.get(origin)
            h = o.hold if o is not None else 0.0
        return h if h > now else None

    def hold(self, origin: str, until: float, now: float) -> None:
        """Hold ``origin`` until ``until`` (a later hold already there is kept)."""
        self.after(origin, now, hold=until)

    def record_request(self, origin: str, now: float) -> None:
        """Count a first attempt (the budget's denominator)."""
        self.before(origin, now, pace=False, first=True)

    def spend_retry(self, origin: str, now: float, ratio: float, floor: int) -> tuple[bool, int]:
        """Try to spend one retry: ``(granted, first attempts in the window)``."""
        _, granted, requests = self.after(origin, now, retry=True, budget=ratio, floor=floor)
        return granted, requests

    def set_quota(
        self, origin: str, remaining: float, until: float, now: float, family: str = ""
    ) -> None:
        """Record "``remaining`` left until ``until``" for ``family`` (see the module doc)."""
        self.after(origin, now, quotas=((family, remaining, until),))

    def take(
        self, origin: str, now: float, cost: Mapping[str, float] | None = None
    ) -> float | None:
        """Spend one request (or ``cost``) of the quotas: ``None``, else the time to wait until."""
        with self._lock:
            return take(self._get(origin).quotas, now, cost or _ONE)

    def __repr__(self) -> str:
        return f"<LocalState: {len(self._origins)} origins>"


def _spend(o: _Origin, now: float, ratio: float, floor: int) -> tuple[bool, int]:
    _trim(o.firsts, now)
    _trim(o.retries, now)
    requests = len(o.firsts)
    if len(o.retries) + 1 <= ratio * requests + floor + _EPSILON:
        _add(o.retries, now)
        return True, requests
    return False, requests


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
