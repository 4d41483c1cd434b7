"""Record a benchmark's markdown table in docs/BENCHMARKS.md, in its own section."""

from __future__ import annotations

import os
import platform
import re
from datetime import date
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section is written by the script named in it (`python -m bench.<name>`).\n"
    "Timings are ratios against a baseline measured in the same run where possible:\n"
    "the machines are shared and noisy.\n"
)


def machine() -> str:
    """One line describing the machine that produced the figures."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def record_section(name: str, markdown: str) -> None:
    """Replace (or append) the section ``name`` of docs/BENCHMARKS.md with ``markdown``."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    body = f"{begin}\n{markdown.strip()}\n\n_Measured {date.today()} on {machine()}._\n{end}"
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else f"{text}\n{body}\n"
    BENCHMARKS.parent.mkdir(parents=True, exist_ok=True)
    BENCHMARKS.write_text(text, encoding="utf-8")
