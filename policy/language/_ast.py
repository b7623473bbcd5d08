"""The policy AST: frozen attrs values that cannot hold invalid values.

Every node is immutable and validated on construction, so a ``Policy`` that exists is a
policy that can be evaluated: durations are integer milliseconds, factors are exact
``Fraction`` values, status codes are within 100-599.  Source spans are carried for error
messages and lint positions but are excluded from equality (``eq=False``), so a policy
parsed from its canonical form compares equal to the original.

The parser (``_parse``) builds these nodes only after the validation pass (``_validate``)
has collected every problem in the text, so the validators here are a safety net for
code that builds an AST by hand, not the user-facing error path.

This module holds the nodes of a rule (matchers, strategies, ``Rule``); the settings and
preset references are in ``_settings``, the ``Policy`` value in ``_policy`` and the
parser's unchecked constructors in ``_build``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import Any, ClassVar, NamedTuple, TypeAlias

import attrs

__all__ = [
    "BUDGET_FLOOR",
    "BUDGET_WINDOW_S",
    "MAX_DURATION_MS",
    "MAX_FACTOR",
    "MAX_LIMIT",
    "MAX_TEXT",
    "AllErrors",
    "Backoff",
    "Headers",
    "Jitter",
    "Matcher",
    "Never",
    "OnConnect",
    "OnError",
    "OnReset",
    "OnTimeout",
    "Over",
    "ResetFormat",
    "Rule",
    "Span",
    "StatusClass",
    "StatusCode",
    "StatusRange",
    "Strategy",
]

#: Bounds that keep arithmetic sane (SPEC §1.1).
MAX_DURATION_MS = 168 * 3600 * 1000
MAX_LIMIT = 1_000_000
MAX_FACTOR = 1000
MAX_TEXT = 8 * 1024
#: A retry budget counts over this sliding window, in seconds (SPEC §7.2) ...
BUDGET_WINDOW_S = 10.0
#: ... and always allows this many retries per window, however few first attempts.
BUDGET_FLOOR = 10

#: The idempotent methods of RFC 9110 §9.2.2: ``[idempotent]`` in a rule.
IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE")

TIMEOUT_MIN_MS = 1000
TIMEOUT_MAX_MS = 120_000


class Jitter(enum.Enum):
    """How a backoff delay is randomised (SPEC §2.3)."""

    NONE = "none"
    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"
    SCALE = "scale"


class ResetFormat(enum.Enum):
    """How a reset header's value reads (SPEC §2.4)."""

    AUTO = "auto"
    SECONDS = "s"
    MILLISECONDS = "ms"
    EPOCH = "epoch"
    EPOCH_MS = "epoch-ms"
    DATE = "date"
    ISO = "iso"
    DURATION = "duration"


class Over(enum.Enum):
    """What a server wait longer than ``max`` does."""

    GIVEUP = "giveup"
    CLAMP = "clamp"
    SKIP = "skip"


class Span(NamedTuple):
    """A region of the policy text: 0-based offsets and 1-based line/column.

    An immutable tuple with named fields: the parser makes one per node, and a tuple
    costs a third of a frozen attrs instance to build.
    """

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int


def to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def span_field() -> Any:
    return attrs.field(default=None, eq=False, repr=False, kw_only=True)


def in_range(lo: int, hi: int, what: str) -> Any:
    def check(_inst: object, _attr: attrs.Attribute[Any], value: int) -> None:
        if type(value) is not int or not lo <= value <= hi:
            raise ValueError(f"{what} must be between {lo} and {hi} (got {value!r})")

    return check


# --- matchers ---------------------------------------------------------------------------


@attrs.frozen
class StatusCode:
    """``429``: exactly one status."""

    code: int = attrs.field(validator=in_range(100, 599, "a status code"))
    span: Span | None = span_field()

    @property
    def size(self) -> int:
        return 1

    def covers(self, status: int) -> bool:
        return status == self.code


@attrs.frozen
class StatusRange:
    """``500-599``: an inclusive range of statuses."""

    low: int = attrs.field(validator=in_range(100, 599, "a status code"))
    high: int = attrs.field(validator=in_range(100, 599, "a status code"))
    span: Span | None = span_field()

    @low.validator
    def _check(self, _attr: attrs.Attribute[int], low: int) -> None:
        if low > self.high:
            raise ValueError(f"range low must be ≤ high (got {low}-{self.high})")

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def covers(self, status: int) -> bool:
        return self.low <= status <= self.high


@attrs.frozen
class StatusClass:
    """``5xx``: the hundred statuses of one class."""

    digit: int = attrs.field(validator=in_range(1, 5, "a status class digit"))
    span: Span | None = span_field()

    @property
    def size(self) -> int:
        return 100

    def covers(self, status: int) -> bool:
        return status // 100 == self.digit


@attrs.frozen
class AllErrors:
    """``all``: every error status, 400-599, and less specific than any other matcher."""

    span: Span | None = span_field()

    @property
    def size(self) -> int:
        return 1000

    def covers(self, status: int) -> bool:
        return 400 <= status <= 599


@attrs.frozen
class OnTimeout:
    """``timeout``: the attempt hit its per-attempt timeout."""

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "timeout"
    span: Span | None = span_field()


@attrs.frozen
class OnConnect:
    """``connect``: the connection could not be made; the request never left."""

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "connect"
    span: Span | None = span_field()


@attrs.frozen
class OnReset:
    """``reset``: the connection broke after the request was sent."""

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "reset"
    span: Span | None = span_field()


@attrs.frozen
class OnError:
    """``error``: any other failure the caller classified as retryable (``policy.Error``).

    Only adapters for arbitrary callables produce that outcome (``transport.retrying``).
    """

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "error"
    span: Span | None = span_field()


