"""Size limits the codebase keeps (issue 12): short functions and files in core, thin pages."""

from __future__ import annotations

import ast

from core import settings

CORE = settings.REPO_ROOT / "core"
PAGES = settings.REPO_ROOT / "pages"
MAX_FUNCTION_LINES = 60
MAX_CORE_FILE_LINES = 450
MAX_PAGE_LINES = 350


def test_core_functions_stay_short() -> None:
    long = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(CORE)}::{node.name} ({lines} lines)")
    assert not long, "split these functions: " + ", ".join(long)


def test_core_files_and_pages_stay_small() -> None:
    sizes = {
        path: len(path.read_text(encoding="utf-8").splitlines())
        for path in [*CORE.rglob("*.py"), *PAGES.glob("*.py")]
    }
    too_long = [
        f"{path.relative_to(settings.REPO_ROOT)} ({lines} lines)"
        for path, lines in sizes.items()
        if lines > (MAX_PAGE_LINES if path.parent == PAGES else MAX_CORE_FILE_LINES)
    ]
    assert not too_long, "split these files: " + ", ".join(too_long)
