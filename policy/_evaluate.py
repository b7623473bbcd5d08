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

The straight path.  Most decisions are a backoff granted by a rule that starts its chain
with one.  For those, ``decide`` is Python source generated per policy at compile time
(the way attrs writes ``__init__``): the rule's numbers written in as constants, ``min·
factorⁿ`` read from a table, and no code for what the policy cannot need (a ``methods``
check without ``methods=``, other jitter kinds, other positions).  It makes the same
floats and checks as the general loop, which handles everything else; a property test
holds the two to the same answers.

Where randomness comes from.  Only from ``rand``, called at most once per decision and
only by a strategy that jitters (backoff with a jitter kind, headers with ``jitter=``).
Tests pass a constant; transports pass ``random.random``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from random import random as _random
from typing import Any, Final, NamedTuple, Protocol, TypeAlias, overload

import attrs

from ._ast import (
    AllErrors,
    Backoff,
    Headers,
    Jitter,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Over,
    Policy,
    ResetFormat,
    Rule,
    StatusClass,
    StatusCode,
    StatusRange,
    Strategy,
)
from ._headers import (
    ABSOLUTE,
    DATE_EPOCHS,
    DATE_PARTS,
    MALFORMED,
    NUMBERS,
    RELATIVE,
    RESET_PARTS,
    RETRY_AFTER_PARTS,
    VARIES,
    number,
    parse_ratelimit,
    parse_reset,
    parse_retry_after,
    reference_time,
    reset_parts,
    retry_after_parts,
)
from ._outcomes import (
    Accept,
    AttemptState,
    ConnectFailure,
    ConnectionReset,
    Decision,
    Error,
    GiveUp,
    Outcome,
    Response,
    Retry,
    Timeout,
)
from ._render import duration, render_matcher, render_rule

__all__ = ["Compiled", "Envelope", "Schedule", "WorstCase"]


class Envelope(NamedTuple):
    """The lowest and highest delay (seconds) one retry can wait.

    A named tuple, so ``lo, hi = envelope`` and ``envelope == (1.0, 2.0)`` work too.
    """

    min: float
    max: float


class WorstCase(NamedTuple):
    """The longest total of waits (seconds) and the most requests one call can take.

    A named tuple, so ``wait, requests = p.worst_case()`` works too.
    """

    wait: float
    requests: int


# --- compiled steps -----------------------------------------------------------------------
#
# A step is a plain tuple so the hot path unpacks it in one operation:
#   backoff: (_BACKOFF, position, limit, min_s, max_s, factor, n_cap, jitter, why, strategy)
#   headers: (_HEADERS, position, limit, _HeaderStep, strategy)
#   never:   (_NEVER, position, 0, None, strategy)

_BACKOFF: Final = 0
_HEADERS: Final = 1
_NEVER: Final = 2

_J_NONE: Final = 0
_J_FULL: Final = 1
_J_EQUAL: Final = 2
_J_DECORRELATED: Final = 3
_J_SCALE: Final = 4

_JITTER_CODE = {
    Jitter.NONE: _J_NONE,
    Jitter.FULL: _J_FULL,
    Jitter.EQUAL: _J_EQUAL,
    Jitter.DECORRELATED: _J_DECORRELATED,
    Jitter.SCALE: _J_SCALE,
}

#: ``n_cap`` for a sequence that never reaches its cap (factor 1, or min 0).
_NEVER_CAPS: Final = 1 << 62

#: Larger than any matcher's size (``all`` is 1000).
MAX_SIZE: Final = 10_000

Step: TypeAlias = tuple[Any, ...]


class Decide(Protocol):
    """``decide(state, outcome, *, now, rand=random.random, method="GET")`` (SPEC §2.6)."""

    def __call__(
        self,
        state: AttemptState,
        outcome: Outcome,
        *,
        now: float,
        rand: Callable[[], float] = ...,
        method: str = ...,
    ) -> Decision: ...


#: A rule, its compiled chain, its canonical text (for reasons)
#: and the methods it is limited to (``selector[GET,PUT]:``; ``None``: every method).
Entry: TypeAlias = tuple[Rule, tuple[Step, ...], str, frozenset[str] | None]

_ACCEPT: Final = Accept()
_make_state = AttemptState._make

_WHY_BACKOFF: Final = "{0} matched {1}: retry {2}/{3} of its backoff, waiting {4:.3f}s"
_WHY_HEADERS: Final = "{0} matched {1}: retry {2}/{3}, waiting {4:.3f}s as {5} says"


def first_cap(low: float, high: float, factor: float) -> int:
    """The first ``n`` with ``low · factorⁿ ≥ high`` (``_NEVER_CAPS`` if there is none).

    From that ``n`` on the backoff base is ``high``, so the evaluator never raises a float
    to a power that could overflow: ``n = 10 000`` costs what ``n = 1`` costs.
    """
    if low >= high:
        return 0
    if low <= 0.0 or factor <= 1.0:
        return _NEVER_CAPS
    n = max(0, math.ceil(math.log(high / low) / math.log(factor)))
    # Settle float rounding in either direction, in the arithmetic decide() uses.
    while n > 0 and low * factor ** (n - 1) >= high:
        n -= 1
    while low * factor**n < high:
        n += 1
    return n


