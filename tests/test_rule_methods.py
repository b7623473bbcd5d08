"""Rule-level method limits, ``reset,timeout[idempotent]:backoff(3)`` (added for @standard)."""

from __future__ import annotations

import pytest

import policy
from policy.check._lint import lint

IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE")


@pytest.mark.parametrize(
    ("text", "canonical", "methods"),
    [
        ("reset[idempotent]:never", "reset[idempotent]:never", IDEMPOTENT),
        ("reset[IDEMPOTENT]:never", "reset[idempotent]:never", IDEMPOTENT),
        ("5xx[get,put]:never", "5xx[GET,PUT]:never", ("GET", "PUT")),
        ("5xx[GET,HEAD,PUT,DELETE,OPTIONS,TRACE]:never", "5xx[idempotent]:never", IDEMPOTENT),
    ],
)
def test_parse_and_render(text: str, canonical: str, methods: tuple[str, ...]) -> None:
    """The limit parses to upper-case methods and renders canonically, round-tripping."""
    p = policy.parse(text)
    assert p.rules[0].methods == methods
    assert str(p) == canonical
    assert policy.parse(canonical) == p


@pytest.mark.parametrize(
    ("text", "column", "hint"),
    [
        ("reset[GET,GET]:never", 11, "named twice"),
        ("reset[idempotent,GET]:never", 7, "stands alone"),
        ("reset[G-T]:never", 7, "not an HTTP method"),
        ("reset[]:never", 7, "expected a name"),
        ("reset [GET]:never", 6, "':'"),
    ],
)
def test_invalid_limits(text: str, column: int, hint: str) -> None:
    """Bad method limits get positioned errors."""
    with pytest.raises(policy.PolicyError) as info:
        policy.parse(text)
    assert info.value.column == column
    assert hint in info.value.message


def test_a_limited_rule_does_not_match_other_methods() -> None:
    """For a method outside the limit the next rule in precedence decides, or none does."""
    p = policy.parse("503[GET]:backoff(2,1s) 5xx:never")
    get = p.decide(p.start(now=0.0), policy.Response(503), now=0.0, rand=lambda: 0.0)
    post = p.decide(
        p.start(now=0.0), policy.Response(503), now=0.0, rand=lambda: 0.0, method="POST"
    )
    assert isinstance(get, policy.Retry) and get.delay == 1.0
    assert isinstance(post, policy.GiveUp) and post.rule is not None
    assert post.rule == policy.parse("5xx:never").rules[0]


def test_w108_is_silenced_by_an_idempotent_limit() -> None:
    """W108 fires for reset retried for every method, not when limited to idempotent ones."""
    assert "W108" in {d.code for d in lint("reset:backoff(2,1s..3s,jitter)")}
    assert "W108" not in {d.code for d in lint("reset[idempotent]:backoff(2,1s..3s,jitter)")}
    assert "W108" not in {d.code for d in lint("@standard")}
