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
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs

from ..check._lint import Diagnostic, lint
from ..language._errors import PolicyError, caret
from ..language._parse import parse
from ..language._policy import Policy
from ._io import STDIN, Failed, UsageError, err, path, read_stdin

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

__all__ = [
    "STDIN_FORMATS",
    "Input",
    "KeyPart",
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
    "type_name",
]


@attrs.frozen
class Source:
    """A policy string and where it sits.

    ``name`` is the file (or ``<argN>``); ``file_text`` the whole file (``None`` for an
    argument); ``offset`` where the policy string starts in it when the file spells the
    string literally (exact positions), else ``None`` and positions fall back to
    ``line``/``column`` (the key's).  ``key`` is the path of the value in a structured
    file.
    """

    name: str
    text: str
    file_text: str | None = None
    offset: int | None = None
    line: int = 1
    column: int = 1
    key: tuple[object, ...] | None = None

    def position(self, line: int, column: int) -> tuple[int, int]:
        """The file position of the policy text's ``line``/``column``."""
        if self.file_text is None:
            return line, column
        if self.offset is None:
            return self.line, self.column
        lines = self.text.split("\n")
        off = self.offset + sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
        return line_col(self.file_text, off)

    def context(self, d: Diagnostic) -> str:
        """The source line with a caret under the diagnostic."""
        if self.file_text is not None and self.offset is not None:
            line, col = self.position(d.line, d.column)
            return caret(self.file_text, line, col, col + (d.end_column - d.column))
        return caret(self.text, d.line, d.column, d.end_column)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- config files -----------------------------------------------------------------------------

_STRUCTURED = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
#: ``--stdin-format`` values.
STDIN_FORMATS = {"text": "text", "toml": "TOML", "json": "JSON", "yaml": "YAML"}


@attrs.frozen
class Input:
    """A file's (or standard input's) name as printed, its kind and its text."""

    name: str
    kind: str
    text: str
    path: Path | None = None  # None: standard input

    def load(self, text: str | None = None) -> Any:
        """The data of this TOML, JSON or YAML input (or of ``text`` read the same way)."""
        return load_text(self.name, self.kind, self.text if text is None else text)


def open_input(name: str, stdin_format: str | None = None) -> Input:
    """``-f NAME``: the file, or standard input for ``-`` (read as ``stdin_format``)."""
    if name == "-":
        return Input(STDIN, STDIN_FORMATS[stdin_format or "text"], read_stdin())
    file = path(name)
    return Input(str(file), kind(file), read(file), file)


def policy_argument(i: int, text: str) -> Source:
    """The ``i``-th POLICY argument; ``-`` is standard input."""
    if text == "-":
        return Source(STDIN, _strip_newline(read_stdin()))
    return Source(f"<arg{i}>", text)


def _strip_newline(text: str) -> str:
    """Text without the newline (``\\n`` or ``\\r\\n``) that ends it."""
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def kind(file: Path) -> str:
    """``TOML``, ``JSON``, ``YAML`` or ``text``, by the file's extension."""
    return _STRUCTURED.get(file.suffix.lower(), "text")


def read(file: Path) -> str:
    """The file's text (UTF-8); a usage error if it cannot be read."""
    try:
        return file.read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read: {exc}") from None


