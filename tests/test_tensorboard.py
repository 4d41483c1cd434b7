"""Every run writes scalar TensorBoard logs under its folder (issue 13.4)."""

from __future__ import annotations

from pathlib import Path


def scalar_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing import event_accumulator

    tags: set[str] = set()
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = event_accumulator.EventAccumulator(str(events.parent))
        accumulator.Reload()
        tags |= set(accumulator.Tags().get("tensors", [])) | set(accumulator.Tags()["scalars"])
    return tags


def test_a_run_writes_scalar_tensorboard_logs(trained_run) -> None:
    logs = trained_run / "tensorboard"
    assert (logs / "train").is_dir() and (logs / "validation").is_dir()
    tags = scalar_tags(logs)
    assert {"epoch_loss", "epoch_auc", "epoch_accuracy"} <= tags, tags
