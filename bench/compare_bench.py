"""Benchmark the comparison: re-scoring three models, and the page's render time with 50 runs.

Run with ``python -m bench.compare_bench``. Everything is written to a temporary
artifacts folder; the table goes to docs/BENCHMARKS.md (section ``compare``).

1. Re-scoring: the three registered models (CNN, Capsule Network, Xception), built
   *untrained* at 128 px and saved as run folders, re-scored with
   :func:`core.evaluation.scoring.rescore` on the 60-image Test split of the shared
   FFHQ/StyleGAN2 set. Untrained weights cost the same to run as trained ones; the
   metrics are meaningless and not reported. Timed: first scoring (model loading,
   decoding, prediction) and the second call, which reads the stored results.
2. Page: the Compare page rendered through AppTest with 2 and with 50 finished runs
   (one tiny run's files copied, each with its own metrics and history), with the
   default selection (8 newest runs) and with all 50 selected.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core import settings

settings.enable_onednn()

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
MODELS = ("cnn", "capsnet", "xception")
SIZE = 128
PAGE_RUNS = 50
PAGE_SIZE = 72  # smallest size every model accepts (Xception: 71)


def _finished_run(runs_root: Path, model: str, size: int, dataset: Path) -> Path:
    """Write the JSON files of a finished run around an already saved model.keras."""
    from core.runs import run_folders
    from core.runs.config import TrainConfig

    folder = run_folders.new_run_dir(model, runs_root)
    config = TrainConfig(model=model, image_size=size, epochs=3)
    extra = {"dataset": str(dataset), "is_demo": False}
    if model == "xception":
        extra["weights"] = {"imagenet": False, "message": "untrained (benchmark)"}
    run_folders.write_json(folder / "config.json", config.to_dict() | extra)
    run_folders.set_status(
        folder, "finished", epoch=3, epochs=3, created=time.time(), elapsed_s=1.0
    )
    return folder


def bench_rescore(work: Path) -> list[str]:
    """Re-score three untrained models on the shared 60-image Test split."""
    start = time.perf_counter()
    import keras

    from core.data import catalog, testsets
    from core.evaluation import compare, scoring
    from core.models import registry
    from core.runs import run_folders

    import_seconds = time.perf_counter() - start
    keras.utils.set_random_seed(0)
    runs_root = work / "runs"
    index = catalog.index_dataset(FFHQ)
    test = index.splits["Test"]
    for model in MODELS:
        net = registry.build(model, image_size=SIZE, augment=False)
        folder = _finished_run(runs_root, model, SIZE, index.root)
        net.save(folder / "model.keras")
        run_folders.write_json(folder / "subsets.json", {"root": str(index.root), "test": []})
        run_folders.write_json(
            folder / "metrics.json",
            {"n": 0, "params": int(net.count_params()), "model": model, "image_size": SIZE},
        )
        del net
    keras.backend.clear_session()

    records = compare.load_comparison(runs_root).records
    test_set = testsets.TestSet.of(index.root, [s.path for s in test], "shared Test split")
    decode_start = time.perf_counter()
    catalog.load_images(index.root, test_set.samples(), SIZE)
    decode_seconds = time.perf_counter() - decode_start

    start = time.perf_counter()
    results = scoring.rescore(records, test_set)
    first = time.perf_counter() - start
    assert all(r.error is None for r in results), [r.error for r in results]
    start = time.perf_counter()
    again = scoring.rescore(compare.load_comparison(runs_root).records, test_set)
    second = time.perf_counter() - start
    assert all(r.reused for r in again)

    lines = [
        f"Re-scoring {len(MODELS)} untrained models ({SIZE} px) on the {len(test)}-image "
        f"Test split of `ffhq-stylegan2` with `core.evaluation.scoring.rescore`:",
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| import Keras/TensorFlow (once per process) | {import_seconds:.1f} |",
        f"| decode the {len(test)} images at {SIZE} px (once per image size, shared) "
        f"| {decode_seconds:.2f} |",
        f"| first re-score, 3 models: load, decode, predict, write | {first:.1f} |",
        f"| second call: stored results read back | {second:.3f} |",
        "",
        "| model | parameters | inference ms/image (batch 32) |",
        "|---|---:|---:|",
    ]
    for result, record in zip(results, records, strict=True):
        lines.append(
            f"| {record.run.model} | {record.metrics['params']:,} | "
            f"{result.record['metrics']['inference_ms_per_image']:.1f} |"
        )
    lines += [
        "",
        "Untrained weights: the timing is what matters, the metrics are meaningless. "
        "ms/image is the first prediction after loading, so it includes Keras's one-time "
        "tracing of the model. The dev machine's 2 cores are shared with other work: "
        "timings moved by up to 2x between runs of this script.",
    ]
    return lines


def _make_page_runs(home: Path, count: int) -> None:
    """Write ``count`` finished runs sharing one tiny model, each with its own metrics."""
    from core import metrics
    from core.data import catalog
    from core.models import registry
    from core.runs import run_folders

    index = catalog.index_dataset(FFHQ)
    test = index.splits["Test"]
    labels = np.array([sample.label for sample in test])
    home.mkdir(parents=True, exist_ok=True)
    template = home / "template.keras"
    registry.build("cnn", image_size=PAGE_SIZE, augment=False).save(template)
    rng = np.random.default_rng(0)
    for i in range(count):
        model = MODELS[i % len(MODELS)]
        folder = _finished_run(home / "runs", model, PAGE_SIZE, index.root)
        shutil.copy(template, folder / "model.keras")
        files = [s.path for s in test]
        run_folders.write_json(
            folder / "subsets.json",
            {"root": str(index.root), "train": [], "validation": [], "test": files, "skipped": []},
        )
        epochs = int(rng.integers(2, 10))
        run_folders.write_json(
            folder / "history.json",
            {
                key: np.round(rng.uniform(0.2, 1.0, epochs), 4).tolist()
                for key in ("loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc")
            },
        )
        skill = rng.uniform(0.0, 2.0)
        p_real = 1 / (1 + np.exp(-(skill * (labels - 0.5) * 2 + rng.normal(0, 1, labels.size))))
        report = metrics.detection_report(labels, p_real)
        report |= {
            "train_seconds": float(rng.uniform(10, 500)),
            "images_per_second": float(rng.uniform(5, 200)),
            "params": int(rng.integers(10_000, 20_000_000)),
            "epochs_run": epochs,
            "inference_ms_per_image": float(rng.uniform(1, 50)),
            "test_files": files,
            "dataset": str(index.root),
            "is_demo": False,
            "image_size": PAGE_SIZE,
            "model": model,
        }
        run_folders.write_json(folder / "metrics.json", report)


def _render_seconds(select_all: bool, repeats: int = 3) -> tuple[float, float, int]:
    """(first render, median warm rerun) of the Compare page in seconds, and its row count."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(settings.REPO_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/compare.py")
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    if select_all:
        widget = at.multiselect(key="compare_runs")
        widget.set_value(widget.options)
        start = time.perf_counter()
        at.run()
        first = time.perf_counter() - start
    assert not at.exception, at.exception
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - start)
    assert not at.exception, at.exception
    return first, statistics.median(warm), len(at.dataframe[0].value)


