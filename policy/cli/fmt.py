"""``policy fmt``: print, check or rewrite policies in canonical form."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from ..language._parse import parse
from ..language._policy import Policy
from ._io import UsageError, err, out
from ._sources import (
    Input,
    Source,
    key_text,
    lookup,
    open_input,
    parse_or_report,
    policy_argument,
    sources_from_file,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]


def _canonical_line(line: str) -> str:
    """A text file line with its policy part canonical and its comment kept."""
    body, hash_, comment = line.partition("#")
    indent = body[: len(body) - len(body.lstrip())]
    canon = str(parse(body))
    if not hash_:
        return indent + canon
    return f"{indent}{canon}  #{comment}" if canon else f"{indent}#{comment}"


def run(args: argparse.Namespace) -> int:
    """Print the canonical forms; ``--check`` exits 1 if any differs; ``--write`` rewrites."""
    if args.write and not args.files:
        raise UsageError("--write rewrites files: give -f FILE")
    if args.write and "-" in args.files:
        raise UsageError("--write cannot rewrite standard input (-f -): fmt prints the result")
    failed = False
    changed = False
    unformatted = 0
    total = 0
    for i, text in enumerate(args.policies, 1):
        src = policy_argument(i, text)
        p = parse_or_report(src)
        if p is None:
            failed = True
            continue
        total += 1
        if str(p) != src.text:
            changed = True
            unformatted += 1
            if args.check:
                _not_canonical(src, str(p))
        if not args.check:
            print(p, file=out())
    for f in args.files:
        inp = open_input(f, args.stdin_format)
        found = sources_from_file(inp, args.keys)
        policies = []
        for src in found:
            p = parse_or_report(src)
            failed |= p is None
            policies.append(p)
        if failed:
            continue
        text = inp.text
        total += len(found)
        for src, p in zip(found, policies, strict=True):
            canon = str(p) if src.key is not None else _canonical_line(src.text)
            if canon != src.text:
                unformatted += 1
                if args.check:
                    _not_canonical(src, canon)
        new = _rewrite(inp, found, policies)
        changed |= new != text
        if args.write:
            if new != text:
                assert inp.path is not None
                inp.path.write_text(new, "utf-8")
                print(f"{inp.name}: rewritten in canonical form", file=err())
        elif not args.check:
            for p in policies:
                print(p, file=out())
    if failed:
        return 1
    if args.check and changed:
        n = total
        print(
            f"{unformatted} of {n} polic{'y' if n == 1 else 'ies'} not in canonical form "
            "(policy fmt prints it; with -f FILE, --write rewrites it)",
            file=err(),
        )
        return 1
    return 0


def _not_canonical(src: Source, canon: str) -> None:
    """``FILE:LINE:COL: not in canonical form, which is: ...`` (``fmt --check``)."""
    line, col = src.position(1, 1)
    print(f"{src.name}:{line}:{col}: not in canonical form, which is: {canon.strip()}", file=out())


def _rewrite(inp: Input, found: list[Source], policies: list[Policy | None]) -> str:
    """The file's text with each policy replaced by its canonical form, nothing else changed."""
    text, file = inp.text, inp.name
    if not found or found[0].key is None:
        lines = text.split("\n")
        for src in found:
            assert src.offset is not None
            n = src.position(1, 1)[0] - 1  # the line's index, without rescanning the file
            cr = "\r" if lines[n].endswith("\r") else ""
            lines[n] = _canonical_line(lines[n].rstrip("\r")) + cr
        return "\n".join(lines)
    edits: list[tuple[int, int, str]] = []
    for src, p in zip(found, policies, strict=True):
        assert p is not None and src.key is not None
        canon = str(p)
        if canon == src.text:
            continue
        if src.offset is None:
            raise UsageError(
                f"{file}: cannot rewrite {key_text(src.key)} in place: its value is not "
                "written literally (escapes or a block scalar); rewrite it by hand to:\n" + canon
            )
        edits.append((src.offset, src.offset + len(src.text), canon))
    if not edits:
        return text
    edits.sort()
    if any(a[1] > b[0] for a, b in pairwise(edits)):
        raise UsageError(f"{file}: two keys name the same text; rewrite them by hand")
    new = text
    for start, end, canon in reversed(edits):
        new = new[:start] + canon + new[end:]
    try:
        data = inp.load(new)
        ok = all(
            lookup(data, key_text(src.key), file) == str(p)
            for src, p in zip(found, policies, strict=True)
            if src.key is not None
        )
    except UsageError:
        ok = False
    if not ok:
        canon_list = "\n".join(
            f"{key_text(src.key)} = {p}"
            for src, p in zip(found, policies, strict=True)
            if src.key is not None
        )
        raise UsageError(
            f"{file}: rewriting in place would change more than the values; "
            "rewrite them by hand to:\n" + canon_list
        )
    return new
