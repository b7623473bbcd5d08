"""Where policies come from, and how their findings are printed.

A policy is given on the command line, one per line in a text file, or as one string
value inside a TOML, JSON or YAML config file chosen by ``--key``.  A diagnostic's
position is mapped back into the file, so ``FILE:LINE:COL`` points at the offending
characters in the file, not in the extracted string: the string is looked up in the
file's text (after its key), and when the file spells it literally the mapping is exact;
otherwise (escapes, YAML block scalars) the diagnostic points at the key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs

from ..check._lint import Diagnostic, lint
from ..language._errors import PolicyError, caret
from ..language._parse import parse
from ..language._policy import Policy
from ._configs import (
    STDIN_FORMATS,
    Input,
    KeyPart,
    key_text,
    kind,
    load_text,
    lookup,
    open_input,
    read,
    resolve,
    split_key,
    string_paths,
    type_name,
)
from ._io import STDIN, Failed, UsageError, err, read_stdin

if TYPE_CHECKING:
    import argparse

__all__ = [
    "STDIN_FORMATS",
    "Input",
    "KeyPart",
    "Lines",
    "Source",
    "key_text",
    "kind",
    "line_col",
    "load_text",
    "lookup",
    "one_policy",
    "open_input",
    "parse_or_report",
    "policy_argument",
    "print_diagnostic",
    "read",
    "record",
    "resolve",
    "sources",
    "sources_from_file",
    "split_key",
    "string_paths",
    "type_name",
]


class Lines:
    """Where each line of a file's text starts: a position in ``log n``, not by counting
    the newlines before it (a finding in a 40k-line file must not rescan the file)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        self.starts.extend(m.end() for m in re.finditer("\n", text))

    def line_col(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of ``offset``."""
        from bisect import bisect_right

        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def line(self, number: int) -> str:
        """The text of 1-based line ``number`` (without its newline); ``""`` past the end."""
        if not 0 < number <= len(self.starts):
            return ""
        start = self.starts[number - 1]
        end = self.starts[number] - 1 if number < len(self.starts) else len(self.text)
        return self.text[start:end]


@attrs.frozen
class Source:
    """A policy string and where it sits.

    ``name`` is the file (or ``<argN>``); ``file_text`` the whole file (``None`` for an
    argument); ``offset`` where the policy string starts in it when the file spells the
    string literally (exact positions), else ``None`` and positions fall back to
    ``line``/``column`` (the key's).  ``key`` is the path of the value in a structured
    file.  ``lines`` indexes ``file_text`` (one index shared by a file's sources).
    """

    name: str
    text: str
    file_text: str | None = None
    offset: int | None = None
    line: int = 1
    column: int = 1
    key: tuple[object, ...] | None = None
    lines: Lines | None = attrs.field(default=None, eq=False, repr=False)

    def _index(self) -> Lines:
        assert self.file_text is not None
        return self.lines if self.lines is not None else Lines(self.file_text)

    def position(self, line: int, column: int) -> tuple[int, int]:
        """The file position of the policy text's ``line``/``column``."""
        if self.file_text is None:
            return line, column
        if self.offset is None:
            return self.line, self.column
        off = self.offset + column - 1
        if line > 1:
            lines = self.text.split("\n")
            off += sum(len(x) + 1 for x in lines[: line - 1])
        return self._index().line_col(off)

    def context(self, d: Diagnostic) -> str:
        """The source line with a caret under the diagnostic."""
        if self.file_text is not None and self.offset is not None:
            line, col = self.position(d.line, d.column)
            text = self._index().line(line)
            return caret(text, 1, col, col + (d.end_column - d.column))
        return caret(self.text, d.line, d.column, d.end_column)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def policy_argument(i: int, text: str) -> Source:
    """The ``i``-th POLICY argument; ``-`` is standard input."""
    if text == "-":
        return Source(STDIN, _strip_newline(read_stdin()))
    return Source(f"<arg{i}>", text)


def _strip_newline(text: str) -> str:
    """Text without the newline (``\\n`` or ``\\r\\n``) that ends it."""
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _find_key(text: str, names: Sequence[object]) -> int:
    """Where the last named part of a key path is written in ``text`` (0 if not found),
    following the named parts in order."""
    pos = 0
    found = 0
    for name in names:
        if isinstance(name, int):
            continue
        m = re.compile(r"(?<![\w-])" + re.escape(str(name)) + r"(?![\w-])").search(text, pos)
        if m is None:
            continue
        found = pos = m.start()
    return found


def _locate(text: str, value: str, names: Sequence[object]) -> tuple[int | None, int]:
    """(offset of ``value`` spelled literally after its key or ``None``, key offset)."""
    at = _find_key(text, names)
    if not value:
        return None, at
    off = text.find(value, at)
    if off == -1:
        off = text.find(value)
        if off == -1 or text.find(value, off + 1) != -1:
            return None, at
    return off, at


def sources_from_file(inp: Input, keys: Sequence[str]) -> list[Source]:
    """The policies in a file: every policy line of a text file, or the values that the
    ``--key`` paths name (each must name at least one; a value named twice is taken once)."""
    text = inp.text
    name = inp.name
    if inp.kind == "text":
        if keys and inp.path is None:
            raise UsageError(
                f"{name}: standard input is read as text, one policy a line; to select a value "
                "with --key, say what it holds: --stdin-format toml, json or yaml"
            )
        if keys:
            raise UsageError(
                f"{name}: --key selects a value in a TOML, JSON or YAML file; "
                "a text file holds one policy per line"
            )
        found: list[Source] = []
        offset = 0
        index = Lines(text)
        for number, line in enumerate(text.split("\n"), 1):
            body = line.strip()
            if body and not body.startswith("#"):
                found.append(Source(name, line.rstrip("\r"), text, offset, number, lines=index))
            offset += len(line) + 1
        return found
    data = inp.load()
    if not keys:
        paths = string_paths(data, name)
        hint = f" (string values here: {', '.join(paths[:8])})" if paths else ""
        raise UsageError(f"{name}: say which value holds the policy with --key{hint}")
    found = []
    index = Lines(text)
    seen: set[tuple[object, ...]] = set()
    for key in keys:
        for at, value in resolve(data, key, name):
            if at in seen:
                continue
            seen.add(at)
            if not isinstance(value, str):
                raise UsageError(
                    f"{name}: {key_text(at)} is a {type_name(value)}, not a policy string"
                )
            off, key_at = _locate(text, value, at)
            key_line, key_col = index.line_col(key_at)
            found.append(Source(name, value, text, off, key_line, key_col, at, index))
    return found


def sources(args: argparse.Namespace) -> list[Source]:
    """Every policy named by the arguments: POLICY arguments, then each ``-f FILE``."""
    found = [policy_argument(i, text) for i, text in enumerate(args.policies, 1)]
    for f in args.files:
        found.extend(sources_from_file(open_input(f, args.stdin_format), args.keys))
    if args.keys and not args.files:
        raise UsageError("--key needs a -f FILE to look in")
    if not found:
        raise UsageError("nothing to do: give a POLICY or -f FILE (- reads standard input)")
    return found


# --- printing diagnostics ---------------------------------------------------------------------


def record(src: Source, d: Diagnostic) -> dict[str, Any]:
    """A diagnostic as the JSON object of ``check --json``."""
    line, col = src.position(d.line, d.column)
    end = (
        col + (d.end_column - d.column)
        if src.offset is not None or src.file_text is None
        else col + 1
    )
    return {
        "file": src.name,
        "line": line,
        "column": col,
        "end_column": end,
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
    }


def print_diagnostic(src: Source, d: Diagnostic, stream: IO[str]) -> None:
    """``FILE:LINE:COL: CODE message`` and the line with a caret under the span."""
    r = record(src, d)
    print(f"{r['file']}:{r['line']}:{r['column']}: {d.code} {d.message}", file=stream)
    for line in src.context(d).split("\n"):
        print(f"    {line}", file=stream)


def parse_or_report(src: Source) -> Policy | None:
    """The policy, or ``None`` after printing its errors to stderr."""
    try:
        return parse(src.text)
    except PolicyError:
        for d in lint(src.text):
            print_diagnostic(src, d, err())
        return None


def one_policy(text: str) -> Policy:
    """The policy given as the command's argument (``-``: standard input); ``Failed``
    after printing its errors."""
    p = parse_or_report(policy_argument(1, text))
    if p is None:
        raise Failed
    return p
