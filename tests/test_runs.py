"""core.runs with the real trainer: a refused state change never costs a finished run."""

from __future__ import annotations

from core import runs
from core.config import TrainConfig


def test_trainer_outlives_a_refused_state_change(tiny_dataset):
    """Someone marks the run interrupted mid-training (say, a page that thought its trainer
    dead): the trainer's later status writes are refused without stopping it, and the
    complete run it leaves is finished."""
    import keras

    from core.train import train

    folder = runs.new_run_dir("cnn")
    runs.set_status(folder, "queued")
    refused = []

    class MarkInterrupted(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                runs.set_status(folder, "interrupted", error="presumed dead")
                refused.append(runs.set_status(folder, "running", epoch=2))

    config = TrainConfig(
        model="cnn",
        data_dir=str(tiny_dataset),
        image_size=32,
        epochs=2,
        batch_size=8,
        augment=False,
        early_stopping_patience=2,
    )
    result = train(config, run_dir=folder, callbacks=[MarkInterrupted()])
    assert refused == [None]
    assert result.state == "finished" and result.metrics is not None
    assert runs.read_json(folder / "status.json")["state"] == "interrupted"  # never flipped back
    run = runs.load_run(folder)
    assert run.state == "finished" and run.finished  # complete means complete
