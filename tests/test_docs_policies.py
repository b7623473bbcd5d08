"""Every policy the docs show passes ``policy check --strict``: no error, no warning.

A reader copies examples. The defaults stay as they are (``backoff()`` has no jitter;
rules retry every method unless told), so the examples say what a careful policy says
(jitter, ``[idempotent]`` or ``methods=``). The policies are found where a reader finds
them in README.md and docs/*.md:

* inline code in table rows (`` `5xx[idempotent]:backoff(3,jitter)` ``);
* string literals given to the adapters and the parser in python blocks (``parse``,
  ``RetryingPool``, ``PolicyRetry``, ``RetryTransport``, ``AsyncRetryTransport``,
  ``aiohttp_middleware``, ``retrying``, ``RetryAdapter``, ``attempts``, ``Policy``, and
  any ``retry=`` / ``policy=`` keyword, as ``background_fetch(..., retry=...)``);
* the policy arguments of ``policy check|fmt|explain|simulate|convert`` in shell blocks.

A string that does not parse is not a policy (a fragment such as ``x1.8``, or an example
of an error, which other tests check). The examples that show a finding on purpose (the
lint reference, a thundering herd, what a default retries) are listed in ``SHOWN`` with
the codes they show: they must still show exactly those.
"""

from __future__ import annotations

import ast
import doctest
import re
import shlex
from pathlib import Path

import pytest

import policy

ROOT = Path(__file__).resolve().parents[1]
ALL_DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
#: Calls whose argument is shown to be linted: the findings are the point.
_LINTERS = {"lint", "codes"}
_COMMAND = re.compile(r"(?:^|[\s;&|(])policy\s+(check|fmt|explain|simulate|convert)\s(.*)")
_SHELLS = {"", "sh", "shell", "bash", "console", "zsh"}

_HERD = ("429:backoff(100,1s..1m,x2)", "429:backoff(100,1s..1m,x2,jitter)")

#: Examples that show findings on purpose: (page, policy) -> the codes shown (W and E).
SHOWN: dict[tuple[str, str], set[str]] = {
    # the lint reference's table of what W111 and W108 flag
    ("lint.md", "5xx:backoff(3,jitter)"): {"W111"},
    ("lint.md", "reset:backoff(2,jitter)"): {"W108"},
    # `check --strict` failing on purpose (404 retried)
    ("cli.md", "404:backoff(2,1s,jitter)"): {"W103", "W111", "W109"},
    # seed options retry every method and have one jitter (scale): what converts to them
    ("cli.md", "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter)"): {"W111"},
    ("cli.md", "429:headers(x-ratelimit-*) 5xx:backoff(5,1s..30s,x1.8,jitter=scale)"): {"W111"},
    (
        "options.md",
        "429,503:backoff(3,500ms..20s,x2) 5xx:headers(reset-header=X-Reset,format=epoch)",
    ): {"W104", "W111", "W101"},
    ("options.md", "5xx:backoff(jitter)|never deadline=2m"): {"W111"},
    # the thundering herd: plain backoff on 429, with and without jitter, 100 retries
    ("fleet.md", _HERD[0]): {"W104", "W101", "W107"},
    ("fleet.md", _HERD[1]): {"W104", "W107"},
    ("fleet.md", "429:backoff(100,1s..1m,x2,jitter=decorrelated)"): {"W104", "W107"},
    # a fixed delay in the canonical-form table (one delay: jitter would have no room)
    ("language.md", "5xx[idempotent]:backoff(2,2s..2s,x3)"): {"W101"},
    ("language.md", "5xx[idempotent]:backoff(2,2s)"): {"W101"},
    # records of what a benchmark or a hostile-server test ran
    ("benchmarks.md", "5xx:backoff(3,1s..4s,x2,jitter) budget=20%"): {"W111"},
    ("benchmarks.md", "5xx:backoff(3,1s..4s,x2,jitter)"): {"W111"},
    # the adaptive bench's policy mirrors urllib3's Retry(total=50) on a header-less server
    ("benchmarks.md", "429:backoff(50,100ms..5s,x2,jitter) pace=adaptive"): {"W104", "W107"},
    ("reliability.md", "timeout:backoff(1000,50ms)"): {"W108", "W101", "W107"},
    # what Istio retries by default, read back from a route: reset for every method
    ("runtimes.md", "connect,reset:backoff(3,25ms..250ms,x2,jitter)"): {"W108"},
}


def _parses(text: str) -> bool:
    try:
        policy.parse(text)
    except (policy.PolicyError, TypeError, ValueError):
        return False
    return True


