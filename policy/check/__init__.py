"""The check floor: the linter behind ``policy check`` and ``policy.lint``.

A finding reads the AST and asks the compiled evaluator which rule decides each outcome
and what each retry can wait, so this floor sits above ``policy.language`` and
``policy.evaluate`` and may import only them.  ``_rules`` is the catalogue of codes,
``_linter`` the checks, ``_lint`` the entry point.  Users reach it as ``policy.lint``.
"""
