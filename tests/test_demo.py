"""The demo dataset generator: deterministic, Kaggle layout, balanced, atomic, fair."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from core import metrics, settings
from core.data import catalog, images
from core.explore import eda
from core.sources import demo

SMALL = {"Train": (6, 6), "Validation": (3, 3), "Test": (2, 2)}


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_default_demo_dataset_layout_and_balance():
    root = demo.ensure_demo_dataset()
    assert root == settings.demo_data_dir() and root.is_dir()
    index = catalog.index_dataset(root)
    assert index.missing_splits == [] and index.warnings == []
    assert index.counts() == {
        split: {"Real": real, "Fake": fake} for split, (real, fake) in demo.DEFAULT_COUNTS.items()
    }
    for split, (real, fake) in demo.DEFAULT_COUNTS.items():
        assert real == fake, f"{split} should be balanced"
    assert 300 <= index.total <= 1000  # "a few hundred images"
    readme = (root / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "Kaggle" in readme
    decoded = images.decode(index.absolute(index.splits["Test"][0]))
    assert decoded.format == "JPEG"
    assert decoded.pixels.shape == (demo.DEFAULT_SIZE, demo.DEFAULT_SIZE, 3)
    # A second call reuses the set instead of regenerating it.
    stamp = (root / "demo.json").stat().st_mtime_ns
    assert demo.ensure_demo_dataset() == root
    assert (root / "demo.json").stat().st_mtime_ns == stamp


def test_generation_is_deterministic(tmp_path):
    first = demo.generate_demo_dataset(tmp_path / "a" / "Dataset", SMALL, size=48, seed=5)
    second = demo.generate_demo_dataset(tmp_path / "b" / "Dataset", SMALL, size=48, seed=5)
    assert _digests(first) == _digests(second)
    other = demo.generate_demo_dataset(tmp_path / "c" / "Dataset", SMALL, size=48, seed=6)
    assert _digests(other) != _digests(first)
    assert catalog.index_dataset(first).counts() == {
        split: {"Real": r, "Fake": f} for split, (r, f) in SMALL.items()
    }


def test_generation_is_atomic_when_it_fails(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_render = demo.render_image

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk full")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(demo, "render_image", failing)
    root = tmp_path / "demo" / "Dataset"
    with pytest.raises(RuntimeError):
        demo.ensure_demo_dataset(root, counts=SMALL, size=32)
    assert not root.exists()
    assert list(root.parent.iterdir()) == []  # the temporary folder is gone too


def test_concurrent_callers_get_one_complete_set(tmp_path):
    root = tmp_path / "demo" / "Dataset"
    results, errors = [], []

    def call():
        try:
            results.append(demo.ensure_demo_dataset(root, counts=SMALL, size=32))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [root] * 3
    assert catalog.index_dataset(root).total == sum(r + f for r, f in SMALL.values())
    assert [p.name for p in root.parent.iterdir()] == ["Dataset"]  # no leftovers


def test_stale_set_is_replaced(tmp_path):
    root = demo.ensure_demo_dataset(tmp_path / "Dataset", counts=SMALL, size=32)
    bigger = {**SMALL, "Test": (4, 4)}
    assert demo.ensure_demo_dataset(root, counts=bigger, size=32) == root
    assert catalog.index_dataset(root).counts()["Test"] == {"Real": 4, "Fake": 4}


@pytest.fixture(scope="module")
def fairness_set(tmp_path_factory) -> catalog.DatasetIndex:
    root = tmp_path_factory.mktemp("fair") / "Dataset"
    demo.generate_demo_dataset(root, {"Train": (60, 60)}, seed=11)
    return catalog.index_dataset(root)


def test_no_global_colour_shortcut(fairness_set):
    """Brightness and saturation alone must not tell the classes apart."""
    result = eda.shortcut_statistics(fairness_set, per_class=60, seed=0)
    summary = result["summary"].set_index("key")
    for stat in ("brightness", "saturation"):
        assert summary.loc[stat, "separation"] < 0.65, summary


def test_fakes_carry_local_traces(fairness_set):
    """The trace is in the face region: the high-frequency energy of the centre,
    relative to the border, ranks the classes far better than chance."""
    loaded = catalog.load_images(fairness_set.root, fairness_set.splits["Train"], demo.DEFAULT_SIZE)
    grey = loaded.pixels.astype(np.float32).mean(axis=-1)
    diagonal = np.abs(grey[:, 1:, 1:] - grey[:, :-1, 1:] - grey[:, 1:, :-1] + grey[:, :-1, :-1])
    centre = diagonal[:, 45:95, 40:88].mean(axis=(1, 2))
    border = diagonal[:, :25, :].mean(axis=(1, 2))
    auc = metrics.roc_auc(loaded.labels, centre / border)
    assert auc is not None and auc > 0.7, auc
