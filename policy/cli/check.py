"""``policy check``: parse and lint policies, wherever they are kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..check._lint import Diagnostic, lint
from ._io import err, out
from ._sources import print_diagnostic, record, sources

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Lint every policy; 1 on errors (or warnings under ``--strict``)."""
    if getattr(args, "runtime", None) is not None:
        from ._runtimes import check

        return check(args)
    found = sources(args)
    records: list[dict[str, Any]] = []
    errors = warnings = 0
    seen: dict[str, list[Diagnostic]] = {}  # a file repeats its policies: lint each once
    for src in found:
        findings = seen.get(src.text)
        if findings is None:
            findings = seen[src.text] = lint(src.text)
        for d in findings:
            if d.severity == "info" and args.quiet:
                continue
            errors += d.severity == "error"
            warnings += d.severity == "warning"
            if args.json:
                records.append(record(src, d))
            else:
                print_diagnostic(src, d, out())
    if args.json:
        import json

        json.dump(records, out(), indent=2, ensure_ascii=False)
        print(file=out())
    else:
        n = len(found)
        summary = (
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
            f"in {n} polic{'y' if n == 1 else 'ies'}"
        )
        print(summary, file=err())
    return 1 if errors or (args.strict and warnings) else 0
