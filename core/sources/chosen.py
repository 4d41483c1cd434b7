"""The dataset folder a person last chose in the sidebar, remembered in the artifacts folder.

Like the downloaded dataset (:func:`core.sources.download.remembered_dataset`), it lives
in a small JSON file, ``<artifacts>/dataset_folder.json``, so a reload or a new tab
starts on the same data instead of falling back to the demo set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core import settings


def _path() -> Path:
    return settings.artifacts_dir() / "dataset_folder.json"


def chosen_folder() -> str | None:
    """The folder last typed in the sidebar and found usable, if any."""
    try:
        value = json.loads(_path().read_text(encoding="utf-8")).get("folder")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value.strip() else None


def remember_folder(folder: str) -> None:
    """Remember ``folder`` as typed (atomic write; nothing is written when it is unchanged)."""
    if chosen_folder() == folder:
        return
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"folder": folder}), encoding="utf-8")
    os.replace(temporary, path)


def forget_folder() -> None:
    """Forget the chosen folder: an empty field means the fallback again."""
    _path().unlink(missing_ok=True)
