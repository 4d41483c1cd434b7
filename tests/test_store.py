"""The decoded-image store: decode once, reuse, extend, notice changes, stream in bounded memory."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_tree, write_image

from core.data import catalog, images, store, stream, testsets
from core.evaluation import scoring
from core.runs.config import TrainConfig
from core.training import subsets


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Every file decoded from now on (the store decodes with core.data.images)."""
    seen: list[str] = []
    real = images.decode

    def counting(source, *args, **kwargs):
        seen.append(str(source))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(images, "decode", counting)
    return seen


@pytest.fixture
def tree(tmp_path) -> Path:
    """60 small images in the Kaggle layout."""
    counts = {"Train": (15, 15), "Validation": (5, 5), "Test": (10, 10)}
    return make_tree(tmp_path / "Dataset", counts)


def _config(root: Path, **sizes) -> TrainConfig:
    sizes = {"train_size": 20, "val_size": 10, "test_size": 10, **sizes}
    return TrainConfig(model="cnn", data_dir=str(root), image_size=40, **sizes)


def _all(root: Path) -> list[catalog.Sample]:
    return [sample for part in catalog.index_dataset(root).splits.values() for sample in part]


class _Progress:
    """Stands in for core.runs.progress.Progress: records the status updates."""

    def __init__(self) -> None:
        self.status: dict = {}
        self.updates: list[dict] = []
        self.echo = False

    def check_cancel(self) -> None:
        pass

    def update(self, force: bool = False, **fields) -> None:
        self.status.update(fields)
        self.updates.append(dict(fields))


def test_store_pixels_match_the_inference_decoder(tree, monkeypatch):
    monkeypatch.setattr(stream, "IOV_BUFFERS", 7)  # long runs of slots read in several calls
    samples = _all(tree)
    stored = store.load(tree, samples, 40)
    direct = catalog.load_images(tree, samples, 40)
    assert stored.paths == direct.paths and np.array_equal(stored.labels, direct.labels)
    assert stored.pixels.shape == direct.pixels.shape and len(stored.pixels) == len(samples)
    assert np.array_equal(np.asarray(stored.pixels), direct.pixels)
    picked = np.array([7, 3, 3, 40, 0])
    assert np.array_equal(stored.pixels[picked], direct.pixels[picked])
    assert np.array_equal(stored.pixels[5], direct.pixels[5])
    assert np.array_equal(stored.pixels[10:14], direct.pixels[10:14])


