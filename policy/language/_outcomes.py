"""What happened to an attempt (outcomes), what to do next (decisions), and the state.

Outcomes and decisions are frozen attrs classes that ``match`` can take apart.  The
evaluator builds thousands of them per second, so the decision classes and
``AttemptState`` have a private fast constructor (``_make``) that fills the slots directly
instead of going through the validating ``__init__``; it is only used with values the
evaluator has already checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

import attrs

if TYPE_CHECKING:
    from ._ast import Rule

__all__ = [
    "LIST_FIELDS",
    "Accept",
    "AttemptState",
    "ConnectFailure",
    "ConnectionReset",
    "Decide",
    "Decision",
    "Envelope",
    "Error",
    "GiveUp",
    "Outcome",
    "Response",
    "Retry",
    "Timeout",
    "WorstCase",
    "is_failure",
    "normalize_headers",
]

HeadersLike: TypeAlias = Mapping[str, Any] | Iterable[tuple[Any, Any]] | None


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("latin-1")
    return str(v)


#: Header fields whose value is a list (RFC 9651 lists): repeated over several lines they
#: are one list, the lines joined with ``", "`` (RFC 9110 §5.3).  Every other header the
#: evaluator reads (``Retry-After``, the ``*-reset`` family, ...) is single-valued: the
#: first line wins, so a repeated ``Retry-After: 5`` / ``Retry-After: 7`` reads as 5, not
#: as the malformed ``"5, 7"``.
LIST_FIELDS = frozenset({"ratelimit", "ratelimit-policy"})


def normalize_headers(headers: HeadersLike) -> dict[str, str]:
    """Headers as a dict with lower-case names, read line by line.

    Accepts any mapping (``dict``, urllib3's ``HTTPHeaderDict``, ``multidict.CIMultiDict``,
    ``email.message.Message``, ``httpx.Headers``) or an iterable of ``(name, value)``
    pairs; names and values may be ``str`` or ``bytes``.  A multi-valued mapping is read
    one header line at a time -- through ``multi_items()`` when it has one (httpx, whose
    ``items()`` comma-joins repeated lines), else through ``items()`` (which yields every
    line for urllib3's ``HTTPHeaderDict``, multidicts and ``email.message.Message``).
    When a name repeats, the lines of a list-valued field (``LIST_FIELDS``) are joined with
    ``", "``; for any other name the first line is kept.
    """
    out: dict[str, str] = {}
    if not headers:
        return out
    items: Iterable[tuple[Any, Any]]
    if type(headers) is dict:
        items = headers.items()
    elif (multi := getattr(headers, "multi_items", None)) is not None:
        items = multi()
    elif (pairs := getattr(headers, "items", None)) is not None:
        items = pairs()  # a Mapping, or a mapping-like such as email.message.Message
    else:
        items = headers  # type: ignore[assignment]  # a Mapping has items(): pairs here
    for name, value in items:
        key = name.lower() if type(name) is str else _text(name).lower()
        if key not in out:
            out[key] = value if type(value) is str else _text(value)
        elif key in LIST_FIELDS:
            out[key] += ", " + _text(value)
    return out


def _stop_signal(h: Mapping[str, str]) -> bool:
    for name in ("x-should-retry", "stripe-should-retry"):
        v = h.get(name)
        if v is not None and v.strip().lower() == "false":
            return True
    return False


@attrs.frozen
class Response:
    """An HTTP response: its status and headers (any mapping or list of pairs).

    Headers are normalised once, on construction, to a dict with lower-case names, so
    deciding on the same response twice costs nothing extra.
    """

    status: int = attrs.field()
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=normalize_headers)
    stop: bool = attrs.field(init=False, eq=False, repr=False)

    @status.validator
    def _check_status(self, _attr: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or not 100 <= value <= 599:
            raise ValueError(f"status must be an int between 100 and 599 (got {value!r})")

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "stop", _stop_signal(self.headers))


def response_from_normal(status: int, headers: dict[str, str]) -> Response:
    """``Response(status, headers)`` for headers already in the form the converter gives
    (a fresh dict, lower-case ``str`` names, one ``str`` value each): skips the second
    pass over them.  A status out of range is the same ``ValueError`` as ``Response``'s."""
    if type(status) is not int or not 100 <= status <= 599:
        return Response(status, headers)
    r = object.__new__(Response)
    _set = object.__setattr__
    _set(r, "status", status)
    _set(r, "headers", headers)
    _set(r, "stop", _stop_signal(headers))
    return r


@attrs.frozen
class Timeout:
    """The attempt hit its per-attempt timeout."""


@attrs.frozen
class ConnectFailure:
    """The connection could not be made (refused, DNS, connect timeout, TLS handshake)."""


@attrs.frozen
class ConnectionReset:
    """The connection broke after the request was sent: it may have been processed."""


@attrs.frozen
class Error:
    """Any other failure the caller classified as retryable (matched by ``error``).

    ``kind`` names it, e.g. the exception's class name (``"OperationalError"``); the
    evaluator does not look at it, logs and metrics do.
    """

    kind: str = ""


Outcome: TypeAlias = Response | Timeout | ConnectFailure | ConnectionReset | Error


class AttemptState(tuple[float, int, tuple[int, ...], tuple[float, ...], float]):
    """Where a call stands: when it started, retries granted, and per-strategy counters.

    ``counters[i]`` is how many retries strategy position ``i`` has granted; ``prev[i]``
    is the last delay it drew (for decorrelated jitter; 0.0 before the first).
    ``deadline_at`` is the wall-clock time after which no wait may end (``inf``: none).

    An immutable tuple with named fields rather than an attrs class: the evaluator makes
    one per retry, and a tuple costs a third of a frozen attrs instance to build.
    ``match`` takes it apart by name (``AttemptState(retries=1)``) or position.
    """

    __slots__ = ()
    __match_args__ = ("start", "retries", "counters", "prev", "deadline_at")

    def __new__(
        cls,
        start: float,
        retries: int,
        counters: Iterable[int],
        prev: Iterable[float],
        deadline_at: float,
    ) -> AttemptState:
        return tuple.__new__(cls, (start, retries, tuple(counters), tuple(prev), deadline_at))

    if TYPE_CHECKING:

        @property
        def start(self) -> float: ...
        @property
        def retries(self) -> int: ...
        @property
        def counters(self) -> tuple[int, ...]: ...
        @property
        def prev(self) -> tuple[float, ...]: ...
        @property
        def deadline_at(self) -> float: ...

    else:
        start = property(itemgetter(0), doc="Wall-clock time the call started.")
        retries = property(itemgetter(1), doc="Retries granted so far in this call.")
        counters = property(itemgetter(2), doc="Retries granted per strategy position.")
        prev = property(itemgetter(3), doc="Last delay drawn per strategy position.")
        deadline_at = property(itemgetter(4), doc="No wait may end after this time.")

    @property
    def requests(self) -> int:
        """Requests made so far in this call (1 + retries granted)."""
        return self[1] + 1

    def __repr__(self) -> str:
        return (
            f"AttemptState(start={self[0]!r}, retries={self[1]!r}, counters={self[2]!r}, "
            f"prev={self[3]!r}, deadline_at={self[4]!r})"
        )

    @staticmethod
    def _make(
        start: float,
        retries: int,
        counters: tuple[int, ...],
        prev: tuple[float, ...],
        deadline_at: float,
    ) -> AttemptState:
        """Build without copying: the evaluator passes tuples it has just made."""
        return _tuple_new(AttemptState, (start, retries, counters, prev, deadline_at))


_tuple_new = tuple.__new__


#: What a ``Retry`` says about itself: a finished sentence, or the pieces the evaluator
#: had at hand, ``(format, rule text, position, limit, *more)``, formatted when first read
#: with the status (or outcome name), the position's counter after the grant, and the delay.
Why: TypeAlias = str | tuple[Any, ...]


@attrs.frozen(init=False, eq=False, repr=False, match_args=False)
class Retry:
    """Retry after ``delay`` seconds; continue with ``state``.

    ``delay``, ``state``, ``rule`` and ``reason`` read one private tuple: the evaluator makes
    a ``Retry`` per granted retry, and filling one slot costs about half of filling four.
    ``==`` and ``hash`` take ``delay``, ``state`` and ``rule`` (not the wording of
    ``reason``); ``match`` takes it apart by name or position (``Retry(delay, state)``).
    ``reason`` is a sentence for people; it is formatted when read.
    """

    _d: tuple[float, AttemptState, Rule, Why, Any]

    __match_args__ = ("delay", "state", "rule", "reason")

    def __init__(self, delay: float, state: AttemptState, rule: Rule, reason: str = "") -> None:
        _set_d(self, (float(delay), state, rule, reason, None))

    if TYPE_CHECKING:

        @property
        def delay(self) -> float: ...
        @property
        def state(self) -> AttemptState: ...
        @property
        def rule(self) -> Rule: ...

    else:
        delay = property(lambda self: self._d[0], doc="Seconds to wait before the next attempt.")
        state = property(lambda self: self._d[1], doc="The state to continue the call with.")
        rule = property(lambda self: self._d[2], doc="The rule that granted the retry.")

    @property
    def reason(self) -> str:
        """Why the retry was granted and what it waits, in a sentence."""
        delay, state, _rule, why, label = self._d
        if isinstance(why, str):
            return why
        fmt, text, position, limit, *more = why
        return str(fmt.format(label, text, state[2][position], limit, delay, *more))

    def __eq__(self, other: object) -> bool:
        if type(other) is not Retry:
            return NotImplemented
        return self._d[:3] == other._d[:3]

    def __ne__(self, other: object) -> bool:
        if type(other) is not Retry:
            return NotImplemented
        return self._d[:3] != other._d[:3]

    def __hash__(self) -> int:
        return hash((Retry, *self._d[:3]))

    def __repr__(self) -> str:
        delay, state, rule, _why, _label = self._d
        return f"Retry(delay={delay!r}, state={state!r}, rule={rule!r})"

    @classmethod
    def _make(cls, delay: float, state: AttemptState, rule: Rule, why: Why, label: Any) -> Retry:
        """Build without checks (the evaluator inlines these two calls)."""
        self = _object_new(cls)
        _set_d(self, (delay, state, rule, why, label))
        return self


_object_new = object.__new__
_set_d = Retry.__dict__["_d"].__set__


@attrs.frozen
class GiveUp:
    """Stop retrying: ``reason`` says why; ``rule`` is the deciding rule (``None``: none)."""

    reason: str
    rule: Rule | None = None


@attrs.frozen
class Accept:
    """A 2xx response: done."""


Decision: TypeAlias = Retry | GiveUp | Accept


class Decide(Protocol):
    """``decide(state, outcome, *, now, rand=random.random, method="GET", cost=None)``
    (SPEC §2.6; ``cost``: the request's units per header family word, §2.4)."""

    def __call__(
        self,
        state: AttemptState,
        outcome: Outcome,
        *,
        now: float,
        rand: Callable[[], float] = ...,
        method: str = ...,
        cost: Mapping[str, float] | None = ...,
    ) -> Decision: ...


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


def is_failure(outcome: object) -> bool:
    """Whether an outcome counts against the origin for a circuit breaker: a 5xx,
    ``timeout``, ``connect``, ``reset``, ``error``.  Any other answer (429 and the other
    4xx included) says the server is up: a success."""
    status = getattr(outcome, "status", None)
    if type(status) is int:
        return status >= 500
    return True  # Timeout, ConnectFailure, ConnectionReset, Error
