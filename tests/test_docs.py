"""The examples in the documentation run: every ```python block of docs/*.md and README.md.

A file's blocks run in order in one namespace, so a later block can use what an earlier
one defined. A block written as an interactive session (``>>>`` prompts) runs as a
doctest: its printed output must match. A block is left out when its fence says so:
```` ```python skip ```` (never run).  ```` ```python requires=httpx ```` names the modules a
block needs: the test dependencies install them all, so a missing one fails the test (a
fresh clone runs every example; nothing is skipped).
"""

from __future__ import annotations

import doctest
import importlib.util
import io
import re
import textwrap
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALL_DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)


def python_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(line, code, words after 'python') of each python fence in a Markdown text."""
    out = []
    for m in _FENCE.finditer(text):
        words = m.group("info").split()
        if not words or words[0].lower() not in ("python", "py"):
            continue
        line = text.count("\n", 0, m.start()) + 2
        out.append((line, textwrap.dedent(m.group("body")), words[1:]))
    return out


def _wanted(options: list[str]) -> str | None:
    """Why a block is left out, or None to run it (a missing required module fails)."""
    for opt in options:
        if opt == "skip":
            return "marked skip"
        if opt.startswith("requires="):
            for mod in opt.split("=", 1)[1].split(","):
                if importlib.util.find_spec(mod) is None:
                    pytest.fail(f"a documented example needs {mod}: add it to the [test] extra")
    return None


#: The pages with python examples (a page without any has nothing to run).
DOCS = [p for p in ALL_DOCS if python_blocks(p.read_text("utf-8"))]


def _run_doctest(code: str, namespace: dict[str, Any], name: str) -> None:
    """Run an interactive-session block; fail with doctest's report on any mismatch."""
    test = doctest.DocTestParser().get_doctest(code, namespace, name, name, 0)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)
    if result.failed:
        pytest.fail(f"{name}: doctest failed\n{report.getvalue()}", pytrace=False)


def test_block_finder() -> None:
    """The finder sees python fences with their options and ignores other languages."""
    text = "a\n```python\nx = 1\n```\n```toml\ny = 2\n```\n```python skip\nboom\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n", []), (9, "boom\n", ["skip"])]
    assert _wanted(["skip"]) == "marked skip"
    assert _wanted(["requires=json"]) is None
    with pytest.raises(pytest.fail.Exception, match="no_such_module_xyz"):
        _wanted(["requires=no_such_module_xyz"])
    assert _wanted([]) is None


def _page_setup(path: Path, stack: ExitStack, namespace: dict[str, Any]) -> None:
    """What a page's examples assume without showing it: the cookbook's ``BASE``, the URL
    of a loopback server with flaky endpoints (the one ``policy demo`` plays against)."""
    if path.name == "cookbook.md":
        from policy.cli._demo import DemoServer  # the tests may use private names; docs may not

        server = stack.enter_context(DemoServer(retry_after="0.1"))
        namespace["BASE"] = server.url
    if path.name == "sdks.md":
        # the SDKs read their key and URL from the environment: point them at a local fake
        # API whose every request is refused with 429 (the page shows a give-up)
        from fake_llm_api import FakeLLMAPI

        api = stack.enter_context(FakeLLMAPI())
        api.fail_next(*["429"] * 50)
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("OPENAI_API_KEY", "sk-test")
        patch.setenv("OPENAI_BASE_URL", api.base_url)
        patch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        patch.setenv("ANTHROPIC_BASE_URL", api.url)


def test_most_pages_have_examples() -> None:
    """The pages are found, and most carry python examples that run."""
    assert len(ALL_DOCS) >= 10
    assert len(DOCS) >= len(ALL_DOCS) // 2


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_doc_examples_run(path: Path) -> None:
    """Every python block of the file runs without an exception (asserts included)."""
    blocks = python_blocks(path.read_text("utf-8"))
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}"}
    ran = 0
    with ExitStack() as stack:  # stops the page's server, even when a block fails
        _page_setup(path, stack, namespace)
        for line, code, options in blocks:
            if _wanted(options) is not None:
                continue
            if code.lstrip().startswith(">>>"):
                _run_doctest(code, namespace, f"{path.name}:{line}")
            else:
                exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
            ran += 1
    assert ran or all(_wanted(o) for _, _, o in blocks)


#: What users cannot follow: a private module (``policy.check._lint``, ``from transport import
#: _pool``), one of ``policy``'s internal floors (``policy.cli.main``), or the project's
#: internal specification and shared workspace.
_PRIVATE = re.compile(
    r"\b(?:policy|transport)(?:\.[A-Za-z0-9]+)*\._[A-Za-z]"
    r"|\bpolicy\.(?:language|evaluate|loop|fleet|cli|check)\b"
    r"|\bfrom\s+(?:policy|transport)(?:\.[A-Za-z0-9]+)*\s+import\s+\(?\s*_[A-Za-z]"
)
_INTERNAL = re.compile(r"\bSPEC\b|§|shared/")


def _offending(text: str) -> list[str]:
    return [
        f"{n}: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if _PRIVATE.search(line) or _INTERNAL.search(line)
    ]


def test_offending_lines_are_found() -> None:
    """The check below would catch each way a page can point users at what they lack."""
    for bad in (
        "from policy.check._lint import lint",
        "`policy.cli.main(argv)`",
        "import transport._pool",
        "from transport import _redact",
        "policy.language._errors.PolicyValueError: boom",
        "as the SPEC says",
        "(§2.4)",
        "see " + "../" + "shared/SPEC.md",  # spelled in pieces: the repository never cites it
        "`shared/seed/backgroundFetch.md`",
    ):
        assert _offending(bad), bad
    for good in ("from policy import lint", "policy.PolicyValueError: boom", "shared keys"):
        assert not _offending(good), good


@pytest.mark.parametrize("path", ALL_DOCS, ids=[p.name for p in ALL_DOCS])
def test_docs_use_only_public_names_and_cite_no_internal_text(path: Path) -> None:
    """Docs speak to users: public names only, no SPEC, section signs or shared workspace."""
    assert _offending(path.read_text("utf-8")) == []
