"""Robustness curves: score saved models on test images degraded as on the internet.

For the chosen runs and one test set, every image is decoded once at its own
resolution, degraded by each setting of :mod:`core.data.perturb` (plus the clean image,
the first point of every curve), resized to each model's input and scored. The
degraded pixels are shared by every model, so all models see identical inputs.
Work goes in chunks of images: memory stays bounded by one chunk whatever the test
set's size, and after each chunk the partial result is stored, so a stopped job
resumes where it was.

Each run's result is stored atomically in its folder as
``robustness/<test-set id>-seed<seed>.json``::

    {"test_set_id", "seed", "files", "labels", "skipped", "complete",
     "settings": {"clean@0": {"p_real": [...], "metrics": {...}}, "jpeg@95": ...}}

and reused by later calls. ``python -m core.robustness --runs RUN [RUN ...] --data-dir
PATH`` prints the curves as a table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import metrics
from core.data import images, perturb
from core.data.testsets import label_of
from core.evaluation import ensemble
from core.runs.run_folders import RunError, read_json, write_json

log = logging.getLogger(__name__)

RESULTS_DIR = "robustness"
#: Images decoded and degraded together; bounds memory for any test-set size.
CHUNK = 96
#: Metrics kept per setting (the full report's curves would bloat the file).
KEPT_METRICS = ("n", "loss", "accuracy", "balanced_accuracy", "auc", "ap", "eer", "f1")

Progress = Callable[[int, int, str], None]


def all_settings() -> list[tuple[str, float]]:
    """The clean image first, then every setting of the protocol."""
    return [perturb.CLEAN, *perturb.settings()]


def result_path(run_dir: Path, test_set_id: str, seed: int) -> Path:
    """Where the robustness result of a run on a test set is stored."""
    return Path(run_dir) / RESULTS_DIR / f"{test_set_id}-seed{seed}.json"


def load_result(run_dir: Path, test_set_id: str, seed: int = 0) -> dict[str, Any] | None:
    """A stored result, or None when absent or unreadable (it is then computed again)."""
    try:
        record = read_json(result_path(run_dir, test_set_id, seed))
    except RunError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("settings"), dict) else None


@dataclass
class _Member:
    """One run being scored: its folder, model, input size and the record being filled."""

    run_dir: Path
    model: Any
    size: int
    record: dict[str, Any]


def _empty_record(test_set_id: str, seed: int, files: Sequence[str]) -> dict[str, Any]:
    return {
        "test_set_id": test_set_id,
        "seed": seed,
        "requested_files": list(files),
        "files": [],
        "labels": [],
        "skipped": [],
        "done": 0,
        "complete": False,
        "settings": {perturb.setting_key(*s): {"p_real": []} for s in all_settings()},
    }


def _resumable(record: dict[str, Any] | None, files: Sequence[str]) -> bool:
    return bool(record) and record.get("requested_files") == list(files)


def _decode_chunk(
    root: Path, files: Sequence[str], stores: Sequence[Any] = ()
) -> list[np.ndarray | str]:
    """Full-size pixels of each file, or why it cannot be read.

    A file a decoded-image store holds at its own size (``stores``, see
    :func:`core.data.store.existing`) is read from there instead of decoded.
    """

    def decode(relative: str) -> np.ndarray | str:
        for store in stores:
            stored = store.native(relative)
            if stored is not None:
                return stored
        try:
            return images.decode(root / relative).pixels
        except (images.ImageError, OSError) as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(decode, files))


def _degrade(
    decoded: list[np.ndarray], name: str, strength: float, seed: int, first_index: int
) -> list[np.ndarray]:
    def one(item: tuple[int, np.ndarray]) -> np.ndarray:
        index, pixels = item
        return perturb.apply(pixels, name, strength, seed, first_index + index)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, enumerate(decoded)))


def _score_chunk(
    members: Sequence[_Member], decoded: list[np.ndarray], seed: int, first: int, batch: int
) -> None:
    """Degrade one chunk by every setting and append every member's scores."""
    from core.evaluation.scoring import predict_p_real

    sizes = sorted({member.size for member in members})
    for name, strength in all_settings():
        key = perturb.setting_key(name, strength)
        degraded = _degrade(decoded, name, strength, seed, first)
        by_size = {size: np.stack([images.resize(p, size) for p in degraded]) for size in sizes}
        for member in members:
            p_real = predict_p_real(member.model, by_size[member.size], batch_size=batch)
            member.record["settings"][key]["p_real"].extend(np.round(p_real, 6).tolist())


