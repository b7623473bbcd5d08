"""The quota windows of ``LocalState``: per origin and family, what a window has left
and what is on the wire (``low``, ``sent``, ``answered``, ``prior``/``paid``, the herd at
the reset).  The model is described in ``_state``'s docstring; these are its steps,
called under the state's lock."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "BLIND_WAIT",
    "IN_FLIGHT",
    "MAX_QUOTA",
    "NEW_WINDOW",
    "Quota",
    "blind_units",
    "set_quota",
    "take",
]

#: A reported reset this much later than the recorded one starts a new window (seconds):
#: resets are known to the second (``Date`` and the reset headers), so two answers from
#: one window may disagree by up to that much.
NEW_WINDOW: float = 1.0

#: Units sent while no quota was known (at a window's start) count against the first
#: quota reported after them when sent within this many seconds of the first of them:
#: the answer that reports it may have been counted before the others arrived.
IN_FLIGHT: float = 2.0

#: The herd at a reset waits this long at a time for the new window's count (seconds).
BLIND_WAIT: float = 0.05

#: A larger reported remaining is taken as this (it is never reached within a window).
MAX_QUOTA: int = 2**31 - 1


class Quota:
    """One family's quota window (see the module doc)."""

    __slots__ = (
        "answered",
        "blind",
        "blind_since",
        "limit",
        "low",
        "paid",
        "prior",
        "sent",
        "until",
    )

    def __init__(self) -> None:
        self.low: float = 0  # the lowest remaining reported in the window
        self.sent: float = 0  # units sent in it (let through by take, or blind)
        self.answered: float = 0  # units answered in it (at most sent)
        self.prior: float = 0  # units the previous window sent, answers still due
        self.paid: float = 0  # answers taken as the previous window's (prior paid off)
        self.limit: float = 0  # the window's size, as its reports tell it (0: not known)
        self.until = 0.0  # its reset
        self.blind: float = 0  # units sent while no quota was known, since blind_since
        self.blind_since = 0.0


def set_quota(
    quotas: dict[str, Quota], family: str, remaining: float, until: float, now: float, c: float
) -> None:
    if until <= now:
        return
    remaining = min(max(0, int(remaining)), MAX_QUOTA)
    q = quotas.get(family)
    if q is None:
        q = quotas[family] = Quota()
    live = q.until > now
    if not live or until >= q.until + NEW_WINDOW:
        recent = not live and now - q.blind_since <= IN_FLIGHT
        # The previous window's units still unanswered (their answers, late, are not
        # this window's), less this answer's own unless it may have been sent blind.
        due = q.sent - q.answered - q.paid if now - q.until <= IN_FLIGHT else 0
        q.prior = max(0, due if recent and q.blind else due - c)
        q.paid = 0
        q.low = remaining
        q.sent = max(c, q.blind) if recent else c  # the answer's own request at least
        q.answered = c
        q.until = until
        q.blind = 0
        q.limit = min(remaining + c, MAX_QUOTA)
    else:
        if remaining < q.low:
            q.low = remaining
        if remaining + c > q.limit:
            q.limit = min(remaining + c, MAX_QUOTA)
        if q.prior > 0:  # perhaps a late answer of the previous window
            q.paid += min(c, q.prior)
            q.prior = max(0, q.prior - c)
        elif q.answered < q.sent:
            q.answered = min(q.answered + c, q.sent)


def take(quotas: dict[str, Quota], now: float, cost: Mapping[str, float]) -> float | None:
    """Spend ``cost`` of every quota in ``quotas`` (all or none): ``None``, else the wait's end."""
    for family in cost:
        if family not in quotas:
            quotas[family] = Quota()  # counts what is sent blind, before its first report
    wait = 0.0
    for family, q in quotas.items():
        c = cost.get(family, 1)
        if q.until > now:
            if q.low - (q.sent - q.answered) < c and q.until > wait:
                wait = q.until
        elif q.limit and blind_units(q, now) + c > q.limit and now - q.until <= IN_FLIGHT:
            wait = max(wait, now + BLIND_WAIT)  # the herd at the reset: wait for the count
    if wait:
        return wait
    for family, q in quotas.items():
        c = cost.get(family, 1)
        if q.until > now:
            q.sent += c
        else:
            if blind_units(q, now) == 0:
                q.blind_since = now  # a new run of blind requests starts with this one
            q.blind += c
    return None


def blind_units(q: Quota, now: float) -> float:
    """The units sent blind in the current run (a run older than ``IN_FLIGHT`` is over)."""
    if q.blind and now - q.blind_since > IN_FLIGHT:
        q.blind = 0
    return q.blind
