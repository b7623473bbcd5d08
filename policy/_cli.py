"""The ``policy`` command: check, fmt, explain, simulate, convert, presets, fetch, demo.

The CLI is a thin shell around the library.  ``check`` is the linter (``_lint``) plus the
work of finding policies where people keep them: on the command line, one per line in a
text file, or as one string value inside a TOML, JSON or YAML config file chosen by
``--key``.  A diagnostic's position is mapped back into the file, so ``FILE:LINE:COL``
points at the offending characters in the file, not in the extracted string: the string is
looked up in the file's text (after its key), and when the file spells it literally the
mapping is exact; otherwise (escapes, YAML block scalars) the diagnostic points at the key.

Exit codes, as linters use them: 0 clean (warnings allowed), 1 errors (or warnings under
``--strict``; for ``fetch``, a failed fetch), 2 usage errors (bad arguments, an unreadable
file, a missing key).

``fetch``, ``demo`` and ``simulate --clients`` (the fleet model runs the attempt loop of
``transport``) import ``transport`` (and so urllib3) when they run, never at import
time: ``import policy`` stays free of urllib3.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

import attrs

from ._ast import Policy, PresetRef, Rule
from ._errors import PolicyError, caret
from ._lint import Diagnostic, lint, seconds_text, statuses_text
from ._outcomes import (
    Accept,
    ConnectFailure,
    ConnectionReset,
    GiveUp,
    Outcome,
    Response,
    Retry,
    Timeout,
)
from ._parse import parse
from ._render import duration, render_rule

__all__ = ["UsageError", "main"]


class UsageError(Exception):
    """A usage problem: bad arguments, an unreadable file, a missing key (exit 2)."""


def _out() -> IO[str]:
    return sys.stdout


def _err() -> IO[str]:
    return sys.stderr


# --- where a policy came from -----------------------------------------------------------------


@attrs.frozen
class Source:
    """A policy string and where it sits.

    ``name`` is the file (or ``<argN>``); ``file_text`` the whole file (``None`` for an
    argument); ``offset`` where the policy string starts in it when the file spells the
    string literally (exact positions), else ``None`` and positions fall back to
    ``line``/``column`` (the key's).
    """

    name: str
    text: str
    file_text: str | None = None
    offset: int | None = None
    line: int = 1
    column: int = 1

    def position(self, line: int, column: int) -> tuple[int, int]:
        """The file position of the policy text's ``line``/``column``."""
        if self.file_text is None:
            return line, column
        if self.offset is None:
            return self.line, self.column
        lines = self.text.split("\n")
        off = self.offset + sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
        return _line_col(self.file_text, off)

    def context(self, d: Diagnostic) -> str:
        """The source line with a caret under the diagnostic."""
        if self.file_text is not None and self.offset is not None:
            line, col = self.position(d.line, d.column)
            return caret(self.file_text, line, col, col + (d.end_column - d.column))
        return caret(self.text, d.line, d.column, d.end_column)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- config files -----------------------------------------------------------------------------

_STRUCTURED = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}


def _kind(path: Path) -> str:
    return _STRUCTURED.get(path.suffix.lower(), "text")


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None


