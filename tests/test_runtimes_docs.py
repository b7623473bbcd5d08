"""The table in docs/runtimes.md of what each runtime loses is generated here, and checked."""

from __future__ import annotations

import os
from pathlib import Path

from policy.runtimes import TARGETS, convert_to

DOC = Path(__file__).resolve().parents[1] / "docs" / "runtimes.md"
START, END = "<!-- constructs:start -->", "<!-- constructs:end -->"

#: The reference policy each construct is added to (or swapped into).
BASE = "5xx:backoff(3,1s..8s,x2)"

#: Every construct of the language, as a policy that differs from ``BASE`` by it.
CONSTRUCTS = [
    ("status code `503`", "503:backoff(3,1s..8s,x2)"),
    ("range `500-504`", "500-504:backoff(3,1s..8s,x2)"),
    ("class `5xx`", BASE),
    ("`all`", "all:backoff(3,1s..8s,x2)"),
    ("`timeout`", f"{BASE} timeout:backoff(3,1s..8s,x2)"),
    ("`connect`", f"{BASE} connect:backoff(3,1s..8s,x2)"),
    ("`reset`", f"{BASE} reset:backoff(3,1s..8s,x2)"),
    ("`error`", f"{BASE} error:backoff(3,1s..8s,x2)"),
    ("a rule's method limit `[GET]`", "5xx[GET]:backoff(3,1s..8s,x2)"),
    ("backoff limit (over 4)", "5xx:backoff(6,1s..8s,x2)"),
    ("backoff `min..max`", "5xx:backoff(3,2s..30s,x2)"),
    ("fixed delay", "5xx:backoff(3,2s)"),
    ("factor `x1.8`", "5xx:backoff(3,1s..8s,x1.8)"),
    ("`jitter` (full)", "5xx:backoff(3,1s..8s,x2,jitter)"),
    ("`jitter=decorrelated`", "5xx:backoff(3,1s..8s,x2,jitter=decorrelated)"),
    ("`headers()`", "5xx:headers()|backoff(3,1s..8s,x2)"),
    ("`headers(x-ratelimit-*)`", "5xx:headers(x-ratelimit-*)|backoff(3,1s..8s,x2)"),
    (
        "header `format=epoch`",
        "5xx:headers(reset-header=x-rl-reset,format=epoch,over=skip)|backoff(3,1s..8s,x2)",
    ),
    (
        "header `max=` / `over=giveup`",
        "5xx:headers(reset-header=x-rl-reset,format=s,max=5m)|backoff(3,1s..8s,x2)",
    ),
    (
        "header `jitter`",
        "5xx:headers(reset-header=x-rl-reset,format=s,over=skip,jitter)|backoff(3,1s..8s,x2)",
    ),
    ("`never` carve-out", f"{BASE} 501:never"),
    ("chain `a|b`", "5xx:backoff(3,1s..8s,x2)|backoff(2,1s)"),
    ("two rules, two strategies", f"{BASE} 429:backoff(2,1s)"),
    ("`timeout=`", f"{BASE} timeout=10s"),
    ("`deadline=`", f"{BASE} deadline=2m"),
    ("`attempts=`", f"{BASE} attempts=3"),
    ("`methods=`", f"{BASE} methods=GET,PUT"),
    ("`pace=on`", f"{BASE} pace=on"),
    ("`budget=`", f"{BASE} budget=20%"),
    ("preset `@standard`", "@standard"),
]


def cell(policy_text: str, target: str) -> str:
    """``kept``, ``lost`` and/or ``widened``: what converting adds to the base's report."""
    base = convert_to(BASE, target)
    c = convert_to(policy_text, target)
    lost = set(c.lost) - set(base.lost)
    widened = set(c.widened) - set(base.widened)
    words = [w for w, on in (("lost", lost), ("widened", widened)) if on]
    return ", ".join(words) or "kept"


def table() -> str:
    head = "| construct | " + " | ".join(TARGETS) + " |"
    rule = "|---|" + "---|" * len(TARGETS)
    rows = [
        f"| {name} | " + " | ".join(cell(text, t) for t in TARGETS) + " |"
        for name, text in CONSTRUCTS
    ]
    return "\n".join([head, rule, *rows])


def test_the_constructs_table_is_current() -> None:
    """docs/runtimes.md carries the table this test generates (RUNTIMES_TABLE=write rewrites it)."""
    text = DOC.read_text("utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    fresh = f"{before}{START}\n{table()}\n{END}{after}"
    if os.environ.get("RUNTIMES_TABLE") == "write":
        DOC.write_text(fresh, "utf-8")
    assert text == fresh


def test_the_table_covers_every_target_and_construct() -> None:
    """Every construct is a row and every target a column; a loss is never 'kept'."""
    assert len(CONSTRUCTS) >= 28
    assert cell("5xx:backoff(3,1s..8s,x2) pace=on", "grpc") == "lost"
    assert cell("503:backoff(3,1s..8s,x2)", "grpc") == "widened"
