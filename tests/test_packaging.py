"""pyproject.toml: project metadata and console entry points that resolve and run."""

from __future__ import annotations

import importlib
import tomllib

import pytest

from core import settings


def project() -> dict:
    return tomllib.loads((settings.REPO_ROOT / "pyproject.toml").read_text())["project"]


def entry_point(name: str):
    module, _, function = project()["scripts"][name].partition(":")
    return getattr(importlib.import_module(module), function)


def test_project_metadata_and_both_entry_points():
    meta = project()
    assert meta["name"] and meta["version"] and meta["requires-python"]
    assert set(meta["scripts"]) == {"deepfake-train", "deepfake-predict"}


def test_deepfake_train_entry_point_runs(capsys):
    assert entry_point("deepfake-train")(["--list-options"]) == 0
    assert "capsnet (Capsule Network):" in capsys.readouterr().out


def test_deepfake_predict_entry_point_runs(capsys):
    with pytest.raises(SystemExit) as stopped:
        entry_point("deepfake-predict")(["--help"])
    assert stopped.value.code == 0
    assert "--run" in capsys.readouterr().out
