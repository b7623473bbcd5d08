"""The evaluator: a compiled, pure, sans-IO ``decide()`` (SPEC §2).

A ``Policy`` is compiled once, on first use, into lookup structures, and every decision
after that is a handful of tuple reads and float operations.  Nothing here sleeps, reads a
clock, draws a random number or does I/O: the caller passes ``now`` (wall-clock seconds,
what ``time.time()`` returns) and ``rand`` (a zero-argument callable returning a float in
[0, 1)), and gets back a decision and a new, immutable ``AttemptState``.  Two calls with
the same state, outcome, ``now`` and ``rand`` values decide the same thing, and one
compiled policy can be shared by any number of threads because nothing is mutated after
compilation.

Precedence.  Every status 100-599 is resolved at compile time to the rule whose matching
matcher covers the fewest codes (an exact code 1, a range hi-lo+1, a class 100, ``all``
1000, that is: less specific than anything else); at equal size the later rule wins, so
text appended to a policy overrides what came before.  ``timeout``, ``connect`` and
``reset`` have a slot each, filled by the last rule that names them.  2xx is always
``Accept``.  The result is a 600-entry table indexed by status: choosing a rule costs one
index operation whatever the number of rules.

What a retry counts.  Every strategy of every rule (presets expanded, in order) is a
*position* with its own counter; the matchers of one selector share their rule's
positions.  A ``backoff`` uses its counter as the exponent ``n`` (the first retry waits
``min``).  A position whose counter reached its ``limit``, or a ``headers`` strategy that
finds nothing usable (or a ``remaining`` header above 0), yields *no decision*, and only
then does a chain ``a|b`` fall through to the next strategy.  Every give-up is final: a
``never``, a stop signal from the server, a ``limit`` header of 0, a server wait over
``max`` with ``over=giveup``, the ``attempts`` cap, the deadline.  A counter moves only
when its retry is actually granted (after the ``attempts`` and deadline checks), so the
state a ``GiveUp`` leaves behind is the state before it.  Hence every call ends: one
call makes at most ``1 + Σ limits`` requests, and at most ``attempts``.

Where time comes from.  ``start(now)`` records the call's start and its deadline
(``start + deadline``); ``decide(..., now)`` refuses a wait that would end after it.
Absolute times in headers (epoch seconds, HTTP dates, RFC 3339) are measured against the
response's own ``Date`` header when it has one, so a server whose clock is off by a
minute still gets the wait it meant; only without ``Date`` is ``now`` the reference.

The parts.  This module builds the tables (``Compiled``); a rule's strategies compile to
the step tuples of ``_steps``; ``_decide`` is the general decision function and
``_straight`` generates, per policy, the straight path in front of it for the common
backoff; ``_server_wait`` reads a ``headers`` strategy's wait; ``_reasons`` words the
decisions; ``_schedule`` answers ``schedule`` and ``worst_case`` from the steps' bounds.

Where randomness comes from.  Only from ``rand``, called at most once per decision and
only by a strategy that jitters (backoff with a jitter kind, headers with ``jitter=``).
Tests pass a constant; transports pass ``random.random``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..language._ast import (
    AllErrors,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    StatusClass,
    StatusCode,
    StatusRange,
)
from ..language._cost import Cost, Quota
from ..language._outcomes import (
    AttemptState,
    ConnectFailure,
    ConnectionReset,
    Decide,
    Error,
    Outcome,
    Response,
    Timeout,
)
from ..language._policy import Policy
from ..language._render import render_rule
from ._decide import decider
from ._schedule import Schedule, WorstCase, schedule_of, worst_case_of
from ._steps import NEVER, NEVER_CAPS, compile_strategy
from ._straight import straight_path
from ._tables import Entry, Step

if TYPE_CHECKING:
    from ._pace import Pacer

__all__ = ["Compiled", "compiled_of"]

_make_state = AttemptState._make


class Compiled:
    """A policy compiled for deciding: built once per ``Policy``, then read-only.

    ``Policy.start``/``decide``/``schedule``/``worst_case`` delegate here.
    """

    __slots__ = (
        "_pacer",
        "_zeros",
        "attempts",
        "by_status",
        "candidates",
        "deadline_s",
        "decide",
        "entries",
        "failures",
        "max_retries",
        "methods",
        "policy",
        "positions",
    )

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        entries: list[Entry] = []
        positions = 0
        for rule in policy.rules:
            text = render_rule(rule)
            steps = []
            for strategy in rule.strategies:
                steps.append(compile_strategy(strategy, positions, text))
                positions += 1
            only = None if rule.methods is None else frozenset(rule.methods)
            entries.append((rule, tuple(steps), text, only))
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.positions = positions
        self._zeros: tuple[tuple[int, ...], tuple[float, ...]] = (
            (0,) * positions,
            (0.0,) * positions,
        )

        # Per status, every rule that matches it, most specific first and the later rule
        # first at equal size.  The first one decides unless it is limited to methods
        # (``5xx[GET]:``) the request does not have; then the next that allows it.
        ranked: list[list[tuple[int, int, Entry]]] = [[] for _ in range(600)]
        failures: dict[type, list[Entry]] = {
            Timeout: [],
            ConnectFailure: [],
            ConnectionReset: [],
            Error: [],
        }
        for index, entry in enumerate(entries):
            for m in entry[0].matchers:
                if isinstance(m, OnTimeout):
                    failures[Timeout].insert(0, entry)
                elif isinstance(m, OnConnect):
                    failures[ConnectFailure].insert(0, entry)
                elif isinstance(m, OnReset):
                    failures[ConnectionReset].insert(0, entry)
                elif isinstance(m, OnError):
                    failures[Error].insert(0, entry)
                else:
                    for status in _statuses(m):
                        if not 200 <= status <= 299:
                            ranked[status].append((m.size, -index, entry))
        self.candidates: tuple[tuple[Entry, ...], ...] = tuple(
            tuple(_unique(e for _, _, e in sorted(r, key=lambda t: (t[0], t[1])))) for r in ranked
        )
        self.by_status: tuple[Entry | None, ...] = tuple(
            c[0] if c else None for c in self.candidates
        )
        self.failures: dict[type, tuple[Entry, ...]] = {
            k: tuple(_unique(v)) for k, v in failures.items()
        }

        methods = policy.methods
        self.methods: frozenset[str] | None = None if methods is None else frozenset(methods)
        self.attempts: int | None = policy.attempts
        self.max_retries: int = NEVER_CAPS if self.attempts is None else self.attempts - 1
        deadline_ms = policy.deadline_ms
        self.deadline_s: float = math.inf if deadline_ms is None else deadline_ms / 1000
        #: ``decide(state, outcome, now, rand, method) -> Decision`` (SPEC §2): the
        #: generated straight path in front of the general closure, stored on the instance
        #: so a call is one call.
        self.decide: Decide = straight_path(self, decider(self))
        self._pacer: Pacer | None = None

    # -- pacing (SPEC §7.1): what a response says of its origin's quota -----------------

    def _pacing(self) -> Pacer:
        pacer: Pacer | None = self._pacer
        if pacer is None:
            from ._pace import Pacer  # only pacing policies pay for it

            pacer = self._pacer = Pacer(self.policy, self)
        return pacer

    def hold(self, response: Any, now: float, cost: Cost | None = None) -> float | None:
        """``Policy.hold``: the wall-clock time ``response``'s origin is held until."""
        return self._pacing().hold(response, now, cost)

    def quota(self, response: Any, now: float) -> tuple[int, float] | None:
        """``Policy.quota``: ``(remaining, until)`` read from ``response``, or ``None``."""
        return self._pacing().quota(response, now)

    def quotas(self, response: Any, now: float) -> tuple[Quota, ...]:
        """``Policy.quotas``: every family's ``Quota`` read from ``response``."""
        return self._pacing().quotas(response, now)

    def family_costs(self, cost: Cost) -> dict[str, float]:
        """The units a request of ``cost`` spends of each family the pacer reads, by the
        family's key (its ``remaining`` header name, as ``Quota.family``); 1 where no key
        names the family.  What a ``State`` is told to spend before a request."""
        pacer = self._pacing()
        return {
            family[0]: Quota(family[0], 0, 0.0, words).cost(cost)
            for family, words in zip(pacer.families, pacer.words, strict=True)
        }

    # -- state --------------------------------------------------------------------------

    def start(self, now: float) -> AttemptState:
        """The state before the first request of a call starting at ``now``."""
        counters, prev = self._zeros
        return _make_state(now, 0, counters, prev, now + self.deadline_s)

    # -- deciding -------------------------------------------------------------------------

    def entry_for(self, outcome: Outcome, method: str | None = None) -> Entry | None:
        """The rule (and its compiled chain) that decides ``outcome`` for a request with
        ``method`` (``None``: ignore rules' method limits); ``None``: no rule."""
        if type(outcome) is Response:
            candidates = self.candidates[outcome.status]
        elif type(outcome) in self.failures:
            candidates = self.failures[type(outcome)]
        else:
            raise TypeError(f"not an outcome: {outcome!r}")
        if method is None:
            return candidates[0] if candidates else None
        upper = method.upper()
        for entry in candidates:
            if entry[3] is None or upper in entry[3]:
                return entry
        return None

    # -- explaining -------------------------------------------------------------------------

    def schedule(self, outcome: Outcome) -> Schedule:
        """The delay envelope of each retry ``outcome`` can be granted, in order."""
        return schedule_of(self.entry_for(outcome), self.attempts)

    def reachable_steps(self) -> list[Step]:
        """The positions some outcome can reach: of a rule that wins somewhere, before a
        ``never`` in its chain."""
        winners: dict[int, Entry] = {}
        for candidates in (*self.candidates, *self.failures.values()):
            for e in candidates:  # each can win for some method, up to the first for all
                winners[id(e)] = e
                if e[3] is None:
                    break
        out: list[Step] = []
        for entry in self.entries:
            if id(entry) not in winners:
                continue
            for step in entry[1]:
                if step[0] == NEVER:
                    break
                if step[2] > 0:
                    out.append(step)
        return out

    def worst_case(self) -> WorstCase:
        """The longest total wait and the most requests one call can take (see
        ``_schedule.worst_case_of``)."""
        return worst_case_of(self.reachable_steps(), self.attempts, self.deadline_s)


def _unique(entries: Iterable[Entry]) -> list[Entry]:
    """``entries`` without repeats (a rule may match one status by two matchers)."""
    seen: set[int] = set()
    out = []
    for e in entries:
        if id(e) not in seen:
            seen.add(id(e))
            out.append(e)
    return out


def _statuses(m: StatusCode | StatusRange | StatusClass | AllErrors) -> range:
    if type(m) is StatusCode:
        return range(m.code, m.code + 1)
    if type(m) is StatusRange:
        return range(m.low, m.high + 1)
    if type(m) is StatusClass:
        return range(m.digit * 100, m.digit * 100 + 100)
    return range(400, 600)


def compiled_of(p: Policy) -> Compiled:
    """``p``'s compiled evaluator (cached on ``p``), with its tables for the floors above
    (lint, explain, the loop) that read more than ``Policy``'s facade offers."""
    c = p.compiled()
    if not isinstance(c, Compiled):  # pragma: no cover - the package binds this engine
        raise TypeError(f"policy compiled by an unknown engine: {type(c).__name__}")
    return c