StatusMatcher: TypeAlias = StatusCode | StatusRange | StatusClass | AllErrors
FailureMatcher: TypeAlias = OnTimeout | OnConnect | OnReset | OnError
FAILURE_MATCHERS = (OnTimeout, OnConnect, OnReset, OnError)
Matcher: TypeAlias = StatusMatcher | FailureMatcher


# --- strategies -------------------------------------------------------------------------


def _duration(what: str) -> Any:
    return in_range(0, MAX_DURATION_MS, what)


def _check_factor(_inst: object, _attr: attrs.Attribute[Any], value: Fraction) -> None:
    if not isinstance(value, Fraction) or not 1 <= value <= MAX_FACTOR:
        raise ValueError(f"factor must be between 1 and {MAX_FACTOR} (got {value!r})")


def to_fraction(value: Any) -> Any:
    if isinstance(value, int | str) and not isinstance(value, bool):
        return Fraction(value)
    return value


@attrs.frozen
class Backoff:
    """``backoff(limit, min..max, xfactor, jitter)``: exponential backoff."""

    limit: int = attrs.field(default=5, validator=in_range(0, MAX_LIMIT, "limit"))
    min_ms: int = attrs.field(default=1000, validator=_duration("min delay"))
    max_ms: int = attrs.field(default=60_000, validator=_duration("max delay"))
    factor: Fraction = attrs.field(
        default=Fraction(9, 5), converter=to_fraction, validator=_check_factor
    )
    jitter: Jitter = attrs.field(
        default=Jitter.NONE, validator=attrs.validators.instance_of(Jitter)
    )
    span: Span | None = span_field()

    def __attrs_post_init__(self) -> None:
        if self.min_ms > self.max_ms:
            raise ValueError(
                f"min delay must be ≤ max delay (got {self.min_ms}ms..{self.max_ms}ms)"
            )
        if self.min_ms == self.max_ms and self.factor != 1:
            # A fixed delay has no factor: stored as 1 (SPEC §1.2).
            object.__setattr__(self, "factor", Fraction(1))

    @property
    def fixed(self) -> bool:
        return self.min_ms == self.max_ms


#: Header names the language can spell (the grammar's WORD, lower case, no '*').
_HEADER_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def _header_name(_inst: object, attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"{attr.name} must be a lower-case header name (got {value!r})")


@attrs.frozen
class Headers:
    """``headers(family, format=, limit, max=, over=, jitter)``: wait as the server says."""

    limit_header: str | None = attrs.field(default=None, validator=_header_name)
    remaining_header: str | None = attrs.field(default=None, validator=_header_name)
    reset_header: str | None = attrs.field(default=None, validator=_header_name)
    format: ResetFormat = attrs.field(
        default=ResetFormat.AUTO, validator=attrs.validators.instance_of(ResetFormat)
    )
    limit: int = attrs.field(default=5, validator=in_range(0, MAX_LIMIT, "limit"))
    max_ms: int = attrs.field(default=15 * 60_000, validator=_duration("max wait"))
    over: Over = attrs.field(default=Over.GIVEUP, validator=attrs.validators.instance_of(Over))
    jitter_ms: int = attrs.field(default=0, validator=_duration("jitter"))
    span: Span | None = span_field()

    @property
    def named(self) -> bool:
        """Whether any header name was given (``headers()`` uses the defaults)."""
        return (
            self.limit_header is not None
            or self.remaining_header is not None
            or self.reset_header is not None
        )


@attrs.frozen
class Never:
    """``never``: do not retry."""

    span: Span | None = span_field()


Strategy: TypeAlias = Backoff | Headers | Never


def _non_empty(_inst: object, attr: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        raise ValueError(f"a rule needs at least one {attr.name[:-1]}")


def methods_ok(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    if not value or any(not m or m != m.upper() or not m.isascii() for m in value):
        raise ValueError(f"methods must be upper-case method names (got {value!r})")
    if len(set(value)) != len(value):
        raise ValueError(f"methods may not repeat a method (got {value!r})")


@attrs.frozen
class Rule:
    """``selector[methods]:strategy|strategy``.

    ``methods`` (``None``: every method) limits the rule to requests with those methods:
    for any other method the rule does not match, so a broader rule decides, or nothing
    does and the call gives up.
    """

    matchers: tuple[Matcher, ...] = attrs.field(converter=to_tuple, validator=_non_empty)
    strategies: tuple[Strategy, ...] = attrs.field(converter=to_tuple, validator=_non_empty)
    methods: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(to_tuple), kw_only=True
    )
    span: Span | None = span_field()

    @methods.validator
    def _check_methods(self, attr: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
        methods_ok(self, attr, value)

    def applies_to(self, method: str) -> bool:
        """Whether this rule may decide for a request with ``method``."""
        return self.methods is None or method.upper() in self.methods

    def __attrs_post_init__(self) -> None:
        if len(set(self.matchers)) != len(self.matchers):
            raise ValueError("a selector may not name the same matcher twice")
        statuses = [
            m for m in self.matchers if not isinstance(m, OnTimeout | OnConnect | OnReset | OnError)
        ]
        if statuses and self.matchers and all(_only_2xx(m) for m in self.matchers):
            raise ValueError("2xx responses are never retried")


def _only_2xx(m: Matcher) -> bool:
    if isinstance(m, StatusCode):
        return 200 <= m.code <= 299
    if isinstance(m, StatusRange):
        return m.low >= 200 and m.high <= 299
    if isinstance(m, StatusClass):
        return m.digit == 2
    return False
