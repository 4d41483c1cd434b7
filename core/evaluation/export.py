"""The full record of a comparison as JSON: everything known about the chosen runs.

The Compare page's "Full record (JSON)" download: each run's config, status, test
metrics, history, exact test files and stored re-scores, with the problems found in
its folder. Plain data, so another tool (or a later version of this one) can read it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.evaluation.compare import RunRecord


def full_record(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Everything known about the runs: config, metrics, history, test files, re-scores."""
    return {
        "exported": datetime.now().isoformat(timespec="seconds"),
        "runs": [
            {
                "name": record.name,
                "state": record.run.state,
                "config": record.run.config,
                "status": record.run.status,
                "metrics": record.metrics,
                "history": record.history,
                "test_set": (
                    {
                        "id": record.test_set.id,
                        "root": record.test_set.root,
                        "files": list(record.test_set.files),
                    }
                    if record.test_set
                    else None
                ),
                "rescores": record.rescores,
                "problems": record.problems,
            }
            for record in records
        ],
    }


def full_record_json(records: Sequence[RunRecord]) -> str:
    """:func:`full_record` as JSON text."""
    return json.dumps(full_record(records), indent=2, allow_nan=False, default=str)
