"""The one attempt loop, sans-IO: every adapter is a thin I/O shell around ``Call``.

A call is a conversation between a shell (urllib3, httpx, aiohttp, a plain function,
a background fetcher, a Celery task) and this driver.  The driver never sleeps, never
reads a clock and never does I/O of its own beyond the small, bounded ``State`` calls
(pacing holds, retry budgets); the shell does exactly those three things::

    call = Call(p, method="GET", origin=origin_of(url), display=mask_url(url), now=now())
    while True:
        step = call.before(now())            # Send, Wait (a pacing hold) or Done
        if type(step) is Wait:
            sleep(step.seconds)
            continue
        if type(step) is Done:
            break
        outcome = send_one_attempt(timeout=step.timeout)
        step = call.after(outcome, now())    # Wait (a retry) or Done
        if type(step) is Done:
            break
        sleep(step.seconds)

``before`` gives each attempt ``min(timeout, time left before the deadline)``, waits out
a pacing hold on the origin, spends one request of the origin's recorded quota (or waits
for its reset when none is left; either wait gives up when it would pass the deadline)
and counts first attempts for the retry budget.  ``after`` asks the policy, applies the
retry budget, records the ``Attempt``, sets a pacing hold and quota from the response,
logs one INFO line and calls the ``on_retry`` / ``on_giveup`` hooks.  Sync and async
shells share all of it; they differ only in how they sleep and send.

Test mode (``transport.testing()``) is honoured here, once for every adapter: while it is
active a wait is recorded instead of taken (the shell is told to wait 0 s) and the call's
own sense of time moves on by the skipped amount, so deadlines and holds still resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeAlias

import policy

from ..evaluate._evaluate import compiled_of
from ._attempt import Attempt, Done, Outcome, Send, Wait, as_policy, label_of
from ._observe import record, recorders, start_recording, stop_recording, trace_retry
from ._resilience import after_guard, guard_of, step_for
from ._state import WINDOW, LocalState, State

__all__ = [
    "Attempt",
    "Call",
    "Done",
    "Send",
    "Wait",
    "as_policy",
    "label_of",
    "start_recording",
    "stop_recording",
]

log = logging.getLogger("policy")

Hook: TypeAlias = Callable[["Attempt"], object]

_MIN_ATTEMPT: Final = 0.001  # never hand a client a zero or negative timeout
_INF: Final = float("inf")
_INFO: Final = logging.INFO
# the classes ``after`` tells apart on every attempt, looked up once
_Response: Final = policy.Response
_Retry: Final = policy.Retry
_GiveUp: Final = policy.GiveUp
_ConnectFailure: Final = policy.ConnectFailure


# -- the driver ---------------------------------------------------------------------------

#: Per policy (by identity): (policy, pace, budget), so a call does not re-read settings.
_fleet_cache: dict[int, tuple[policy.Policy, bool, Any]] = {}


def _fleet(p: policy.Policy) -> tuple[bool, Any]:
    """The policy's pacing switch and retry budget (``pace=on``, ``budget=20%``)."""
    hit = _fleet_cache.get(id(p))
    if hit is not None and hit[0] is p:
        return hit[1], hit[2]
    if len(_fleet_cache) >= 256:
        _fleet_cache.clear()
    pace, budget = bool(p.pace), p.budget
    _fleet_cache[id(p)] = (p, pace, budget)
    return pace, budget


# -- the Call ---------------------------------------------------------------------------


