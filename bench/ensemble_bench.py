"""The ensemble of the three detectors against each one, on the shared FFHQ/StyleGAN2 Test split.

Run with ``python -m bench.ensemble_bench [--runs RUN_DIR ...]``. Without ``--runs``
it trains each registered detector on the whole shared Train split at 128 px, as
``bench.train_bench`` does (same defaults and time budget; about 6 minutes per model on
a 2-core CPU), in ``$DEEPFAKE_ARTIFACTS_DIR``. Then every run is re-scored on the 60
Test images (:func:`core.evaluation.scoring.rescore`) and the ensemble of all of them is scored
with both rules (:func:`core.evaluation.ensemble.combine_records`). The table goes to
docs/BENCHMARKS.md (section ``ensemble``), whatever it shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.train_bench import FFHQ, TIME_BUDGET_S, _time_limit
from core import settings

settings.enable_onednn()


def train_all(image_size: int) -> list[Path]:
    """Train every registered model on the full FFHQ Train split; return the run folders."""
    from core.models.registry import list_models
    from core.runs.config import TrainConfig
    from core.training.trainer import train

    folders = []
    for name in list_models():
        config = TrainConfig(model=name, data_dir=str(FFHQ), image_size=image_size)
        result = train(config, callbacks=[_time_limit(TIME_BUDGET_S)], echo=True)
        folders.append(result.run_dir)
    return folders


def table(folders: list[Path]) -> list[str]:
    """Score the runs and their ensembles on the Test split; return markdown lines."""
    from core.data import catalog, testsets
    from core.evaluation import compare, ensemble, scoring
    from core.runs import run_folders

    records = [compare.load_record(run_folders.load_run(folder)) for folder in folders]
    index = catalog.index_dataset(FFHQ)
    test_set = testsets.TestSet.of(index.root, [s.path for s in index.splits["Test"]], "Test")
    results = scoring.rescore(records, test_set)
    assert all(result.error is None for result in results), [r.error for r in results]
    rows = [
        (
            f"{record.run.model} (`{record.name}`)",
            result.record["metrics"],
            f"{record.metrics.get('epochs_run')}/{record.run.config.get('epochs')}",
        )
        for record, result in zip(records, results, strict=True)
    ]
    members = [dict(result.record, run=result.run) for result in results]
    for method in ensemble.METHODS:
        combined = ensemble.combine_records(members, method)
        name = ensemble.ensemble_name(combined["members"], method)
        rows.append((name, combined["metrics"], "—"))
    lines = [
        f"Each detector and their ensemble on the {len(test_set.files)}-image Test split of "
        f"`ffhq-stylegan2` (test set `{test_set.id}`); each trained once on the whole Train "
        "split (early stopping on Validation), threshold 0.5:",
        "",
        "| detector | epochs run / max | accuracy | balanced accuracy | AUC | EER |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values, epochs in rows:
        lines.append(
            f"| {name} | {epochs} | {values['accuracy']:.3f} | "
            f"{values['balanced_accuracy']:.3f} | {values['auc']:.3f} | {values['eer']:.3f} |"
        )
    lines += [
        "",
        f"One training run per model, each stopped at {TIME_BUDGET_S:.0f} s at the latest "
        "(train_bench's budget; early stopping otherwise), on 2 cores shared with other "
        "people's tests: expect a few points of variation between seeds and machines.",
    ]
    return lines


def main() -> None:
    """Train (unless given runs), score, print and record the table."""
    from bench._record import record_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", type=Path, help="finished run folders")
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    folders = args.runs or train_all(args.image_size)
    lines = ["## Ensemble of the detectors (`python -m bench.ensemble_bench`)", "", *table(folders)]
    markdown = "\n".join(lines)
    print(markdown)
    record_section("ensemble", markdown)


if __name__ == "__main__":
    main()