def _finish(record: dict[str, Any]) -> None:
    labels = record["labels"]
    for values in record["settings"].values():
        report = (
            metrics.detection_report(labels, values["p_real"], interval=False) if labels else {}
        )
        values["metrics"] = {key: report.get(key) for key in KEPT_METRICS}
    record["complete"] = True
    record["created"] = time.time()


def score_runs(
    run_dirs: Sequence[Path],
    root: Path,
    files: Sequence[str],
    test_set_id: str,
    *,
    seed: int = 0,
    batch_size: int = 64,
    force: bool = False,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Score each run on every setting of the protocol; store and return the results.

    Args:
        run_dirs: the run folders (each holding ``model.keras``).
        root: the dataset root the test files are relative to.
        files: the test set's relative paths (their class folder gives the label).
        test_set_id: the test set's id, naming the stored result.
        seed: seeds the noise; the same seed gives the same pixels for every model.
        batch_size: images per forward pass.
        force: ignore stored results and score again.
        progress: called with (images done, images in all, message) after each chunk;
            it may raise to stop the job (the partial result is kept for resuming).

    Returns:
        Run folder name -> stored result (see the module docstring).

    Raises:
        RunError: a model cannot be loaded.
    """
    from core.evaluation.scoring import load_model, model_image_size

    results: dict[str, dict[str, Any]] = {}
    members: list[_Member] = []
    for number, run_dir in enumerate(map(Path, run_dirs), start=1):
        if progress is not None:  # loading a model takes seconds: say which one
            progress(0, len(files), f"loading model {number} of {len(run_dirs)} ({run_dir.name})")
        stored = None if force else load_result(run_dir, test_set_id, seed)
        if stored and stored.get("complete") and _resumable(stored, files):
            results[run_dir.name] = stored
            continue
        record = stored if _resumable(stored, files) else _empty_record(test_set_id, seed, files)
        model = load_model(run_dir)
        members.append(_Member(run_dir, model, model_image_size(model), record))
    if members:
        _score_members(members, Path(root), list(files), seed, batch_size, progress)
        results.update({member.run_dir.name: member.record for member in members})
    return results


def _score_members(
    members: list[_Member],
    root: Path,
    files: list[str],
    seed: int,
    batch_size: int,
    progress: Progress | None,
) -> None:
    from core.data import store

    # Members resumed from different points restart together from the earliest.
    start = min(member.record["done"] for member in members)
    stores = store.existing(root, [member.size for member in members])
    for member in members:
        _truncate(member.record, start)
    for first in range(start, len(files), CHUNK):
        chunk = files[first : first + CHUNK]
        decoded, kept = [], []
        for relative, result in zip(chunk, _decode_chunk(root, chunk, stores), strict=True):
            if isinstance(result, str):
                for member in members:
                    member.record["skipped"].append([relative, result])
            else:
                decoded.append(result)
                kept.append(relative)
        if decoded:
            _score_chunk(members, decoded, seed, first, batch_size)
        for member in members:
            member.record["files"].extend(kept)
            member.record["labels"].extend(label_of(relative) for relative in kept)
            member.record["done"] = first + len(chunk)
            if member.record["done"] >= len(files):
                _finish(member.record)
            write_json(
                result_path(member.run_dir, member.record["test_set_id"], seed), member.record
            )
        if progress is not None:
            done = min(first + CHUNK, len(files))
            progress(done, len(files), f"scoring images under {len(all_settings())} settings")


def _truncate(record: dict[str, Any], done: int) -> None:
    """Cut a partial record back to its first ``done`` requested files."""
    if record["done"] == done:
        return
    requested = record["requested_files"][:done]
    kept = set(requested)
    positions = [i for i, path in enumerate(record["files"]) if path in kept]
    record["files"] = [record["files"][i] for i in positions]
    record["labels"] = [record["labels"][i] for i in positions]
    record["skipped"] = [item for item in record["skipped"] if item[0] in kept]
    for values in record["settings"].values():
        values["p_real"] = [values["p_real"][i] for i in positions]
    record["done"] = done
    record["complete"] = False


def curves(
    results: dict[str, dict[str, Any]], metric: str = "auc"
) -> dict[str, dict[str, list[tuple[float, float | None]]]]:
    """Per run and perturbation, the (strength, metric) points, the clean point first.

    Returns:
        run -> perturbation name -> [(strength, value), ...]; the clean value is the
        first point of every perturbation's line, at its identity strength.
    """
    identity = {"jpeg": 100.0, "rescale": 1.0, "blur": 0.0, "noise": 0.0, "crop": 1.0}
    table: dict[str, dict[str, list[tuple[float, float | None]]]] = {}
    for run, record in results.items():
        settings = record.get("settings", {})
        clean = settings.get(perturb.setting_key(*perturb.CLEAN), {}).get("metrics", {})
        lines: dict[str, list[tuple[float, float | None]]] = {}
        for name, item in perturb.PERTURBATIONS.items():
            points = [(identity[name], clean.get(metric))]
            for strength in item.strengths:
                values = settings.get(perturb.setting_key(name, strength), {})
                points.append((float(strength), values.get("metrics", {}).get(metric)))
            lines[name] = points
        table[run] = lines
    return table


def ensemble_result(
    results: dict[str, dict[str, Any]], members: Sequence[str], method: str = "logit"
) -> dict[str, Any]:
    """The ensemble of ``members``' stored robustness results, shaped like one run's.

    Raises:
        ensemble.EnsembleError: fewer than two members, or results on different files.
    """
    chosen = [results[name] for name in members]
    if len(chosen) < 2:
        raise ensemble.EnsembleError("Choose at least two runs for an ensemble.")
    if any(record.get("files") != chosen[0].get("files") for record in chosen[1:]):
        raise ensemble.EnsembleError("These runs' robustness results cover different files.")
    combined: dict[str, Any] = {"files": chosen[0]["files"], "labels": chosen[0]["labels"]}
    combined["settings"] = {}
    for key in chosen[0]["settings"]:
        p_real = ensemble.combine([record["settings"][key]["p_real"] for record in chosen], method)
        report = metrics.detection_report(combined["labels"], p_real, interval=False)
        combined["settings"][key] = {
            "p_real": np.round(p_real, 6).tolist(),
            "metrics": {name: report.get(name) for name in KEPT_METRICS},
        }
    return combined


def _print_table(results: dict[str, dict[str, Any]]) -> None:
    keys = [perturb.setting_key(*setting) for setting in all_settings()]
    print("setting".ljust(14) + "".join(run[:22].rjust(24) for run in results))
    for key in keys:
        cells = []
        for record in results.values():
            values = record["settings"][key]["metrics"]
            auc = "n/a" if values.get("auc") is None else f"{values['auc']:.3f}"
            cells.append(f"AUC {auc} acc {values['accuracy']:.3f}".rjust(24))
        print(key.ljust(14) + "".join(cells))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m core.robustness``; returns the exit status."""
    from core.data import catalog
    from core.data.testsets import dataset_test_set

    parser = argparse.ArgumentParser(
        prog="python -m core.robustness", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="run folders")
    parser.add_argument("--data-dir", required=True, help="dataset whose Test split is used")
    parser.add_argument("--size", type=int, help="stratified sample of the Test split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        test_set = dataset_test_set(args.data_dir, args.size, args.seed)
        results = score_runs(
            args.runs,
            Path(test_set.root),
            test_set.files,
            test_set.id,
            seed=args.seed,
            progress=lambda done, total, _: print(f"{done}/{total} images", flush=True),
        )
    except (RunError, catalog.DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
