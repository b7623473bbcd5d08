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

Test mode (``transport.testing()``) is honoured here, once for every adapter: a wait is
recorded, not taken, and the call's time moves on by it (``_observe``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias

import policy

from ..evaluate._evaluate import compiled_of
from ..language._cost import check_cost
from ._attempt import Attempt, Done, Outcome, Send, Wait, fleet_settings, label_of
from ._logline import log_fields
from ._observe import record, recorders, trace_retry
from ._resilience import abandon, after_guard, guard_of, step_for
from ._state import WINDOW, LocalState, State

__all__ = ["Call"]

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


# -- the Call ---------------------------------------------------------------------------


class Call:
    """One call's attempt loop (see the module docstring for the conversation).

    ``timeout`` is the per-attempt budget in seconds before the deadline shrinks it (the
    adapter's choice: the call's ``timeout``, else the policy's ``timeout=``, else its
    default).  ``origin`` names what pacing holds and budgets are kept per (``None``:
    neither applies).  ``display`` is how logs name the target (a masked URL, a function
    name), or a function returning it, called only when a line is logged.  ``state`` is
    the shared ``State`` (the adapter's own ``LocalState`` when it has one).  ``cost``
    (``{"tokens": 900}``): what the request spends, for ``decide`` and the quotas.  Not
    thread-safe: one ``Call`` per call; the ``State`` is what is shared.
    """

    __slots__ = (
        "_budget",
        "_circuit",
        "_cost",
        "_costs",
        "_deadline_at",
        "_decide",
        "_display",
        "_due",
        "_held_to",
        "_on_giveup",
        "_on_retry",
        "_origin",
        "_pace",
        "_policy",
        "_probe",
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
        cost: Mapping[str, float] | None = None,
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
        pace, budget = fleet_settings(p) if origin is not None else (False, None)
        self._res = guard_of(p) if origin is not None else None  # breaker=, pace=adaptive
        self._probe, self._due = False, 0.0  # a probe goes (or is out), due by then
        self._circuit: tuple[str, float] | None = None  # the circuit that failed it fast
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
        self._held_to = -_INF  # the end of the last pacing wait handed out
        self._send: Send | None = None  # the last Send, reused while its timeout holds
        self.attempts: list[Attempt] = []
        # A request cost ({"tokens": 900}): decide and the quotas count it; the state is
        # told it per family (the pacer's families, by their remaining header's name).
        self._cost = check_cost(cost) if cost is not None else None
        self._costs: Mapping[str, float] | None = (
            compiled.family_costs(cost) if cost is not None and pace else None
        )

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
        cost: Mapping[str, float] | None = None,
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
            cost=cost,
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
        if self._held_to > now:
            # The shell obeyed the last pacing Wait, but its clock does not show it (an
            # injected ``sleep`` that only records): the call's time moves on by what was
            # waited, so the hold is over instead of handed out again, forever.
            self._skipped += self._held_to - now
            now = self._held_to
        first = self._sent == 0 and self._budget is not None
        left = self._deadline_at - now
        limit = max(self._timeout if self._timeout < left else left, _MIN_ATTEMPT)
        res = self._res
        if self._pace or first or res:
            # One State call: wait out a hold, spend the quota, count a first attempt.
            state: Any = self._state
            origin: Any = self._origin
            if res is None:
                verdict = state.before(origin, now, pace=self._pace, first=first, cost=self._costs)
            else:  # and ask the breaker (a probe's answer is due by ``limit``), the bucket
                verdict = state.before(
                    origin,
                    now,
                    pace=self._pace,
                    first=first,
                    cost=self._costs,
                    breaker=res.breaker,
                    adaptive=res.adaptive,
                    lease=limit if limit < _INF else 0.0,
                )
            if verdict is not None:  # wait, or stop (see _resilience.step_for)
                step = step_for(self, verdict[0], verdict[1], now, limit)
                if step is not None:
                    return step
        self._sent += 1
        send = self._send
        if send is None or send.timeout != limit:
            send = self._send = Send(limit)
        return send

    def abandon(self, now: float) -> None:
        """The attempt sent ended without an answer (cancelled, an exception the policy
        does not classify): a circuit's probe gives its place to the next call."""
        if self._probe:
            abandon(self, now + self._skipped)

    def after(self, outcome: Outcome, now: float, *, replayable: bool = True) -> Wait | Done:
        """What to do after an attempt ended in ``outcome``: wait and retry, or stop.

        ``replayable=False`` says the request cannot be sent again (its body was a stream,
        now consumed): a retry the policy grants is then a give-up, except after a
        ``connect`` failure, when nothing was sent.
        """
        now += self._skipped
        hold = None
        quotas: tuple[tuple[str, float, float], ...] = ()
        if self._pace and type(outcome) is _Response:
            hold = self._policy.hold(outcome, now)
            if self._costs is None:
                quota = self._policy.quota(outcome, now)
                if quota is not None:
                    quotas = (("", quota[0], quota[1]),)
            else:  # every family, in its own units
                quotas = tuple((q[0], q[1], q[2]) for q in self._policy.quotas(outcome, now))
        if self._cost is None:
            d = self._decide(self.state, outcome, now=now, rand=self._rand, method=self.method)
        else:
            d = self._decide(
                self.state, outcome, now=now, rand=self._rand, method=self.method, cost=self._cost
            )
        # One State call: record the hold and quota, read the hold, spend a retry.
        retry = type(d) is _Retry and (replayable or type(outcome) is _ConnectFailure)
        held, granted, requests = None, True, 0
        res = self._res
        shared = hold is not None or quotas or (retry and (self._pace or self._budget is not None))
        if res is not None and not shared:
            res.record(self, outcome, now)  # the breaker's and the bucket's answer alone
        elif shared:
            kw = res.after_kw(self, outcome) if res else {}  # (with the rest: one State call)
            held, granted, requests = self._state.after(  # type: ignore[union-attr]
                self._origin,  # type: ignore[arg-type]
                now,
                hold=hold,
                quotas=quotas,
                cost=self._costs,
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
                return self._stop(number, outcome, reason, d.rule)
            # A hold (this answer's, or one another call set) that ends past the
            # deadline: no retry can be sent in time, so give up now, on this
            # outcome, rather than wait and give up with nothing to return.
            if self._pace and held is not None and held > self._deadline_at:
                reason = (
                    f"{label_of(outcome)}: the server asked to hold "
                    f"{self.display or self._origin} for {held - now:.3g}s; "
                    "the deadline would pass"
                )
                return self._stop(number, outcome, reason, d.rule)
            if self._budget is not None and not granted:
                pct = f"{self._budget * 100:.4g}%"
                reason = (
                    f"retry budget exhausted: {pct} of {requests} requests "
                    f"in the last {WINDOW:.0f}s"
                )
                return self._stop(number, outcome, reason, d.rule)
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

    def _stop(self, number: int, outcome: Outcome, reason: str, rule: Any) -> Done:
        """Give up on a retry the policy granted (a budget, a hold, a stream)."""
        attempt = Attempt(number, outcome, None, reason, rule)
        self.attempts.append(attempt)
        return self._finish(attempt, reason)

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
        return log_fields(self.method, self.display, attempt)