def _load(path: Path, text: str) -> Any:
    """The data of a TOML, JSON or YAML file."""
    import json
    import tomllib  # only for config files: keeps the cold start of `policy check` short

    kind = _kind(path)
    try:
        if kind == "TOML":
            return tomllib.loads(text)
        if kind == "JSON":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not valid {kind}: {exc}") from None
    try:
        import yaml
    except ImportError:
        raise UsageError(
            f"{path}: reading YAML needs PyYAML, which is not installed "
            "(pip install 'retry-policy[yaml]')"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None


def _split_key(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise UsageError(
            f"--key {key!r}: expected a dotted path such as retry.policy or jobs.0.retry"
        )
    return parts


def _lookup(data: Any, key: str, path: Path) -> Any:
    """The value at dotted ``key``; a number indexes a list."""
    here: Any = data
    walked: list[str] = []
    for part in _split_key(key):
        where = ".".join(walked) or "the top level"
        if isinstance(here, dict):
            if part not in here:
                known = ", ".join(str(k) for k in list(here)[:12]) or "none"
                raise UsageError(f"{path}: no key {part!r} in {where} (keys there: {known})")
            here = here[part]
        elif isinstance(here, list):
            if not part.isdigit() or int(part) >= len(here):
                raise UsageError(
                    f"{path}: {where} is a list of {len(here)}; {part!r} is not an index in it"
                )
            here = here[int(part)]
        else:
            raise UsageError(f"{path}: {where} is a {_type_name(here)}, it has no key {part!r}")
        walked.append(part)
    return here


def _type_name(value: Any) -> str:
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


def _find_key(text: str, key: str) -> int:
    """Where the last named part of ``key`` is written in ``text`` (0 if not found),
    following the named parts in order."""
    pos = 0
    found = 0
    for part in _split_key(key):
        if part.isdigit():
            continue
        m = re.compile(r"(?<![\w-])" + re.escape(part) + r"(?![\w-])").search(text, pos)
        if m is None:
            continue
        found = pos = m.start()
    return found


def _locate(text: str, value: str, key: str) -> tuple[int | None, int]:
    """(offset of ``value`` spelled literally after its key or ``None``, key offset)."""
    at = _find_key(text, key)
    if not value:
        return None, at
    off = text.find(value, at)
    if off == -1:
        off = text.find(value)
        if off == -1 or text.find(value, off + 1) != -1:
            return None, at
    return off, at


def sources_from_file(path: Path, key: str | None) -> list[Source]:
    """The policies in a file: every policy line of a text file, or the ``--key`` value."""
    text = _read(path)
    name = str(path)
    if _kind(path) == "text":
        if key is not None:
            raise UsageError(
                f"{path}: --key selects a value in a TOML, JSON or YAML file; "
                "a text file holds one policy per line"
            )
        out = []
        offset = 0
        for line in text.split("\n"):
            body = line.strip()
            if body and not body.startswith("#"):
                out.append(Source(name, line.rstrip("\r"), text, offset))
            offset += len(line) + 1
        return out
    data = _load(path, text)
    if key is None:
        found = list(_string_paths(data))
        hint = f" (string values here: {', '.join(found[:8])})" if found else ""
        raise UsageError(f"{path}: say which value holds the policy with --key{hint}")
    value = _lookup(data, key, path)
    if not isinstance(value, str):
        raise UsageError(f"{path}: {key} is a {_type_name(value)}, not a policy string")
    off, at = _locate(text, value, key)
    key_line, key_col = _line_col(text, at)
    return [Source(name, value, text, off, key_line, key_col)]


def _sources(args: argparse.Namespace) -> list[Source]:
    out = [Source(f"<arg{i}>", text) for i, text in enumerate(args.policies, 1)]
    for f in args.files:
        out.extend(sources_from_file(_path(f), args.key))
    if args.key is not None and not args.files:
        raise UsageError("--key needs a -f FILE to look in")
    if not out:
        raise UsageError("nothing to do: give a POLICY or -f FILE")
    return out


# --- printing diagnostics ---------------------------------------------------------------------


def _record(src: Source, d: Diagnostic) -> dict[str, Any]:
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


def _print_diagnostic(src: Source, d: Diagnostic, stream: IO[str]) -> None:
    r = _record(src, d)
    print(f"{r['file']}:{r['line']}:{r['column']}: {d.code} {d.message}", file=stream)
    for line in src.context(d).split("\n"):
        print(f"    {line}", file=stream)


def _parse_or_report(src: Source) -> Policy | None:
    """The policy, or ``None`` after printing its errors to stderr."""
    try:
        return parse(src.text)
    except PolicyError:
        for d in lint(src.text):
            _print_diagnostic(src, d, _err())
        return None


def _one_policy(text: str) -> Policy:
    p = _parse_or_report(Source("<arg1>", text))
    if p is None:
        raise _Failed
    return p


class _Failed(Exception):
    """Diagnostics were printed; exit 1."""


# --- check ------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    sources = _sources(args)
    records: list[dict[str, Any]] = []
    errors = warnings = 0
    for src in sources:
        for d in lint(src.text):
            if d.severity == "info" and args.quiet:
                continue
            errors += d.severity == "error"
            warnings += d.severity == "warning"
            if args.json:
                records.append(_record(src, d))
            else:
                _print_diagnostic(src, d, _out())
    if args.json:
        import json

        json.dump(records, _out(), indent=2, ensure_ascii=False)
        print(file=_out())
    else:
        n = len(sources)
        summary = (
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
            f"in {n} polic{'y' if n == 1 else 'ies'}"
        )
        print(summary, file=_err())
    return 1 if errors or (args.strict and warnings) else 0


# --- fmt --------------------------------------------------------------------------------------


def _canonical_line(line: str) -> str:
    """A text file line with its policy part canonical and its comment kept."""
    body, hash_, comment = line.partition("#")
    indent = body[: len(body) - len(body.lstrip())]
    canon = str(parse(body))
    if not hash_:
        return indent + canon
    return f"{indent}{canon}  #{comment}" if canon else f"{indent}#{comment}"


def cmd_fmt(args: argparse.Namespace) -> int:
    if args.write and not args.files:
        raise UsageError("--write rewrites files: give -f FILE")
    failed = False
    changed = False
    for i, text in enumerate(args.policies, 1):
        p = _parse_or_report(Source(f"<arg{i}>", text))
        if p is None:
            failed = True
            continue
        changed |= str(p) != text
        if not args.check:
            print(p, file=_out())
    for f in args.files:
        path = _path(f)
        sources = sources_from_file(path, args.key)
        policies = []
        for src in sources:
            p = _parse_or_report(src)
            failed |= p is None
            policies.append(p)
        if failed:
            continue
        text = sources[0].file_text if sources else _read(path)
        assert text is not None
        new = _rewrite(path, text, sources, policies, args.key)
        changed |= new != text
        if args.write:
            if new != text:
                path.write_text(new, "utf-8")
                print(f"{path}: rewritten in canonical form", file=_err())
        elif not args.check:
            for p in policies:
                print(p, file=_out())
    if failed:
        return 1
    if args.check and changed:
        print("not in canonical form (run policy fmt)", file=_err())
        return 1
    return 0


def _rewrite(
    path: Path, text: str, sources: list[Source], policies: list[Policy | None], key: str | None
) -> str:
    """The file's text with each policy replaced by its canonical form, nothing else changed."""
    if key is None:
        lines = text.split("\n")
        for src in sources:
            assert src.offset is not None
            n = text.count("\n", 0, src.offset)
            cr = "\r" if lines[n].endswith("\r") else ""
            lines[n] = _canonical_line(lines[n].rstrip("\r")) + cr
        return "\n".join(lines)
    src, p = sources[0], policies[0]
    assert p is not None
    canon = str(p)
    if canon == src.text:
        return text
    if src.offset is None:
        raise UsageError(
            f"{path}: cannot rewrite {key} in place: its value is not written literally "
            "(escapes or a block scalar); rewrite it by hand to:\n" + canon
        )
    new = text[: src.offset] + canon + text[src.offset + len(src.text) :]
    try:
        ok = _lookup(_load(path, new), key, path) == canon
    except UsageError:
        ok = False
    if not ok:
        raise UsageError(
            f"{path}: rewriting {key} in place would change more than the value; "
            "rewrite it by hand to:\n" + canon
        )
    return new


# --- explain ----------------------------------------------------------------------------------

_SHOW_HEAD = 5
_SHOW_TAIL = 2


def _envelope_text(lo: float, hi: float) -> str:
    a, b = seconds_text(lo), seconds_text(hi)
    return a if a == b else f"{a}–{b}"


def _outcome_label(o: Outcome) -> str:
    if isinstance(o, Response):
        return str(o.status)
    if isinstance(o, Timeout):
        return "timeout"
    if isinstance(o, ConnectFailure):
        return "connect"
    return "reset"


def _probe_outcomes() -> list[Outcome]:
    out: list[Outcome] = [Response(s) for s in range(100, 600) if not 200 <= s <= 299]
    return [*out, Timeout(), ConnectFailure(), ConnectionReset()]


def cmd_explain(args: argparse.Namespace) -> int:
    p = _one_policy(args.policy)
    out = _out()
    compiled = p.compiled()
    index = {id(e): i for i, e in enumerate(compiled.entries)}
    wins: dict[int, list[Outcome]] = {}
    for o in _probe_outcomes():
        e = compiled.entry_for(o)
        if e is not None:
            wins.setdefault(index[id(e)], []).append(o)
    origins: list[tuple[Rule, str | None]] = []
    for item in p.items:
        if isinstance(item, Rule):
            origins.append((item, None))
        elif isinstance(item, PresetRef):
            origins.extend((r, item.name) for r in item.rules)
    settings = [i for i in p.items if not isinstance(i, Rule | PresetRef)]
    print(f"policy: {p}", file=out)
    if not origins:
        print("no rules: nothing is retried", file=out)
    for i, (rule, preset) in enumerate(origins):
        origin = f"  (from @{preset})" if preset else ""
        print(f"\n{render_rule(rule)}{origin}", file=out)
        decided = wins.get(i, [])
        if not decided:
            print("  decides nothing: more specific or later rules take every outcome", file=out)
            continue
        statuses = [o.status for o in decided if isinstance(o, Response)]
        others = [_outcome_label(o) for o in decided if not isinstance(o, Response)]
        labels = ([statuses_text(statuses)] if statuses else []) + others
        print(f"  decides: {', '.join(labels)}", file=out)
        print(f"  strategy: {' | '.join(_strategy_words(s) for s in rule.strategies)}", file=out)
        sched = p.schedule(decided[0])
        if not len(sched):
            print("  retries: none", file=out)
        else:
            print(f"  retries ({len(sched)}):", file=out)
            n = len(sched)
            shown = range(n) if n <= _SHOW_HEAD + _SHOW_TAIL + 1 else None
            idx = (
                list(shown)
                if shown is not None
                else [*range(_SHOW_HEAD), -1, *range(n - _SHOW_TAIL, n)]
            )
            for k in idx:
                if k == -1:
                    print("    …", file=out)
                    continue
                env = sched[k]
                print(f"    {k + 1:>3}. wait {_envelope_text(env.min, env.max)}", file=out)
        alone = Policy([rule, *settings]).worst_case()
        print(
            f"  worst case: {seconds_text(alone.wait)} of waiting, {alone.requests} "
            f"request{'s' * (alone.requests != 1)}",
            file=out,
        )
    worst = p.worst_case()
    notes = []
    if p.attempts is not None:
        notes.append(f"attempts={p.attempts}")
    if p.deadline_ms is not None:
        notes.append(f"deadline={duration(p.deadline_ms)}")
    capped = f" (capped by {', '.join(notes)})" if notes else ""
    print(
        f"\nwhole policy, worst case: {seconds_text(worst.wait)} of waiting, "
        f"{worst.requests} request{'s' * (worst.requests != 1)}{capped}",
        file=out,
    )
    if p.timeout_ms is not None:
        print(f"each attempt times out after {duration(p.timeout_ms)}", file=out)
    methods = p.methods
    print(
        "methods retried: "
        + ("every method" if methods is None else ", ".join(methods))
        + ("" if methods is None else " (connect failures: every method)"),
        file=out,
    )
    for d in lint(p):  # pacing and the retry budget, in requests (I203, I204)
        if d.code in ("I203", "I204"):
            print(d.message, file=out)
    if p.pace:
        print("pacing: on (a response that says the quota is spent holds the origin)", file=out)
    if args.plot:
        from ._plot import PlotError, plot_envelope

        try:
            print(f"envelope drawn in {plot_envelope(p, args.plot)}", file=out)
        except PlotError as exc:
            raise UsageError(str(exc)) from None
    return 0


def _strategy_words(s: Any) -> str:
    from ._ast import Backoff, Headers

    if isinstance(s, Backoff):
        if s.fixed:
            shape = f"a fixed {duration(s.min_ms)} delay"
        else:
            shape = (
                f"exponential backoff {duration(s.min_ms)}..{duration(s.max_ms)} "
                f"x{float(s.factor):g}"
            )
        jit = "" if s.jitter.value == "none" else f", {s.jitter.value} jitter"
        return f"{shape}{jit}, up to {s.limit} retries"
    if isinstance(s, Headers):
        if s.named:
            names = ", ".join(n for n in (s.limit_header, s.remaining_header, s.reset_header) if n)
            what = f"Retry-After, then {names}"
        else:
            what = "Retry-After, RateLimit, RateLimit-Reset, X-RateLimit-Reset"
        return (
            f"wait as the server says ({what}), at most {duration(s.max_ms)} "
            f"(longer: {s.over.value}), up to {s.limit} retries"
        )
    return "never retry"


# --- simulate ---------------------------------------------------------------------------------

_WORDS: dict[str, Callable[[], Outcome]] = {
    "timeout": Timeout,
    "connect": ConnectFailure,
    "reset": ConnectionReset,
}


def _parse_outcomes(spec: str, headers: list[str]) -> list[Outcome]:
    names = [w.strip().lower() for w in spec.split(",") if w.strip()]
    if not names:
        raise UsageError("--outcomes: give a comma list such as 503,503,timeout,200")
    per: dict[int, list[tuple[str, str]]] = {}
    for h in headers:
        m = re.fullmatch(r"\s*(\d+)\s*:\s*([^:]+?)\s*:\s*(.*)", h)
        if m is None:
            raise UsageError(
                f"--headers {h!r}: expected 'N:Name: value' (N counts outcomes from 1)"
            )
        n = int(m.group(1))
        if not 1 <= n <= len(names):
            raise UsageError(f"--headers {h!r}: there is no outcome {n} (1..{len(names)})")
        per.setdefault(n, []).append((m.group(2), m.group(3)))
    out: list[Outcome] = []
    for i, name in enumerate(names, 1):
        if name in _WORDS:
            if i in per:
                raise UsageError(f"--headers: outcome {i} is {name}, which has no headers")
            out.append(_WORDS[name]())
        elif name.isdigit() and 100 <= int(name) <= 599:
            out.append(Response(int(name), per.get(i, [])))
        else:
            raise UsageError(
                f"--outcomes: {name!r} is not a status (100-599) or timeout, connect, reset"
            )
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    import random

    if args.clients is not None:  # fleet mode: policy/_fleet_cmd.py
        from ._fleet_cmd import run
        from ._plot import PlotError

        policies = [_one_policy(t) for t in args.policies]
        try:
            return run(policies, args, _out())
        except (ValueError, PlotError) as exc:
            raise UsageError(str(exc)) from None
    from ._fleet_cmd import fleet_only

    problem = fleet_only(args)
    if problem is not None:
        raise UsageError(problem)
    if len(args.policies) != 1 or args.outcomes is None:
        raise UsageError("give one POLICY and --outcomes, or several with --clients N")
    p = _one_policy(args.policies[0])
    outcomes = _parse_outcomes(args.outcomes, args.headers)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rand = random.Random(seed).random
    start = args.now if args.now is not None else time.time()
    out = _out()
    print(f"policy: {p}", file=out)
    print(
        f"start {_epoch(start)} (--now), seed {seed} (--seed), method {args.method.upper()}",
        file=out,
    )
    rows = [("#", "at", "outcome", "decision", "wait", "reason")]
    state = p.start(now=start)
    now = start
    last: Any = None
    used = 0
    for i, outcome in enumerate(outcomes, 1):
        used = i
        d = p.decide(state, outcome, now=now, rand=rand, method=args.method)
        at = "+" + seconds_text(now - start)
        label = _outcome_label(outcome)
        if isinstance(d, Retry):
            rows.append((str(i), at, label, "retry", seconds_text(d.delay), d.reason))
            now += d.delay
            state = d.state
        elif isinstance(d, GiveUp):
            rows.append((str(i), at, label, "give up", "", d.reason))
        else:
            assert isinstance(d, Accept)
            rows.append((str(i), at, label, "accept", "", "2xx: done"))
        last = d
        if not isinstance(d, Retry):
            break
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    for r in rows:
        cells = [r[k].ljust(widths[k]) for k in range(5)]
        print(("  ".join(cells) + "  " + r[5]).rstrip(), file=out)
    if isinstance(last, Retry):
        print(
            f"the outcomes ran out: a retry is due at +{seconds_text(now - start)}",
            file=out,
        )
    elif used < len(outcomes):
        print(f"{len(outcomes) - used} outcome(s) not reached: the call is over", file=out)
    print(
        f"{state.requests} request{'s' * (state.requests != 1)}, "
        f"{seconds_text(now - start)} of waiting",
        file=out,
    )
    return 0


# --- convert ----------------------------------------------------------------------------------


def cmd_convert(args: argparse.Namespace) -> int:
    import json

    from ._options import from_options

    if (args.policy is None) == (args.file is None):
        raise UsageError("convert takes a POLICY or -f FILE (not both)")
    if args.policy is not None:
        p = _one_policy(args.policy)
    else:
        path = _path(args.file)
        text = _read(path)
        data = _load(path, text) if _kind(path) != "text" else _json_or_usage(path, text)
        if args.key is not None:
            data = _lookup(data, args.key, path)
        if isinstance(data, str):
            p = _one_policy(data)
        else:
            if not isinstance(data, dict) or not set(data) <= {"retry", "timeout"}:
                raise UsageError(
                    f"{path}: expected the seed's options, an object with 'retry' and/or "
                    "'timeout' (or a policy string)"
                )
            try:
                p = from_options(**data)
            except PolicyError as exc:
                print(f"{path}: {exc}", file=_err())
                return 1
    if args.to == "policy":
        print(p, file=_out())
        return 0
    try:
        options = p.to_options()
    except PolicyError as exc:
        print(f"cannot convert to the seed's options: {exc.message}", file=_err())
        return 1
    json.dump(options, _out(), indent=2)
    print(file=_out())
    return 0


def _json_or_usage(path: Path, text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None


# --- presets ----------------------------------------------------------------------------------


def cmd_presets(args: argparse.Namespace) -> int:
    from ._presets import PRESETS

    out = _out()
    if not PRESETS:
        print("no presets are defined", file=out)
        return 0
    for name in sorted(PRESETS):
        pre = PRESETS[name]
        if args.names:
            print(f"@{name}", file=out)
            continue
        print(f"@{name}: {pre.description}", file=out)
        print(f"    {parse(pre.text)}", file=out)
        for s in pre.sources:
            print(f"    source: {s}", file=out)
    return 0


# --- fetch and demo (they need the transport) -------------------------------------------------


def cmd_fetch(args: argparse.Namespace) -> int:
    from ._demo import fetch

    return fetch(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import demo

    return demo()


# --- argument parsing -------------------------------------------------------------------------


def _path(name: str) -> Path:
    """``Path(name)``; pathlib (with urllib.parse) is imported only by commands on files."""
    from pathlib import Path

    return Path(name)


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A fixed width: argparse would otherwise import shutil to ask the terminal's size,
    # a few milliseconds of every cold `policy check`.
    return argparse.HelpFormatter(prog, width=100)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise instead of exiting the interpreter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def _parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="policy",
        description="Check, format, explain and try HTTP retry policies.",
        epilog="Run 'policy demo' to see policies at work against a local server.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("check", help="parse and lint policies (exit 1 on errors)")
    c.add_argument("policies", nargs="*", metavar="POLICY")
    c.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file (one policy a line) or a TOML, JSON or YAML file",
    )
    c.add_argument("--key", help="the dotted path of the policy in a structured file (a.b.0.c)")
    c.add_argument("--json", action="store_true", help="print diagnostics as a JSON list")
    c.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    c.add_argument("-q", "--quiet", action="store_true", help="leave out info findings (I2xx)")
    c.set_defaults(func=cmd_check)

    f = sub.add_parser("fmt", help="print (or rewrite) policies in canonical form")
    f.add_argument("policies", nargs="*", metavar="POLICY")
    f.add_argument("-f", "--file", dest="files", action="append", default=[], metavar="FILE")
    f.add_argument("--key", help="the dotted path of the policy in a structured file")
    f.add_argument("--write", action="store_true", help="rewrite the file in place")
    f.add_argument("--check", action="store_true", help="exit 1 if not already canonical")
    f.set_defaults(func=cmd_fmt)

    e = sub.add_parser("explain", help="per rule: what it decides and how long it waits")
    e.add_argument("policy", metavar="POLICY")
    e.add_argument("--plot", metavar="FILE", help="draw the delay envelope per retry (.png/.svg)")
    e.set_defaults(func=cmd_explain)

    s = sub.add_parser(
        "simulate", help="the decisions for a sequence of outcomes, or a fleet (--clients)"
    )
    s.add_argument("policies", nargs="+", metavar="POLICY")
    s.add_argument("--outcomes", help="e.g. 503,503,timeout,connect,reset,200")
    s.add_argument(
        "--headers",
        action="append",
        default=[],
        metavar="'N:K: V'",
        help="a header of the N-th outcome (1-based), e.g. '1:Retry-After: 2'",
    )
    s.add_argument("--seed", type=int, help="seed for the jitter (random.Random(seed))")
    s.add_argument("--now", type=float, help="start time, epoch seconds (default: now)")
    s.add_argument("--method", default="GET", help="the request method (default GET)")
    from ._fleet_cmd import add_arguments

    add_arguments(s)
    s.set_defaults(func=cmd_simulate)

    v = sub.add_parser("convert", help="seed options <-> policy")
    v.add_argument("policy", nargs="?", metavar="POLICY")
    v.add_argument("-f", "--file", help="a JSON (or TOML/YAML) file of seed options")
    v.add_argument("--key", help="the dotted path of the options in the file")
    v.add_argument("--to", choices=["options", "policy"], required=True)
    v.set_defaults(func=cmd_convert)

    p = sub.add_parser("presets", help="list the presets (@name)")
    p.add_argument("--names", action="store_true", help="names only")
    p.set_defaults(func=cmd_presets)

    g = sub.add_parser("fetch", help="fetch a URL through the retrying transport")
    g.add_argument("url", metavar="URL")
    g.add_argument("-X", "--method", default=None, help="default GET (POST with -d)")
    g.add_argument("-H", "--header", dest="headers", action="append", default=[], metavar="'K: V'")
    g.add_argument("-d", "--data", help="the request body")
    g.add_argument("--retry", default="", metavar="POLICY", help="the retry policy")
    g.add_argument("--timeout", default=None, help="per-attempt timeout, e.g. 10s")
    g.add_argument("--key", help="fetch through background_fetch with this stable key")
    g.add_argument("--store", metavar="FILE", help="with --key: keep results in this SQLite file")
    g.set_defaults(func=cmd_fetch)

    d = sub.add_parser("demo", help="policies at work against an embedded local server")
    d.set_defaults(func=cmd_demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``policy`` command with ``argv`` (default ``sys.argv[1:]``); the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"policy: error: {exc}", file=_err())
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        parser.print_help(_out())
        return 2
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"policy {args.command}: error: {exc}", file=_err())
        return 2
    except _Failed:
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=_err())
        return 130


def _epoch(t: float) -> str:
    return f"{t:.3f}".rstrip("0").rstrip(".")
