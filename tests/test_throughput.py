"""Training-time estimates (core.runs.throughput) and the trainer's ETA (core.runs.progress).

Worked out by hand: step times are given, never measured, so nothing here depends on
the machine's speed.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from core.runs import progress as progress_module
from core.runs import run_folders, throughput
from core.runs.config import TrainConfig
from core.runs.progress import Progress
from core.runs.throughput import StepClock, StepStats


def test_the_clock_leaves_out_the_warm_up_steps_of_each_fit():
    clock = StepClock(warmup=2)
    for seconds in (30.0, 9.0, 1.0, 2.0, 3.0):
        clock.add(seconds)
    stats = clock.stats()
    assert (stats.mean, stats.low, stats.high, stats.steps) == (2.0, 1.0, 3.0, 3)
    assert stats.warmup == 39.0 - 2 * 2.0  # tracing: what the warm-up took beyond 2 steps
    clock.reset()  # a new fit (fine-tuning) traces again
    clock.add(50.0)
    clock.add(50.0)
    assert clock.stats() is None


def test_phase_eta_counts_the_steps_and_validations_left():
    stats = StepStats(mean=2.0, low=1.0, high=3.0, steps=10)
    eta = throughput.phase_eta(
        stats, steps_left=10, validations_left=2, val_steps=5, val_seconds=4.0, steps_per_epoch=5
    )
    # 10 steps x 2 s + 2 validations x 4 s; the range scales both by the step spread.
    assert (eta.seconds, eta.low, eta.high, eta.epoch_seconds) == (28.0, 14.0, 42.0, 14.0)
    before = throughput.phase_eta(
        stats, steps_left=10, validations_left=1, val_steps=6, val_seconds=None, steps_per_epoch=5
    )
    # No validation timed yet: 6 batches at a third of a training step each.
    assert before.seconds == pytest.approx(20.0 + 6 * 2.0 / 3)


def _config(**changes) -> dict:
    values = {"model": "cnn", "image_size": 64, "batch_size": 10, "train_size": 100}
    return TrainConfig(**{**values, "val_size": 50, "epochs": 3, **changes}).to_dict()


def test_records_round_trip_per_machine_and_keep_the_newest(tmp_path):
    path = tmp_path / "throughput.json"
    for mean in range(1, 8):
        throughput.record(_config(), "training", StepStats(mean, mean, mean, 5), None, path)
    found = throughput.load_records(path)
    assert [r["seconds_per_image"][0] for r in found] == [0.3, 0.4, 0.5, 0.6, 0.7]
    assert throughput.load_records(path, machine="another machine") == []
    (tmp_path / "broken.json").write_text("{not json")
    assert throughput.load_records(tmp_path / "broken.json") == []


def test_estimate_run_from_a_record_of_the_same_model_and_size(tmp_path):
    path = tmp_path / "throughput.json"
    # 2 s per step of 10 images: 0.2 s per image (0.1-0.3); validation 0.05 s per image.
    throughput.record(_config(), "training", StepStats(2.0, 1.0, 3.0, 20), 0.05, path)
    records = throughput.load_records(path)
    estimate = throughput.estimate_run(_config(), records)
    epoch = 100 * 0.2 + 50 * 0.05
    assert estimate.epoch_seconds == pytest.approx(epoch)
    assert estimate.seconds == pytest.approx(3 * epoch)
    assert (estimate.low, estimate.high) == (pytest.approx(1.5 * epoch), pytest.approx(4.5 * epoch))
    assert "measured on this machine" in estimate.source
    # Twice the side: four times the pixels, four times the time.
    bigger = throughput.estimate_run(_config(image_size=128), records)
    assert bigger.seconds == pytest.approx(4 * 3 * epoch)
    assert "scaled" in bigger.source
    assert throughput.estimate_run(_config(model="capsnet"), records) is None
    path = tmp_path / "traced.json"
    throughput.record(_config(), "training", StepStats(2.0, 1.0, 3.0, 20, 12.0), 0.05, path)
    traced = throughput.estimate_run(_config(), throughput.load_records(path))
    assert traced.seconds == pytest.approx(3 * epoch + 12.0)  # once per fit, not per epoch
    other_options = _config(options={"stem_stride": 1})  # another network: not its speed
    assert throughput.estimate_run(other_options, records) is None


def test_an_estimate_uses_the_rate_of_the_precision_the_run_computes_in(tmp_path, monkeypatch):
    """bfloat16 ran 0.7-1.4x float32's speed on these machines: never one for the other."""
    monkeypatch.delenv("DEEPFAKE_PRECISION", raising=False)
    path = tmp_path / "throughput.json"
    config = _config(model="xception", image_size=71)  # default auto: decided at Start
    throughput.record(
        {**config, "precision": "mixed_bfloat16"},
        "training",
        StepStats(1.0, 1.0, 1.0, 20),
        0.02,
        path,
    )
    throughput.record(
        {**config, "precision": "float32"}, "training", StepStats(2.0, 2.0, 2.0, 20), 0.02, path
    )
    records = throughput.load_records(path)
    assert [r["precision"] for r in records] == ["mixed_bfloat16", "float32"]
    auto = throughput.estimate_run(config, records)  # the newest run decided as the next will
    assert auto.epoch_seconds == pytest.approx(100 * 0.2 + 50 * 0.02)
    assert "measured on this machine in float32" in auto.source
    chosen = throughput.estimate_run({**config, "precision": "mixed_bfloat16"}, records)
    assert chosen.epoch_seconds == pytest.approx(100 * 0.1 + 50 * 0.02)
    monkeypatch.setenv("DEEPFAKE_PRECISION", "mixed_bfloat16")  # asked for on the page's machine
    assert throughput.estimate_run(config, records).epoch_seconds == chosen.epoch_seconds
    cnn = _config()  # float32 by default: a bfloat16 record alone is no estimate of it
    monkeypatch.delenv("DEEPFAKE_PRECISION")
    throughput.record(
        {**cnn, "precision": "mixed_bfloat16"}, "training", StepStats(1.0, 1.0, 1.0, 20), 0.02, path
    )
    assert throughput.estimate_run(cnn, throughput.load_records(path)) is None
    legacy = tmp_path / "legacy.json"  # records from before precisions were kept
    throughput.record(cnn, "training", StepStats(1.0, 1.0, 1.0, 20), 0.02, legacy)
    assert throughput.estimate_run(cnn, throughput.load_records(legacy)) is not None