def test_store_is_built_once_and_reused_by_a_second_run_and_a_rescore(tree, decodes, monkeypatch):
    progress = _Progress()
    first = subsets.load_subsets(_config(tree), progress=progress)
    assert len(decodes) == 40  # train + validation + test, each file once
    shown = [(u.get("phase"), u.get("batch")) for u in progress.updates]
    assert (subsets.DECODING, 40) in shown
    assert progress.status["phase"] == "loading data"  # the decoding phase ended
    decodes.clear()
    second = subsets.load_subsets(_config(tree))  # another model, same files and size
    assert decodes == []
    assert second.to_dict() == first.to_dict()
    assert np.array_equal(second.train.pixels[np.arange(20)], first.train.pixels[np.arange(20)])

    import keras

    inputs = keras.Input((40, 40, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    monkeypatch.setattr(scoring, "load_model", lambda _: model)
    test_set = testsets.TestSet.of(first.root, first.test.paths)
    record = SimpleNamespace(name="r", run=SimpleNamespace(path=tree, model="cnn"))
    scored = scoring.score_run(record, test_set, "common", {})
    assert decodes == [] and scored["files"] == first.test.paths


def test_a_bigger_subset_extends_the_store_without_decoding_the_old_files(tree, decodes):
    samples = _all(tree)
    store.load(tree, samples[:25], 40)
    before = (store.store_path(tree, 40) / store.PIXELS_NAME).read_bytes()
    decodes.clear()
    loaded = store.load(tree, samples, 40)
    assert len(decodes) == len(samples) - 25
    after = (store.store_path(tree, 40) / store.PIXELS_NAME).read_bytes()
    assert after[: len(before)] == before and len(after) == len(samples) * 40 * 40 * 3
    assert np.array_equal(np.asarray(loaded.pixels), catalog.load_images(tree, samples, 40).pixels)


def test_a_changed_file_is_decoded_again_into_its_slot(tree, decodes):
    samples = _all(tree)
    store.load(tree, samples, 40)
    changed = tree / samples[3].path
    write_image(changed, seed=999)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    decodes.clear()
    loaded = store.load(tree, samples, 40)
    assert decodes == [str(changed)]
    assert np.array_equal(loaded.pixels[3], images.load(changed, 40))
    assert len(loaded.pixels) == len(samples)  # same slot, not a new one
    assert store.list_stores()[0].images == len(samples)


def test_corrupt_files_are_skipped_counted_once_and_not_retried(tree, decodes):
    broken = tree / "Train" / "Real" / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    config = _config(tree, train_size=None)
    first = subsets.load_subsets(config)
    assert [path for path, _ in first.train.skipped] == ["Train/Real/broken.jpg"]
    assert "1 unreadable image(s) skipped; see subsets.json." in first.notes
    assert first.to_dict()["skipped"][0][0] == "Train/Real/broken.jpg"
    decodes.clear()
    again = subsets.load_subsets(config)
    assert decodes == []  # neither the good files nor the broken one are decoded again
    assert again.to_dict()["skipped"] == first.to_dict()["skipped"]
    write_image(broken, seed=5)
    os.utime(broken, ns=(broken.stat().st_atime_ns, broken.stat().st_mtime_ns + 10**9))
    fixed = subsets.load_subsets(config)
    assert decodes == [str(broken)] and not fixed.train.skipped


def test_a_killed_build_leaves_a_usable_store_that_the_next_build_finishes(tree, decodes):
    samples = _all(tree)
    paths = [sample.path for sample in samples]

    def die(state: store.BuildProgress) -> None:
        if state.done >= 10:
            raise KeyboardInterrupt  # the process is stopped mid-build

    with pytest.raises(KeyboardInterrupt):
        store.Store(tree, 40).ensure(paths, die, workers=2, chunk=10)
    pixels = store.store_path(tree, 40) / store.PIXELS_NAME
    with open(pixels, "ab") as torn:  # a half-written slot past the indexed ones
        torn.write(b"\x07" * 1000)
    committed = [p for p in store.Store(tree, 40).index.paths if p]
    assert 10 <= len(committed) < len(paths)
    decodes.clear()
    loaded = store.load(tree, samples, 40)
    assert len(decodes) == len(paths) - len(committed)
    assert np.array_equal(np.asarray(loaded.pixels), catalog.load_images(tree, samples, 40).pixels)
    assert pixels.stat().st_size == len(paths) * 40 * 40 * 3


def test_a_disk_too_small_is_refused_with_one_sentence(tree, monkeypatch):
    monkeypatch.setattr(store.shutil, "disk_usage", lambda _: SimpleNamespace(free=10**6))
    with pytest.raises(catalog.DatasetError) as caught:
        subsets.load_subsets(_config(tree))
    message = str(caught.value)
    assert "Decoding 40 images at 40 px needs" in message and "only 1.0 MB is free" in message
    assert str(store.stores_dir()) in message and message.count(".") <= 3


def test_stores_are_listed_and_deleted(tree, monkeypatch):
    store.load(tree, _all(tree), 40)
    store.load(tree, _all(tree)[:5], 16)
    listed = {info.image_size: info for info in store.list_stores()}
    assert listed[40].images == 60 and listed[40].bytes >= 60 * 40 * 40 * 3
    assert listed[16].images == 5 and listed[40].dataset == str(tree.resolve())
    monkeypatch.setenv("DEEPFAKE_DATA_ROOTS", str(tree))  # a shared server: no deleting
    with pytest.raises(PermissionError):
        store.delete_store(listed[16].path)
    monkeypatch.delenv("DEEPFAKE_DATA_ROOTS")
    store.delete_store(listed[16].path)
    assert [info.image_size for info in store.list_stores()] == [40]
    with pytest.raises(store.StoreError):
        store.delete_store(tree)


def _peak_bytes(config: TrainConfig, batches: int) -> int:
    """Peak Python-tracked memory of loading the subsets, building and reading the pipelines."""
    from core.training import pipelines

    tracemalloc.start()
    try:
        loaded = subsets.load_subsets(config)
        train, validation = pipelines.training_datasets(loaded, config, replicas=1)
        for _ in train.take(batches):
            pass
        for _ in validation:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_subset(tmp_path):
    root = make_tree(
        tmp_path / "Dataset",
        {"Train": (800, 800), "Validation": (150, 150), "Test": (10, 10)},
        size=64,
    )

    def config(train: int, val: int) -> TrainConfig:
        return TrainConfig(
            model="cnn", data_dir=str(root), image_size=64, train_size=train,
            val_size=val, test_size=20, batch_size=16,
        )  # fmt: skip

    _peak_bytes(config(100, 20), 2)  # warm-up: TensorFlow's first pipeline
    small = _peak_bytes(config(160, 30), 5)
    large = _peak_bytes(config(1600, 300), 5)
    pixels_large = (1600 + 300) * 64 * 64 * 3  # 23 MB the in-memory pipeline holds
    assert large - small < 0.15 * pixels_large, (small, large)


def test_evaluation_streams_a_store_view(tree):
    import keras

    view = store.load(tree, _all(tree), 40).pixels
    inputs = keras.Input((40, 40, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    streamed, _ = scoring.timed_p_real(model, view, batch_size=16, replicas=2)
    in_memory, _ = scoring.timed_p_real(model, np.asarray(view), batch_size=16)
    assert streamed.shape == (60,) and np.allclose(streamed, in_memory, atol=1e-6)

    def refuse(*_args, **_kwargs):
        raise AssertionError("the whole split was materialised")

    view.__class__ = type("Strict", (type(view),), {"__array__": refuse})
    strict, _ = scoring.timed_p_real(model, view, batch_size=16)
    assert np.allclose(strict, in_memory, atol=1e-6)


def test_store_panel_lists_stores_and_gates_delete(tree, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store.load(tree, _all(tree), 40)

    def panel() -> None:
        from ui.store_view import stores_panel

        stores_panel()

    app = AppTest.from_function(panel, default_timeout=60).run()
    assert "60 images" in app.markdown[0].value and "40 px" in app.markdown[0].value
    assert [button.label for button in app.button] == ["Delete"]
    monkeypatch.setenv("DEEPFAKE_DATA_ROOTS", str(tree))
    shared = AppTest.from_function(panel, default_timeout=60).run()
    assert not shared.button and "Deleting runs is off" in shared.caption[-1].value
    monkeypatch.delenv("DEEPFAKE_DATA_ROOTS")
    app.button[0].click().run()
    assert store.list_stores() == [] and "Deleted the store" in app.success[0].value


def test_robustness_reads_full_size_images_from_a_store_at_their_size(tmp_path, decodes):
    from core.evaluation import robustness

    root = make_tree(tmp_path / "Dataset", {"Test": (3, 3)}, size=32)
    files = [sample.path for sample in _all(root)]
    store.load(root, _all(root), 32)
    store.load(root, _all(root), 40)  # resized: not the full-size pixels
    decodes.clear()
    stores = store.existing(root, [32, 40, 64])
    assert [found.size for found in stores] == [32, 40]
    pixels = robustness._decode_chunk(root, files, stores)
    assert decodes == []
    for relative, stored in zip(files, pixels, strict=True):
        assert np.array_equal(stored, images.decode(root / relative).pixels)
    decodes.clear()
    robustness._decode_chunk(root, files, store.existing(root, [40]))
    assert len(decodes) == len(files)  # a 40 px store cannot stand in for 32 px files


def test_the_progress_panel_words_the_decoding_phase():
    from ui.store_view import decoding_text

    status = {"phase": subsets.DECODING, "batch": 1200, "batches": 5000, "decode_rate": 310.4}
    assert decoding_text(status) == "Decoding images into the store: 1,200 of 5,000 (310 images/s)"
    assert decoding_text({"phase": "training", "batch": 3, "batches": 10}) is None
