"""Hints in error messages suggest a fix that works: following the hint gives a valid policy.

Each row names the text, the position of the error, a phrase the message must carry, a
phrase it must not (a suggestion that used to be given and then failed itself), and the
fixed text that the hint leads to (which must parse).
"""

from __future__ import annotations

import pytest

import policy
from policy import PolicyError

# (text, line, column, the hint, what the message must not say, the text once fixed)
INVALID: list[tuple[str, int, int, str, str, str]] = [
    # a factor written without its x, where the delays are given already
    ("5xx:backoff(3,1s..30s,1.8)", 1, 23, "write x1.8", "1.8ms", "5xx:backoff(3,1s..30s,x1.8)"),
    ("5xx:backoff(3,1s..30s,1.8)", 1, 23, "write x1.8", "1.8s", "5xx:backoff(3,1s..30s,x1.8)"),
    # no delay yet: both readings are offered, the factor first; never 1.8ms (not whole ms)
    ("5xx:backoff(3,1.8)", 1, 15, "x1.8 for a factor, or 1.8s", "1.8ms", "5xx:backoff(3,x1.8)"),
    # a factor already given: only the delay is possible
    ("5xx:backoff(3,x2,1.5)", 1, 18, "write 1.5s for a delay", "x1.5", "5xx:backoff(3,x2,1.5s)"),
    # below 1 a factor is invalid: only the delay
    ("5xx:backoff(0.5)", 1, 13, "write 0.5s for a delay", "x0.5", "5xx:backoff(0.5s)"),
    # the x after the number
    ("5xx:backoff(3,1s..30s,1.8x)", 1, 23, "x1.8", "min given twice", "5xx:backoff(3,x1.8)"),
    # Retry-After named as an argument of headers: it is always read
    (
        "429:headers(Retry-After)",
        1,
        13,
        "Retry-After is always read",
        "retry-after-*",
        "429:headers()",
    ),
    ("429:headers(retry-after,5)", 1, 13, "write headers()", "did you mean", "429:headers(5)"),
    # a duration split by a space
    ("5xx:backoff(3, 5 seconds)", 1, 16, "no space: write 5s", "expected ','", "5xx:backoff(3,5s)"),
    (
        "5xx:backoff(3,1s..30 s)",
        1,
        19,
        "no space: write 30s",
        "expected ','",
        "5xx:backoff(3,1s..30s)",
    ),
    ("timeout=5 seconds", 1, 9, "no space: write 5s", "ends too early", "timeout=5s"),
    ("deadline=1.5 min 5xx:never", 1, 10, "write 1.5m", "expected", "deadline=1.5m 5xx:never"),
    ("timeout=10s\n5xx:backoff(2 ms)", 2, 13, "write 2ms", "','", "5xx:backoff(2ms)"),
    # a unit spelt as a word
    ("timeout=5seconds", 1, 9, "write 5s", "did you mean 'ms'", "timeout=5s"),
    ("5xx:backoff(3,2mins)", 1, 15, "write 2m", "did you mean", "5xx:backoff(3,2m)"),
    # a timeout with no unit: only what lies within 1s..2m
    ("timeout=10", 1, 9, "write 10s", "10ms", "timeout=10s"),
    ("timeout=1500", 1, 9, "write 1500ms", "1500s", "timeout=1500ms"),
    ("timeout=0.5", 1, 9, "e.g. 1s", "0.5s", "timeout=1s"),
    # elsewhere both spellings fit
    ("deadline=30", 1, 10, "write 30s or 30ms", "e.g.", "deadline=30s"),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "hint", "not_said", "fixed"),
    INVALID,
    ids=[repr(t[0]) for t in INVALID],
)
def test_hint_leads_to_a_valid_policy(
    text: str, line: int, column: int, hint: str, not_said: str, fixed: str
) -> None:
    with pytest.raises(PolicyError) as info:
        policy.parse(text)
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert hint in err.message, err.message
    assert not_said not in err.message, err.message
    policy.parse(fixed)  # what the hint says to write is valid


def test_a_comment_is_not_read_as_a_split_duration() -> None:
    """'5 s' inside a comment is prose: the policy is valid, or the error is elsewhere."""
    policy.parse("5xx[idempotent]:backoff(3,jitter) # waits 5 s at most")
    with pytest.raises(PolicyError) as info:
        policy.parse("# waits 5 s\n5xx:backoff(3 4)")
    assert "no space" not in info.value.message
    assert info.value.line == 2