def test_fine_tuning_epochs_use_their_own_rate(tmp_path):
    path = tmp_path / "throughput.json"
    config = _config(model="xception", image_size=71, epochs=1, fine_tune_epochs=2)
    throughput.record(config, "training", StepStats(1.0, 1.0, 1.0, 20), 0.02, path)
    throughput.record(config, "fine-tuning", StepStats(3.0, 3.0, 3.0, 20), 0.02, path)
    estimate = throughput.estimate_run(config, throughput.load_records(path))
    assert estimate.seconds == pytest.approx((100 * 0.1 + 1) + 2 * (100 * 0.3 + 1))


def test_progress_eta_ignores_the_warm_up_and_records_the_rate(monkeypatch):
    folder = run_folders.new_run_dir("cnn")
    status = {"started": time.time(), "batches": 10, "val_batches": 2, "val_images": 20}
    progress = Progress(folder, status)
    progress.start_phase("training", 0, 2)
    clock = iter([0.0, 60.0] + [t for i in range(1, 20) for t in (100.0 * i, 100.0 * i + 1.0)])
    fake_time = SimpleNamespace(time=time.time, perf_counter=lambda: next(clock))
    monkeypatch.setattr(progress_module, "time", fake_time)
    for batch in range(10):  # a 60 s first step, then 1 s steps
        progress.on_train_batch_begin(batch)
        progress.on_train_batch_end(batch)
    progress.update(force=True)
    written = run_folders.read_status(folder)
    # 10 steps left at 1 s, 2 validations of 2 batches at a third of a step each.
    assert written["eta_s"] == pytest.approx(10 + 2 * 2 / 3, abs=0.1)
    assert written["epoch_s"] == pytest.approx(10 + 2 / 3, abs=0.1)
    progress.save_rate(_config(), "training")
    (found,) = throughput.load_records()
    assert found["seconds_per_image"][0] == pytest.approx(1.0 / 10)
    progress.start_phase("fine-tuning", 2, 3)  # traces again: the old ETA is gone
    assert run_folders.read_status(folder)["eta_s"] is None


