"""The house, drawn from the code's own imports: one folder per floor, imports point down.

Every module of ``policy/`` and ``transport/`` is parsed with ``ast`` -- every import
statement, at the top, inside a function (a lazy import) and under ``TYPE_CHECKING`` --
and the floors are enforced:

* ``policy.language`` imports nothing of ``policy`` outside itself;
* ``policy.evaluate`` imports only ``language``; so does the ``policy`` facade
  (``policy/__init__.py``), which the floors above may import;
* ``policy.loop`` only ``language`` and ``evaluate``; ``policy.fleet`` only those and
  ``loop``; ``policy.runtimes`` only ``language`` and ``evaluate``;
* ``policy.cli`` anything of ``policy``, and ``transport`` only lazily (inside a
  function); nothing else in ``policy`` imports ``transport``;
* ``transport`` may import the pure floors, never ``policy.cli`` or ``policy.fleet``;
* no import cycle among the modules (lazy and ``TYPE_CHECKING`` imports included);
* every module is at most 400 lines, and every folder's ``__init__.py`` has a docstring.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("policy", "transport")
MAX_LINES = 400

#: Floor -> the floors of ``policy`` it may import (its own included).
ALLOWED: dict[str, frozenset[str]] = {
    "policy.language": frozenset({"policy.language"}),
    "policy.evaluate": frozenset({"policy.language", "policy.evaluate"}),
    "policy.check": frozenset({"policy.language", "policy.evaluate", "policy.check"}),
    # the package root: the user's facade, binding the evaluator and naming ``lint`` lazily
    "policy": frozenset({"policy", "policy.language", "policy.evaluate", "policy.check"}),
    "policy.loop": frozenset({"policy", "policy.language", "policy.evaluate", "policy.loop"}),
    "policy.fleet": frozenset(
        {"policy", "policy.language", "policy.evaluate", "policy.loop", "policy.fleet"}
    ),
    "policy.runtimes": frozenset(
        {"policy", "policy.language", "policy.evaluate", "policy.runtimes"}
    ),
    "policy.cli": frozenset(
        {
            "policy",
            "policy.language",
            "policy.evaluate",
            "policy.check",
            "policy.loop",
            "policy.fleet",
            "policy.runtimes",
            "policy.cli",
        }
    ),
    "transport": frozenset(
        {"policy", "policy.language", "policy.evaluate", "policy.loop", "policy.runtimes"}
    ),
}
#: Floors that may import ``transport``, lazily only.
LAZY_TRANSPORT = frozenset({"policy.cli"})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the two packages: dotted name -> file."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def floor_of(module: str) -> str:
    """The floor a module lives on: ``policy.<folder>``, ``policy`` (the facade and
    ``policy.__main__``, which runs the CLI) or ``transport``."""
    parts = module.split(".")
    if parts[0] == "transport":
        return "transport"
    if module == "policy.__main__":
        return "policy.cli"
    if len(parts) == 1:
        return "policy"
    return f"policy.{parts[1]}"


def _known(name: str) -> str | None:
    """The module ``name`` is, or is inside of (``None``: not one of ours)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk(child, inner)


@cache
def imports_of(module: str) -> tuple[tuple[str, bool, int], ...]:
    """(imported module, lazily, line) for every import of ``module`` of one of ours."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, bool, int]] = []
    for node, lazy in _walk(tree, False):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [base]
            # ``from pkg import submodule`` imports the submodule too
            targets += [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            hit = _known(target)
            if hit is not None and hit != module and (hit, lazy, node.lineno) not in out:
                out.append((hit, lazy, node.lineno))
    return tuple(out)


def violations(module: str) -> list[str]:
    """The imports of ``module`` that break its floor's rule, one sentence each."""
    floor = floor_of(module)
    allowed = ALLOWED[floor] if floor in ALLOWED else frozenset({floor})
    problems = []
    for target, lazy, line in imports_of(module):
        where = f"{module}:{line} imports {target}"
        to = floor_of(target)
        if to == "transport" and floor != "transport":
            if floor not in LAZY_TRANSPORT:
                problems.append(f"{where}: nothing in {floor} may import transport")
            elif not lazy:
                problems.append(f"{where}: {floor} may import transport only inside a function")
        elif to != "transport" and to not in allowed:
            problems.append(f"{where}: {floor} may import only {sorted(allowed)}")
    return problems


def cycles() -> list[list[str]]:
    """The import cycles: the strongly connected components of more than one module (or a
    module importing itself), by Tarjan's algorithm."""
    graph = {m: sorted({t for t, _, _ in imports_of(m)}) for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_down(module: str) -> None:
    """Each module imports only from its own floor and the floors below it."""
    problems = violations(module)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", sorted(modules()))
def test_module_is_at_most_400_lines(module: str) -> None:
    lines = len(modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{modules()[module].relative_to(ROOT)}: {lines} lines"


@pytest.mark.parametrize(
    "package", sorted(m for m, p in modules().items() if p.name == "__init__.py")
)
def test_every_folder_says_what_it_holds(package: str) -> None:
    tree = ast.parse(modules()[package].read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and doc.strip(), f"{package}/__init__.py has no docstring"


def test_no_import_cycle() -> None:
    """No module reaches itself through imports, lazy and type-only ones included."""
    found = cycles()
    assert not found, found


# -- the checker checks what it claims -----------------------------------------------------


def test_the_import_reader_sees_lazy_and_type_checking_imports() -> None:
    """A lazy import, a ``TYPE_CHECKING`` one and a relative one are all found."""
    found = dict((t, lazy) for t, lazy, _ in imports_of("policy.fleet._command"))
    assert found.get("policy.fleet._simulate") is True  # inside a function
    seen = {t for t, _, _ in imports_of("policy")}
    assert "policy.evaluate._schedule" in seen  # under TYPE_CHECKING
    assert "policy.language._parse" in seen  # relative, at the top
    assert floor_of("policy.language._ast") == "policy.language"
    assert floor_of("transport._pool") == "transport"


def test_a_forbidden_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules bite: a pure floor importing a higher one or ``transport`` is a finding."""
    fake = {
        ("policy.loop._loop", False, 1): ("policy.cli", False),
        ("policy.evaluate._pace", False, 1): ("transport._pool", True),
        ("policy.cli.fetch", False, 1): ("transport._pool", False),
    }
    for (module, _, _), (target, lazy) in fake.items():
        monkeypatch.setattr(
            sys.modules[__name__], "imports_of", lambda m, t=target, lz=lazy: ((t, lz, 1),)
        )
        assert violations(module), (module, target)
