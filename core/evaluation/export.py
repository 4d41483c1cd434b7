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

from core.data import testsets
from core.evaluation import compare
from core.evaluation.compare import RunRecord


def _rescore_name(stored: dict[str, Any], test_id: str) -> str:
    """``cross-dataset: openforensics-sample Test, 41 images · <id>``."""
    files = stored.get("files") or []
    purpose = compare.PURPOSES.get(stored.get("purpose", "common"), "common test set")
    return f"{purpose}: {testsets.set_name(stored.get('root', ''), files)} · {test_id}"


def full_record(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Everything known about the runs: config, metrics, history, test files, re-scores.

    Every test set is named by its data (dataset, split, images, purpose), not by id alone.
    """
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
                "learning": record.learning().to_dict(),
                "test_set": (
                    {
                        "name": record.test_set.label,
                        "purpose": compare.PURPOSES["own"],
                        "id": record.test_set.id,
                        "root": record.test_set.root,
                        "files": list(record.test_set.files),
                    }
                    if record.test_set
                    else None
                ),
                "rescores": {
                    test_id: stored | {"name": _rescore_name(stored, test_id)}
                    for test_id, stored in record.rescores.items()
                },
                "problems": record.problems,
            }
            for record in records
        ],
    }


def full_record_json(records: Sequence[RunRecord]) -> str:
    """:func:`full_record` as JSON text."""
    return json.dumps(full_record(records), indent=2, allow_nan=False, default=str)
