"""Writing a policy as the seed's option objects: ``Policy.to_options`` (SPEC §2.7).

The reverse of ``_options``: one comma-list key per rule, strategy objects with the
seed's camelCase fields, ``timeout`` from ``timeout=`` and a ``timeout:`` rule.  Anything
the seed cannot express is collected and raised as one ``PolicyValueError`` naming each
construct.  It reads a policy's items, not the ``Policy`` value, so ``Policy`` can offer
``to_options`` without an import circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ._ast import (
    AllErrors,
    Backoff,
    Headers,
    Jitter,
    Matcher,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Over,
    ResetFormat,
    Rule,
    StatusClass,
    StatusCode,
    StatusRange,
)
from ._render import percent, render_item, render_matcher
from ._seed import DEFAULT_LIMIT, FORMAT_OUT, Problems, key_path
from ._settings import (
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
    rules_of,
    setting_of,
)

__all__ = ["to_options"]


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def to_options(
    items: Sequence[Item], inherited: Sequence[tuple[Setting, str]] = ()
) -> dict[str, Any]:
    """The seed's options for a policy's ``items``: ``{"retry": {...}, "timeout": None | {...}}``.

    Presets are expanded.  ``retry`` maps one comma-list key per rule (``"429,503"``) to
    its strategy object, always with ``strategy``; ``limit`` is left out when it is the
    default 5, ``resetFormat`` when it is ``auto``; delays are integer milliseconds and
    ``factor`` an int when whole, else a float.  ``timeout`` is ``None`` without a
    ``timeout=`` setting, else ``{"durationInMs": ...}`` plus ``"retry"`` (a backoff
    object without ``strategy``) for a ``timeout:backoff(...)`` rule.

    ``inherited`` are the settings presets give, as ``(setting, preset name)``
    (``Policy.inherited``): they count as if written, and a problem names the preset
    (``attempts=3 (from @openai) has no seed option``; write ``attempts=``... to change).

    Raises ``PolicyValueError`` naming every construct the seed cannot express.
    """
    problems = Problems()
    retry: dict[str, Any] = {}
    timeout_rules: list[Rule] = []
    settings = [(i, "") for i in items if not isinstance(i, Rule | PresetRef)]
    settings += [(s, f" (from @{name})") for s, name in inherited]
    for item, source in settings:
        if isinstance(item, DeadlineSetting):
            problems.add(f"deadline={source} has no seed option")
        elif isinstance(item, AttemptsSetting):
            problems.add(f"attempts={item.count if source else ''}{source} has no seed option")
        elif isinstance(item, PaceSetting) and item.on:
            word = "pace=adaptive" if item.adaptive else "pace=on"
            problems.add(f"{word}{source} has no seed option (the seed does not pace requests)")
        elif isinstance(item, BreakerSetting):
            problems.add(
                f"{render_item(item)} has no seed option (the seed has no circuit breaker)"
            )
        elif isinstance(item, SseSetting) and item.on:
            problems.add(
                f"sse=on{source} has no seed option (the seed does not read event streams)"
            )
        elif isinstance(item, BudgetSetting):
            problems.add(f"budget={percent(item.percent)}{source} has no seed option")
        elif isinstance(item, MethodsSetting) and item.methods is not None:
            problems.add(
                f"methods={','.join(item.methods)}{source} has no seed option "
                "(the seed retries every method)"
            )
    for rule in rules_of(items):
        keys = [render_matcher(m) for m in rule.matchers]
        key = ",".join(keys)
        if rule.methods is not None:
            problems.add(
                f'rule "{key}": a method limit [{",".join(rule.methods)}] has no seed option '
                "(the seed retries every method)"
            )
        if any(isinstance(m, OnTimeout) for m in rule.matchers):
            if len(rule.matchers) > 1:
                problems.add(f'rule "{key}": timeout shares no rule with others in seed options')
            else:
                timeout_rules.append(rule)
            continue
        for m in rule.matchers:
            if isinstance(m, OnConnect | OnReset | OnError):
                problems.add(f'rule "{key}": {render_matcher(m)} has no seed option')
            elif not isinstance(m, AllErrors) and _matches_only_2xx(m):
                problems.add(
                    f"{key_path(key)}: {render_matcher(m)} has no seed option "
                    "(2xx responses are never retried)"
                )
        path = key_path(key)
        if key in retry:
            problems.add(f"{path}: a second rule for one pattern has no seed option")
        retry[key] = _write_strategies(rule, path, problems, timeout=False)
    timeout: dict[str, Any] | None = None
    setting = setting_of([s for s, _ in settings], TimeoutSetting)
    ms = None if setting is None else setting.ms
    if ms is not None:
        timeout = {"durationInMs": ms}
    if len(timeout_rules) > 1:
        problems.add("timeout.retry: a second timeout rule has no seed option")
    if timeout_rules:
        written = _write_strategies(timeout_rules[-1], "timeout.retry", problems, timeout=True)
        if timeout is None:
            problems.add(
                "timeout.retry: a timeout rule needs a timeout= setting "
                "(the seed's timeout.retry lives beside timeout.durationInMs)"
            )
        else:
            timeout["retry"] = written
    problems.raise_if_any()
    return {"retry": retry, "timeout": timeout}


def _matches_only_2xx(m: Matcher) -> bool:
    if isinstance(m, StatusCode):
        return 200 <= m.code <= 299
    if isinstance(m, StatusRange):
        return m.low >= 200 and m.high <= 299
    return isinstance(m, StatusClass) and m.digit == 2


def _write_strategies(
    rule: Rule, path: str, problems: Problems, *, timeout: bool
) -> dict[str, Any]:
    if len(rule.strategies) > 1:
        problems.add(f"{path}: a fallback chain (a|b) has no seed option")
        return {}
    strategy = rule.strategies[0]
    if isinstance(strategy, Never):
        problems.add(f"{path}: never has no seed option")
        return {}
    if isinstance(strategy, Headers):
        if timeout:
            problems.add(f"{path}: headers has no seed option here (only backoff)")
            return {}
        return _write_headers(strategy, path, problems)
    out = _write_backoff(strategy, path, problems)
    return out if timeout else {"strategy": "backoff", **out}


def _write_backoff(b: Backoff, path: str, problems: Problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if b.jitter not in (Jitter.SCALE, Jitter.NONE):
        written = "jitter (full jitter)" if b.jitter is Jitter.FULL else f"jitter={b.jitter.value}"
        problems.add(
            f"{path}: {written} has no seed option: the seed's randomize: true is "
            "jitter=scale (write jitter=scale to convert)"
        )
    if b.limit != DEFAULT_LIMIT:
        out["limit"] = b.limit
    factor = _number(b.factor)
    if Fraction(repr(factor)) != b.factor:
        problems.add(f"{path}: factor {b.factor} has no exact decimal form for the seed")
    out["minTimeoutInMs"] = b.min_ms
    out["maxTimeoutInMs"] = b.max_ms
    out["factor"] = factor
    out["randomize"] = b.jitter is Jitter.SCALE
    return out


def _write_headers(h: Headers, path: str, problems: Problems) -> dict[str, Any]:
    default = Headers()
    if not h.named:
        problems.add(f"{path}: headers() without header names has no seed option")
    if h.limit != default.limit:
        problems.add(f"{path}: headers limit={h.limit} has no seed option (only the default 5)")
    if h.max_ms != default.max_ms:
        problems.add(f"{path}: headers max={h.max_ms}ms has no seed option (only the default 15m)")
    if h.over is not Over.GIVEUP:
        problems.add(f"{path}: headers over={h.over.value} has no seed option")
    if h.jitter_ms:
        problems.add(f"{path}: headers jitter={h.jitter_ms}ms has no seed option")
    out: dict[str, Any] = {"strategy": "headers"}
    for key, name in (
        ("limitHeader", h.limit_header),
        ("remainingHeader", h.remaining_header),
        ("resetHeader", h.reset_header),
    ):
        if name is not None:
            out[key] = name
    if h.format is not ResetFormat.AUTO:
        seed_name = FORMAT_OUT.get(h.format)
        if seed_name is None:
            problems.add(f"{path}: headers format={h.format.value} has no seed resetFormat")
        else:
            out["resetFormat"] = seed_name
    return out
