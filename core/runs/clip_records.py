"""Clip verdicts a person chose to keep with a run, for its report.

Classify's "Add to the run's report" button and ``python -m core.predict --report``
write one JSON file per clip and run under ``<run>/clips/``; the comparison report
lists them. Nothing is kept unless a person asks.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from core.runs.run_folders import RunError, read_json, write_json

CLIPS_DIR = "clips"


def save(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write one clip verdict (a JSON-ready dict with a ``clip`` name) into the run folder."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(record.get("clip") or "clip"))[:80]
    path = Path(run_dir) / CLIPS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}_{stem}.json"
    write_json(path, record)
    return path


def read(run_dir: Path) -> list[dict[str, Any]]:
    """The clip verdicts kept with a run, oldest first; unreadable files are skipped."""
    folder = Path(run_dir) / CLIPS_DIR
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = read_json(path)
        except RunError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
