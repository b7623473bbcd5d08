"""The general ``decide``: every outcome, every strategy, every check (SPEC §2).

``decider`` builds the decision function of one compiled policy as a closure, so what it
reads (the per-status table, the call-wide limits, the constructors it calls) is bound
in cells rather than looked up on each call.  The function has two parts: a fast path
for a status whose rule starts with a ``headers`` strategy (the common ``Retry-After``
and reset shapes read inline from the parts caches), and the loop that walks a rule's
chain and handles everything else: method limits, stop signals, failures, fall-through,
give-ups.  The generated straight path (``_straight``) sits in front of this function for
backoffs; the two are held to the same answers by a property test.

A counter moves only when its retry is granted, after the ``attempts`` and deadline
checks, so the state a ``GiveUp`` leaves behind is the state before it.
"""

from __future__ import annotations

from collections.abc import Callable
from random import random as _random
from typing import Any, Final

from ..language._cost import Cost
from ..language._outcomes import (
    Accept,
    AttemptState,
    ConnectFailure,
    Decide,
    Decision,
    GiveUp,
    Outcome,
    Response,
    Retry,
)
from ._headers import ABSOLUTE, DATE_EPOCHS, NUMBERS, RELATIVE, RETRY_AFTER_PARTS
from ._reasons import WHY_HEADERS, deadline_give_up, outcome_text, ran_out
from ._server_wait import header_wait
from ._steps import HEADERS
from ._tables import Entry, Tables

_ACCEPT: Final = Accept()