def test_the_live_panel_shows_the_range_and_time_per_epoch():
    from ui.train_view import eta_text

    status = {"eta_s": 600.0, "eta_low_s": 480.0, "eta_high_s": 900.0, "epoch_s": 125.0}
    text = eta_text(status)
    assert text.startswith("ETA 10m 00s (this phase; 8m 00s to 15m 00s")
    assert text.endswith("2m 05s per epoch")
    assert "after the first batches" in eta_text({"eta_s": None})


def fake_clock(monkeypatch) -> SimpleNamespace:
    """The progress module's clock, set by hand: ``now.t`` is both its time and counter."""
    now = SimpleNamespace(t=0.0)
    fake_time = SimpleNamespace(time=lambda: now.t, perf_counter=lambda: now.t)
    monkeypatch.setattr(progress_module, "time", fake_time)
    return now


def test_progress_eta_counts_each_epochs_measured_time_beyond_its_steps(monkeypatch):
    """Validation, checkpoint and callbacks cost time once per epoch: the ETA adds it."""
    folder = run_folders.new_run_dir("cnn")
    now = fake_clock(monkeypatch)
    progress = Progress(folder, {"started": 0.0, "batches": 2, "val_batches": 1})
    progress.start_phase("training", 0, 3)

    def epoch(number: int, begin: float, steps: list[float]) -> None:
        now.t = begin
        progress.on_epoch_begin(number)
        for batch, seconds in enumerate(steps):
            progress.on_train_batch_begin(batch)
            now.t += seconds
            progress.on_train_batch_end(batch)

    epoch(0, 0.0, [10.0, 1.0])  # ends at 11 s; the next begins at 20 s: 9 s beyond its steps
    epoch(1, 20.0, [1.0, 1.0])
    progress.update(force=True)
    # 2 steps left at 1 s, and 3 epochs' 9 s each (none of them counted as ended yet).
    assert run_folders.read_status(folder)["eta_s"] == pytest.approx(2 + 3 * 9)


def test_before_its_steps_are_timed_the_eta_comes_from_earlier_runs(monkeypatch):
    """At a run's start (10% of it, on a short run) the ETA is already a number."""
    config = _config(batch_size=10, val_size=20)
    # An earlier run here: 1 s per step of 10 images, 0.05 s per validation image, 6 s tracing.
    throughput.record(config, "training", StepStats(1.0, 0.5, 2.0, 20, 6.0), 0.05)
    folder = run_folders.new_run_dir("cnn")
    now = fake_clock(monkeypatch)
    status = {"started": 0.0, "batches": 10, "val_batches": 2, "val_images": 20}
    progress = Progress(folder, status)
    progress.start_phase("training", 0, 2, config)
    progress.update(force=True)
    written = run_folders.read_status(folder)
    # 20 steps at 1 s, 2 validations of 20 images at 0.05 s, and the 6 s of tracing.
    assert written["eta_s"] == pytest.approx(20 + 2 * 1.0 + 6)
    assert "measured on this machine" in written["eta_source"]
    for seconds in (8.0, 2.0, 3.0, 3.0, 3.0):  # warm-up, then three steps at 3 s
        progress.on_train_batch_begin(0)
        now.t += seconds
        progress.on_train_batch_end(0)
    progress.update(force=True)
    written = run_folders.read_status(folder)
    # Now this run's own steps: 15 left at 3 s, validations scaled to that rate.
    assert written["eta_s"] == pytest.approx(15 * 3 + 2 * 1.0 * 3)
    assert written["eta_source"] is None
    progress.start_phase("fine-tuning", 2, 3, config)  # no record of that phase: no ETA yet
    assert run_folders.read_status(folder)["eta_s"] is None


