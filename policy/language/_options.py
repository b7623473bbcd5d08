"""The seed's option objects, both ways (SPEC §2.7).

The *background fetch* API this project grew out of configures retries with two plain
objects: ``retry`` maps status patterns (``"429"``, ``"500-599"``, ``"5xx"``, comma
lists, ``"all"``) to a strategy object, and ``timeout`` holds ``durationInMs`` and an
optional backoff object for attempts that time out.  ``from_options`` reads those objects
into a ``Policy``; ``to_options`` writes a policy back out.

The conversion is strict where the seed was lax: an unknown key (``bodyFilter``), a
boolean where a number belongs, a fraction of a millisecond or a pattern that only matches
2xx is an error naming its path (``retry["5xx"].factor must be a number (got "x")``).
Every problem in the input is collected before one ``PolicyValueError`` is raised, and no
other exception escapes, whatever the input.

``from_options`` builds the items in this order: one rule per ``retry`` key, in the
mapping's order (so the later of two overlapping keys wins, as in a policy string); then
``timeout=`` and, when ``timeout.retry`` is given, the rule ``timeout:backoff(...)``.
``to_options`` always returns both keys, ``{"retry": {...}, "timeout": None | {...}}``,
so ``from_options(**p.to_options()) == p`` for every policy the seed can express that is
written in that order without presets; for any other expressible policy the result makes
the same decisions.  What the seed cannot express raises ``PolicyValueError`` naming the
construct.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ._ast import (
    MAX_DURATION_MS,
    MAX_FACTOR,
    MAX_LIMIT,
    TIMEOUT_MAX_MS,
    TIMEOUT_MIN_MS,
    AllErrors,
    AttemptsSetting,
    Backoff,
    BudgetSetting,
    DeadlineSetting,
    Headers,
    Item,
    Jitter,
    Matcher,
    MethodsSetting,
    Never,
    OnConnect,
    OnError,
    OnReset,
    OnTimeout,
    Over,
    PaceSetting,
    Policy,
    ResetFormat,
    Rule,
    StatusClass,
    StatusCode,
    StatusRange,
    TimeoutSetting,
)
from ._errors import PolicyValueError, Problem
from ._render import percent, render_matcher

__all__ = ["from_options", "to_options"]

# --- the seed's vocabulary --------------------------------------------------------------

_STRATEGY_KEYS = ("strategy", "type")
_BACKOFF_KEYS = ("limit", "minTimeoutInMs", "maxTimeoutInMs", "factor", "randomize")
_HEADERS_KEYS = ("limitHeader", "remainingHeader", "resetHeader", "resetFormat")
_ALL_KEYS = _STRATEGY_KEYS + _BACKOFF_KEYS + _HEADERS_KEYS
_TIMEOUT_KEYS = ("durationInMs", "retry")

#: The seed's defaults for a backoff object (SPEC §2.7).
_DEFAULT_LIMIT = 5
_DEFAULT_MIN_MS = 1000
_DEFAULT_MAX_MS = 60_000
_DEFAULT_FACTOR = Fraction(9, 5)

#: Reset formats by name: the seed's names, then this project's own.
_SEED_FORMATS = {
    "unix_timestamp": ResetFormat.EPOCH,
    "unix_timestamp_in_ms": ResetFormat.EPOCH_MS,
    "iso_8601": ResetFormat.ISO,
    "iso_8601_duration_openai_variant": ResetFormat.DURATION,
}
_FORMATS = {**_SEED_FORMATS, **{f.value: f for f in ResetFormat}}
_FORMAT_OUT = {fmt: name for name, fmt in _SEED_FORMATS.items()}

_CODE = re.compile(r"[0-9]{3}", re.ASCII)
_RANGE = re.compile(r"([0-9]{3})-([0-9]{3})", re.ASCII)
_CLASS = re.compile(r"([0-9])xx", re.ASCII | re.IGNORECASE)
#: Header names the policy language can spell (its word terminal), so ``str(policy)``
#: of a converted policy always parses back.
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*", re.ASCII)


class _Problems:
    """The problems found so far; ``raise_if_any`` raises them all at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise PolicyValueError("", [Problem(m, 1, 1, 2) for m in self.messages])


