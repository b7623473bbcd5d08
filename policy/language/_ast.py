"""The policy AST: frozen attrs values that cannot hold invalid values.

Every node is immutable and validated on construction, so a ``Policy`` that exists is a
policy that can be evaluated: durations are integer milliseconds, factors are exact
``Fraction`` values, status codes are within 100-599.  Source spans are carried for error
messages and lint positions but are excluded from equality (``eq=False``), so a policy
parsed from its canonical form compares equal to the original.

The parser (``_parse``) builds these nodes only after the validation pass (``_validate``)
has collected every problem in the text, so the validators here are a safety net for
code that builds an AST by hand, not the user-facing error path.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeAlias, TypeVar

import attrs

if TYPE_CHECKING:
    from ..evaluate._evaluate import Compiled
    from ._outcomes import AttemptState, Outcome
    from ..evaluate._pace import Pacer
    from ..evaluate._schedule import Schedule, WorstCase
    from ..evaluate._steps import Decide

__all__ = [
    "BUDGET_FLOOR",
    "BUDGET_WINDOW_S",
    "MAX_BUDGET_PERCENT",
    "MAX_DURATION_MS",
    "MAX_FACTOR",
    "MAX_LIMIT",
    "MAX_TEXT",
    "AllErrors",
    "AttemptsSetting",
    "Backoff",
    "BudgetSetting",
    "DeadlineSetting",
    "Headers",
    "Jitter",
    "Matcher",
    "MethodsSetting",
    "Never",
    "OnConnect",
    "OnError",
    "OnReset",
    "OnTimeout",
    "Over",
    "PaceSetting",
    "Policy",
    "PresetRef",
    "ResetFormat",
    "Rule",
    "Setting",
    "Span",
    "StatusClass",
    "StatusCode",
    "StatusRange",
    "Strategy",
    "TimeoutSetting",
]

#: Bounds that keep arithmetic sane (SPEC §1.1).
MAX_DURATION_MS = 168 * 3600 * 1000
MAX_LIMIT = 1_000_000
MAX_FACTOR = 1000
MAX_TEXT = 8 * 1024
#: The largest retry budget, in percent of first attempts (``budget=1000%``).
MAX_BUDGET_PERCENT = 1000
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


def _to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _span_field() -> Any:
    return attrs.field(default=None, eq=False, repr=False, kw_only=True)


def _in_range(lo: int, hi: int, what: str) -> Any:
    def check(_inst: object, _attr: attrs.Attribute[Any], value: int) -> None:
        if type(value) is not int or not lo <= value <= hi:
            raise ValueError(f"{what} must be between {lo} and {hi} (got {value!r})")

    return check


# --- matchers ---------------------------------------------------------------------------


@attrs.frozen
class StatusCode:
    """``429``: exactly one status."""

    code: int = attrs.field(validator=_in_range(100, 599, "a status code"))
    span: Span | None = _span_field()

    @property
    def size(self) -> int:
        return 1

    def covers(self, status: int) -> bool:
        return status == self.code


@attrs.frozen
class StatusRange:
    """``500-599``: an inclusive range of statuses."""

    low: int = attrs.field(validator=_in_range(100, 599, "a status code"))
    high: int = attrs.field(validator=_in_range(100, 599, "a status code"))
    span: Span | None = _span_field()

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

    digit: int = attrs.field(validator=_in_range(1, 5, "a status class digit"))
    span: Span | None = _span_field()

    @property
    def size(self) -> int:
        return 100

    def covers(self, status: int) -> bool:
        return status // 100 == self.digit


@attrs.frozen
class AllErrors:
    """``all``: every error status, 400-599, and less specific than any other matcher."""

    span: Span | None = _span_field()

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
    span: Span | None = _span_field()


@attrs.frozen
class OnConnect:
    """``connect``: the connection could not be made; the request never left."""

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "connect"
    span: Span | None = _span_field()


@attrs.frozen
class OnReset:
    """``reset``: the connection broke after the request was sent."""

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "reset"
    span: Span | None = _span_field()


@attrs.frozen
class OnError:
    """``error``: any other failure the caller classified as retryable (``policy.Error``).

    Only adapters for arbitrary callables produce that outcome (``transport.retrying``).
    """

    #: The matcher as written, and the kind of outcome it matches.
    word: ClassVar[str] = "error"
    span: Span | None = _span_field()


StatusMatcher: TypeAlias = StatusCode | StatusRange | StatusClass | AllErrors
FailureMatcher: TypeAlias = OnTimeout | OnConnect | OnReset | OnError
_FAILURE_MATCHERS = (OnTimeout, OnConnect, OnReset, OnError)
Matcher: TypeAlias = StatusMatcher | FailureMatcher


# --- strategies -------------------------------------------------------------------------


def _duration(what: str) -> Any:
    return _in_range(0, MAX_DURATION_MS, what)


def _check_factor(_inst: object, _attr: attrs.Attribute[Any], value: Fraction) -> None:
    if not isinstance(value, Fraction) or not 1 <= value <= MAX_FACTOR:
        raise ValueError(f"factor must be between 1 and {MAX_FACTOR} (got {value!r})")


def _to_fraction(value: Any) -> Any:
    if isinstance(value, int | str) and not isinstance(value, bool):
        return Fraction(value)
    return value


@attrs.frozen
class Backoff:
    """``backoff(limit, min..max, xfactor, jitter)``: exponential backoff."""

    limit: int = attrs.field(default=5, validator=_in_range(0, MAX_LIMIT, "limit"))
    min_ms: int = attrs.field(default=1000, validator=_duration("min delay"))
    max_ms: int = attrs.field(default=60_000, validator=_duration("max delay"))
    factor: Fraction = attrs.field(
        default=Fraction(9, 5), converter=_to_fraction, validator=_check_factor
    )
    jitter: Jitter = attrs.field(
        default=Jitter.NONE, validator=attrs.validators.instance_of(Jitter)
    )
    span: Span | None = _span_field()

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
    limit: int = attrs.field(default=5, validator=_in_range(0, MAX_LIMIT, "limit"))
    max_ms: int = attrs.field(default=15 * 60_000, validator=_duration("max wait"))
    over: Over = attrs.field(default=Over.GIVEUP, validator=attrs.validators.instance_of(Over))
    jitter_ms: int = attrs.field(default=0, validator=_duration("jitter"))
    span: Span | None = _span_field()

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

    span: Span | None = _span_field()


Strategy: TypeAlias = Backoff | Headers | Never


def _non_empty(_inst: object, attr: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        raise ValueError(f"a rule needs at least one {attr.name[:-1]}")


@attrs.frozen
class Rule:
    """``selector[methods]:strategy|strategy``.

    ``methods`` (``None``: every method) limits the rule to requests with those methods:
    for any other method the rule does not match, so a broader rule decides, or nothing
    does and the call gives up.
    """

    matchers: tuple[Matcher, ...] = attrs.field(converter=_to_tuple, validator=_non_empty)
    strategies: tuple[Strategy, ...] = attrs.field(converter=_to_tuple, validator=_non_empty)
    methods: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_to_tuple), kw_only=True
    )
    span: Span | None = _span_field()

    @methods.validator
    def _check_methods(self, attr: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
        _methods_ok(self, attr, value)

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


# --- settings ---------------------------------------------------------------------------


@attrs.frozen
class TimeoutSetting:
    """``timeout=10s``: the per-attempt timeout (1s..2m, as the seed requires)."""

    ms: int = attrs.field(validator=_in_range(TIMEOUT_MIN_MS, TIMEOUT_MAX_MS, "timeout (ms)"))
    span: Span | None = _span_field()


@attrs.frozen
class DeadlineSetting:
    """``deadline=2m``: the budget for the whole call."""

    ms: int = attrs.field(validator=_in_range(1, MAX_DURATION_MS, "deadline (ms)"))
    span: Span | None = _span_field()


@attrs.frozen
class AttemptsSetting:
    """``attempts=10``: the cap on total requests."""

    count: int = attrs.field(validator=_in_range(1, MAX_LIMIT, "attempts"))
    span: Span | None = _span_field()


def _methods_ok(_inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    if not value or any(not m or m != m.upper() or not m.isascii() for m in value):
        raise ValueError(f"methods must be upper-case method names (got {value!r})")
    if len(set(value)) != len(value):
        raise ValueError(f"methods may not repeat a method (got {value!r})")


@attrs.frozen
class MethodsSetting:
    """``methods=GET,PUT`` (``None`` stands for ``*``: every method)."""

    methods: tuple[str, ...] | None = attrs.field(
        converter=attrs.converters.optional(_to_tuple), validator=_methods_ok
    )
    span: Span | None = _span_field()


@attrs.frozen
class PaceSetting:
    """``pace=on`` / ``pace=off``: pre-emptive pacing from rate-limit headers.

    With pacing on, a response that says the quota is spent (``Policy.hold``) holds its
    origin for every call sharing the adapter until the quota resets.  ``pace=off`` is
    the default; written explicitly it is kept (and rendered), as ``methods=*`` is.
    """

    on: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    span: Span | None = _span_field()


def _check_percent(_inst: object, _attr: attrs.Attribute[Any], value: Fraction) -> None:
    if not isinstance(value, Fraction) or not 0 <= value <= MAX_BUDGET_PERCENT:
        raise ValueError(f"budget must be between 0% and {MAX_BUDGET_PERCENT}% (got {value!r})")
    if (value * 1000).denominator != 1:
        raise ValueError(f"budget may have at most three decimals (got {float(value)}%)")


@attrs.frozen
class BudgetSetting:
    """``budget=20%``: retries per origin ≤ that share of first attempts (+ a floor).

    ``percent`` is exact (a ``Fraction``, at most three decimals); ``Policy.budget`` is
    the ratio (``percent / 100``).
    """

    percent: Fraction = attrs.field(converter=_to_fraction, validator=_check_percent)
    span: Span | None = _span_field()


Setting: TypeAlias = (
    TimeoutSetting
    | DeadlineSetting
    | AttemptsSetting
    | MethodsSetting
    | PaceSetting
    | BudgetSetting
)
_SETTING_TYPES = (
    TimeoutSetting,
    DeadlineSetting,
    AttemptsSetting,
    MethodsSetting,
    PaceSetting,
    BudgetSetting,
)


@attrs.frozen
class PresetRef:
    """``@name``: a named set of rules from the rules library, inserted in its place."""

    name: str
    rules: tuple[Rule, ...] = attrs.field(converter=_to_tuple)
    span: Span | None = _span_field()


Item: TypeAlias = Rule | Setting | PresetRef

#: The kinds of outcome a matcher can match (what ``Policy`` equality groups rules by).
_KINDS = ("status", "timeout", "connect", "reset", "error")


def _kind_of(m: Matcher) -> str:
    return m.word if isinstance(m, _FAILURE_MATCHERS) else "status"


def _items_ok(_inst: object, _attr: attrs.Attribute[Any], items: tuple[Item, ...]) -> None:
    seen: set[type] = set()
    for item in items:
        if isinstance(item, _SETTING_TYPES):
            if type(item) in seen:
                raise ValueError(f"setting {type(item).__name__} given twice")
            seen.add(type(item))


class _Cache:
    """Per-policy derived data (the compiled evaluator), excluded from eq, hash and repr.

    Filled once, lazily; a race between threads compiles twice and keeps either result,
    which is harmless because compiling is pure.
    """

    __slots__ = ("compiled", "pacer")

    def __init__(self) -> None:
        self.compiled: Compiled | None = None
        self.pacer: Pacer | None = None


@attrs.frozen(eq=False)
class Policy:
    """A parsed policy: its items in source order.

    ``str(policy)`` is the canonical form (SPEC §1.3).  ``decide`` and friends are
    provided by the evaluator (``Compiled``, in ``policy.evaluate._evaluate``).

    Two policies are equal when they decide alike for the same reason: the same settings
    (wherever they are written) and, for each kind of outcome -- statuses, ``timeout``,
    ``connect``, ``reset``, ``error`` -- the same rules and presets that can match it, in
    the same order (the order is what breaks ties between rules); ``methods=*`` and
    ``pace=off`` equal their absence.  So
    ``timeout=10s 5xx:backoff()`` equals ``5xx:backoff() timeout=10s``, and a ``timeout:``
    rule may sit before or after the status rules; ``500-599:never 5xx:backoff()`` and
    ``5xx:backoff() 500-599:never`` stay different (on 503 the later one wins).  This is
    what lets the seed's options, which have no notion of item order, round-trip.
    """

    items: tuple[Item, ...] = attrs.field(converter=_to_tuple, validator=_items_ok, default=())
    _cache: _Cache = attrs.field(
        factory=_Cache, init=False, eq=False, repr=False, hash=False, alias="_cache"
    )

    # -- equality: settings as a set, rules in order per kind of outcome ----------------

    def _eq_key(self) -> tuple[Any, ...]:
        settings: list[Any] = []
        kinds: dict[str, list[Any]] = {k: [] for k in _KINDS}
        for item in self.items:
            if isinstance(item, _SETTING_TYPES):
                # methods=* and pace=off say what leaving them out says
                if not (
                    (isinstance(item, MethodsSetting) and item.methods is None)
                    or (isinstance(item, PaceSetting) and not item.on)
                ):
                    settings.append(item)
                continue
            rules = item.rules if isinstance(item, PresetRef) else (item,)
            covered = {_kind_of(m) for r in rules for m in r.matchers}
            for k in _KINDS:
                if k in covered:
                    kinds[k].append(item)
        settings.sort(key=lambda x: type(x).__name__)
        return (tuple(settings), *(tuple(kinds[k]) for k in _KINDS))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        if self.items == other.items:
            return True
        return self._eq_key() == other._eq_key()

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(self._eq_key())

    # -- derived views ---------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, presets expanded in place, in order."""
        out: list[Rule] = []
        for item in self.items:
            if isinstance(item, Rule):
                out.append(item)
            elif isinstance(item, PresetRef):
                out.extend(item.rules)
        return tuple(out)

    def _setting(self, kind: type[Any]) -> Any:
        for item in self.items:
            if isinstance(item, kind):
                return item
        return None

    @property
    def timeout_ms(self) -> int | None:
        s = self._setting(TimeoutSetting)
        return None if s is None else int(s.ms)

    @property
    def deadline_ms(self) -> int | None:
        s = self._setting(DeadlineSetting)
        return None if s is None else int(s.ms)

    @property
    def attempts(self) -> int | None:
        s = self._setting(AttemptsSetting)
        return None if s is None else int(s.count)

    @property
    def methods(self) -> tuple[str, ...] | None:
        s = self._setting(MethodsSetting)
        return None if s is None else s.methods

    @property
    def pace(self) -> bool:
        """Whether pre-emptive pacing is on (``pace=on``; off by default)."""
        s = self._setting(PaceSetting)
        return s is not None and bool(s.on)

    @property
    def budget(self) -> Fraction | None:
        """The retry budget as a ratio (``budget=20%`` -> ``Fraction(1, 5)``), or ``None``."""
        s = self._setting(BudgetSetting)
        return None if s is None else Fraction(s.percent) / 100

    def hold(self, response: Any, now: float) -> float | None:
        """The wall-clock time until which ``response``'s origin is held, or ``None``.

        Only with ``pace=on`` (otherwise always ``None``): a response of any status whose
        rate-limit headers say the quota is spent -- a header family's ``remaining: 0``
        with its reset, the ``RateLimit`` field with ``r=0``, or ``Retry-After`` on a 429
        or 503 -- holds until the quota resets, measured as the ``headers`` strategy
        measures waits (absolute times against the response's ``Date``), and never for
        longer than the matching strategy's ``max``.  Pure: ``now`` is wall-clock
        seconds, as for ``decide``.  See ``policy.evaluate._pace`` for the exact rules.
        """
        if not self.pace:
            return None
        pacer = self._cache.pacer
        if pacer is None:
            from ..evaluate._pace import Pacer

            pacer = self._cache.pacer = Pacer(self)
        return pacer.hold(response, now)

    def quota(self, response: Any, now: float) -> tuple[int, float] | None:
        """``(remaining, until)``: the requests left before ``response``'s quota resets.

        Only with ``pace=on`` (otherwise always ``None``): a response of any status whose
        header family (as for ``hold``) says ``remaining: N`` (``N >= 0``) with a usable
        reset gives ``N`` and the wall-clock reset time (``Date``-corrected, capped as a
        hold is); the family with the fewest requests left wins.  ``None`` when no family
        gives both, or the reset is already past.  Adapters spend one unit of it per
        request sent to the origin and wait for the reset when none is left.
        """
        if not self.pace:
            return None
        pacer = self._cache.pacer
        if pacer is None:
            from ..evaluate._pace import Pacer

            pacer = self._cache.pacer = Pacer(self)
        return pacer.quota(response, now)

    def __str__(self) -> str:
        from ._render import render

        return render(self)

    # -- evaluation (SPEC §2.6); the work is done by the compiled form -----------------

    def compiled(self) -> Compiled:
        """The compiled evaluator for this policy (built once, then cached)."""
        c = self._cache.compiled
        if c is None:
            from ..evaluate._evaluate import Compiled

            c = self._cache.compiled = Compiled(self)
        return c

    def start(self, *, now: float) -> AttemptState:
        """The state before the first request of a call that starts at ``now``."""
        return self.compiled().start(now)

    @property
    def decide(self) -> Decide:
        """``decide(state, outcome, *, now, rand=random.random, method="GET")``.

        Decide what to do after ``outcome``: ``Retry``, ``GiveUp`` or ``Accept``.  The
        attribute is the compiled policy's decision function itself, so calling
        ``policy.decide(...)`` goes straight to it (no wrapper on the hot path).
        """
        c = self._cache.compiled
        if c is None:
            c = self.compiled()
        return c.decide

    def schedule(self, outcome: Outcome) -> Schedule:
        """The delay envelope (min, max seconds) of each retry ``outcome`` can get."""
        return self.compiled().schedule(outcome)

    def worst_case(self) -> WorstCase:
        """The longest total wait and the most requests one call can take."""
        return self.compiled().worst_case()

    def to_options(self) -> dict[str, Any]:
        """The seed's ``{"retry": ..., "timeout": ...}`` options for this policy."""
        from ._options import to_options

        return to_options(self)


