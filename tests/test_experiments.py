"""Repeat with seeds: configs on the same files, experiments grouped and compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import metrics
from core.evaluation import compare, experiments
from core.jobs import run_queue
from core.runs import run_folders
from core.runs.config import TrainConfig

FILES = [f"Test/{'Real' if i % 2 else 'Fake'}/{i}.jpg" for i in range(120)]
LABELS = np.array([i % 2 for i in range(120)])


def test_seeds_share_the_files_and_one_experiment_name():
    config = TrainConfig(model="cnn", seed=7, train_size=40)
    repeated = config.with_seeds(3)
    assert [c.seed for c in repeated] == [7, 8, 9]
    assert {c.sampling_seed for c in repeated} == {7}
    assert len({c.experiment for c in repeated}) == 1
    assert repeated[0].experiment == config.with_seeds(3)[0].experiment  # stable name
    assert config.with_seeds(1) == [config] and config.sampling_seed == 7
    old = TrainConfig.from_dict({"model": "cnn", "seed": 5})  # written before subset_seed
    assert old.sampling_seed == 5 and old.experiment == ""


def test_the_same_run_in_another_experiment_is_a_duplicate():
    config = TrainConfig(model="cnn", seed=3)
    folder = run_folders.new_run_dir("cnn")
    run_folders.write_json(folder / "config.json", config.replace(experiment="x").to_dict())
    run_folders.set_status(folder, "queued")
    assert run_queue.duplicates(config, run_folders.list_runs()) != []


def _record(name: str, experiment: str, p_real: np.ndarray) -> compare.RunRecord:
    values = metrics.detection_report(LABELS, p_real) | {
        "test_files": FILES,
        "labels": LABELS.tolist(),
        "p_real": p_real.tolist(),
        "model_display": "CNN",
    }
    run = run_folders.Run(Path(name), name, "finished", {"experiment": experiment}, {}, values)
    return compare.RunRecord(run)


def _experiment(name: str, strength: float, seeds: int = 3) -> list[compare.RunRecord]:
    rng = np.random.default_rng(sum(map(ord, name)))
    return [
        _record(
            f"{name}_{s}",
            name,
            np.clip(LABELS * strength + rng.normal(0.5 - strength / 2, 0.2, 120), 0, 1),
        )
        for s in range(seeds)
    ]


def test_experiments_are_summarised_and_compared_across_seeds_and_images():
    strong, weak, twin = (
        _experiment("strong", 0.5),
        _experiment("weak", 0.05),
        _experiment("twin", 0.5),
    )
    groups = experiments.group([*strong, *weak, *twin, _record("alone", "", np.full(120, 0.5))])
    assert [g.name for g in groups] == ["strong", "weak", "twin"]
    table = experiments.summary_table(groups, None)
    assert list(table["Seeds"]) == [3, 3, 3]
    assert table["AUC (mean ± sd)"].str.match(r"^0\.\d{3} ± 0\.\d{3}$").all()
    lines = experiments.verdicts(groups, None)
    assert lines[0].startswith("strong leads beyond seed and image noise")
    assert "tied within noise" in lines[1]  # strong and twin: the same strength
    assert lines[2].startswith("twin leads")


def test_experiments_on_different_images_are_not_compared():
    a = _experiment("a", 0.5)
    b = [_record(f"b{r.name}", "b", np.array(r.metrics["p_real"])) for r in a]
    for record in b:
        record.run.metrics["test_files"] = [f"x/{name}" for name in FILES]
    (line,) = experiments.verdicts(experiments.group([*a, *b]), None)
    assert "not scored on the same images" in line
