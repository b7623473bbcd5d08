"""The canonical form (SPEC §1.3): one string per policy, a fixed point of parsing.

Items in source order separated by one space, lower case, no comments; durations in the
largest unit in which they are ≥ 1 and exact to three decimals; factors as short
decimals; arguments in the order of the SPEC's tables; defaults omitted except that
``backoff`` always shows its limit, delays and factor.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from ._ast import (
    IDEMPOTENT,
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
    Strategy,
)
from ._breaker_setting import BREAKER_DEFAULTS
from ._settings import (
    AttemptsSetting,
    BreakerSetting,
    BudgetSetting,
    DeadlineSetting,
    Item,
    MethodsSetting,
    PaceSetting,
    PresetRef,
    SseSetting,
    TimeoutSetting,
)

__all__ = [
    "duration",
    "factor",
    "percent",
    "render",
    "render_item",
    "render_matcher",
    "render_strategy",
]

_UNITS = (("h", 3_600_000), ("m", 60_000), ("s", 1000))


def _decimal(num: int, den: int) -> str | None:
    """num/den with at most three decimals, trailing zeros dropped; None if inexact."""
    scaled, rem = divmod(num * 1000, den)
    if rem:
        return None
    whole, frac = divmod(scaled, 1000)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:03d}".rstrip("0")


def duration(ms: int) -> str:
    """``1500`` → ``'1.5s'``, ``90000`` → ``'1.5m'``, ``61000`` → ``'61s'``, ``0`` → ``'0s'``."""
    if ms == 0:
        return "0s"
    for unit, size in _UNITS:
        if ms >= size:
            text = _decimal(ms, size)
            if text is not None:
                return text + unit
    return f"{ms}ms"


def factor(value: Fraction) -> str:
    """``Fraction(9, 5)`` → ``'x1.8'``; non-decimal fractions get six decimals."""
    num, den = value.numerator, value.denominator
    d = den
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d == 1:
        scaled = num * 10**30 // den
        text = str(scaled // 10**30)
        frac = str(scaled % 10**30).rjust(30, "0").rstrip("0")
        return "x" + text + ("." + frac if frac else "")
    return "x" + f"{float(value):.6f}".rstrip("0").rstrip(".")


def percent(value: Fraction) -> str:
    """``Fraction(20)`` → ``'20%'``, ``Fraction(25, 2)`` → ``'12.5%'`` (a retry budget)."""
    text = _decimal(value.numerator, value.denominator)
    return f"{text if text is not None else f'{float(value):.3f}'}%"


def render_matcher(m: Matcher) -> str:
    if isinstance(m, StatusCode):
        return str(m.code)
    if isinstance(m, StatusRange):
        return f"{m.low}-{m.high}"
    if isinstance(m, StatusClass):
        return f"{m.digit}xx"
    if isinstance(m, AllErrors):
        return "all"
    if isinstance(m, OnTimeout | OnConnect | OnReset | OnError):
        return m.word
    raise TypeError(f"not a matcher: {m!r}")  # pragma: no cover


def _family(h: Headers) -> str | None:
    lim, rem, rst = h.limit_header, h.remaining_header, h.reset_header
    if lim is None or rem is None or rst is None:
        return None
    for i in range(len(lim) - 4):
        if lim[i : i + 5] == "limit":
            prefix, suffix = lim[:i], lim[i + 5 :]
            if rem == f"{prefix}remaining{suffix}" and rst == f"{prefix}reset{suffix}":
                return f"{prefix}*{suffix}"
    return None


def render_strategy(s: Strategy) -> str:
    if isinstance(s, Never):
        return "never"
    if isinstance(s, Backoff):
        parts = [str(s.limit)]
        if s.min_ms == s.max_ms:
            parts.append(duration(s.min_ms))
        else:
            parts.append(f"{duration(s.min_ms)}..{duration(s.max_ms)}")
            parts.append(factor(s.factor))
        if s.jitter is Jitter.FULL:
            parts.append("jitter")
        elif s.jitter is not Jitter.NONE:
            parts.append(f"jitter={s.jitter.value}")
        return f"backoff({','.join(parts)})"
    if isinstance(s, Headers):
        parts = []
        family = _family(s)
        if family is not None:
            parts.append(family)
        else:
            for key, name in (
                ("limit-header", s.limit_header),
                ("remaining-header", s.remaining_header),
                ("reset-header", s.reset_header),
            ):
                if name is not None:
                    parts.append(f"{key}={name}")
        if s.format is not ResetFormat.AUTO:
            parts.append(f"format={s.format.value}")
        if s.limit != 5:
            parts.append(str(s.limit))
        if s.max_ms != 15 * 60_000:
            parts.append(f"max={duration(s.max_ms)}")
        if s.over is not Over.GIVEUP:
            parts.append(f"over={s.over.value}")
        if s.jitter_ms == 1000:
            parts.append("jitter")
        elif s.jitter_ms:
            parts.append(f"jitter={duration(s.jitter_ms)}")
        return f"headers({','.join(parts)})"
    raise TypeError(f"not a strategy: {s!r}")  # pragma: no cover


def render_rule(r: Rule) -> str:
    selector = ",".join(render_matcher(m) for m in r.matchers)
    if r.methods is not None:
        selector += "[idempotent]" if r.methods == IDEMPOTENT else f"[{','.join(r.methods)}]"
    return f"{selector}:{'|'.join(render_strategy(s) for s in r.strategies)}"


def render_item(item: Item) -> str:
    if isinstance(item, Rule):
        return render_rule(item)
    if isinstance(item, PresetRef):
        return f"@{item.name}"
    if isinstance(item, TimeoutSetting):
        return f"timeout={duration(item.ms)}"
    if isinstance(item, DeadlineSetting):
        return f"deadline={duration(item.ms)}"
    if isinstance(item, AttemptsSetting):
        return f"attempts={item.count}"
    if isinstance(item, MethodsSetting):
        return "methods=*" if item.methods is None else "methods=" + ",".join(item.methods)
    if isinstance(item, PaceSetting):
        return "pace=adaptive" if item.adaptive else "pace=on" if item.on else "pace=off"
    if isinstance(item, BudgetSetting):
        return f"budget={percent(item.percent)}"
    if isinstance(item, SseSetting):
        return "sse=on" if item.on else "sse=off"
    if isinstance(item, BreakerSetting):
        return render_breaker(item)
    raise TypeError(f"not an item: {item!r}")  # pragma: no cover


def render_breaker(b: BreakerSetting) -> str:
    """``breaker=50%/1m/open=10s``: the first part, then the options that differ from
    their defaults in the order window, open, min, probes."""
    parts = [f"breaker={b.threshold}%" if b.ratio else f"breaker={b.threshold}"]
    if b.window_ms != BREAKER_DEFAULTS["window_ms"]:
        parts.append(duration(b.window_ms))
    if b.open_ms != BREAKER_DEFAULTS["open_ms"]:
        parts.append(f"open={duration(b.open_ms)}")
    if b.min != BREAKER_DEFAULTS["min"]:
        parts.append(f"min={b.min}")
    if b.probes != BREAKER_DEFAULTS["probes"]:
        parts.append(f"probes={b.probes}")
    return "/".join(parts)


def render(items: Iterable[Item]) -> str:
    """The canonical form of a policy's ``items``; the empty policy renders as ``''``."""
    return " ".join(render_item(i) for i in items)
