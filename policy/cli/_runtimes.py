"""``policy convert --to/--from RUNTIME`` and ``policy check --format RUNTIME``: the shell
around ``policy.runtimes`` (reading files, writing JSON or YAML, the report on stderr)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._io import UsageError, err, out
from ._sources import _find_key, line_col, lookup, one_policy, open_input

if TYPE_CHECKING:
    import argparse

    from ..runtimes import Conversion

__all__ = ["check", "convert"]


def _load(args: argparse.Namespace, name: str, stdin_format: str | None) -> tuple[Any, str]:
    """The data of a JSON or YAML config file (any extension), and its text."""
    inp = open_input(name, stdin_format or "yaml")
    kind = inp.kind if inp.kind in ("JSON", "YAML", "TOML") else "YAML"
    data = inp.load() if kind == inp.kind else _yaml(inp.name, inp.text)
    if getattr(args, "key", None):
        data = lookup(data, args.key, inp.name)
    return data, inp.text


def _yaml(name: str, text: str) -> Any:
    from ._sources import load_text

    return load_text(name, "YAML", text)  # YAML reads JSON too


def convert(args: argparse.Namespace) -> int:
    """Convert a policy to a runtime's config, or a runtime's config to a policy."""
    from ..runtimes import ConfigError, Conversion, convert_from, convert_to

    lost: list[str] = []
    widened: list[str] = []
    if args.source is not None:
        if args.file is None:
            raise UsageError("--from reads -f FILE (- for standard input)")
        data, _ = _load(args, args.file, args.stdin_format)
        try:
            read = convert_from(data, args.source)
        except ConfigError as exc:
            print(f"{args.file}: {exc}", file=err())
            return 1
        lost += read.lost
        widened += read.widened
        p = read.policy
    elif args.policy is not None:
        p = one_policy(args.policy)
    else:
        raise UsageError(f"--to {args.to} converts a POLICY (or -f FILE with --from)")
    target = args.to or "policy"
    result: Conversion | None = None
    if target != "policy":
        if target == "options":
            raise UsageError("--from converts to a policy or another runtime, not options")
        result = convert_to(p, target)
        lost += result.lost
        widened += result.widened
    output: Any = str(p) if result is None else result.output
    if args.json:
        doc = {
            "output": output,
            "policy": str(p if result is None else result.policy),
            "lost": lost,
            "widened": widened,
        }
        json.dump(doc, out(), indent=2, ensure_ascii=False)
        print(file=out())
    else:
        _write(output, args.out_format)
        for line in Conversion("", None, p, tuple(lost), tuple(widened)).report:
            print(line, file=err())
    return 1 if args.strict and (lost or widened) else 0


def _write(output: Any, fmt: str) -> None:
    if isinstance(output, str):
        print(output, file=out())
    elif fmt == "yaml":
        import yaml

        out().write(yaml.safe_dump(output, sort_keys=False, allow_unicode=True))
    else:
        json.dump(output, out(), indent=2, ensure_ascii=False)
        print(file=out())


def check(args: argparse.Namespace) -> int:
    """Lint what each ``-f FILE`` (a ``--format`` runtime config) retries."""
    from ..runtimes._lint import lint_config

    if args.policies or not args.files:
        raise UsageError(f"--format {args.runtime} lints -f FILE (a {args.runtime} config)")
    records: list[dict[str, Any]] = []
    errors = warnings = 0
    for name in args.files:
        data, text = _load(args, name, args.stdin_format)
        for f in lint_config(data, args.runtime):
            line, col = line_col(text, _find_key(text, f.path))
            errors += f.severity == "error"
            warnings += f.severity == "warning"
            rec = {
                "file": name,
                "line": line,
                "column": col,
                "end_column": col + 1,
                "code": f.code,
                "severity": f.severity,
                "message": f.message,
            }
            if args.json:
                records.append(rec)
            else:
                print(f"{name}:{line}:{col}: {f.code} {f.message}", file=out())
    if args.json:
        json.dump(records, out(), indent=2, ensure_ascii=False)
        print(file=out())
    else:
        print(
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
            f"in {len(args.files)} {args.runtime} config{'s' * (len(args.files) != 1)}",
            file=err(),
        )
    return 1 if errors or (args.strict and warnings) else 0
