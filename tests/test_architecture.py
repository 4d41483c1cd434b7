"""The layers of the code, read from its imports with ``ast``: no cycle, nothing upward.

The one place the allowed order is written down: :data:`LAYERS`, bottom first. A module
may import modules of its own package and of packages in lower layers; never a package
of its own layer or above. Lazy imports inside functions count too: they run as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core import settings

ROOT = settings.REPO_ROOT

#: Bottom first. A package name is the part after ``core.`` (or ``ui``, ``pages``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("settings", "metrics", "text"),
    ("processes", "models"),
    ("data",),
    ("runs", "sources", "explore"),
    ("evaluation",),
    ("training", "serving"),
    ("jobs",),
    ("ui",),
    ("app_pages", "streamlit_app"),
)
#: ``python -m core.<name>`` commands kept for people's scripts: they only forward.
COMMANDS = ("train", "predict", "report", "download", "memory", "robustness", "score_jobs")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    files = [ROOT / "streamlit_app.py"]
    for folder in ("core", "ui", "app_pages"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return {_module_name(path): path for path in files}


SOURCES = _sources()


def _imports(path: Path) -> list[tuple[str, int]]:
    """Project modules imported by ``path`` (with line numbers), anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.append((candidate if candidate in SOURCES else node.module, node.lineno))
    return [(name, line) for name, line in found if name in SOURCES]


GRAPH = {name: _imports(path) for name, path in SOURCES.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "core" and len(parts) > 1 else parts[0]


def _layer(module: str) -> int:
    package = _package(module)
    for level, names in enumerate(LAYERS):
        if package in names:
            return level
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def _is_command(module: str) -> bool:
    return module in {f"core.{name}" for name in COMMANDS} or module.endswith("__main__")


def test_every_module_has_a_layer():
    for module in SOURCES:
        if module != "core" and not _is_command(module):
            _layer(module)


def test_no_import_runs_up_or_across_the_layers():
    wrong = []
    for module, imported in GRAPH.items():
        if module == "core" or _is_command(module):
            continue
        for target, line in imported:
            same_package = _package(target) == _package(module)
            if not same_package and _layer(target) >= _layer(module):
                wrong.append(f"{SOURCES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle():
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target, _ in GRAPH.get(module, []):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in GRAPH:
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_nothing_imports_the_forwarding_commands():
    forwarders = {f"core.{name}" for name in COMMANDS}
    users = [
        f"{module} imports {target}"
        for module, imported in GRAPH.items()
        for target, _ in imported
        if target in forwarders
    ]
    assert not users
    for name in COMMANDS:
        lines = (ROOT / "core" / f"{name}.py").read_text().splitlines()
        assert len(lines) <= 10, f"core/{name}.py should only forward its command"


def _imported_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core"):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_no_star_import_and_no_re_export(module):
    """A name has one home: no ``import *``, no ``__all__`` listing another module's names."""
    path = SOURCES[module]
    text = path.read_text()
    tree = ast.parse(text)
    stars = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
    ]
    assert not stars, f"{path.name}: import * on line(s) {stars}"
    shims = [line for line in text.splitlines() if "noqa: F401" in line and "core" in line]
    assert not shims, f"{path.name} imports names only to re-export them: {shims}"
    exported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            exported = {element.value for element in node.value.elts}  # type: ignore[attr-defined]
    assert not exported & _imported_names(tree), f"{path.name} re-exports another module's names"


@pytest.mark.parametrize("command", [*COMMANDS, "jobs", "training"])
def test_the_documented_commands_still_answer(command):
    """``python -m core.<command> --help`` keeps working for people's scripts."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", f"core.{command}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_no_pages_folder_beside_the_router():
    """Streamlit runs a ``pages/`` folder beside the main script on its own when a browser's
    first request is a page's address, skipping the router and its login
    (tests/test_e2e_routes.py): the pages live in ``app_pages/``."""
    assert not (ROOT / "pages").exists()
