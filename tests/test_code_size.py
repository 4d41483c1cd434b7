"""Size limits the codebase keeps: short functions and small files in core, ui and pages."""

from __future__ import annotations

import ast
from pathlib import Path

from core import settings

ROOT = settings.REPO_ROOT
CORE, UI, PAGES = ROOT / "core", ROOT / "ui", ROOT / "app_pages"
MAX_FUNCTION_LINES = 60
MAX_CORE_FILE_LINES = 450
MAX_UI_FILE_LINES = 300  # pages and ui: thin, they read widgets and draw


def _sources() -> list[Path]:
    return [*sorted(CORE.rglob("*.py")), *sorted(UI.glob("*.py")), *sorted(PAGES.glob("*.py"))]


def test_functions_stay_short() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}::{node.name} ({lines} lines)")
    assert not long, "split these functions: " + ", ".join(long)


def test_files_stay_small() -> None:
    too_long = []
    for path in _sources():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        limit = MAX_CORE_FILE_LINES if path.is_relative_to(CORE) else MAX_UI_FILE_LINES
        if lines > limit:
            too_long.append(f"{path.relative_to(ROOT)} ({lines} lines, limit {limit})")
    assert not too_long, "split these files: " + ", ".join(too_long)