@attrs.frozen
class _HeaderStep:
    """A ``headers`` strategy with its numbers in seconds."""

    limit_header: str | None
    remaining_header: str | None
    reset_header: str | None
    format: ResetFormat
    max_s: float
    over: Over
    jitter_s: float
    named: bool
    #: The reset headers to read, in order (``headers()``: the two standard ones).
    sources: tuple[str, ...]
    #: The memoised parts of reset texts in ``format`` (shared by every step of the format).
    reset_parts: dict[str, tuple[int, float]] = attrs.field(eq=False, repr=False)


def _compile_strategy(strategy: Strategy, position: int, text: str) -> Step:
    """The step of ``strategy`` at ``position`` in the rule whose canonical text is ``text``."""
    if type(strategy) is Backoff:
        low = strategy.min_ms / 1000
        high = strategy.max_ms / 1000
        # With min 0 every base is 0: a factor of 1 says so without raising 0·factorⁿ.
        factor = float(strategy.factor) if low > 0 else 1.0
        return (
            _BACKOFF,
            position,
            strategy.limit,
            low,
            high,
            factor,
            first_cap(low, high, factor),
            _JITTER_CODE[strategy.jitter],
            (_WHY_BACKOFF, text, position, strategy.limit),
            strategy,
        )
    if type(strategy) is Headers:
        hs = _HeaderStep(
            limit_header=strategy.limit_header,
            remaining_header=strategy.remaining_header,
            reset_header=strategy.reset_header,
            format=strategy.format,
            max_s=strategy.max_ms / 1000,
            over=strategy.over,
            jitter_s=strategy.jitter_ms / 1000,
            named=strategy.named,
            sources=(
                ("ratelimit-reset", "x-ratelimit-reset")
                if not strategy.named
                else ()
                if strategy.reset_header is None
                else (strategy.reset_header,)
            ),
            reset_parts=RESET_PARTS[strategy.format],
        )
        return (_HEADERS, position, strategy.limit, hs, strategy)
    return (_NEVER, position, 0, None, strategy)


# --- texts for reasons (only built when a decision is read or a call gives up) ------------


def duration_text(seconds: float) -> str:
    """Seconds in the policy language's canonical duration form (``90`` → ``1.5m``)."""
    return duration(round(seconds * 1000))


def _seconds_text(seconds: float) -> str:
    if seconds == math.inf:
        return "forever"
    if seconds >= 1e15:  # past the digits a float holds exactly: 1e+23s
        return f"{seconds:.3g}s"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


_YEAR_S: Final = 365.2425 * 86400


def _wait_text(seconds: float) -> str:
    """A server's wait for a reason: exact seconds, and in days or years when that long
    (``315360000s, about 10 years``)."""
    text = _seconds_text(seconds)
    if seconds >= 2 * _YEAR_S:
        return f"{text}, about {_about(seconds / _YEAR_S)} years"
    if seconds >= 2 * 86400:
        return f"{text}, about {_about(seconds / 86400)} days"
    return text


def _about(x: float) -> str:
    """``x`` rounded for a reader: ``2.31``, ``7,974``, ``3.2e+15``."""
    if x >= 1e6:
        return f"{x:.2g}"
    if x >= 10:
        return f"{round(x):,}"
    return f"{x:.3g}"


def _selector_text(rule: Rule) -> str:
    return ",".join(render_matcher(m) for m in rule.matchers)


def _kind_text(strategy: Strategy) -> str:
    if type(strategy) is Backoff:
        return "backoff"
    if type(strategy) is Headers:
        return "headers"
    return "never"


def _outcome_text(outcome: Outcome) -> str:
    if type(outcome) is Response:
        return str(outcome.status)
    if type(outcome) is Timeout:
        return "timeout"
    if type(outcome) is ConnectFailure:
        return "connect"
    if type(outcome) is Error:
        return "error"
    return "reset"


# --- the headers strategy (SPEC §2.4) -----------------------------------------------------

_SKIP: Final = object()
_MISS: Final = object()


def _over(
    hs: _HeaderStep, wait: float, source: str, label: object, rule: Rule, text: str
) -> tuple[float, str] | GiveUp | object:
    """Apply ``max``/``over`` to a server's wait; ``_SKIP`` means treat it as absent."""
    if wait <= hs.max_s:
        return (wait, source)
    if hs.over is Over.CLAMP:
        return (hs.max_s, source)
    if hs.over is Over.SKIP:
        return _SKIP
    return GiveUp(
        f"{label}: the server asks to wait {_wait_text(wait)} ({source}), "
        f"longer than the {duration_text(hs.max_s)} max of {text}",
        rule,
    )