# --- fast constructors for the parser ---------------------------------------------------
#
# The validation pass (``_validate``) checks every value before it builds a node, so the
# parser builds nodes through these: the same fields as the attrs ``__init__`` sets, but
# without running the validators, converters and post-init checks a second time.  Code
# that builds an AST by hand goes through the classes, which keep every check.

_new = object.__new__
_set = object.__setattr__
_tuple_new = tuple.__new__

#: A fixed delay stores factor 1 (SPEC §1.2), as ``Backoff.__attrs_post_init__`` does.
_ONE = Fraction(1)


def _make_span(
    start: int, end: int, line: int, column: int, end_line: int, end_column: int
) -> Span:
    return _tuple_new(Span, (start, end, line, column, end_line, end_column))


_Node = TypeVar(
    "_Node",
    StatusCode,
    StatusRange,
    StatusClass,
    AllErrors,
    OnTimeout,
    OnConnect,
    OnReset,
    OnError,
    Backoff,
    Headers,
    Never,
    Rule,
)


_DEFAULTS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _defaults(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """``(field, default)`` of each field of ``cls``, read from its attrs definition.

    The one source of the defaults: a field the parser did not see takes the value the
    class declares (``attrs.NOTHING`` for a required field, which the parser always gives).
    """
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = tuple((f.name, f.default) for f in attrs.fields(cls))
    return found


def default_of(cls: type[Any], name: str) -> Any:
    """The declared default of field ``name`` of ``cls`` (e.g. ``Backoff``'s ``min_ms``)."""
    return dict(_defaults(cls))[name]


def _build(cls: type[_Node], /, **values: Any) -> _Node:
    """A node of ``cls`` with ``values`` (already validated) and declared defaults."""
    node = _new(cls)
    for name, default in _defaults(cls):
        _set(node, name, values.get(name, default))
    return node


def _make_backoff(**values: Any) -> Backoff:
    """A ``Backoff``; a fixed delay stores factor 1, as ``__attrs_post_init__`` does."""
    node = _build(Backoff, **values)
    if node.min_ms == node.max_ms:
        _set(node, "factor", _ONE)
    return node


def _make_policy(items: tuple[Item, ...]) -> Policy:
    node = _new(Policy)
    _set(node, "items", items)
    _set(node, "_cache", _Cache())
    return node
