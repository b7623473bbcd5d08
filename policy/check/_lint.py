"""The linter behind ``policy check``: stable codes for what a valid policy gets wrong.

A policy can parse and still hurt: a backoff without jitter makes every client that
failed together retry together; a ``404`` retried never heals; a rule written after a
more specific one may never decide anything.  Each finding here has a stable code (SPEC
§4), a severity (``E`` error, ``W`` warning, ``I`` info), and a position in the policy
text.  ``docs/lint.md`` is the catalogue, with a triggering example for each code.

The rules read the AST and ask the evaluator, never the text: which rule decides an
outcome is ``Compiled.entry_for`` (the same precedence ``decide`` uses), what a retry can
wait is ``Policy.schedule`` and the totals are ``Policy.worst_case``.  So a lint finding
and the evaluator's behaviour cannot disagree.

Rules that come from a preset (``@github``) are curated: the linter does not second-guess
their jitter or limits, and overriding them with a later rule is the point of presets.
It does say (``I202``) when a later rule of the user's is only partly effective because a
narrower preset rule still decides some statuses (SPEC §1.2).
"""

from __future__ import annotations

from ..language._errors import PolicyError
from ..language._policy import Policy
from ._linter import Linter
from ._rules import RULES, Diagnostic

__all__ = ["Diagnostic", "lint"]


def lint(policy_or_text: Policy | str) -> list[Diagnostic]:
    """Every finding for a policy (or a policy string), errors first then by position.

    A string that does not parse yields its ``E001``/``E002`` problems, all of them; a
    valid policy yields the ``W`` and ``I`` findings.
    """
    if isinstance(policy_or_text, Policy):
        p = policy_or_text
    else:
        from ..language._parse import parse

        try:
            p = parse(policy_or_text)
        except PolicyError as exc:
            return [
                Diagnostic(
                    pr.code, pr.message, pr.line, pr.column, pr.end_column, RULES[pr.code][0]
                )
                for pr in exc.problems
            ]
    return Linter(p).run()