class Call:
    """One call's attempt loop (see the module docstring for the conversation).

    ``timeout`` is the per-attempt budget in seconds before the deadline shrinks it (the
    adapter's choice: the call's ``timeout``, else the policy's ``timeout=``, else its
    default).  ``origin`` names what pacing holds and budgets are kept per (``None``:
    neither applies).  ``display`` is how logs name the target (a masked URL, a function
    name), or a function returning it, called only when a line is logged.  ``state`` is
    the shared ``State`` (the adapter's own ``LocalState`` when it has one).  Not
    thread-safe: one ``Call`` per call; the ``State`` is what is shared.
    """

    __slots__ = (
        "_budget",
        "_deadline_at",
        "_decide",
        "_display",
        "_on_giveup",
        "_on_retry",
        "_origin",
        "_pace",
        "_policy",
        "_rand",
        "_res",
        "_send",
        "_sent",
        "_skipped",
        "_state",
        "_timeout",
        "attempts",
        "method",
        "state",
    )

    def __init__(
        self,
        p: policy.Policy,
        *,
        method: str = "GET",
        now: float,
        timeout: float = _INF,
        origin: str | None = None,
        display: str | Callable[[], str] = "",
        state: State | None = None,
        rand: Callable[[], float],
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
    ) -> None:
        self._policy = p
        self.method = method
        compiled = compiled_of(p)
        self._decide = compiled.decide
        self.state = compiled.start(now)
        self._deadline_at = self.state[4]  # start + deadline (inf: none)
        self._timeout = timeout
        self._origin = origin
        self._display = display
        pace, budget = _fleet(p) if origin is not None else (False, None)
        self._res = guard_of(p) if origin is not None else None  # breaker=, pace=adaptive
        if (pace or budget is not None or self._res) and state is None:
            state = LocalState()
        self._state = state
        self._pace = pace
        self._budget = float(budget) if budget is not None else None
        self._rand = rand
        self._on_retry = on_retry
        self._on_giveup = on_giveup
        self._sent = 0
        self._skipped = 0.0
        self._send: Send | None = None  # the last Send, reused while its timeout holds
        self.attempts: list[Attempt] = []

    @classmethod
    def resume(
        cls,
        p: policy.Policy,
        progress: policy.AttemptState,
        attempts: Iterable[Attempt],
        *,
        method: str = "GET",
        timeout: float = _INF,
        origin: str | None = None,
        display: str | Callable[[], str] = "",
        state: State | None = None,
        rand: Callable[[], float],
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
    ) -> Call:
        """A call in progress, rebuilt from what was kept of it: the evaluator's
        ``progress`` (the ``AttemptState`` after its last retry, which holds its start and
        deadline) and its ``attempts`` so far.

        The next ``before`` sends attempt ``len(attempts) + 1``; the first request was
        counted for the retry budget when it was sent, so it is not counted again.  This
        is how a shell that keeps a call between attempts (a Celery task message per
        attempt) goes on where the last attempt left off.
        """
        call = cls(
            p,
            method=method,
            now=progress[0],
            timeout=timeout,
            origin=origin,
            display=display,
            state=state,
            rand=rand,
            on_retry=on_retry,
            on_giveup=on_giveup,
        )
        call.state = progress
        call._deadline_at = progress[4]
        call.attempts = list(attempts)
        call._sent = len(call.attempts)
        return call

    @property
    def display(self) -> str:
        """How logs name the target (a masked URL, a function name)."""
        d = self._display
        if not isinstance(d, str):
            d = self._display = d()
        return d

    @property
    def deadline_at(self) -> float:
        """The wall-clock time after which no attempt may run (``inf``: no deadline)."""
        return self._deadline_at

    def before(self, now: float) -> Send | Wait | Done:
        """What to do before the next attempt: send it (with its timeout), wait, or stop."""
        now += self._skipped
        first = self._sent == 0 and self._budget is not None
        res = self._res
        if res is not None and res.ready:  # a token or probe already taken: send now
            res.ready = False
        elif self._pace or first or res:
            # One State call: wait out a hold, spend the quota, count a first attempt.
            verdict = self._state.before(  # type: ignore[union-attr]
                self._origin,  # type: ignore[arg-type]
                now,
                pace=self._pace,
                first=first,
                **(res.before_kw if res else {}),
            )
            if verdict is not None:  # wait, or stop (see _resilience.step_for)
                step = step_for(self, verdict[0], verdict[1], now)
                if step is not None:
                    return step
        self._sent += 1
        left = self._deadline_at - now
        limit = self._timeout if self._timeout < left else left
        if limit < _MIN_ATTEMPT:
            limit = _MIN_ATTEMPT
        send = self._send
        if send is None or send.timeout != limit:
            send = self._send = Send(limit)
        return send

    def after(self, outcome: Outcome, now: float, *, replayable: bool = True) -> Wait | Done:
        """What to do after an attempt ended in ``outcome``: wait and retry, or stop.

        ``replayable=False`` says the request cannot be sent again (its body was a stream,
        now consumed): a retry the policy grants is then a give-up, except after a
        ``connect`` failure, when nothing was sent.
        """
        now += self._skipped
        hold = quota = None
        if self._pace and type(outcome) is _Response:
            hold = self._policy.hold(outcome, now)
            quota = self._policy.quota(outcome, now)
        d = self._decide(self.state, outcome, now=now, rand=self._rand, method=self.method)
        # One State call: record the hold and quota, read the hold, spend a retry.
        retry = type(d) is _Retry and (replayable or type(outcome) is _ConnectFailure)
        held, granted, requests = None, True, 0
        res = self._res
        if (
            hold is not None
            or quota is not None
            or (retry and (self._pace or self._budget is not None))
            or res
        ):
            kw = res.after_kw(outcome) if res else {}
            held, granted, requests = self._state.after(  # type: ignore[union-attr]
                self._origin,  # type: ignore[arg-type]
                now,
                hold=hold,
                quotas=(("", quota[0], quota[1]),) if quota is not None else (),
                retry=retry,
                budget=self._budget,
                deadline=self._deadline_at if self._pace else _INF,
                **kw,
            )
            if res:
                after_guard(self, kw)
        number = len(self.attempts) + 1
        if type(d) is _Retry:
            if not replayable and type(outcome) is not _ConnectFailure:
                reason = (
                    f"{label_of(outcome)}: the request body was a stream, already sent; "
                    "it cannot be replayed, so it is not retried"
                )
                attempt = Attempt(number, outcome, None, reason, d.rule)
                self.attempts.append(attempt)
                return self._finish(attempt, reason)
            # A hold (this answer's, or one another call set) that ends past the
            # deadline: no retry can be sent in time, so give up now, on this
            # outcome, rather than wait and give up with nothing to return.
            if self._pace and held is not None and held > self._deadline_at:
                reason = (
                    f"{label_of(outcome)}: the server asked to hold "
                    f"{self.display or self._origin} for {held - now:.3g}s; "
                    "the deadline would pass"
                )
                attempt = Attempt(number, outcome, None, reason, d.rule)
                self.attempts.append(attempt)
                return self._finish(attempt, reason)
            if self._budget is not None and not granted:
                pct = f"{self._budget * 100:.4g}%"
                reason = (
                    f"retry budget exhausted: {pct} of {requests} requests "
                    f"in the last {WINDOW:.0f}s"
                )
                attempt = Attempt(number, outcome, None, reason, d.rule)
                self.attempts.append(attempt)
                return self._finish(attempt, reason)
            delay = d.delay
            attempt = Attempt(number, outcome, delay, d, d.rule)
            self.attempts.append(attempt)
            self.state = d.state
            if log.isEnabledFor(_INFO):
                self._log_retry(attempt)
            trace_retry(attempt, self)
            if self._on_retry is not None:
                self._on_retry(attempt)
            if recorders:
                return self._wait(delay, attempt)
            return Wait(delay, attempt)
        if type(d) is _GiveUp:
            attempt = Attempt(number, outcome, None, d, d.rule)
            self.attempts.append(attempt)
            return self._finish(attempt, d.reason)
        attempt = Attempt(number, outcome, None, d, None)
        self.attempts.append(attempt)
        return Done(False, "accepted", attempt)

    # -- internals ------------------------------------------------------------------------

    def _wait(self, seconds: float, attempt: Attempt | None) -> Wait:
        if recorders and record(seconds):
            self._skipped += seconds
            return Wait(0.0, attempt)
        return Wait(seconds, attempt)

    def _finish(self, attempt: Attempt | None, reason: str) -> Done:
        if log.isEnabledFor(logging.INFO):
            fields = self._fields(attempt)
            fields["retry_reason"] = reason
            log.info(
                "%s %s: %s, giving up after %d attempt%s: %s",
                self.method,
                self.display,
                fields["retry_outcome"],
                len(self.attempts),
                "" if len(self.attempts) == 1 else "s",
                reason,
                extra=fields,
            )
        if self._on_giveup is not None and attempt is not None:
            self._on_giveup(attempt)
        return Done(True, reason, attempt)

    def _log_retry(self, attempt: Attempt) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s: %s, retry %d in %.3fs by rule %s (%s)",
                self.method,
                self.display,
                attempt.label,
                attempt.number,
                attempt.delay,
                attempt.rule,
                attempt.reason,
                extra=self._fields(attempt),
            )

    def _fields(self, attempt: Attempt | None) -> dict[str, Any]:
        """The structured ``extra`` of a log line (what structured logging picks up)."""
        return {
            "retry_method": self.method,
            "retry_target": self.display,
            "retry_attempt": attempt.number if attempt is not None else 0,
            "retry_outcome": attempt.label if attempt is not None else "none",
            "retry_delay": attempt.delay if attempt is not None else None,
            "retry_rule": attempt.rule if attempt is not None else None,
            "retry_reason": attempt.reason if attempt is not None else "",
        }
