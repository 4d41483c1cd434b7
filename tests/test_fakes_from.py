"""The "fakes from" option: config and CLI round trips, the blended pipeline, a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.data.catalog import LoadedImages
from core.models.registry import get_spec, list_models
from core.runs.config import TrainConfig
from core.settings import LABEL_FAKE, LABEL_REAL
from core.training import cli
from core.training.pipelines import blended_dataset, detect_boxes, effective_labels, steps_per_epoch


def loaded(n_real: int, n_fake: int, size: int = 32) -> LoadedImages:
    """Noise images (no face for the cascade to find), reals first."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.full(n_real, LABEL_REAL), np.full(n_fake, LABEL_FAKE)].astype(np.int32)
    pixels = rng.integers(0, 256, (len(labels), size, size, 3), dtype=np.uint8)
    return LoadedImages(pixels, labels, [f"{i}.jpg" for i in range(len(labels))], [])


def test_option_round_trips_through_config_json() -> None:
    config = TrainConfig(fakes_from="self-blended")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = {key: value for key, value in TrainConfig().to_dict().items() if key != "fakes_from"}
    assert TrainConfig.from_dict(old).fakes_from == "dataset"
    with pytest.raises(ValueError, match="fakes_from must be one of"):
        TrainConfig(fakes_from="gan")


def test_cli_sets_fakes_from(capsys) -> None:
    parser = cli._parser()
    config, _ = cli.config_from_args(parser.parse_args(["--fakes-from", "both"]))
    assert config.fakes_from == "both"
    assert cli.config_from_args(parser.parse_args([]))[0].fakes_from == "dataset"
    with pytest.raises(SystemExit):
        parser.parse_args(["--fakes-from", "gan"])
    assert "invalid choice" in capsys.readouterr().err


def test_no_face_falls_back_and_says_so() -> None:
    train = loaded(6, 4)
    boxes = detect_boxes(train.pixels, np.arange(6))
    assert boxes.searched == 6 and not boxes.found[:6].any()
    assert boxes.note() == (
        "No face detected in 6 of 6 images used for self-blending: a centred ellipse stood in."
    )
    assert (boxes.boxes[:6, 2] > 0).all()


def _epoch(dataset) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(x.numpy(), y.numpy().ravel()) for x, y in dataset]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def test_self_blended_batches_are_balanced_and_fresh_each_epoch() -> None:
    train = loaded(7, 5)
    boxes = detect_boxes(train.pixels, np.arange(7))
    dataset = blended_dataset(train, boxes, "self-blended", batch_size=4, seed=1)
    first_x, first_y = _epoch(dataset)
    assert first_x.dtype == np.uint8 and first_x.shape[1:] == (32, 32, 3)
    assert (first_y == LABEL_REAL).sum() == (first_y == LABEL_FAKE).sum() == 7
    for _, y in dataset.take(1):  # every batch: reals, then a blend of each
        labels = y.numpy().ravel()
        half = len(labels) // 2
        assert (labels[:half] == LABEL_REAL).all() and (labels[half:] == LABEL_FAKE).all()
    second_x, _ = _epoch(dataset)
    assert not np.array_equal(np.sort(first_x, axis=0), np.sort(second_x, axis=0))
    assert steps_per_epoch(train, "self-blended", 4) == 4
    assert len(effective_labels(train, "self-blended")) == 14


def test_both_adds_a_blend_of_every_real() -> None:
    train = loaded(6, 6)
    boxes = detect_boxes(train.pixels, np.arange(6))
    _, labels = _epoch(blended_dataset(train, boxes, "both", batch_size=5, seed=2))
    assert (labels == LABEL_REAL).sum() == 6 and (labels == LABEL_FAKE).sum() == 12
    assert effective_labels(train, "both").tolist().count(LABEL_FAKE) == 12


@pytest.mark.slow
@pytest.mark.parametrize("model", list_models())
def test_tiny_self_blended_run_finishes(tiny_dataset: Path, model: str) -> None:
    from core.training.trainer import train

    size = max(32, get_spec(model).min_image_size)
    config = TrainConfig(
        model=model,
        data_dir=str(tiny_dataset),
        image_size=size,
        epochs=1,
        batch_size=8,
        train_size=8,
        val_size=4,
        test_size=4,
        seed=3,
        fakes_from="self-blended",
    )
    result = train(config)
    assert result.state == "finished"
    saved = json.loads((result.run_dir / "config.json").read_text(encoding="utf-8"))
    assert saved["fakes_from"] == "self-blended" and "jpeg_chance" in saved["blend_params"]
    assert any(note.startswith("No face detected in 4 of 4") for note in saved["notes"])
    assert (result.run_dir / "model_card.md").is_file()