def _header_wait(
    hs: _HeaderStep,
    headers: Mapping[str, str],
    now: float,
    label: object,
    rule: Rule,
    text: str,
) -> tuple[float, str] | GiveUp | None:
    """Where the server says to wait, in the SPEC's order; ``None``: nothing usable.

    Header texts are read through the memoised parts of ``_headers`` (a dict lookup per
    header once a text has been seen); the reference time (the response's ``Date``) is
    read only when an absolute time needs it.
    """
    if not headers:
        return None
    get = headers.get
    reference: float | None = None
    v = get("retry-after")
    if v is not None:
        parts = RETRY_AFTER_PARTS.get(v)
        if parts is None:
            parts = retry_after_parts(v)
        kind, w = parts
        if kind != RELATIVE:
            if kind == ABSOLUTE:
                reference = reference_time(headers, now)
                w -= reference
                if w < 0.0:
                    w = 0.0
            elif kind == VARIES:
                reference = reference_time(headers, now)
                w = parse_retry_after(v, reference)  # type: ignore[assignment]
            else:
                w = None  # type: ignore[assignment]
        if w is not None:
            if w <= hs.max_s:
                return (w, "retry-after")
            found = _over(hs, w, "retry-after", label, rule, text)
            if found is not _SKIP:
                return found  # type: ignore[return-value]
    if hs.named:
        name = hs.limit_header
        if name is not None:
            v = get(name)
            if v is not None:
                n = NUMBERS.get(v, _MISS)
                if n is _MISS:
                    n = number(v)
                if n == 0:
                    return GiveUp(
                        f"{label}: {name} is 0, so the request cannot succeed now ({text})",
                        rule,
                    )
        name = hs.remaining_header
        if name is not None:
            v = get(name)
            if v is not None:
                n = NUMBERS.get(v, _MISS)
                if n is _MISS:
                    n = number(v)
                if n is not None and n > 0:  # type: ignore[operator]
                    return None
    else:
        v = get("ratelimit")
        if v is not None:
            t = parse_ratelimit(v)
            if t is not None:
                found = _over(hs, t, "ratelimit", label, rule, text)
                if found is not _SKIP:
                    return found  # type: ignore[return-value]
    cache = hs.reset_parts
    for name in hs.sources:
        v = get(name)
        if v is None:
            continue
        parts = cache.get(v)
        if parts is None:
            parts = reset_parts(v, hs.format)
        kind, w = parts
        if kind == MALFORMED:
            continue
        if kind != RELATIVE:
            if reference is None:
                # The response's Date, read from the parts cache when it is there.
                d = get("date")
                if d is None:
                    reference = now
                else:
                    dp = DATE_PARTS.get(d)
                    reference = dp[1] if dp is not None and dp[0] == ABSOLUTE else None
                    if reference is None:
                        reference = reference_time(headers, now)
            if kind == ABSOLUTE:
                w -= reference
                if w < 0.0:
                    w = 0.0
            else:
                w = parse_reset(v, hs.format, reference)  # type: ignore[assignment]
                if w is None:
                    continue
        if w <= hs.max_s:
            return (w, name)
        found = _over(hs, w, name, label, rule, text)
        if found is not _SKIP:
            return found  # type: ignore[return-value]
    return None


# --- the compiled policy ------------------------------------------------------------------


