"""Benchmark robustness scoring against one clean re-score of the same models and images.

Run with ``python -m bench.robustness_bench``. The three registered detectors, built
*untrained* at 128 px (untrained weights cost the same to run as trained ones), are
saved as run folders in a temporary artifacts folder and scored on the 60-image Test
split of the shared FFHQ/StyleGAN2 set:

- clean: :func:`core.evaluation.scoring.rescore` (load the models, decode, predict), forced;
- robustness: :func:`core.evaluation.robustness.score_runs` over the clean image and the 15
  perturbation settings (load, decode once, degrade once per setting, predict), forced.

The clean re-score runs before and after the robustness run; the ratio is against
their mean, all in the same process. The table goes to docs/BENCHMARKS.md (section
``robustness``) with the load average at the start (the machine is shared).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.compare_bench import FFHQ, MODELS, SIZE, _finished_run
from core import settings

settings.enable_onednn()


def _runs(work: Path) -> list[Path]:
    import keras

    from core.data import catalog
    from core.models import registry
    from core.runs import run_folders

    keras.utils.set_random_seed(0)
    index = catalog.index_dataset(FFHQ)
    folders = []
    for model in MODELS:
        net = registry.build(model, image_size=SIZE, augment=False)
        folder = _finished_run(work / "runs", model, SIZE, index.root)
        net.save(folder / "model.keras")
        run_folders.write_json(folder / "subsets.json", {"root": str(index.root), "test": []})
        run_folders.write_json(
            folder / "metrics.json", {"n": 0, "model": model, "image_size": SIZE}
        )
        folders.append(folder)
    keras.backend.clear_session()
    return folders


def bench(work: Path) -> list[str]:
    """Time both and return the markdown lines."""
    from core.data import catalog, testsets
    from core.evaluation import compare, robustness, scoring
    from core.runs import run_folders

    load = os.getloadavg()
    folders = _runs(work)
    index = catalog.index_dataset(FFHQ)
    test_set = testsets.TestSet.of(index.root, [s.path for s in index.splits["Test"]], "Test")

    def clean() -> float:
        records = [compare.load_record(run_folders.load_run(folder)) for folder in folders]
        start = time.perf_counter()
        results = scoring.rescore(records, test_set, force=True)
        assert all(result.error is None for result in results)
        return time.perf_counter() - start

    from core.evaluation.scoring import load_model

    start = time.perf_counter()
    for folder in folders:
        load_model(folder)
    load_s = time.perf_counter() - start
    clean_s = [clean()]
    start = time.perf_counter()
    results = robustness.score_runs(
        folders, Path(test_set.root), test_set.files, test_set.id, force=True
    )
    robust_s = time.perf_counter() - start
    assert all(result["complete"] for result in results.values())
    clean_s.append(clean())
    baseline = statistics.mean(clean_s)
    settings_n = len(robustness.all_settings()) - 1
    return [
        f"Robustness of {len(MODELS)} untrained models ({', '.join(MODELS)}; {SIZE} px) on the "
        f"{len(test_set.files)}-image Test split of `ffhq-stylegan2`: the clean image and "
        f"{settings_n} perturbation settings, against one clean re-score of the same models "
        "on the same images (before and after, same process; both load the models).",
        "",
        "| what | seconds | ratio to clean |",
        "|---|---:|---:|",
        f"| clean re-score (`scoring.rescore`, forced), mean of 2 | {baseline:.1f} | 1.0 |",
        f"| robustness (`robustness.score_runs`, forced), {settings_n + 1} inputs per "
        f"image | {robust_s:.1f} | {robust_s / baseline:.1f} |",
        f"| of which: loading the 3 models (measured alone) | {load_s:.1f} | |",
        f"| both without loading: clean {baseline - load_s:.1f} s, robustness "
        f"{robust_s - load_s:.1f} s | | {(robust_s - load_s) / max(baseline - load_s, 1e-9):.1f} |",
        "",
        f"Clean re-scores: {', '.join(f'{s:.1f}' for s in clean_s)} s. Load average at the "
        f"start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min; other people's "
        "tests share these cores). The robustness run predicts 16x the images of a clean "
        "one: once the models are loaded, its time is model time, so the issue's 3x target "
        "cannot be met on a CPU without scoring fewer inputs (it holds only where loading "
        "the models costs more than running them).",
    ]


def main() -> None:
    """Run the benchmark, print and record its table."""
    from bench._record import record_section

    with tempfile.TemporaryDirectory() as folder:
        os.environ[settings.ARTIFACTS_ENV] = folder
        lines = ["## Robustness curves (`python -m bench.robustness_bench`)", ""]
        lines += bench(Path(folder))
    markdown = "\n".join(lines)
    print(markdown)
    record_section("robustness", markdown)


if __name__ == "__main__":
    main()