def test_the_live_panel_says_when_the_eta_comes_from_earlier_runs():
    from ui.train_view import eta_text

    status = {"eta_s": 60.0, "eta_source": "measured on this machine (2 records)"}
    assert "from earlier runs: measured on this machine (2 records)" in eta_text(status)
    assert "earlier runs" not in eta_text({"eta_s": 60.0})


def test_an_estimate_from_probes_alone_says_what_they_leave_out(tmp_path):
    path = tmp_path / "throughput.json"
    throughput.record(_config(), "training", StepStats(2.0, 1.0, 3.0, 10), None, path, "probe")
    probed = throughput.estimate_run(_config(), throughput.load_records(path))
    assert "without reading the images" in probed.source
    throughput.record(_config(), "training", StepStats(2.0, 1.0, 3.0, 20), 0.05, path)
    measured = throughput.estimate_run(_config(), throughput.load_records(path))
    assert "probe" not in measured.source  # a real run's record counts whole epochs


def test_an_epochs_fixed_cost_does_not_grow_with_the_validation_set(tmp_path):
    """A checkpoint costs the same beside 60 validation images as beside 40,000.

    Spread over a small run's validation images, it made each of them look several
    times a training image's cost, and a run on the whole dataset hours too long.
    """
    path = tmp_path / "throughput.json"
    # 2 s per step of 10 images (0.2 s per image), 0.05 s per validation image, 4 s fixed.
    throughput.record(_config(), "training", StepStats(2.0, 1.0, 3.0, 20), 0.05, path, "run", 4.0)
    records = throughput.load_records(path)
    small = throughput.estimate_run(_config(), records)
    assert small.epoch_seconds == pytest.approx(100 * 0.2 + 50 * 0.05 + 4.0)
    large = throughput.estimate_run(_config(val_size=5000), records)
    assert large.epoch_seconds - small.epoch_seconds == pytest.approx((5000 - 50) * 0.05)
    bigger = throughput.estimate_run(_config(image_size=128), records)  # pixels scale, not saving
    assert bigger.epoch_seconds == pytest.approx(4 * (100 * 0.2 + 50 * 0.05) + 4.0)
    assert small.low == pytest.approx(3 * small.epoch_seconds / 2)  # the step spread, throughout


def test_a_finished_fit_records_its_validation_apart_from_the_epochs_fixed_cost(monkeypatch):
    folder = run_folders.new_run_dir("cnn")
    now = fake_clock(monkeypatch)
    status = {"started": 0.0, "batches": 2, "val_batches": 2, "val_images": 20}
    progress = Progress(folder, status)
    progress.start_phase("training", 0, 2)
    for number, begin in enumerate((0.0, 20.0)):
        now.t = begin
        progress.on_epoch_begin(number)
        for batch in range(2):  # 1 s per step
            progress.on_train_batch_begin(batch)
            now.t += 1.0
            progress.on_train_batch_end(batch)
        progress.on_test_begin()
        now.t += 6.0  # validation: 6 s for 20 images; then 12 s of checkpoint and callbacks
        progress.on_test_end()
    progress.save_rate(_config(), "training")
    (found,) = throughput.load_records()
    assert found["val_seconds_per_image"] == pytest.approx(6.0 / 20)
    assert found["epoch_fixed_seconds"] == pytest.approx(20.0 - 2.0 - 6.0)
