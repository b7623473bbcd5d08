"""The examples in docs/language.md are what the parser does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import policy

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROW = re.compile(r"^\| `([^`]+)` \| (?:`([^`]*)`|\*\(error: [^)]*\)\*) \|$")


def _rows() -> list[tuple[str, str | None]]:
    text = (DOCS / "language.md").read_text("utf-8")
    section = text.split("## Canonical form", 1)[1].split("## Errors", 1)[0]
    rows = []
    for line in section.splitlines():
        m = ROW.match(line)
        if m:
            rows.append((m.group(1), m.group(2)))
    return rows


def test_the_table_is_there() -> None:
    """The canonical-form table has its rows (so the parametrised test is not empty)."""
    assert len(_rows()) >= 8


@pytest.mark.parametrize(("written", "canonical"), _rows())
def test_canonical_examples(written: str, canonical: str | None) -> None:
    """Each written policy renders as the documented canonical form, or is an error."""
    if canonical is None:
        with pytest.raises(policy.PolicyError):
            policy.parse(written)
        return
    p = policy.parse(written)
    assert str(p) == canonical
    assert policy.parse(canonical) == p


def test_grammar_is_shown_in_full() -> None:
    """The reference shows grammar/policy.lark itself (tests/test_docs_generated.py keeps
    the copy equal to the file), never an include line a Markdown viewer prints raw."""
    text = (DOCS / "language.md").read_text("utf-8")
    assert "--8<--" not in text
    assert (DOCS.parent / "grammar" / "policy.lark").read_text("utf-8") in text