def bench_page(work: Path) -> list[str]:
    """Render time of the Compare page with 2 and with 50 runs."""
    lines = [
        "",
        "Compare page rendered with AppTest (in-process: no browser, no network; the page "
        "itself imports no TensorFlow):",
        "",
        "| finished runs | selected | rows | first render s | warm rerun s (median of 3) |",
        "|---:|---|---:|---:|---:|",
    ]
    os.environ[settings.DATA_ENV] = str(FFHQ)
    for count in (2, PAGE_RUNS):
        home = work / f"page{count}"
        _make_page_runs(home, count)
        os.environ[settings.ARTIFACTS_ENV] = str(home)
        for select_all in (False, True) if count > 2 else (False,):
            first, warm, rows = _render_seconds(select_all)
            label = "all" if select_all else "default (newest 8)"
            lines.append(f"| {count} | {label} | {rows} | {first:.2f} | {warm:.2f} |")
    return lines


def main() -> None:
    from bench._record import record_section

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        os.environ[settings.ARTIFACTS_ENV] = str(work)
        lines = ["## Comparison: re-scoring and page render", ""]
        lines += bench_rescore(work)
        lines += bench_page(work)
    markdown = "\n".join(lines)
    print(markdown)
    record_section("compare", markdown)


if __name__ == "__main__":
    main()
