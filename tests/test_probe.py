"""The speed probe (core.training.probe): what it times and records, not how fast it is."""

from __future__ import annotations

import pytest

from core.runs import throughput
from core.runs.config import TrainConfig
from core.training import probe


@pytest.mark.slow  # it trains (on random pixels)
def test_the_probe_records_steps_validation_and_a_checkpoint_and_leaves_no_files():
    config = TrainConfig(model="cnn", image_size=32, batch_size=4)
    stats = probe.probe(config, steps=1)
    assert stats.steps == 1
    (found,) = throughput.load_records()
    assert found["origin"] == "probe"
    assert found["precision"] == "float32"  # the CNN's default: kept apart from bfloat16's
    assert found["val_seconds_per_image"] > 0  # a timed validation pass, not a guessed share
    assert found["epoch_fixed_seconds"] > 0  # a checkpoint written and synced
    assert [p.name for p in throughput.records_path().parent.iterdir()] == [throughput.FILE_NAME]
    estimate = throughput.estimate_run(
        {**config.to_dict(), "train_size": 8, "val_size": 6}, [found]
    )
    assert estimate.epoch_seconds == pytest.approx(
        8 * found["seconds_per_image"][0]
        + 6 * found["val_seconds_per_image"]
        + found["epoch_fixed_seconds"]
    )
