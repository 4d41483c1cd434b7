"""Run folders saved before model specs (no ``options``, old ``weights`` record) still work."""

from __future__ import annotations

import time

import numpy as np

from core import metrics, settings
from core.data import catalog, images
from core.evaluation import compare, scoring
from core.models import registry
from core.runs import run_folders
from core.runs.config import TrainConfig
from core.serving import gradcam, predict

#: config.json as written before model options existed (TrainConfig fields + run facts).
OLD_CONFIG = {
    "model": "cnn",
    "image_size": 32,
    "train_size": 8,
    "val_size": 4,
    "test_size": 6,
    "epochs": 2,
    "batch_size": 32,
    "learning_rate": 0.001,
    "seed": 42,
    "augment": True,
    "class_weight": "auto",
    "early_stopping_patience": 6,
    "fine_tune_epochs": 0,
    "weights_path": None,
    "is_demo": False,
    "class_weights": None,
    "notes": [],
}


def write_old_run(name: str, dataset, model: str = "cnn"):
    """A finished run folder with the files and keys of the previous version, by hand."""
    index = catalog.index_dataset(dataset)
    test = catalog.stratified_subset(index.splits["Test"], 6, 42)
    folder = settings.runs_dir() / name
    config = {**OLD_CONFIG, "model": model, "data_dir": str(dataset), "dataset": str(index.root)}
    if model == "xception":
        config["weights"] = {"imagenet": False, "message": "ImageNet weights unavailable"}
        config["image_size"] = 72
    run_folders.write_json(folder / "config.json", config)
    run_folders.write_json(
        folder / "status.json",
        {"state": "finished", "phase": "done", "created": time.time(), "error": None},
    )
    run_folders.write_json(
        folder / "subsets.json",
        {
            "root": str(index.root),
            "train": [],
            "validation": [],
            "test": [s.path for s in test],
            "skipped": [],
        },
    )
    run_folders.write_json(folder / "history.json", {"loss": [0.7, 0.6], "val_auc": [0.5, 0.6]})
    labels = np.array([sample.label for sample in test])
    report = metrics.detection_report(labels, np.linspace(0.1, 0.9, len(labels)))
    extra = {
        "test_files": [s.path for s in test],
        "dataset": str(index.root),
        "model": model,
        "model_display": registry.display_name(model),
        "epochs_run": 2,
        "params": 1,
    }
    run_folders.write_json(folder / "metrics.json", {**report, **extra})
    # The defaults before they changed: the CNN's stem stride, Keras's own batch norm.
    built_then = {"stem_stride": 1} if model == "cnn" else {}
    built_then["fused_batch_norm"] = False
    registry.build(model, image_size=config["image_size"], seed=0, **built_then).save(
        folder / "model.keras"
    )
    return folder


def test_an_old_run_folder_loads_compares_rescores_classifies_and_explains(tiny_dataset):
    folder = write_old_run("cnn_20250101-000000", tiny_dataset)
    write_old_run("xception_20250101-000001", tiny_dataset, "xception")

    config = TrainConfig.from_dict(run_folders.read_json(folder / "config.json"))
    # What it was built with: today's defaults, but those from before they changed.
    before = {"stem_stride": 1, "fused_batch_norm": False}
    assert config.options == {**registry.get_spec("cnn").defaults(), **before}
    rebuilt = registry.build("cnn", image_size=32, seed=0, **config.options)
    saved = scoring.load_model(folder)
    assert [layer.output.shape for layer in rebuilt.layers] == [
        layer.output.shape for layer in saved.layers
    ]  # a resume rebuilds the same network
    assert run_folders.load_run(folder).finished

    comparison = compare.load_comparison()
    assert not comparison.problems
    table = compare.comparison_table(comparison.records)
    assert list(table["model"]) == ["Xception", "CNN"]
    assert list(table["pretrained_weights"]) == ["no", "n/a"]

    record = comparison.record(folder.name)
    (result,) = scoring.rescore([record], compare.run_test_set(record))
    assert result.error is None and result.record["metrics"]["n"] == 6

    image = tiny_dataset / "Test" / "Fake" / "fake_0.jpg"
    (prediction,) = predict.classify_images(folder, [image])
    assert prediction.ok and prediction.label in ("Real", "Fake")
    cam = gradcam.compute_gradcam(scoring.load_model(folder), images.decode(image).pixels)
    assert cam.layer == "block4_relu2" and cam.heatmap.shape == (32, 32)


def test_a_changed_option_default_keeps_what_old_configs_were_built_with():
    """A saved config lacking an option was built with the value before its default changed."""
    spec = registry.ModelSpec(
        name="changed",
        display_name="Changed default (test)",
        build=lambda image_size, **_: None,
        summary="A test spec.",
        options={
            "stride": registry.Option(
                2,
                "New default 2; runs saved before it used 1.",
                minimum=1,
                maximum=2,
                saved_default=1,
            ),
            "width": registry.Option(8, "Unchanged.", minimum=1, maximum=64),
        },
    )
    registry.register(spec)
    try:
        saved = {**OLD_CONFIG, "model": "changed"}
        assert TrainConfig.from_dict(saved).options == {"stride": 1, "width": 8}
        with_options = {**saved, "options": {"width": 4}}
        assert TrainConfig.from_dict(with_options).options == {"stride": 1, "width": 4}
        chosen = {**saved, "options": {"stride": 2, "width": 8}}
        assert TrainConfig.from_dict(chosen).options == {"stride": 2, "width": 8}
        assert TrainConfig(model="changed").options == {"stride": 2, "width": 8}  # a new run
    finally:
        registry.unregister("changed")