def _python_source(body: str) -> str:
    if body.lstrip().startswith(">>>"):
        examples = doctest.DocTestParser().get_examples(body)
        return "".join(e.source for e in examples)
    return body


def _from_python(body: str) -> list[str]:
    """Every string literal that is a policy, but those handed to ``lint`` (whose point is
    to show findings): given to an adapter, ``parse``, ``convert_to``, or kept in a name."""
    try:
        tree = ast.parse(_python_source(body))
    except SyntaxError:
        return []
    linted: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _LINTERS:
                linted |= {id(n) for a in node.args for n in ast.walk(a)}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in linted
    ]


def _from_shell(body: str) -> list[str]:
    found = []
    text = re.sub(r"\\\n\s*", " ", body)
    for line in text.splitlines():
        m = _COMMAND.search(line.lstrip("$ "))
        if m is None:
            continue
        try:
            words = shlex.split(m.group(2), comments=True)
        except ValueError:
            continue
        found += [w for w in words if not w.startswith("-")]
    return found


def policies_of(text: str) -> list[tuple[int, str]]:
    """(line, policy string) of every policy shown in a Markdown text."""
    found: list[tuple[int, str]] = []
    fenced: list[tuple[int, int]] = []
    for m in _FENCE.finditer(text):
        fenced.append((m.start(), m.end()))
        line = text.count("\n", 0, m.start()) + 2
        info = (m.group("info").split() or [""])[0].lower()
        body = m.group("body")
        if info in ("python", "py"):
            found += [(line, s) for s in _from_python(body)]
        elif info in _SHELLS:
            found += [(line, s) for s in _from_shell(body)]
    offset = 0
    for n, row in enumerate(text.splitlines(keepends=True), 1):
        inside = any(a <= offset < b for a, b in fenced)
        offset += len(row)
        if inside or not row.lstrip().startswith("|"):
            continue
        for span in _INLINE.findall(row):
            code = span.removeprefix("@")  # a decorator shown alone: @transport.retrying(...)
            found += [(n, s) for s in [span, *_from_python(code)]]
    return [(n, s) for n, s in found if _parses(s)]


def test_policies_are_found() -> None:
    """Each kind of place a policy hides is read; fragments and shell options are not."""
    text = (
        "| `5xx:backoff(3)` | `x1.8` |\n"
        "```python\nt = transport.RetryTransport('429:headers()', x=1)\n"
        "f = background_fetch('k', 'u', retry='timeout:backoff(2)')\n```\n"
        "```python\n>>> policy.parse(\n...     '503:never')\nx\n```\n"
        "```console\n$ policy explain --json 'reset:backoff(4)' \\\n   '@standard'\n```\n"
        "```sh\npolicy simulate '5xx:backoff(3)' --outcomes 503,200 --seed 1\n```\n"
    )
    assert [s for _, s in policies_of(text)] == [
        "429:headers()",
        "timeout:backoff(2)",
        "503:never",
        "reset:backoff(4)",
        "@standard",
        "5xx:backoff(3)",
        "5xx:backoff(3)",
    ]


def _shown() -> list[tuple[Path, int, str]]:
    out = []
    for path in ALL_DOCS:
        out += [(path, n, s) for n, s in policies_of(path.read_text("utf-8"))]
    return out


SHOWN_POLICIES = _shown()


def test_the_docs_show_many_policies() -> None:
    assert len(SHOWN_POLICIES) >= 100
    assert {p.name for p, _, _ in SHOWN_POLICIES} >= {"README.md", "cli.md", "clients.md"}


def _codes(text: str) -> set[str]:
    return {d.code for d in policy.lint(text) if not d.code.startswith("I")}


@pytest.mark.parametrize("path", ALL_DOCS, ids=[p.name for p in ALL_DOCS])
def test_every_policy_shown_passes_strict_lint(path: Path) -> None:
    bad = []
    for page, line, text in SHOWN_POLICIES:
        if page != path:
            continue
        codes = _codes(text)
        expected = SHOWN.get((path.name, text), set())
        if codes != expected:
            findings = "; ".join(
                f"{d.code} {d.message}" for d in policy.lint(text) if not d.code.startswith("I")
            )
            bad.append(f"{path.name}:{line}: {text!r}: {findings or 'no finding'}")
    assert not bad, "\n".join(bad)


def test_every_listed_exception_is_still_shown() -> None:
    """An exception whose example was fixed or removed is dropped from SHOWN."""
    shown = {(p.name, s) for p, _, s in SHOWN_POLICIES}
    assert set(SHOWN) <= shown, set(SHOWN) - shown