def _seq(values: list[Any]) -> Any:
    """A tuple for an attrs field with ``converter=tuple`` (which mypy cannot type)."""
    return tuple(values)


def _show(value: object, depth: int = 0) -> str:
    """A short JSON-like rendering of any value for a message; never raises."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 64:
            digits = int(value.bit_length() * 0.30103)
            return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        text = json.dumps(value[:40], ensure_ascii=False)
        return text[:-1] + '…"' if len(value) > 40 else text
    if depth >= 1:
        return "{…}" if isinstance(value, Mapping) else "[…]"
    if isinstance(value, Mapping):
        try:
            pairs = [f"{_show(k, 1)}: {_show(v, 1)}" for k, v in list(value.items())[:3]]
            more = ", …" if len(value) > 3 else ""
        except Exception:  # a hostile mapping still gets a message
            return "an object"
        return "{" + ", ".join(pairs) + more + "}"
    if isinstance(value, list | tuple):
        parts = [_show(v, 1) for v in value[:3]]
        return "[" + ", ".join(parts) + (", …" if len(value) > 3 else "") + "]"
    return f"a {type(value).__name__}"


def _key_path(key: object) -> str:
    """``retry["5xx"]``: the path of one retry entry, as a user would index it."""
    return f"retry[{_show(key)}]"


def _field(key: str) -> str:
    """An option name for a path: as written, unless too long or odd to print bare."""
    return key if len(key) <= 40 and key.isprintable() and key.strip() == key else _show(key)


# --- reading: from_options ---------------------------------------------------------------


def from_options(retry: Any = None, timeout: Any = None) -> Policy:
    """The policy for the seed's ``retry`` and ``timeout`` options (SPEC §2.7).

    ``retry`` maps status patterns to strategy objects (``{"strategy": "backoff",
    "limit": 5, ...}`` or ``{"strategy": "headers", "resetHeader": ...}``); ``timeout``
    is ``{"durationInMs": 10000, "retry": {...backoff...}}``.  Either may be ``None``.
    Missing fields take the seed's defaults: limit 5, 1000..60000 ms, factor 1.8 and
    ``randomize: true`` (jitter ``scale``); a missing ``resetFormat`` is ``auto``.

    Raises ``PolicyValueError`` listing every problem found, and nothing else.
    """
    problems = _Problems()
    items: list[Item] = []
    if retry is not None:
        if isinstance(retry, Mapping):
            seen: dict[tuple[Matcher, ...], object] = {}
            for key, value in retry.items():
                rule = _read_rule(key, value, problems)
                if rule is None:
                    continue
                if rule.matchers in seen:
                    # {"5xx": ..., "5XX": ...}: the earlier entry could never decide.
                    first = _key_path(seen[rule.matchers])
                    problems.add(f"{_key_path(key)} repeats the pattern of {first}")
                    continue
                seen[rule.matchers] = key
                items.append(rule)
        else:
            problems.add(
                f"retry must be an object of status patterns to strategies (got {_show(retry)})"
            )
    if timeout is not None:
        items.extend(_read_timeout(timeout, problems))
    problems.raise_if_any()
    try:
        return Policy(_seq(items))
    except ValueError as exc:  # a safety net: every check above should come first
        raise PolicyValueError("", [Problem(str(exc), 1, 1, 2)]) from None


def _read_rule(key: object, value: object, problems: _Problems) -> Rule | None:
    path = _key_path(key)
    matchers = _read_pattern(key, path, problems)
    strategy = _read_strategy(value, path, problems, timeout=False)
    if matchers is None or strategy is None:
        return None
    try:
        return Rule(_seq(matchers), _seq([strategy]))
    except ValueError as exc:
        problems.add(f"{path}: {exc}")
        return None


def _read_pattern(key: object, path: str, problems: _Problems) -> list[Matcher] | None:
    """The matchers of a pattern key (``"429"``, ``"500-599"``, ``"5xx"``, ``"all"``, lists)."""
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < 1000:
        key = str(key)  # a Python caller's {429: ...}
    if not isinstance(key, str):
        problems.add(f"{path}: a status pattern must be a string (got {_show(key)})")
        return None
    found: list[Matcher] = []
    ok = True
    for raw in key.split(","):
        part = raw.strip()
        matcher = _read_matcher(part, path, problems)
        if matcher is None:
            ok = False
        elif matcher in found:
            problems.add(f"{path} names {part} twice")
            ok = False
        else:
            found.append(matcher)
    return found if ok else None


def _read_matcher(part: str, path: str, problems: _Problems) -> Matcher | None:
    matcher: Matcher
    if part.lower() == "all":
        return AllErrors()
    if _CODE.fullmatch(part):
        code = int(part)
        if not 100 <= code <= 599:
            problems.add(f"{path}: status {part} is not between 100 and 599")
            return None
        matcher = StatusCode(code)
        only_2xx = 200 <= code <= 299
    elif m := _RANGE.fullmatch(part):
        low, high = int(m[1]), int(m[2])
        if not (100 <= low <= 599 and 100 <= high <= 599):
            problems.add(f"{path}: range {part} is not within 100-599")
            return None
        if low > high:
            problems.add(f"{path}: range low must be ≤ high (got {part})")
            return None
        matcher = StatusRange(low, high)
        only_2xx = low >= 200 and high <= 299
    elif m := _CLASS.fullmatch(part):
        digit = int(m[1])
        if not 1 <= digit <= 5:
            problems.add(f"{path}: status class {part} is not one of 1xx-5xx")
            return None
        matcher = StatusClass(digit)
        only_2xx = digit == 2
    else:
        problems.add(
            f"{path}: {_show(part)} is not a status pattern "
            "(expected 429, 500-599, 5xx, all or a comma list of them)"
        )
        return None
    if only_2xx:
        what = (
            "2xx responses are" if isinstance(matcher, StatusClass) else f"{part} is 2xx, which is"
        )
        problems.add(f"{path}: {what} never retried")
        return None
    return matcher


def _read_strategy(
    value: object, path: str, problems: _Problems, *, timeout: bool
) -> Backoff | Headers | None:
    """A strategy object; for ``timeout.retry`` a backoff object whose strategy is optional."""
    if not isinstance(value, Mapping):
        what = "a backoff object" if timeout else "a strategy object"
        problems.add(f"{path} must be {what} (got {_show(value)})")
        return None
    fields: dict[str, object] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            problems.add(f"{path} has a key that is not a string (got {_show(k)})")
        elif k not in _ALL_KEYS:
            problems.add(f"{path}.{_field(k)} is not a seed option{_did_you_mean(k, _ALL_KEYS)}")
        else:
            fields[k] = v
    kind = _strategy_kind(fields, path, problems, timeout=timeout)
    if kind is None:
        return None
    allowed = _BACKOFF_KEYS if kind == "backoff" else _HEADERS_KEYS
    for k in fields:
        if k not in allowed and k not in _STRATEGY_KEYS:
            problems.add(f"{path}.{k} is not an option of the {kind} strategy")
    if kind == "backoff":
        return _read_backoff(fields, path, problems)
    return _read_headers(fields, path, problems)


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]}?)" if close else ""


def _strategy_kind(
    fields: dict[str, object], path: str, problems: _Problems, *, timeout: bool
) -> str | None:
    named = [(k, fields[k]) for k in _STRATEGY_KEYS if k in fields]
    if not named:
        if timeout:
            return "backoff"
        problems.add(f'{path}.strategy is required ("backoff" or "headers")')
        return None
    kinds: list[str] = []
    for k, v in named:
        kind = v.lower() if isinstance(v, str) else None
        if timeout and kind != "backoff":
            problems.add(f'{path}.{k} must be "backoff" (got {_show(v)})')
            return None
        if kind not in ("backoff", "headers"):
            problems.add(f'{path}.{k} must be "backoff" or "headers" (got {_show(v)})')
            return None
        kinds.append(kind)
    if len(set(kinds)) > 1:
        problems.add(
            f"{path}: strategy and type disagree ({_show(named[0][1])} vs {_show(named[1][1])})"
        )
        return None
    return kinds[0]


def _whole(
    fields: dict[str, object],
    key: str,
    path: str,
    lo: int,
    hi: int,
    default: int,
    problems: _Problems,
) -> int | None:
    """A whole number in [lo, hi]; an integral float (JSON has one number type) is fine."""
    if key not in fields:
        return default
    value = fields[key]
    where = f"{path}.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"{where} must be a number (got {_show(value)})")
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.add(f"{where} must be a finite number (got {_show(value)})")
            return None
        if not value.is_integer():
            unit = " of milliseconds" if key.endswith("Ms") else ""
            problems.add(f"{where} must be a whole number{unit} (got {_show(value)})")
            return None
    if not lo <= value <= hi:
        problems.add(f"{where} must be between {lo} and {hi} (got {_show(value)})")
        return None
    return int(value)


def _read_factor(fields: dict[str, object], path: str, problems: _Problems) -> Fraction | None:
    """The factor as an exact fraction of its decimal text: 1.8 is exactly 9/5."""
    if "factor" not in fields:
        return _DEFAULT_FACTOR
    value = fields["factor"]
    where = f"{path}.factor"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"{where} must be a number (got {_show(value)})")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.add(f"{where} must be a finite number (got {_show(value)})")
        return None
    if not 1 <= value <= MAX_FACTOR:
        problems.add(f"{where} must be between 1 and {MAX_FACTOR} (got {_show(value)})")
        return None
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def _read_backoff(fields: dict[str, object], path: str, problems: _Problems) -> Backoff | None:
    before = len(problems.messages)
    limit = _whole(fields, "limit", path, 0, MAX_LIMIT, _DEFAULT_LIMIT, problems)
    lo = _whole(fields, "minTimeoutInMs", path, 0, MAX_DURATION_MS, _DEFAULT_MIN_MS, problems)
    hi = _whole(fields, "maxTimeoutInMs", path, 0, MAX_DURATION_MS, _DEFAULT_MAX_MS, problems)
    factor = _read_factor(fields, path, problems)
    randomize = fields.get("randomize", True)
    if not isinstance(randomize, bool):
        problems.add(f"{path}.randomize must be true or false (got {_show(randomize)})")
    if lo is not None and hi is not None and lo > hi:
        problems.add(f"{path}.minTimeoutInMs must be ≤ maxTimeoutInMs (got {lo} > {hi})")
    if len(problems.messages) > before:
        return None
    assert limit is not None and lo is not None and hi is not None and factor is not None
    jitter = Jitter.SCALE if randomize else Jitter.NONE
    return Backoff(limit=limit, min_ms=lo, max_ms=hi, factor=factor, jitter=jitter)


def _read_headers(fields: dict[str, object], path: str, problems: _Problems) -> Headers | None:
    before = len(problems.messages)
    names: dict[str, str | None] = {}
    for key in ("limitHeader", "remainingHeader", "resetHeader"):
        names[key] = None
        if key not in fields:
            continue
        value = fields[key]
        if not isinstance(value, str):
            problems.add(f"{path}.{key} must be a string (got {_show(value)})")
        elif "*" in value:
            problems.add(f"{path}.{key} must be one header name, not a family (got {_show(value)})")
        elif not _HEADER_NAME.fullmatch(value):
            problems.add(
                f"{path}.{key} must be a header name such as x-ratelimit-reset (got {_show(value)})"
            )
        else:
            names[key] = value.lower()
    fmt = ResetFormat.AUTO
    if "resetFormat" in fields:
        value = fields["resetFormat"]
        found = _FORMATS.get(value.lower()) if isinstance(value, str) else None
        if found is None:
            known = ", ".join(_FORMATS)
            problems.add(f"{path}.resetFormat must be one of {known} (got {_show(value)})")
        else:
            fmt = found
    if len(problems.messages) > before:
        return None
    if all(n is None for n in names.values()):
        problems.add(
            f"{path}: the headers strategy needs limitHeader, remainingHeader or resetHeader"
        )
        return None
    return Headers(
        limit_header=names["limitHeader"],
        remaining_header=names["remainingHeader"],
        reset_header=names["resetHeader"],
        format=fmt,
    )


def _read_timeout(timeout: object, problems: _Problems) -> list[Item]:
    """``timeout=`` and, with ``timeout.retry``, the rule ``timeout:backoff(...)``."""
    if not isinstance(timeout, Mapping):
        problems.add(f"timeout must be an object {{durationInMs, retry}} (got {_show(timeout)})")
        return []
    fields: dict[str, object] = {}
    for k, v in timeout.items():
        if not isinstance(k, str):
            problems.add(f"timeout has a key that is not a string (got {_show(k)})")
        elif k not in _TIMEOUT_KEYS:
            problems.add(
                f"timeout.{_field(k)} is not a seed option{_did_you_mean(k, _TIMEOUT_KEYS)}"
            )
        else:
            fields[k] = v
    items: list[Item] = []
    if "durationInMs" not in fields:
        problems.add("timeout.durationInMs is required")
    else:
        ms = _whole(fields, "durationInMs", "timeout", TIMEOUT_MIN_MS, TIMEOUT_MAX_MS, 0, problems)
        if ms is not None:
            items.append(TimeoutSetting(ms))
    if "retry" in fields:
        backoff = _read_strategy(fields["retry"], "timeout.retry", problems, timeout=True)
        if backoff is not None:
            items.append(Rule(_seq([OnTimeout()]), _seq([backoff])))
    return items


# --- writing: to_options -----------------------------------------------------------------


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def to_options(policy: Policy) -> dict[str, Any]:
    """The seed's options for ``policy``: ``{"retry": {...}, "timeout": None | {...}}``.

    Presets are expanded.  ``retry`` maps one comma-list key per rule (``"429,503"``) to
    its strategy object, always with ``strategy``; ``limit`` is left out when it is the
    default 5, ``resetFormat`` when it is ``auto``; delays are integer milliseconds and
    ``factor`` an int when whole, else a float.  ``timeout`` is ``None`` without a
    ``timeout=`` setting, else ``{"durationInMs": ...}`` plus ``"retry"`` (a backoff
    object without ``strategy``) for a ``timeout:backoff(...)`` rule.

    Raises ``PolicyValueError`` naming every construct the seed cannot express.
    """
    problems = _Problems()
    retry: dict[str, Any] = {}
    timeout_rules: list[Rule] = []
    for item in policy.items:
        if isinstance(item, DeadlineSetting):
            problems.add("deadline= has no seed option")
        elif isinstance(item, AttemptsSetting):
            problems.add("attempts= has no seed option")
        elif isinstance(item, PaceSetting) and item.on:
            problems.add("pace=on has no seed option (the seed does not pace requests)")
        elif isinstance(item, BudgetSetting):
            problems.add(f"budget={percent(item.percent)} has no seed option")
        elif isinstance(item, MethodsSetting) and item.methods is not None:
            problems.add(
                f"methods={','.join(item.methods)} has no seed option "
                "(the seed retries every method)"
            )
    for rule in policy.rules:
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
                    f"{_key_path(key)}: {render_matcher(m)} has no seed option "
                    "(2xx responses are never retried)"
                )
        path = _key_path(key)
        if key in retry:
            problems.add(f"{path}: a second rule for one pattern has no seed option")
        retry[key] = _write_strategies(rule, path, problems, timeout=False)
    timeout: dict[str, Any] | None = None
    ms = policy.timeout_ms
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
    rule: Rule, path: str, problems: _Problems, *, timeout: bool
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


def _write_backoff(b: Backoff, path: str, problems: _Problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if b.jitter not in (Jitter.SCALE, Jitter.NONE):
        written = "jitter (full jitter)" if b.jitter is Jitter.FULL else f"jitter={b.jitter.value}"
        problems.add(
            f"{path}: {written} has no seed option: the seed's randomize: true is "
            "jitter=scale (write jitter=scale to convert)"
        )
    if b.limit != _DEFAULT_LIMIT:
        out["limit"] = b.limit
    factor = _number(b.factor)
    if Fraction(repr(factor)) != b.factor:
        problems.add(f"{path}: factor {b.factor} has no exact decimal form for the seed")
    out["minTimeoutInMs"] = b.min_ms
    out["maxTimeoutInMs"] = b.max_ms
    out["factor"] = factor
    out["randomize"] = b.jitter is Jitter.SCALE
    return out


def _write_headers(h: Headers, path: str, problems: _Problems) -> dict[str, Any]:
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
        seed_name = _FORMAT_OUT.get(h.format)
        if seed_name is None:
            problems.add(f"{path}: headers format={h.format.value} has no seed resetFormat")
        else:
            out["resetFormat"] = seed_name
    return out
