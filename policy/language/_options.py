"""The seed's option objects, both ways (SPEC §2.7).

The *background fetch* API this project grew out of configures retries with two plain
objects: ``retry`` maps status patterns (``"429"``, ``"500-599"``, ``"5xx"``, comma
lists, ``"all"``) to a strategy object, and ``timeout`` holds ``durationInMs`` and an
optional backoff object for attempts that time out.  ``from_options`` reads those objects
into a ``Policy``; ``to_options`` (in ``_options_out``) writes a policy back out.

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
import math
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
    Backoff,
    Headers,
    Jitter,
    Matcher,
    OnTimeout,
    ResetFormat,
    Rule,
    StatusClass,
    StatusCode,
    StatusRange,
)
from ._errors import PolicyValueError, Problem
from ._policy import Policy
from ._seed import (
    ALL_KEYS,
    BACKOFF_KEYS,
    CLASS,
    CODE,
    DEFAULT_FACTOR,
    DEFAULT_LIMIT,
    DEFAULT_MAX_MS,
    DEFAULT_MIN_MS,
    FORMATS,
    HEADER_NAME,
    HEADERS_KEYS,
    RANGE,
    STRATEGY_KEYS,
    TIMEOUT_KEYS,
    Problems,
    field,
    key_path,
    seq,
    show,
)
from ._settings import (
    Item,
    TimeoutSetting,
)

__all__ = ["from_options"]

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
    problems = Problems()
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
                    first = key_path(seen[rule.matchers])
                    problems.add(f"{key_path(key)} repeats the pattern of {first}")
                    continue
                seen[rule.matchers] = key
                items.append(rule)
        else:
            problems.add(
                f"retry must be an object of status patterns to strategies (got {show(retry)})"
            )
    if timeout is not None:
        items.extend(_read_timeout(timeout, problems))
    problems.raise_if_any()
    try:
        return Policy(seq(items))
    except ValueError as exc:  # a safety net: every check above should come first
        raise PolicyValueError("", [Problem(str(exc), 1, 1, 2)]) from None


def _read_rule(key: object, value: object, problems: Problems) -> Rule | None:
    path = key_path(key)
    matchers = _read_pattern(key, path, problems)
    strategy = _read_strategy(value, path, problems, timeout=False)
    if matchers is None or strategy is None:
        return None
    try:
        return Rule(seq(matchers), seq([strategy]))
    except ValueError as exc:
        problems.add(f"{path}: {exc}")
        return None


def _read_pattern(key: object, path: str, problems: Problems) -> list[Matcher] | None:
    """The matchers of a pattern key (``"429"``, ``"500-599"``, ``"5xx"``, ``"all"``, lists)."""
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < 1000:
        key = str(key)  # a Python caller's {429: ...}
    if not isinstance(key, str):
        problems.add(f"{path}: a status pattern must be a string (got {show(key)})")
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


def _read_matcher(part: str, path: str, problems: Problems) -> Matcher | None:
    matcher: Matcher
    if part.lower() == "all":
        return AllErrors()
    if CODE.fullmatch(part):
        code = int(part)
        if not 100 <= code <= 599:
            problems.add(f"{path}: status {part} is not between 100 and 599")
            return None
        matcher = StatusCode(code)
        only_2xx = 200 <= code <= 299
    elif m := RANGE.fullmatch(part):
        low, high = int(m[1]), int(m[2])
        if not (100 <= low <= 599 and 100 <= high <= 599):
            problems.add(f"{path}: range {part} is not within 100-599")
            return None
        if low > high:
            problems.add(f"{path}: range low must be ≤ high (got {part})")
            return None
        matcher = StatusRange(low, high)
        only_2xx = low >= 200 and high <= 299
    elif m := CLASS.fullmatch(part):
        digit = int(m[1])
        if not 1 <= digit <= 5:
            problems.add(f"{path}: status class {part} is not one of 1xx-5xx")
            return None
        matcher = StatusClass(digit)
        only_2xx = digit == 2
    else:
        problems.add(
            f"{path}: {show(part)} is not a status pattern "
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
    value: object, path: str, problems: Problems, *, timeout: bool
) -> Backoff | Headers | None:
    """A strategy object; for ``timeout.retry`` a backoff object whose strategy is optional."""
    if not isinstance(value, Mapping):
        what = "a backoff object" if timeout else "a strategy object"
        problems.add(f"{path} must be {what} (got {show(value)})")
        return None
    fields: dict[str, object] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            problems.add(f"{path} has a key that is not a string (got {show(k)})")
        elif k not in ALL_KEYS:
            problems.add(f"{path}.{field(k)} is not a seed option{_did_you_mean(k, ALL_KEYS)}")
        else:
            fields[k] = v
    kind = _strategy_kind(fields, path, problems, timeout=timeout)
    if kind is None:
        return None
    allowed = BACKOFF_KEYS if kind == "backoff" else HEADERS_KEYS
    for k in fields:
        if k not in allowed and k not in STRATEGY_KEYS:
            problems.add(f"{path}.{k} is not an option of the {kind} strategy")
    if kind == "backoff":
        return _read_backoff(fields, path, problems)
    return _read_headers(fields, path, problems)


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]}?)" if close else ""


def _strategy_kind(
    fields: dict[str, object], path: str, problems: Problems, *, timeout: bool
) -> str | None:
    named = [(k, fields[k]) for k in STRATEGY_KEYS if k in fields]
    if not named:
        if timeout:
            return "backoff"
        problems.add(f'{path}.strategy is required ("backoff" or "headers")')
        return None
    kinds: list[str] = []
    for k, v in named:
        kind = v.lower() if isinstance(v, str) else None
        if timeout and kind != "backoff":
            problems.add(f'{path}.{k} must be "backoff" (got {show(v)})')
            return None
        if kind not in ("backoff", "headers"):
            problems.add(f'{path}.{k} must be "backoff" or "headers" (got {show(v)})')
            return None
        kinds.append(kind)
    if len(set(kinds)) > 1:
        problems.add(
            f"{path}: strategy and type disagree ({show(named[0][1])} vs {show(named[1][1])})"
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
    problems: Problems,
) -> int | None:
    """A whole number in [lo, hi]; an integral float (JSON has one number type) is fine."""
    if key not in fields:
        return default
    value = fields[key]
    where = f"{path}.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"{where} must be a number (got {show(value)})")
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.add(f"{where} must be a finite number (got {show(value)})")
            return None
        if not value.is_integer():
            unit = " of milliseconds" if key.endswith("Ms") else ""
            problems.add(f"{where} must be a whole number{unit} (got {show(value)})")
            return None
    if not lo <= value <= hi:
        problems.add(f"{where} must be between {lo} and {hi} (got {show(value)})")
        return None
    return int(value)


def _read_factor(fields: dict[str, object], path: str, problems: Problems) -> Fraction | None:
    """The factor as an exact fraction of its decimal text: 1.8 is exactly 9/5."""
    if "factor" not in fields:
        return DEFAULT_FACTOR
    value = fields["factor"]
    where = f"{path}.factor"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"{where} must be a number (got {show(value)})")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.add(f"{where} must be a finite number (got {show(value)})")
        return None
    if not 1 <= value <= MAX_FACTOR:
        problems.add(f"{where} must be between 1 and {MAX_FACTOR} (got {show(value)})")
        return None
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def _read_backoff(fields: dict[str, object], path: str, problems: Problems) -> Backoff | None:
    before = len(problems.messages)
    limit = _whole(fields, "limit", path, 0, MAX_LIMIT, DEFAULT_LIMIT, problems)
    lo = _whole(fields, "minTimeoutInMs", path, 0, MAX_DURATION_MS, DEFAULT_MIN_MS, problems)
    hi = _whole(fields, "maxTimeoutInMs", path, 0, MAX_DURATION_MS, DEFAULT_MAX_MS, problems)
    factor = _read_factor(fields, path, problems)
    randomize = fields.get("randomize", True)
    if not isinstance(randomize, bool):
        problems.add(f"{path}.randomize must be true or false (got {show(randomize)})")
    if lo is not None and hi is not None and lo > hi:
        problems.add(f"{path}.minTimeoutInMs must be ≤ maxTimeoutInMs (got {lo} > {hi})")
    if len(problems.messages) > before:
        return None
    assert limit is not None and lo is not None and hi is not None and factor is not None
    jitter = Jitter.SCALE if randomize else Jitter.NONE
    return Backoff(limit=limit, min_ms=lo, max_ms=hi, factor=factor, jitter=jitter)


def _read_headers(fields: dict[str, object], path: str, problems: Problems) -> Headers | None:
    before = len(problems.messages)
    names: dict[str, str | None] = {}
    for key in ("limitHeader", "remainingHeader", "resetHeader"):
        names[key] = None
        if key not in fields:
            continue
        value = fields[key]
        if not isinstance(value, str):
            problems.add(f"{path}.{key} must be a string (got {show(value)})")
        elif "*" in value:
            problems.add(f"{path}.{key} must be one header name, not a family (got {show(value)})")
        elif not HEADER_NAME.fullmatch(value):
            problems.add(
                f"{path}.{key} must be a header name such as x-ratelimit-reset (got {show(value)})"
            )
        else:
            names[key] = value.lower()
    fmt = ResetFormat.AUTO
    if "resetFormat" in fields:
        value = fields["resetFormat"]
        found = FORMATS.get(value.lower()) if isinstance(value, str) else None
        if found is None:
            known = ", ".join(FORMATS)
            problems.add(f"{path}.resetFormat must be one of {known} (got {show(value)})")
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


def _read_timeout(timeout: object, problems: Problems) -> list[Item]:
    """``timeout=`` and, with ``timeout.retry``, the rule ``timeout:backoff(...)``."""
    if not isinstance(timeout, Mapping):
        problems.add(f"timeout must be an object {{durationInMs, retry}} (got {show(timeout)})")
        return []
    fields: dict[str, object] = {}
    for k, v in timeout.items():
        if not isinstance(k, str):
            problems.add(f"timeout has a key that is not a string (got {show(k)})")
        elif k not in TIMEOUT_KEYS:
            problems.add(f"timeout.{field(k)} is not a seed option{_did_you_mean(k, TIMEOUT_KEYS)}")
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
            items.append(Rule(seq([OnTimeout()]), seq([backoff])))
    return items