def decider(c: Tables) -> Decide:
    """The decision function of ``c``, with everything it reads bound in its closure.

    Closure cells and constants are the cheapest reads CPython has; a decision touches no
    global and no attribute of the compiled policy.
    """
    by_status = c.by_status
    entry_for = c.entry_for
    # A failure outcome (timeout, connect, reset, error) whose deciding rule has no method
    # limit: its rule and label at once, without the general lookup.
    failure_entry = {
        kind: (candidates[0], outcome_text(kind()))
        for kind, candidates in c.failures.items()
        if candidates and candidates[0][3] is None
    }
    methods = c.methods
    methods_text = ",".join(c.policy.methods or ())
    attempts = c.attempts
    max_retries = c.max_retries
    deadline_s = c.deadline_s
    new_state = tuple.__new__
    state_cls = AttemptState
    new_object = object.__new__
    retry_cls = Retry
    set_retry = Retry.__dict__["_d"].__set__
    accept = _ACCEPT
    why_headers = WHY_HEADERS
    response_type = Response
    retry_after_get = RETRY_AFTER_PARTS.get
    date_epoch_get = DATE_EPOCHS.get
    numbers_get = NUMBERS.get
    assert (RELATIVE, ABSOLUTE) == (0, 1)  # written as numbers in decide
    # Per status, the rule's first step when it is a ``headers`` strategy that decides
    # for every method: ``(position, limit, HeaderStep, rule, text)``.  A wait found
    # there is granted at once; anything else (no decision, a spent limit) goes on to
    # the loop below, which reads the chain from the start (the same pure answers).
    headers_first = tuple(headers_step(e) if methods is None else None for e in by_status)

    def decide(
        state: AttemptState,
        outcome: Outcome,
        *,
        now: float,
        rand: Callable[[], float] = _random,
        method: str = "GET",
        cost: Cost | None = None,
    ) -> Decision:
        if type(outcome) is response_type:
            status = outcome.status
            first = headers_first[status]
            # (A request with a cost reads its families in header_wait, in the loop.)
            if first is not None and cost is None and not outcome.stop:
                i, limit, hs, rule, text, limit_name, remaining_name, reset_name, resets, max_s = (
                    first
                )
                counters = state[2]
                n = counters[i]
                if n < limit:
                    # The common shapes, read from the parts caches inline: a Retry-After,
                    # or a family's reset with its limit and remaining read as numbers.
                    # Anything else (a text not seen yet, a wait over max, a limit of 0,
                    # remaining above 0, no Date to measure against...) is left to
                    # header_wait, which reads it all (the same numbers, more slowly).
                    headers = outcome.headers
                    get = headers.get
                    delay = None
                    kind = 9  # nothing read yet
                    v = get("retry-after")
                    if v is not None:
                        parts = retry_after_get(v)
                        if parts is not None:
                            kind, delay = parts
                            source = "retry-after"
                    elif reset_name is not None:
                        v = get(limit_name) if limit_name is not None else None
                        # A limit read as a number other than 0 (or none sent) ...
                        if v is None or numbers_get(v):
                            v = get(remaining_name) if remaining_name is not None else None
                            # ... and a remaining of 0 (or none sent): read the reset.
                            if v is None or numbers_get(v) == 0.0:
                                v = get(reset_name)
                                if v is not None:
                                    parts = resets.get(v)
                                    if parts is not None:
                                        kind, delay = parts
                                        source = reset_name
                    if kind == 1:  # ABSOLUTE: measured against the response's Date
                        d = get("date")
                        if d is None:
                            delay -= now  # type: ignore[operator]
                        else:
                            reference = date_epoch_get(d)
                            if reference is not None:
                                delay -= reference  # type: ignore[operator]
                            else:
                                kind = 9
                        if delay < 0.0:  # type: ignore[operator]
                            delay = 0.0
                    if kind > 1 or delay > max_s:
                        found = header_wait(hs, headers, now, status, rule, text)
                        if type(found) is tuple:
                            delay, source = found
                        elif found is not None:
                            return found  # type: ignore[return-value]
                        else:
                            delay = None
                    if delay is not None:
                        if hs.jitter_s:
                            delay += rand() * hs.jitter_s
                            if delay > hs.max_s:
                                delay = hs.max_s  # the server's wait is at most max here
                        retries = state[1]
                        if retries >= max_retries:
                            return GiveUp(
                                f"attempts={attempts} reached: {status} is not retried", rule
                            )
                        deadline_at = state[4]
                        if now + delay > deadline_at:
                            return deadline_give_up(
                                deadline_s, delay, status, now, deadline_at, rule
                            )
                        if len(counters) == 1:
                            new_counters: tuple[int, ...] = (n + 1,)
                            new_prev: tuple[float, ...] = (delay,)
                        else:
                            new_counters = (*counters[:i], n + 1, *counters[i + 1 :])
                            prev_all = state[3]
                            new_prev = (*prev_all[:i], delay, *prev_all[i + 1 :])
                        granted = new_object(retry_cls)
                        set_retry(
                            granted,
                            (
                                delay,
                                new_state(
                                    state_cls,
                                    (state[0], retries + 1, new_counters, new_prev, deadline_at),
                                ),
                                rule,
                                (why_headers, text, i, limit, source),
                                status,
                            ),
                        )
                        return granted
            entry = by_status[status]
            if entry is None:
                if 200 <= status <= 299:
                    return accept
                return GiveUp(f"no rule for {status}")
            if entry[3] is not None and method.upper() not in entry[3]:
                entry = entry_for(outcome, method)
                if entry is None:
                    return GiveUp(f"no rule for {status} with {method.upper()}")
            if outcome.stop:
                return GiveUp(f"{status}: server said do not retry", entry[0])
            label: Any = status
        else:
            hit = failure_entry.get(type(outcome))
            if hit is not None:
                entry, label = hit
            else:
                entry = entry_for(outcome, method)
                label = outcome_text(outcome)
            if entry is None:
                if entry_for(outcome) is not None:
                    return GiveUp(f"no rule for {label} with {method.upper()}")
                return GiveUp(f"no rule for {label}")
        if (
            methods is not None
            and type(outcome) is not ConnectFailure
            and method.upper() not in methods
        ):
            return GiveUp(
                f"{method.upper()} is not in methods={methods_text}: {label} is not retried",
                entry[0],
            )

        rule, steps, text, _only = entry
        counters = state[2]
        for step in steps:
            kind = step[0]
            if kind == 0:  # BACKOFF
                _, i, limit, low, high, factor, n_cap, jitter, why, _s = step
                n = counters[i]
                if n >= limit:
                    continue
                base = high if n >= n_cap else low * factor**n
                if jitter == 0:  # J_NONE
                    delay = base
                elif jitter == 1:  # J_FULL: uniform over [min, hi], hi = min(max, 2·base)
                    hi = 2 * base
                    if hi > high:
                        hi = high
                    delay = low + rand() * (hi - low)
                elif jitter == 2:  # J_EQUAL: the upper half [max(min, hi/2), hi]
                    hi = 2 * base
                    if hi > high:
                        hi = high
                    lo = hi / 2
                    if lo < low:
                        lo = low
                    delay = lo + rand() * (hi - lo)
                elif jitter == 3:  # J_DECORRELATED
                    prev = state[3][i] or low
                    delay = low + rand() * (3 * prev - low)
                else:
                    delay = base * (1 + rand())
                if delay > high:
                    delay = high
                elif delay < low:
                    delay = low
            elif kind == 1:  # HEADERS
                _, i, limit, hs, _s = step
                n = counters[i]
                if n >= limit or type(outcome) is not Response:
                    continue
                found = header_wait(hs, outcome.headers, now, label, rule, text, cost)
                if found is None:
                    continue
                if type(found) is GiveUp:
                    return found
                wait, source = found  # type: ignore[misc]
                delay = wait
                if hs.jitter_s:
                    delay = wait + rand() * hs.jitter_s
                    if delay > hs.max_s:
                        delay = hs.max_s  # the server's wait is at most max here
                why = (why_headers, text, i, limit, source)
            else:
                return GiveUp(f"{label}: {text} says never retry", rule)

            # A strategy offers ``delay``: the call-wide checks come before the grant.
            retries = state[1]
            if retries >= max_retries:
                return GiveUp(f"attempts={attempts} reached: {label} is not retried", rule)
            deadline_at = state[4]
            if now + delay > deadline_at:
                return deadline_give_up(deadline_s, delay, label, now, deadline_at, rule)
            if len(counters) == 1:
                new_counters = (n + 1,)
                new_prev = (delay,)
            else:
                new_counters = (*counters[:i], n + 1, *counters[i + 1 :])
                prev_all = state[3]
                new_prev = (*prev_all[:i], delay, *prev_all[i + 1 :])
            granted = new_object(retry_cls)
            set_retry(
                granted,
                (
                    delay,
                    new_state(
                        state_cls, (state[0], retries + 1, new_counters, new_prev, deadline_at)
                    ),
                    rule,
                    why,
                    label,
                ),
            )
            return granted
        return ran_out(entry, state, outcome, now, label)

    return decide


def headers_step(entry: Entry | None) -> tuple[Any, ...] | None:
    """``(position, limit, HeaderStep, rule, text, limit header, remaining header, reset
    header, reset parts cache, max)`` when ``entry``'s chain starts with a ``headers`` strategy
    and the rule decides for every method; else ``None``.  The three names are those of a family
    (``None`` for ``headers()``, which reads the ``RateLimit`` field before any reset)."""
    if entry is None or entry[3] is not None or not entry[1] or entry[1][0][0] != HEADERS:
        return None
    _, i, limit, hs, _strategy = entry[1][0]
    if hs.named:
        names = (hs.limit_header, hs.remaining_header, hs.reset_header)
    else:
        names = (None, None, None)
    return (i, limit, hs, entry[0], entry[2], *names, hs.reset_parts, hs.max_s)
