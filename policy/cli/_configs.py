"""Config files: reading TOML, JSON and YAML, and finding values in them by ``--key``.

Every walk through a file's data is bounded: nesting too deep for the parsers and walks
past ``MAX_VALUES`` values (a "billion laughs" YAML of anchors and aliases) are usage
errors, found in milliseconds, never a ``RecursionError`` or a walk that fills the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._io import STDIN, UsageError, path, read_stdin

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "MAX_VALUES",
    "STDIN_FORMATS",
    "Input",
    "KeyPart",
    "key_text",
    "kind",
    "load_text",
    "lookup",
    "open_input",
    "read",
    "resolve",
    "split_key",
    "string_paths",
    "type_name",
]

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
    except RecursionError:
        raise _too_deep(file, k) from None
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
    except RecursionError:
        raise _too_deep(file, k) from None


def _too_deep(file: str, k: str) -> UsageError:
    return UsageError(
        f"{file}: its {k} nests tables or lists too deeply to be read "
        "(hundreds of levels; a policy's config needs a few)"
    )


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
        following: list[tuple[tuple[object, ...], Any]] = []
        for at, here in level:
            following.extend(((*at, name), value) for name, value in _children(here, part))
            if len(following) > MAX_VALUES:
                raise _too_many(file, f"--key {key!r} matches")
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


#: How many values a walk through a config file may visit (YAML anchors and aliases can
#: make a file of a few hundred bytes name billions of values).
MAX_VALUES = 100_000


def _too_many(file: str, what: str) -> UsageError:
    return UsageError(
        f"{file}: {what} more than {MAX_VALUES:,} values (YAML anchors and aliases that "
        "repeat a table many times?); refusing to expand them: name the value with a key "
        "that has no glob"
    )


def string_paths(data: Any, file: str, limit: int = 8) -> list[str]:
    """Up to ``limit`` dotted paths of string values (depth first, in file order); a
    usage error after ``MAX_VALUES`` values without finding them."""
    found: list[str] = []
    # Each entry: (value, its path as a linked list (name, parent) - a path is written out
    # only for a string found, so a deep walk does not copy ever longer prefixes).
    stack: list[tuple[Any, tuple[object, Any] | None]] = [(data, None)]
    visited = 0
    while stack and len(found) < limit:
        here, at = stack.pop()
        visited += 1
        if visited > MAX_VALUES:
            raise _too_many(file, "its values nest")
        if isinstance(here, dict):
            stack.extend((v, (k, at)) for k, v in reversed(list(here.items())))
        elif isinstance(here, list):
            stack.extend((v, (i, at)) for i, v in reversed(list(enumerate(here))))
        elif isinstance(here, str):
            names: list[str] = []
            while at is not None:
                names.append(str(at[0]))
                at = at[1]
            found.append(".".join(reversed(names)))
    return found