def load_text(file: str, k: str, text: str) -> Any:
    """The data of a TOML, JSON or YAML text (``k``), named ``file`` in errors."""
    import json
    import tomllib  # only for config files: keeps the cold start of `policy check` short

    try:
        if k == "TOML":
            return tomllib.loads(text)
        if k == "JSON":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{file}: not valid {k}: {exc}") from None
    try:
        import yaml
    except ImportError:
        raise UsageError(
            f"{file}: reading YAML needs PyYAML, which is not installed "
            "(pip install 'retry-policy[yaml]')"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{file}: not valid YAML: {exc}") from None


@attrs.frozen
class KeyPart:
    """One part of a ``--key`` path: a name, an index, or (unquoted, with ``*?[``) a glob."""

    text: str
    quoted: bool = False

    @property
    def glob(self) -> bool:
        return not self.quoted and any(c in self.text for c in "*?[")

    def matches(self, name: object) -> bool:
        """Whether a table key or list index ``name`` is matched by this part."""
        from fnmatch import fnmatchcase

        return fnmatchcase(str(name), self.text) if self.glob else str(name) == self.text


_KEY_HELP = (
    "expected a dotted path such as retry.policy, jobs.0.retry, services.*.retry "
    'or tool."my.svc".retry'
)


def split_key(key: str) -> list[KeyPart]:
    """The parts of a dotted ``--key``: ``"..."`` (with ``\\"`` and ``\\\\``) or ``'...'``
    quote a part that holds dots; an unquoted part with ``*``, ``?`` or ``[`` is a glob."""
    parts: list[KeyPart] = []
    i, n = 0, len(key)
    while True:
        if i < n and key[i] in "\"'":
            quote, i, text = key[i], i + 1, []
            while i < n and key[i] != quote:
                if quote == '"' and key[i] == "\\" and i + 1 < n:
                    i += 1
                text.append(key[i])
                i += 1
            if i >= n:
                raise UsageError(f"--key {key!r}: the quote {quote} is not closed; {_KEY_HELP}")
            parts.append(KeyPart("".join(text), quoted=True))
            i += 1
        else:
            end = key.find(".", i)
            end = n if end == -1 else end
            text_ = key[i:end]
            if not text_ or any(c in text_ for c in "\"'"):
                raise UsageError(f"--key {key!r}: {_KEY_HELP}")
            parts.append(KeyPart(text_))
            i = end
        if i == n:
            return parts
        if key[i] != ".":
            raise UsageError(f"--key {key!r}: a quoted part must end at a dot; {_KEY_HELP}")
        i += 1


def key_text(path: Sequence[object]) -> str:
    """A concrete key path written back as ``--key`` would take it."""
    written = []
    for name in path:
        s = str(name)
        plain = s and not any(c in s for c in ".\"' *?[]\\")
        written.append(s if plain else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ".".join(written)


def _children(here: Any, part: KeyPart) -> list[tuple[object, Any]]:
    if isinstance(here, dict):
        if part.glob:
            return [(k, v) for k, v in here.items() if part.matches(k)]
        if part.text in here:
            return [(part.text, here[part.text])]
        if not part.quoted and part.text.isdigit() and int(part.text) in here:
            return [(int(part.text), here[int(part.text)])]  # YAML's integer keys
        return []
    if isinstance(here, list):
        if part.glob:
            return [(i, v) for i, v in enumerate(here) if part.matches(i)]
        if not part.quoted and part.text.isdigit() and int(part.text) < len(here):
            return [(int(part.text), here[int(part.text)])]
    return []


def _no_match(file: str, key: str, where: str, here: Any, part: KeyPart) -> UsageError:
    if isinstance(here, dict):
        known = ", ".join(key_text([k]) for k in list(here)[:12]) or "none"
        return UsageError(f"{file}: no key {part.text!r} in {where} (keys there: {known})")
    if isinstance(here, list):
        return UsageError(
            f"{file}: {where} is a list of {len(here)}; {part.text!r} is not an index in it"
        )
    return UsageError(f"{file}: {where} is a {type_name(here)}, it has no key {part.text!r}")


def resolve(data: Any, key: str, file: str) -> list[tuple[tuple[object, ...], Any]]:
    """Every ``(path, value)`` that dotted ``key`` matches; a usage error if none does.

    A number indexes a list, an unquoted part with ``*``, ``?`` or ``[`` is a glob over
    the keys (or indexes) at its level, a quoted part is taken as it is written.
    """
    parts = split_key(key)
    level: list[tuple[tuple[object, ...], Any]] = [((), data)]
    for part in parts:
        following = [
            ((*at, name), value) for at, here in level for name, value in _children(here, part)
        ]
        if not following:
            if len(level) == 1:
                at, here = level[0]
                raise _no_match(file, key, key_text(at) or "the top level", here, part)
            depth = len(level[0][0])
            raise UsageError(
                f"{file}: --key {key!r} matches nothing: {len(level)} values match its first "
                f"{depth} part{'s' * (depth != 1)}, and none of them has {part.text!r}"
            )
        level = following
    return level


def lookup(data: Any, key: str, file: str) -> Any:
    """The one value that dotted ``key`` names (a glob must match exactly one)."""
    found = resolve(data, key, file)
    if len(found) > 1:
        names = ", ".join(key_text(at) for at, _ in found[:8])
        raise UsageError(f"{file}: --key {key!r} matches {len(found)} values ({names}); name one")
    return found[0][1]


def type_name(value: Any) -> str:
    """A config value's type in the words of config files."""
    return {dict: "table", list: "list", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _string_paths(data: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _string_paths(v, f"{prefix}{k}.")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _string_paths(v, f"{prefix}{i}.")
    elif isinstance(data, str):
        yield prefix[:-1]


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
        for line in text.split("\n"):
            body = line.strip()
            if body and not body.startswith("#"):
                found.append(Source(name, line.rstrip("\r"), text, offset))
            offset += len(line) + 1
        return found
    data = inp.load()
    if not keys:
        paths = list(_string_paths(data))
        hint = f" (string values here: {', '.join(paths[:8])})" if paths else ""
        raise UsageError(f"{name}: say which value holds the policy with --key{hint}")
    found = []
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
            key_line, key_col = line_col(text, key_at)
            found.append(Source(name, value, text, off, key_line, key_col, at))
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
