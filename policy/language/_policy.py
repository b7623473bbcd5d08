"""The ``Policy`` value: a parsed policy's items, equality, and the user's facade.

``Policy`` is what ``policy.parse`` returns and what every adapter takes.  Its
evaluation methods (``start``, ``decide``, ``schedule``, ``worst_case``, ``hold``,
``quota``) are the evaluator's: the first call compiles the policy once, through the
engine that the package binds at import (``bind_engine``), and caches it.  This module
never imports the evaluator, so the language floor stays below it and data flows one
way -- text, AST, compiled evaluator, adapters -- with no import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._ast import Rule, to_tuple
from ._inherit import conflicts, effective, inherited
from ._render import render
from ._settings import (
    KINDS,
    SETTING_TYPES,
    AttemptsSetting,
    BreakerSetting,
    BudgetSetting,
    DeadlineSetting,
    Item,
    MethodsSetting,
    PaceSetting,
    PresetRef,
    Setting,
    SseSetting,
    TimeoutSetting,
    kind_of,
    rules_of,
    setting_of,
)

if TYPE_CHECKING:
    from ._cost import Cost, Quota
    from ._outcomes import AttemptState, Decide, Envelope, Outcome, WorstCase

__all__ = ["Evaluator", "Policy", "bind_engine", "new_policy"]


class Evaluator(Protocol):
    """What the evaluator provides for one policy (``policy.evaluate``'s ``Compiled``)."""

    @property
    def decide(self) -> Decide: ...

    def start(self, now: float) -> AttemptState: ...

    def schedule(self, outcome: Outcome) -> Sequence[Envelope]: ...

    def worst_case(self) -> WorstCase: ...

    def hold(self, response: Any, now: float, cost: Cost | None = None) -> float | None: ...

    def quota(self, response: Any, now: float) -> tuple[int, float] | None: ...

    def quotas(self, response: Any, now: float) -> tuple[Quota, ...]: ...


_engine: list[Callable[[Policy], Evaluator]] = []


def bind_engine(compile: Callable[[Policy], Evaluator]) -> None:
    """Set how a ``Policy`` is compiled (``policy/__init__`` binds the evaluator)."""
    _engine[:] = [compile]


def _items_ok(_inst: object, _attr: attrs.Attribute[Any], items: tuple[Item, ...]) -> None:
    seen: set[type] = set()
    for item in items:
        if isinstance(item, SETTING_TYPES):
            if type(item) in seen:
                raise ValueError(f"setting {type(item).__name__} given twice")
            seen.add(type(item))
    for c in conflicts(items):
        raise ValueError(c.message())


class _Cache:
    """Per-policy derived data (the compiled evaluator), excluded from eq, hash and repr.

    Filled once, lazily; a race between threads compiles twice and keeps either result,
    which is harmless because compiling is pure.
    """

    __slots__ = ("compiled",)

    def __init__(self) -> None:
        self.compiled: Evaluator | None = None


@attrs.frozen(eq=False)
class Policy:
    """A parsed policy: its items in source order.

    ``str(policy)`` is the canonical form (SPEC §1.3).  ``decide`` and friends are
    provided by the evaluator, compiled once on first use.

    Two policies are equal when they decide alike for the same reason: the same settings
    in force (wherever they are written, or inherited from a preset: ``@openai`` equals
    ``@openai attempts=3 sse=on``) and, for each kind of outcome -- statuses, ``timeout``,
    ``connect``, ``reset``, ``error`` -- the same rules that can match it, presets
    expanded, in the same order (the order is what breaks ties between rules);
    ``methods=*``, ``pace=off`` and ``sse=off`` equal their absence.  So
    ``timeout=10s 5xx:backoff()`` equals ``5xx:backoff() timeout=10s``, and a ``timeout:``
    rule may sit before or after the status rules; ``500-599:never 5xx:backoff()`` and
    ``5xx:backoff() 500-599:never`` stay different (on 503 the later one wins).  This is
    what lets the seed's options, which have no notion of item order, round-trip.
    """

    items: tuple[Item, ...] = attrs.field(converter=to_tuple, validator=_items_ok, default=())
    _cache: _Cache = attrs.field(
        factory=_Cache, init=False, eq=False, repr=False, hash=False, alias="_cache"
    )

    # -- equality: settings as a set, rules in order per kind of outcome ----------------

    def _eq_key(self) -> tuple[Any, ...]:
        settings: list[Any] = []
        kinds: dict[str, list[Any]] = {k: [] for k in KINDS}
        for setting in effective(self.items):
            # methods=* and pace=off say what leaving them out says
            if not (
                (isinstance(setting, MethodsSetting) and setting.methods is None)
                or (isinstance(setting, PaceSetting | SseSetting) and not setting.on)
            ):
                settings.append(setting)
        for item in self.items:
            if isinstance(item, SETTING_TYPES):
                continue
            # a preset counts as the rules it stands for
            for rule in item.rules if isinstance(item, PresetRef) else (item,):
                covered = {kind_of(m) for m in rule.matchers}
                for k in KINDS:
                    if k in covered:
                        kinds[k].append(rule)
        settings.sort(key=lambda x: type(x).__name__)
        return (tuple(settings), *(tuple(kinds[k]) for k in KINDS))

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
        return rules_of(self.items)

    def _setting(self, kind: type[Any]) -> Any:
        """The setting of ``kind`` in force: written, else inherited from a preset."""
        found = setting_of(self.items, kind)
        if found is None:
            for item in self.items:
                if type(item) is PresetRef:
                    found = setting_of(item.settings, kind)
                    if found is not None:
                        break
        return found

    @property
    def settings(self) -> tuple[Setting, ...]:
        """Every setting in force: the written ones, then those presets give (``@openai``
        gives ``attempts=3 sse=on`` unless the policy writes its own)."""
        return effective(self.items)

    @property
    def inherited(self) -> tuple[tuple[Setting, str], ...]:
        """``(setting, preset name)`` for each setting a preset gives the policy."""
        return tuple((i.setting, i.preset) for i in inherited(self.items))

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
        """Whether pre-emptive pacing is on (``pace=on`` or ``pace=adaptive``; off by
        default)."""
        s = self._setting(PaceSetting)
        return s is not None and bool(s.on)

    @property
    def adaptive(self) -> bool:
        """Whether adaptive pacing is on (``pace=adaptive``: pacing, plus a client-side
        rate limiter learnt from throttling)."""
        s = self._setting(PaceSetting)
        return s is not None and bool(s.adaptive)

    @property
    def breaker(self) -> BreakerSetting | None:
        """The circuit breaker (``breaker=5``, ``breaker=50%/1m``), or ``None``."""
        s: BreakerSetting | None = self._setting(BreakerSetting)
        return s

    @property
    def sse(self) -> bool:
        """Whether 2xx event streams are read up to their first event (``sse=on``)."""
        s = self._setting(SseSetting)
        return s is not None and bool(s.on)

    @property
    def budget(self) -> Fraction | None:
        """The retry budget as a ratio (``budget=20%`` -> ``Fraction(1, 5)``), or ``None``."""
        s = self._setting(BudgetSetting)
        return None if s is None else Fraction(s.percent) / 100

    def hold(self, response: Any, now: float, *, cost: Cost | None = None) -> float | None:
        """The wall-clock time until which ``response``'s origin is held, or ``None``.

        Only with ``pace=on`` (otherwise always ``None``): a response of any status whose
        rate-limit headers say the quota is spent -- a header family's ``remaining: 0``
        with its reset, the ``RateLimit`` field with ``r=0``, or ``Retry-After`` on a 429
        or 503 -- holds until the quota resets, measured as the ``headers`` strategy
        measures waits (absolute times against the response's ``Date``), and never for
        longer than the matching strategy's ``max``.  Pure: ``now`` is wall-clock
        seconds, as for ``decide``.  See docs/fleet.md for the exact rules.

        ``cost`` (``{"tokens": 900}``): the next request's units per family word; a
        family a key names is spent when its ``remaining`` is below those units.
        """
        if not self.pace:
            return None
        return self.compiled().hold(response, now, cost)

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
        return self.compiled().quota(response, now)

    def quotas(self, response: Any, now: float) -> tuple[Quota, ...]:
        """Every header family's quota ``response`` reports: ``Quota(family, remaining,
        until, words)`` per family whose ``remaining`` and reset are usable (read and
        capped as for ``quota``; ``remaining`` as sent, in the family's units).

        Only with ``pace=on`` (otherwise ``()``).  A pacer counts a request's cost
        against each: ``q.cost({"tokens": 900})`` is 900 for a token family, 1 for a
        family no key names.
        """
        if not self.pace:
            return ()
        return self.compiled().quotas(response, now)

    def __str__(self) -> str:
        return render(self.items)

    # -- evaluation (SPEC §2.6); the work is done by the compiled form -----------------

    def compiled(self) -> Evaluator:
        """The compiled evaluator for this policy (built once, then cached)."""
        c = self._cache.compiled
        if c is None:
            c = self._cache.compiled = _engine[0](self)
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

    def schedule(self, outcome: Outcome) -> Sequence[Envelope]:
        """The delay envelope (min, max seconds) of each retry ``outcome`` can get."""
        return self.compiled().schedule(outcome)

    def worst_case(self) -> WorstCase:
        """The longest total wait and the most requests one call can take."""
        return self.compiled().worst_case()

    def to_options(self) -> dict[str, Any]:
        """The seed's ``{"retry": ..., "timeout": ...}`` options for this policy."""
        from ._options_out import to_options

        return to_options(self.items, inherited(self.items))


def new_policy(items: tuple[Item, ...]) -> Policy:
    """A ``Policy`` of ``items`` already validated (the parser's constructor: no checks)."""
    node = object.__new__(Policy)
    object.__setattr__(node, "items", items)
    object.__setattr__(node, "_cache", _Cache())
    return node
