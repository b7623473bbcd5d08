"""The language floor: a policy's text, its AST and the words every floor speaks.

Holds the grammar loading and the two parsers (a fast hand-written one and Lark for
messages), the validation pass that builds the frozen attrs AST, the canonical renderer,
the seed-options converter, the presets and the linter, plus the outcome and decision
values (``Response``, ``Retry``, ``AttemptState``...) that ``decide`` takes and returns.

The bottom floor: it imports nothing of ``policy`` outside this folder (and nothing of
``transport``).  ``Policy``'s evaluation methods reach the evaluator through the engine
that ``policy/__init__`` binds, never through an import of ``policy.evaluate``.
Users reach these names through ``policy``.
"""