class Compiled:
    """A policy compiled for deciding: built once per ``Policy``, then read-only.

    ``Policy.start``/``decide``/``schedule``/``worst_case`` delegate here.
    """

    __slots__ = (
        "_by_status",
        "_candidates",
        "_deadline_s",
        "_failures",
        "_max_retries",
        "_methods",
        "_zeros",
        "attempts",
        "decide",
        "entries",
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
                steps.append(_compile_strategy(strategy, positions, text))
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
        self._candidates: tuple[tuple[Entry, ...], ...] = tuple(
            tuple(_unique(e for _, _, e in sorted(r, key=lambda t: (t[0], t[1])))) for r in ranked
        )
        self._by_status: tuple[Entry | None, ...] = tuple(
            c[0] if c else None for c in self._candidates
        )
        self._failures: dict[type, tuple[Entry, ...]] = {
            k: tuple(_unique(v)) for k, v in failures.items()
        }

        methods = policy.methods
        self._methods: frozenset[str] | None = None if methods is None else frozenset(methods)
        self.attempts: int | None = policy.attempts
        self._max_retries: int = _NEVER_CAPS if self.attempts is None else self.attempts - 1
        deadline_ms = policy.deadline_ms
        self._deadline_s: float = math.inf if deadline_ms is None else deadline_ms / 1000
        #: ``decide(state, outcome, now, rand, method) -> Decision`` (SPEC §2): a closure
        #: built by ``_decider``, stored on the instance so a call is one call.
        self.decide: Decide = _decider(self)

    # -- state --------------------------------------------------------------------------

    def start(self, now: float) -> AttemptState:
        """The state before the first request of a call starting at ``now``."""
        counters, prev = self._zeros
        return _make_state(now, 0, counters, prev, now + self._deadline_s)

    # -- deciding -------------------------------------------------------------------------

    def entry_for(self, outcome: Outcome, method: str | None = None) -> Entry | None:
        """The rule (and its compiled chain) that decides ``outcome`` for a request with
        ``method`` (``None``: ignore rules' method limits); ``None``: no rule."""
        if type(outcome) is Response:
            candidates = self._candidates[outcome.status]
        elif type(outcome) in self._failures:
            candidates = self._failures[type(outcome)]
        else:
            raise TypeError(f"not an outcome: {outcome!r}")
        if method is None:
            return candidates[0] if candidates else None
        upper = method.upper()
        for entry in candidates:
            if entry[3] is None or upper in entry[3]:
                return entry
        return None

    def _ran_out(
        self, entry: Entry, state: AttemptState, outcome: Outcome, now: float, label: Any
    ) -> GiveUp:
        """The give-up of a chain in which every strategy yielded no decision."""
        rule, steps, _text, _only = entry
        spent = []
        unusable = []
        selector = _selector_text(rule)
        for step in steps:
            i, limit, strategy = step[1], step[2], step[-1]
            n = state.counters[i]
            if n >= limit:
                spent.append(f"{selector}:{_kind_text(strategy)} {n}/{limit}")
            else:
                unusable.append(strategy)
        if unusable:
            why = (
                f"no usable rate-limit header for {label} "
                f"({selector}:headers found nothing to wait for)"
            )
            if spent:
                why += "; limit reached: " + ", ".join(spent)
            return GiveUp(why, rule)
        return GiveUp("limit reached: " + ", ".join(spent), rule)

    # -- explaining -------------------------------------------------------------------------

    def schedule(self, outcome: Outcome) -> Schedule:
        """The delay envelope of each retry ``outcome`` can be granted, in order."""
        entry = self.entry_for(outcome)
        if entry is None:
            return Schedule(())
        segments: list[_Segment] = []
        for step in entry[1]:
            if step[0] == _NEVER:
                break
            if step[2] > 0:
                segments.append(_Segment.of(step))
        return Schedule(tuple(segments), self.attempts)

    def reachable_steps(self) -> list[Step]:
        """The positions some outcome can reach: of a rule that wins somewhere, before a
        ``never`` in its chain."""
        winners: dict[int, Entry] = {}
        for candidates in (*self._candidates, *self._failures.values()):
            for e in candidates:  # each can win for some method, up to the first for all
                winners[id(e)] = e
                if e[3] is None:
                    break
        out: list[Step] = []
        for entry in self.entries:
            if id(entry) not in winners:
                continue
            for step in entry[1]:
                if step[0] == _NEVER:
                    break
                if step[2] > 0:
                    out.append(step)
        return out

    def worst_case(self) -> WorstCase:
        """The longest total wait and the most requests one call can take.

        ``requests = min(1 + Σ limits, attempts)`` over the reachable positions.  ``wait``
        is the largest sum of per-retry upper bounds the retries of one call can collect:
        a position's bounds come in order (retry ``n`` needs retries ``0..n-1`` first) and
        never decrease, so with ``attempts`` capping the retries at ``k`` the best plan
        takes every bound of some positions and a prefix of at most one other (moving a
        retry between two partly used positions towards the one with the larger next
        bound never loses).  Capped by the deadline.  Chain order is not enforced, so for
        a chain under a tight ``attempts`` cap this is an upper bound.
        """
        segments = [_Segment.of(step) for step in self.reachable_steps()]
        total_limit = sum(s.count for s in segments)
        requests = 1 + total_limit
        k = total_limit
        if self.attempts is not None:
            requests = min(requests, self.attempts)
            k = min(k, self.attempts - 1)
        wait = _best_sum(segments, k)
        return WorstCase(wait=min(wait, self._deadline_s), requests=requests)


def _decider(c: Compiled) -> Decide:
    """The decision function of ``c``, with everything it reads bound in its closure.

    Closure cells and constants are the cheapest reads CPython has; a decision touches no
    global and no attribute of the compiled policy.
    """
    by_status = c._by_status
    entry_for = c.entry_for
    ran_out = c._ran_out
    # A failure outcome (timeout, connect, reset, error) whose deciding rule has no method
    # limit: its rule and label at once, without the general lookup.
    failure_entry = {
        kind: (candidates[0], _outcome_text(kind()))
        for kind, candidates in c._failures.items()
        if candidates and candidates[0][3] is None
    }
    methods = c._methods
    methods_text = ",".join(c.policy.methods or ())
    attempts = c.attempts
    max_retries = c._max_retries
    deadline_s = c._deadline_s
    new_state = tuple.__new__
    state_cls = AttemptState
    new_object = object.__new__
    retry_cls = Retry
    set_retry = Retry.__dict__["_d"].__set__
    accept = _ACCEPT
    why_headers = _WHY_HEADERS
    response_type = Response
    header_wait = _header_wait
    retry_after_get = RETRY_AFTER_PARTS.get
    date_epoch_get = DATE_EPOCHS.get
    numbers_get = NUMBERS.get
    assert (RELATIVE, ABSOLUTE) == (0, 1)  # written as numbers in decide
    # Per status, the rule's first step when it is a ``headers`` strategy that decides
    # for every method: ``(position, limit, _HeaderStep, rule, text)``.  A wait found
    # there is granted at once; anything else (no decision, a spent limit) goes on to
    # the loop below, which reads the chain from the start (the same pure answers).
    headers_first = tuple(_headers_step(e) if methods is None else None for e in by_status)

    def decide(
        state: AttemptState,
        outcome: Outcome,
        *,
        now: float,
        rand: Callable[[], float] = _random,
        method: str = "GET",
    ) -> Decision:
        if type(outcome) is response_type:
            status = outcome.status
            first = headers_first[status]
            if first is not None and not outcome.stop:
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
                            return _deadline_give_up(
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
                label = _outcome_text(outcome)
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
            if kind == 0:  # _BACKOFF
                _, i, limit, low, high, factor, n_cap, jitter, why, _s = step
                n = counters[i]
                if n >= limit:
                    continue
                base = high if n >= n_cap else low * factor**n
                if jitter == 0:  # _J_NONE
                    delay = base
                elif jitter == 1:  # _J_FULL: uniform over [min, hi], hi = min(max, 2·base)
                    hi = 2 * base
                    if hi > high:
                        hi = high
                    delay = low + rand() * (hi - low)
                elif jitter == 2:  # _J_EQUAL: the upper half [max(min, hi/2), hi]
                    hi = 2 * base
                    if hi > high:
                        hi = high
                    lo = hi / 2
                    if lo < low:
                        lo = low
                    delay = lo + rand() * (hi - lo)
                elif jitter == 3:  # _J_DECORRELATED
                    prev = state[3][i] or low
                    delay = low + rand() * (3 * prev - low)
                else:
                    delay = base * (1 + rand())
                if delay > high:
                    delay = high
                elif delay < low:
                    delay = low
            elif kind == 1:  # _HEADERS
                _, i, limit, hs, _s = step
                n = counters[i]
                if n >= limit or type(outcome) is not Response:
                    continue
                found = _header_wait(hs, outcome.headers, now, label, rule, text)
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
                return _deadline_give_up(deadline_s, delay, label, now, deadline_at, rule)
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

    return _straight_path(c, decide)


def _headers_step(entry: Entry | None) -> tuple[Any, ...] | None:
    """``(position, limit, _HeaderStep, rule, text, limit header, remaining header, reset
    header, reset parts cache, max)`` when ``entry``'s chain starts with a ``headers`` strategy
    and the rule decides for every method; else ``None``.  The three names are those of a family
    (``None`` for ``headers()``, which reads the ``RateLimit`` field before any reset)."""
    if entry is None or entry[3] is not None or not entry[1] or entry[1][0][0] != _HEADERS:
        return None
    _, i, limit, hs, _strategy = entry[1][0]
    if hs.named:
        names = (hs.limit_header, hs.remaining_header, hs.reset_header)
    else:
        names = (None, None, None)
    return (i, limit, hs, entry[0], entry[2], *names, hs.reset_parts, hs.max_s)


def _deadline_give_up(
    deadline_s: float, delay: float, label: Any, now: float, at: float, rule: Rule
) -> GiveUp:
    return GiveUp(
        f"deadline {duration_text(deadline_s)} would pass: "
        f"waiting {_seconds_text(delay)} after {label} would end "
        f"{_seconds_text(now + delay - at)} past it",
        rule,
    )


# The straight path.  Most decisions are a status whose rule has no method limit and starts
# its chain with a ``backoff`` that has retries left.  For those, ``decide`` is generated
# per policy (like attrs generates ``__init__``): the same arithmetic and checks as the
# loop, with the backoff step unpacked from a per-status table, ``min·factorⁿ`` read from
# a table, and what the policy makes impossible (a ``methods`` check without ``methods=``,
# an ``attempts`` check without ``attempts=``, other jitter kinds, other positions) left
# out of the code rather than tested on every call.  Anything else goes to the loop.

_STRAIGHT = """\
def decide(state, outcome, *, now, rand=default_rand, method="GET"):
    if type(outcome) is response_type:
        status = outcome.status
{fetch}
            n = state[2][{i}]
            if n < {limit}{attempts}:
{jitter}
                if delay > {high}:
                    delay = {high}
                elif delay < {low}:
                    delay = {low}
                deadline_at = state[4]
                if now + delay > deadline_at:
                    return deadline_give_up(deadline_s, delay, status, now, deadline_at, rule)
{counters}
                granted = new_object(retry_cls)
                set_retry(
                    granted,
                    (
                        delay,
                        new_state(
                            state_cls, (state[0], state[1] + 1, new_counters, new_prev, deadline_at)
                        ),
                        rule,
                        why,
                        status,
                    ),
                )
                return granted
    return loop(state, outcome, now=now, rand=rand, method=method)
"""

#: The step read from the per-status table (several rules take the straight path) ...
_FETCH_TABLE: Final = """\
        fast = fast_by_status[status]
        if fast is not None and not outcome.stop{methods}:
            i, limit, low, high, bases, n_table, after, jitter, why, rule = fast"""

#: ... or written into the code as constants (one rule does: the common case).
_FETCH_CONSTANT: Final = """\
        if fast_by_status[status] is not None and not outcome.stop{methods}:"""

#: The jitter arithmetic of the loop, line for line (the same floats).
_JITTER_SOURCE: Final = {
    _J_NONE: "delay = base",
    _J_FULL: (
        "hi = 2 * base\nif hi > {high}:\n    hi = {high}\ndelay = {low} + rand() * (hi - {low})"
    ),
    _J_EQUAL: (
        "hi = 2 * base\n"
        "if hi > {high}:\n"
        "    hi = {high}\n"
        "lo = hi / 2\n"
        "if lo < {low}:\n"
        "    lo = {low}\n"
        "delay = lo + rand() * (hi - lo)"
    ),
    _J_DECORRELATED: "delay = {low} + rand() * (3 * (state[3][{i}] or {low}) - {low})",
    _J_SCALE: "delay = base * (1 + rand())",
}

#: Single-position policies with a limit up to this read ``(n + 1,)`` from a table.
_MAX_ONES: Final = 1024

#: Up to this many positions, the straight path of a one-rule policy spells out the tuples.
_MAX_SPELLED: Final = 16


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _jitter_source(kinds: set[int]) -> str:
    pad = " " * 16
    if len(kinds) == 1:
        return _indent(_JITTER_SOURCE[kinds.pop()], pad)
    lines = []
    for n, kind in enumerate(sorted(kinds)):
        test = "else:" if n == len(kinds) - 1 else f"{'if' if n == 0 else 'elif'} jitter == {kind}:"
        lines += [pad + test, _indent(_JITTER_SOURCE[kind], pad + "    ")]
    return "\n".join(lines)


def window(base: float, low: float, high: float, jitter: int) -> tuple[float, float]:
    """The ``(lo, hi)`` window a ``full`` or ``equal`` draw of a backoff takes (SPEC §2.3).

    ``hi = min(max, 2·base)``: the window is at least [min, 2·min] at the first retry, so
    clients that failed together spread from their first retry on.  ``full`` draws
    ``min + r·(hi − min)`` over [min, hi]; ``equal`` draws ``lo + r·(hi − lo)`` over the
    upper half, ``lo = max(min, hi/2)``.  The arithmetic of ``decide``, step for step.
    """
    hi = 2 * base
    if hi > high:
        hi = high
    if jitter == _J_FULL:
        return low, hi
    lo = hi / 2
    if lo < low:
        lo = low
    return lo, hi


def _straight_path(c: Compiled, loop: Decide) -> Decide:
    """``decide`` for ``c``: the generated straight path in front of ``loop``."""
    steps: dict[int, tuple[Any, ...] | None] = {}  # one record per rule, shared by statuses
    for entry in c._by_status:
        if entry is not None and id(entry) not in steps:
            steps[id(entry)] = _fast_step(entry)
    fast_by_status = tuple(None if e is None else steps[id(e)] for e in c._by_status)
    records = [f for f in steps.values() if f is not None]
    if not records:
        return loop
    namespace: dict[str, Any] = {
        "default_rand": _random,
        "response_type": Response,
        "fast_by_status": fast_by_status,
        "methods": c._methods,
        "max_retries": c._max_retries,
        "deadline_s": c._deadline_s,
        "deadline_give_up": _deadline_give_up,
        "new_object": object.__new__,
        "retry_cls": Retry,
        "set_retry": Retry.__dict__["_d"].__set__,
        "new_state": tuple.__new__,
        "state_cls": AttemptState,
        "loop": loop,
    }
    names = {k: k for k in ("i", "limit", "low", "high", "n_table", "after")}
    fetch = _FETCH_TABLE
    if len(records) == 1:
        # Floats written with repr() read back as the same floats.
        i, limit, low, high, bases, n_table, after, _jitter, why, rule = records[0]
        names = {
            "i": repr(i),
            "limit": repr(limit),
            "low": repr(low),
            "high": repr(high),
            "n_table": repr(n_table),
            "after": repr(after),
        }
        namespace.update(bases=bases, why=why, rule=rule)
        fetch = _FETCH_CONSTANT
    methods = "" if c._methods is None else " and method in methods"
    if c.positions == 1 and len(records) == 1 and records[0][1] <= _MAX_ONES:
        namespace["ones"] = tuple((k,) for k in range(1, records[0][1] + 1))
        counters = "new_counters = ones[n]\nnew_prev = (delay,)"
    elif c.positions == 1:
        counters = "new_counters = (n + 1,)\nnew_prev = (delay,)"
    elif len(records) == 1 and c.positions <= _MAX_SPELLED:
        # A few positions and a known one to move: spell the new tuples out.
        i = records[0][0]
        held = [f"counters[{k}]" for k in range(c.positions)]
        drawn = [f"prev[{k}]" for k in range(c.positions)]
        held[i], drawn[i] = "n + 1", "delay"
        counters = (
            "counters = state[2]\nprev = state[3]\n"
            f"new_counters = ({', '.join(held)},)\nnew_prev = ({', '.join(drawn)},)"
        )
    else:
        counters = (
            "new_counters = (*state[2][:{i}], n + 1, *state[2][{i} + 1 :])\n"
            "new_prev = (*state[3][:{i}], delay, *state[3][{i} + 1 :])"
        )
    kinds = {f[7] for f in records}
    # With one rule whose limit is within its table, every base it grants is in the table.
    in_table = len(records) == 1 and records[0][1] <= records[0][5]
    base = "bases[n]" if in_table else "({after} if n >= {n_table} else bases[n])"
    if len(records) == 1 and kinds <= {_J_FULL, _J_EQUAL} and kinds:
        # Full and equal jitter draw from a window fixed by n: read its start and width
        # from tables too (the same floats as the loop's arithmetic).
        low, high, bases, after, kind = records[0][2:5] + records[0][6:8]
        windows = [window(b, low, high, kind) for b in bases]
        namespace["starts"] = tuple(lo for lo, _ in windows)
        namespace["spans"] = tuple(hi - lo for lo, hi in windows)
        after_lo, after_hi = window(after, low, high, kind)
        namespace["after_start"] = after_lo
        namespace["after_span"] = after_hi - after_lo
        start = "{low}" if kind == _J_FULL else "starts[n]"
        if in_table:
            delay = " " * 16 + f"delay = {start} + rand() * spans[n]"
        else:
            delay = "\n".join(
                " " * 16 + line
                for line in (
                    "if n >= {n_table}:",
                    "    delay = after_start + rand() * after_span",
                    "else:",
                    f"    delay = {start} + rand() * spans[n]",
                )
            )
    else:
        delay = " " * 16 + "base = " + base + "\n" + _jitter_source(kinds)
    source = _STRAIGHT.format(
        fetch=fetch.format(methods=methods),
        attempts="" if c.attempts is None else " and state[1] < max_retries",
        jitter=delay.format(**names),
        counters="\n".join(" " * 16 + line for line in counters.format(**names).splitlines()),
        **names,
    )
    exec(compile(source, f"<policy decide {id(c):#x}>", "exec"), namespace)
    decide: Decide = namespace["decide"]
    return decide


#: The longest table of backoff bases ``decide`` keeps per strategy (more: the loop's ``**``).
_MAX_TABLE: Final = 1024


def _fast_step(entry: Entry | None) -> tuple[Any, ...] | None:
    """What ``decide``'s straight path needs of ``entry``, if its chain starts with a
    backoff and it has no method limit: ``(position, limit, min_s, max_s, bases, n_table,
    after, jitter, why, rule)``.

    ``bases[n]`` is the base of retry ``n`` computed as the loop computes it
    (``min·factorⁿ``) for ``n < n_table``, and ``after`` the base from there on: ``max``
    from ``n_cap``, or ``min`` for ever when the sequence never reaches ``max`` (factor 1
    or min 0: ``min·1ⁿ`` is ``min``).  Only the first ``limit`` bases are ever read.
    """
    if entry is None or entry[3] is not None or not entry[1] or entry[1][0][0] != _BACKOFF:
        return None
    _, i, limit, low, high, factor, n_cap, jitter, why, _strategy = entry[1][0]
    if n_cap >= _NEVER_CAPS:  # factor 1 (min 0 compiles to factor 1): every base is min
        if factor != 1.0:
            return None
        n_table, after = 0, low
    else:
        n_table, after = min(n_cap, limit), high
        if n_table > _MAX_TABLE:
            return None
    bases = tuple(low * factor**n for n in range(n_table))
    return (i, limit, low, high, bases, n_table, after, jitter, why, entry[0])


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


# --- envelopes ----------------------------------------------------------------------------


class _Segment:
    """The retries one position grants, with the envelope of each, computed on demand."""

    __slots__ = ("_bounds", "cap", "count", "n3", "step")

    def __init__(self, step: Step, count: int) -> None:
        self.step = step
        self.count = count
        # The upper bounds rise over the first ``cap`` retries and are constant after.
        self.n3 = 0
        if step[0] == _BACKOFF:
            low, high, _factor, n_cap, jitter = step[3:8]
            self.n3 = first_cap(low, high, 3.0)
            self.cap = self.n3 - 1 if jitter == _J_DECORRELATED else n_cap
        else:
            self.cap = 0
        if self.cap >= _NEVER_CAPS:
            self.cap = 0  # factor 1 or min 0: the bounds never change
        self.cap = max(0, min(self.cap, count))
        self._bounds: list[float] | None = None

    @classmethod
    def of(cls, step: Step) -> _Segment:
        return cls(step, step[2])

    def envelope(self, n: int) -> Envelope:
        """The [lowest, highest] delay of this position's retry ``n`` (0-based)."""
        step = self.step
        if step[0] == _HEADERS:
            hs: _HeaderStep = step[3]
            return Envelope(0.0, hs.max_s + hs.jitter_s)
        low, high, factor, n_cap, jitter = step[3:8]
        base = high if n >= n_cap else min(high, low * factor**n)
        if jitter == _J_NONE:
            return Envelope(base, base)
        if jitter in (_J_FULL, _J_EQUAL):
            return Envelope(*window(base, low, high, jitter))
        if jitter == _J_SCALE:
            return Envelope(base, min(high, 2 * base))
        # decorrelated: u_n = min(max, 3·u_{n-1}), u_{-1} = min, so u_n = min(max, min·3ⁿ⁺¹)
        if low <= 0.0:
            return Envelope(low, low)  # every draw is 0·r: prev never grows
        upper = high if n + 1 >= self.n3 else min(high, low * 3.0 ** (n + 1))
        return Envelope(low, upper)

    def upper(self, n: int) -> float:
        """The highest wait retry ``n`` can actually get (headers: at most ``max``)."""
        if self.step[0] == _HEADERS:
            return float(self.step[3].max_s)
        return self.envelope(n).max

    def total(self, k: int) -> float:
        """The sum of the upper bounds of retries ``0..k-1``."""
        if self._bounds is None:
            acc = 0.0
            sums = [0.0]
            for n in range(self.cap):
                acc += self.upper(n)
                sums.append(acc)
            self._bounds = sums
        sums = self._bounds
        if k <= self.cap:
            return sums[k]
        return sums[self.cap] + (k - self.cap) * self.upper(self.cap)


def _best_sum(segments: list[_Segment], k: int) -> float:
    """The largest ``Σ total_i(k_i)`` with ``Σ k_i ≤ k`` and ``k_i ≤ count_i``.

    Each ``total_i`` is convex (its increments never decrease), so an optimum uses at most
    one position partly: try each as the partial one over the subset sums of the others.
    Falls back to an upper bound (every position's full total) if the subsets explode.
    """
    full = [(s.count, s.total(s.count)) for s in segments]
    if k >= sum(c for c, _ in full):
        return sum(v for _, v in full)
    best = 0.0
    for j, part in enumerate([None, *segments]):
        # Subset sums (retries used → best wait) of the fully used positions.
        sums: dict[int, float] = {0: 0.0}
        for idx, (count, value) in enumerate(full):
            if idx == j - 1:
                continue
            for used, got in list(sums.items()):
                u = used + count
                if u <= k and sums.get(u, -1.0) < got + value:
                    sums[u] = got + value
            if len(sums) > 100_000:
                return sum(v for _, v in full)
        for used, got in sums.items():
            extra = 0.0 if part is None else part.total(min(part.count, k - used))
            best = max(best, got + extra)
    return best


class Schedule(Sequence[Envelope]):
    """The envelope of each retry one outcome can get: an immutable, lazy sequence.

    Limits go up to 10⁶, so entries are computed when asked for, never stored.
    """

    __slots__ = ("_len", "_segments", "_starts")

    def __init__(self, segments: tuple[_Segment, ...], attempts: int | None = None) -> None:
        self._segments = segments
        starts = []
        total = 0
        for s in segments:
            starts.append(total)
            total += s.count
        self._starts = tuple(starts)
        self._len = total if attempts is None else min(total, attempts - 1)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Envelope: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Envelope]: ...

    def __getitem__(self, index: int | slice) -> Envelope | Sequence[Envelope]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("schedule index out of range")
        s = bisect.bisect_right(self._starts, index) - 1
        return self._segments[s].envelope(index - self._starts[s])

    def __iter__(self) -> Iterator[Envelope]:
        left = self._len
        for seg in self._segments:
            for n in range(min(seg.count, left)):
                yield seg.envelope(n)
            left -= seg.count
            if left <= 0:
                return

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(f"{e.min:g}..{e.max:g}" for e in self[:3])
        more = ", ..." if self._len > 3 else ""
        return f"Schedule([{head}{more}], len={self._len})"
