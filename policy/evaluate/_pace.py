"""Pacing (``pace=on``): when does a response say "stop sending until the quota resets"?

A retry policy decides for one call; a rate limit is shared by every call to an origin.
When a server says its quota is spent, every request sent before the reset is wasted
(it gets a 429) and, worse, keeps a fixed-window limiter's window full.  So with pacing
on, the adapter *holds* the origin: no call sharing the adapter sends to it until then.
This module answers the pure half of that: given a response and ``now``, until when?

What says the quota is spent (on a response of **any** status, a 200 included):

* a header family's ``remaining`` of 0 with a usable ``reset`` -- the families the
  policy's ``headers`` strategies name (with their ``format``), and, when one of them
  is ``headers()`` or the policy has no ``headers`` strategy at all, ``headers()``'s
  defaults: ``ratelimit-remaining``/``ratelimit-reset`` and
  ``x-ratelimit-remaining``/``x-ratelimit-reset`` (read with ``format=auto``);
* the IETF ``RateLimit`` field with an item whose ``r=0`` (its largest such ``t``),
  whatever families the policy names (it is the standard field, not a vendor's family);
* ``Retry-After`` on a 429 or a 503 (on other statuses it is not about a quota).

The wait is computed exactly as the ``headers`` strategy computes it (``_headers``), in
its order: a valid ``Retry-After`` first (on a 429 or 503, or on any response whose
quota is spent, as rate limiters send it on successes too), else the reset -- the latest
one when several spent quotas are named (each must have reset before a request can
succeed).  A ``Retry-After: 0`` on a response that says the quota is spent defers to
the reset: limiters round the seconds left down (Flask-Limiter sends 0 for the last
second of a window), and taking it at its word makes every thread retry at once until
the window ends.  Absolute times count from the response's ``Date`` when it has one,
else from ``now``; a wait of 0 (a reset in the past) is no hold.

How long at most.  A hold is never longer than the matching strategy's ``max``:

1. the strategy of the rule that decides the response's status (the first one in its
   chain with a ``max``: ``headers`` or ``backoff``), when a rule decides it --
   ``429:headers(max=1m)`` caps every hold a 429 sets at 1m, and
   ``5xx:backoff(3,1s..5s)`` every hold a 503 sets at 5s;
2. otherwise (a 200, or a status whose rule has only ``never``) the ``headers``
   strategy that names the family the signal came from (the smallest ``max`` if several
   do);
3. otherwise ``headers()``'s default, 15m.

A longer wait holds for that ``max`` (the call that received it still follows its own
``over=``).  No jitter is added to a hold: it is the server's reset, and the calls it
held are spread afterwards by their own retry jitter.

The remaining quota (``Pacer.quota``).  Holds alone come too late when calls send back
to back: by the time a window's last answer says ``remaining: 0`` the others already
have requests on the wire.  So a response whose header family says ``remaining: N``
(any ``N >= 0``) with a usable reset also yields a quota: "``N`` requests left until the
reset", which the adapter's state spends one unit per request.  Same families, same
arithmetic (``Date``-corrected; a valid ``Retry-After`` of more than 0 on the same
response first, as limiters send the seconds to the reset with every answer) and the
same caps as a hold, except that a reset further away than the cap gives no quota: its
window would end at ``now + cap``, later with every answer, and each answer would seem
to start a new window (forgetting the requests in flight); a ``remaining: 0`` there
still holds, capped.  When several families speak, the one with the fewest requests
left (then the latest reset) wins.  The ``RateLimit`` field is read for holds only.  A
reset already passed gives no quota.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..language._ast import Backoff, Headers, ResetFormat
from ..language._build import default_of
from ..language._cost import Cost, Quota, check_cost, family_cost, words_of
from ..language._outcomes import Response
from ._headers import (
    parse_number,
    parse_ratelimit,
    parse_reset,
    parse_retry_after,
    reference_time,
)
from ._tables import Tables

if TYPE_CHECKING:
    from ..language._policy import Policy

__all__ = ["DEFAULT_MAX_S", "Pacer"]

#: The cap of a hold no ``headers`` strategy speaks for: ``headers()``'s default max.
DEFAULT_MAX_S: Final[float] = default_of(Headers, "max_ms") / 1000

#: ``headers()``'s default families: (remaining header, reset header).
_DEFAULT_FAMILIES: Final = (
    ("ratelimit-remaining", "ratelimit-reset"),
    ("x-ratelimit-remaining", "x-ratelimit-reset"),
)
_DEFAULT_KEYS: Final = tuple((rem, rst, ResetFormat.AUTO) for rem, rst in _DEFAULT_FAMILIES)
_INF: Final = float("inf")
#: Statuses on which ``Retry-After`` speaks of a quota (RFC 9110 §10.2.3, RFC 6585 §4).
_RETRY_AFTER_STATUSES: Final = frozenset((429, 503))


class Pacer:
    """A policy's pacing rules, compiled once (``Policy.hold`` keeps one per policy).

    ``families`` is ``((remaining, reset, format, cap_s), ...)`` and ``words`` the cost
    words of each (empty for ``headers()``'s defaults); ``caps`` maps a status
    to the ``max`` of the strategy of the rule that decides it (the first ``headers`` or
    ``backoff`` in its chain; absent: no rule, or only ``never``).
    """

    __slots__ = ("caps", "families", "field_cap", "words")

    def __init__(self, policy: Policy, compiled: Tables) -> None:
        named: dict[tuple[str, str, ResetFormat], float] = {}
        words: dict[tuple[str, str, ResetFormat], frozenset[str]] = {}
        any_headers = False
        for rule in policy.rules:
            for s in rule.strategies:
                if type(s) is not Headers:
                    continue
                any_headers = True
                cap = s.max_ms / 1000
                if not s.named:
                    for key in _DEFAULT_KEYS:
                        named[key] = min(cap, named.get(key, cap))
                elif s.remaining_header is not None and s.reset_header is not None:
                    key = (s.remaining_header, s.reset_header, s.format)
                    named[key] = min(cap, named.get(key, cap))
                    names = (s.limit_header, s.remaining_header, s.reset_header)
                    words[key] = words.get(key, frozenset()) | words_of(names)
        if not any_headers:
            for key in _DEFAULT_KEYS:
                named[key] = DEFAULT_MAX_S
        self.families: tuple[tuple[str, str, ResetFormat, float], ...] = tuple(
            (rem, rst, fmt, cap) for (rem, rst, fmt), cap in named.items()
        )
        self.words: tuple[frozenset[str], ...] = tuple(words.get(key, frozenset()) for key in named)
        # The RateLimit field shares the defaults' (smallest) cap when they are read, else
        # it has headers()'s default: no strategy names it.
        self.field_cap = min(
            (c for key, c in named.items() if key in _DEFAULT_KEYS),
            default=DEFAULT_MAX_S,
        )
        caps: dict[int, float] = {}
        for status in range(100, 600):
            entry = compiled.entry_for(Response(status))
            if entry is None:
                continue
            for s in entry[0].strategies:
                if type(s) is Headers or type(s) is Backoff:
                    caps[status] = s.max_ms / 1000
                    break
        self.caps = caps

    def quota(self, response: Any, now: float) -> tuple[int, float] | None:
        """``(remaining, reset wall time)`` a response's header families say, or ``None``."""
        if type(response) is not Response:
            return None
        h = response.headers
        if not h:
            return None
        reference: float | None = None
        ra_wait: float | None = None
        best: tuple[int, float] | None = None
        rule_cap = self.caps.get(response.status)
        for remaining, reset, fmt, family_cap in self.families:
            v = h.get(remaining)
            if v is None:
                continue
            r = h.get(reset)
            if r is None:
                continue
            n = parse_number(v)
            if n is None:
                continue
            if reference is None:
                reference = reference_time(h, now)
                ra = h.get("retry-after")
                if ra is not None:
                    ra_wait = parse_retry_after(ra, reference)
            w = ra_wait or parse_reset(r, fmt, reference)
            if w is None or w <= 0:
                continue
            cap = family_cap if rule_cap is None else rule_cap
            if w > cap:
                continue  # not a window this policy tracks (see the module doc)
            until = now + w
            left = int(n)  # a fractional remaining: only its whole requests are left
            if best is None or left < best[0] or (left == best[0] and until > best[1]):
                best = (left, until)
        return best

    def quotas(self, response: Any, now: float) -> tuple[Quota, ...]:
        """Every family's ``Quota`` a response reports (same reading and caps as ``quota``,
        the remaining units as sent, not rounded down), in the policy's order."""
        if type(response) is not Response or not response.headers:
            return ()
        h = response.headers
        reference: float | None = None
        ra_wait: float | None = None
        out: list[Quota] = []
        rule_cap = self.caps.get(response.status)
        for (remaining, reset, fmt, family_cap), words in zip(
            self.families, self.words, strict=True
        ):
            v = h.get(remaining)
            r = h.get(reset)
            if v is None or r is None:
                continue
            n = parse_number(v)
            if n is None:
                continue
            if reference is None:
                reference = reference_time(h, now)
                ra = h.get("retry-after")
                if ra is not None:
                    ra_wait = parse_retry_after(ra, reference)
            w = ra_wait or parse_reset(r, fmt, reference)
            if w is None or w <= 0 or w > (family_cap if rule_cap is None else rule_cap):
                continue
            if any(q.family == remaining for q in out):
                continue  # one family named by two strategies (another format): once
            out.append(Quota(remaining, n, now + w, words))
        return tuple(out)

    def hold(self, response: Any, now: float, cost: Cost | None = None) -> float | None:
        """The wall-clock time to hold ``response``'s origin until, or ``None``.

        With ``cost``, a family a cost key names is spent when its ``remaining`` is
        below the request's units there (``remaining: 30`` of a 900-token request).
        """
        if type(response) is not Response:
            return None
        if cost:
            check_cost(cost)
        h = response.headers
        if not h:
            return None
        status = response.status
        reference: float | None = None
        cap = _INF  # the smallest max among the signals that say the quota is spent
        ra: float | None = None  # the Retry-After wait
        if "retry-after" in h:
            reference = reference_time(h, now)
            ra = parse_retry_after(h["retry-after"], reference)
            if ra is not None and status in _RETRY_AFTER_STATUSES:
                cap = DEFAULT_MAX_S
        resets = 0.0  # the latest reset of a spent quota
        v = h.get("ratelimit")
        if v is not None:
            w = parse_ratelimit(v)
            if w is not None:
                cap = min(cap, self.field_cap)
                resets = max(resets, w)
        for (remaining, reset, fmt, family_cap), words in zip(
            self.families, self.words, strict=True
        ):
            v = h.get(remaining)
            if v is None:
                continue
            units = family_cost(words, cost) if cost else None
            n = parse_number(v)
            if n is None or (n != 0 if units is None else n >= units):
                continue
            cap = min(cap, family_cap)
            r = h.get(reset)
            if r is None:
                continue
            if reference is None:
                reference = reference_time(h, now)
            w = parse_reset(r, fmt, reference)
            if w is not None:
                resets = max(resets, w)
        if cap == _INF:
            return None  # nothing says the quota is spent
        rule_cap = self.caps.get(status)
        if rule_cap is not None:
            cap = rule_cap
        # As the headers strategy reads a response: Retry-After first, then the resets --
        # but "Retry-After: 0" on a response that says the quota is spent contradicts it
        # (limiters round the seconds left down), so then the reset decides.
        wait = min(ra if ra else resets, cap)
        return now + wait if wait > 0 else None
