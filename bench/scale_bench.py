"""Scale benchmark: the workbench at the Kaggle set's real size (issue 10's targets).

Everything runs on a generated Kaggle-sized tree, so no download is needed:
190,335 files in the real split and class counts (:data:`KAGGLE_COUNTS`), each a hard
link to one of the shared real images (``../shared/data``), made once under
``artifacts/bench/kaggle-tree`` (seconds; no image bytes are copied).

Rows (timings are ratios against a baseline measured in the same run):

1. Peak RSS of a CNN training process (batch 32) whose subsets are the WHOLE Train,
   Validation and Test splits of the tree, over the first 100 training batches,
   against the same run on the 400-image shared FFHQ split (whose epoch has 13
   batches, so its 100 batches span 8 epochs and their validation passes), at 128
   and 256 px. Target: within 0.5 GB.
2. Building the decoded-image store: images/s against the bare decoder
   (``core.data.images.load`` in the same threads) over the same files. Target >= 0.8x.
3. With the store built, start of the trainer process to its first training batch
   over the 140,002 Train images. Target <= 15 s.
4. Training images/s on the 400-image shared Train split: the streaming pipeline
   against the old in-memory pipeline (decoded array, ``from_tensor_slices``,
   ``cache``, ``shuffle``), same model, alternating runs. Target >= 0.95x.
5. Compare page rerun (AppTest) while a background re-score of 2,000 images runs,
   against the same rerun with nothing running. Target < 1 s.

Run: ``python -m bench.scale_bench [--sizes 128 256] [--record]``. The 256-px store
of the whole tree takes about 37 GB of disk: ``--sizes 128`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench._record import record_section
from core import settings

SHARED = settings.REPO_ROOT.parent / "shared" / "data"
FFHQ = SHARED / "ffhq-stylegan2" / "Dataset"
SOURCES = (FFHQ, SHARED / "openforensics-sample" / "Dataset")
#: (Real, Fake) per split of the Kaggle "Deepfake and Real Images" set.
KAGGLE_COUNTS = {
    "Train": (70_001, 70_001),
    "Validation": (19_787, 19_641),
    "Test": (5_413, 5_492),
}
PROBE_BATCHES = 100
NOTES = """
The tree is hard links to the shared real images, so after the first pass the
files come from the page cache: the decoder and the store build read the same
files the same way. The 400-image split's 100 batches span 8 epochs (13 batches
each) and their validation passes; the whole tree's are the first 100 of epoch 1.
Peak RSS is the trainer's own ``ru_maxrss``: TensorFlow, the model, the index of
every file and the streamed batches. Start-up is from launching ``python -m`` to the
first training batch, TensorFlow's import included, with the store already built.
"""
GB = 2**30


def kaggle_tree(target: Path) -> Path:
    """The Kaggle-sized tree of hard links (made once; reused when complete)."""
    done = target / ".complete"
    if done.exists():
        return target / "Dataset"
    pools = {
        name: sorted(p for source in SOURCES for p in source.glob(f"*/{name}/*.jpg"))
        for name in ("Real", "Fake")
    }
    for split, counts in KAGGLE_COUNTS.items():
        for name, count in zip(("Real", "Fake"), counts, strict=True):
            folder = target / "Dataset" / split / name
            folder.mkdir(parents=True, exist_ok=True)
            pool = pools[name]
            for i in range(count):
                link = folder / f"{name.lower()}_{i:06d}.jpg"
                if not link.exists():
                    os.link(pool[i % len(pool)], link)
    done.touch()
    return target / "Dataset"


def _probe_callback(out: Path, batches: int):
    """A Keras callback: note the first batch's time, then peak RSS after ``batches``."""
    import keras
    import psutil

    class Probe(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seen = 0
            self.first: float | None = None

        def on_train_batch_begin(self, batch, logs=None):
            if self.first is None:
                self.first = time.time()

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen >= batches:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                result = {
                    "peak_rss": peak,
                    "rss_now": psutil.Process().memory_info().rss,
                    "first_batch_at": self.first,
                }
                out.write_text(json.dumps(result))
                os._exit(0)  # the probe is done; skip validation, calibration and test

    return Probe()


def _child_train(args: argparse.Namespace) -> None:
    """In a fresh process: train the CNN on the whole dataset until the probe stops it."""
    from core.runs.config import TrainConfig
    from core.training.trainer import train

    config = TrainConfig(
        model="cnn",
        data_dir=args.data_dir,
        image_size=args.image_size,
        batch_size=32,
        epochs=1000,
        early_stopping_patience=1000,
    )
    train(config, callbacks=[_probe_callback(Path(args.out), args.batches)])
    raise SystemExit("training ended before the probe's batch count")


def probe_training(data_dir: Path, size: int, work: Path, batches: int = PROBE_BATCHES) -> dict:
    """Peak RSS and start-to-first-batch seconds of a trainer process (store prebuilt)."""
    out = work / f"probe-{data_dir.parent.name}-{size}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.scale_bench", "--child-train", "--out", str(out)]
    command += ["--data-dir", str(data_dir), "--image-size", str(size), "--batches", str(batches)]
    home = work / "probe-artifacts"  # its run folders, killed mid-run, stay out of the app's
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "stores").exists():
        (home / "stores").symlink_to(settings.artifacts_dir() / "stores")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", settings.ARTIFACTS_ENV: str(home)}
    started = time.time()
    subprocess.run(command, check=True, env=env)
    result = json.loads(out.read_text())
    result["start_to_first_batch_s"] = result["first_batch_at"] - started
    return result


class _EpochClock:
    """Seconds of each training epoch (a Keras callback built lazily)."""

    def __new__(cls):
        import keras

        class Clock(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.start)

        return Clock()


def _in_memory_dataset(pixels, labels, batch_size: int, seed: int):
    """The pipeline before the store: the whole decoded subset in a cached, shuffled tf.data."""
    import tensorflow as tf

    labels = labels.astype("float32").reshape(-1, 1)
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels)).cache()
    dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _child_throughput(args: argparse.Namespace) -> None:
    """In a fresh process: fit the CNN on the shared Train split fed one way; print JSON."""
    settings.enable_onednn()
    import keras
    import numpy as np

    from core.models import registry
    from core.runs.config import TrainConfig
    from core.training import pipelines
    from core.training.subsets import load_subsets
    from core.training.trainer import compile_model

    config = TrainConfig(model="cnn", data_dir=str(FFHQ), image_size=args.image_size, seed=1)
    subsets = load_subsets(config)
    if args.mode == "memory":
        pixels = np.asarray(subsets.train.pixels[np.arange(len(subsets.train.labels))])
        train = _in_memory_dataset(pixels, subsets.train.labels, config.batch_size, config.seed)
    else:
        train, _ = pipelines.training_datasets(subsets, config, 1)
    keras.utils.set_random_seed(config.seed)
    model = registry.build("cnn", image_size=config.image_size, augment=True, seed=config.seed)
    compile_model(model, config.learning_rate)
    clock = _EpochClock()
    model.fit(train, epochs=args.epochs, callbacks=[clock], verbose=0)
    steady = sum(clock.seconds[1:])  # the first epoch pays for tracing
    images = len(subsets.train.labels) * (args.epochs - 1)
    print(json.dumps({"mode": args.mode, "images_per_s": images / steady}))


def throughput(size: int = 128, epochs: int = 4, rounds: int = 3) -> dict[str, list[float]]:
    """Training images/s per pipeline, alternating memory/stream runs in fresh processes."""
    found: dict[str, list[float]] = {"memory": [], "stream": []}
    for _ in range(rounds):
        for mode in found:
            command = [sys.executable, "-m", "bench.scale_bench", "--child-throughput", mode]
            command += ["--image-size", str(size), "--epochs", str(epochs)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            found[mode].append(json.loads(output.strip().splitlines()[-1])["images_per_s"])
    return found


def _warm_reruns(at, while_running=None, count: int = 5) -> list[float]:
    """Seconds of ``count`` AppTest reruns; with ``while_running``, only reruns it spanned."""
    seconds: list[float] = []
    attempts = 0
    while len(seconds) < count and attempts < 4 * count:
        attempts += 1
        before = while_running is None or while_running()
        start = time.perf_counter()
        at.run()
        took = time.perf_counter() - start
        assert not at.exception, at.exception
        if before and (while_running is None or while_running()):
            seconds.append(took)
    return seconds


def page_during_rescore(tree: Path, work: Path, images: int = 2000) -> dict[str, float]:
    """Compare page reruns (AppTest, warm) idle and while a background re-score runs."""
    import statistics

    from streamlit.testing.v1 import AppTest

    from bench.compare_bench import _make_page_runs
    from core.data import testsets
    from core.jobs import scoring_queue

    home = work / "page-artifacts"
    os.environ[settings.ARTIFACTS_ENV] = str(home)  # the page and the worker read it
    _make_page_runs(home, 8)
    at = AppTest.from_file(str(settings.REPO_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/compare.py")
    at.run()
    idle = _warm_reruns(at)
    test_set = testsets.dataset_test_set(tree, images, 0)
    job = scoring_queue.submit("rescore", sorted((home / "runs").iterdir())[:3], test_set)

    def predicting() -> bool:
        status = scoring_queue.load_job(job).status
        return status.get("state") == "running" and status.get("done", 0) > 0

    deadline = time.monotonic() + 600
    while not predicting() and time.monotonic() < deadline:
        time.sleep(0.2)
    busy = _warm_reruns(at, predicting)
    scoring_queue.cancel(job)
    return {
        "idle_s": statistics.median(idle),
        "busy_s": statistics.median(busy) if busy else float("nan"),
        "busy_max_s": max(busy, default=float("nan")),
        "busy_reruns": len(busy),
    }


def _all_samples(dataset: Path) -> tuple[Path, list]:
    from core.data import catalog

    index = catalog.index_dataset(dataset)
    return index.root, [sample for split in catalog.SPLITS for sample in index.splits[split]]


def build_rate(dataset: Path, size: int, work: Path, count: int = 3000) -> dict[str, float]:
    """Images/s of a fresh store build against the bare decoder, same files and threads."""
    from concurrent.futures import ThreadPoolExecutor

    from core.data import catalog, images, store

    root, samples = _all_samples(dataset)
    chosen = samples[:: max(1, len(samples) // count)][:count]
    paths = [sample.path for sample in chosen]
    rates: dict[str, list[float]] = {"decoder": [], "store": []}
    for round_ in range(2):  # interleaved: the machine's load moves
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=catalog.io_workers()) as pool:
            list(pool.map(lambda relative: images.load(root / relative, size), paths))
        rates["decoder"].append(len(paths) / (time.perf_counter() - start))
        os.environ[settings.ARTIFACTS_ENV] = str(work / f"rate-{size}-{round_}")
        start = time.perf_counter()
        store.Store(root, size).ensure(paths)
        rates["store"].append(len(paths) / (time.perf_counter() - start))
        store.delete_store(store.store_path(root, size))
    return {key: max(values) for key, values in rates.items()} | {"files": len(paths)}


def build_whole(dataset: Path, size: int) -> dict[str, float]:
    """Build (or extend) the store of every file of ``dataset`` at ``size`` px."""
    from core.data import store

    root, samples = _all_samples(dataset)
    last = [0.0]

    def report(progress: store.BuildProgress) -> None:
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(f"  {size} px: {progress.done:,}/{progress.total:,} at {progress.rate:.0f}/s")

    start = time.perf_counter()
    decoded = store.Store(root, size).ensure([sample.path for sample in samples], report)
    seconds = time.perf_counter() - start
    info = next(i for i in store.list_stores() if i.path == store.store_path(root, size))
    return {"decoded": decoded, "seconds": seconds, "bytes": info.bytes, "images": info.images}


def _save(results: dict, work: Path) -> None:
    (work / "results.json").write_text(json.dumps(results, indent=1))


def _rows(results: dict) -> list[str]:
    """The markdown table of whatever has been measured."""
    lines = ["| target | measured | ratio / value | goal | met |", "|---|---|---:|---|---|"]

    def add(target: str, measured: str, value: float, goal: str, met: bool) -> None:
        lines.append(f"| {target} | {measured} | {value:.2f} | {goal} | {'yes' if met else 'NO'} |")

    for size in (128, 256):
        probe = results.get(f"probe-{size}")
        if not probe:
            lines.append(f"| peak RSS and start-up at {size} px | not measured in this run | | | |")
        if probe:
            small, whole = probe["small"]["peak_rss"] / GB, probe["whole"]["peak_rss"] / GB
            add(
                f"peak RSS, whole tree vs 400-image split, {size} px",
                f"{whole:.2f} GiB vs {small:.2f} GiB",
                whole - small,
                "<= 0.5 GB (0.47 GiB) more",
                whole - small <= 0.5e9 / GB,
            )
            first = probe["whole"]["start_to_first_batch_s"]
            add(
                f"trainer start to first batch, 140,002 Train images, {size} px",
                f"{first:.1f} s",
                first,
                "<= 15 s",
                first <= 15,
            )
        rate = results.get(f"rate-{size}")
        if rate:
            ratio = rate["store"] / rate["decoder"]
            add(
                f"store build vs bare decoder, {rate['files']:,} files, {size} px",
                f"{rate['store']:.0f} vs {rate['decoder']:.0f} images/s",
                ratio,
                ">= 0.8x",
                ratio >= 0.8,
            )
    speed = results.get("throughput")
    if speed:
        pairs = list(zip(speed["stream"], speed["memory"], strict=True))
        ratios = sorted(stream / memory for stream, memory in pairs)
        ratio = ratios[len(ratios) // 2]
        add(
            "training images/s, 400-image split, streamed vs in-memory (128 px), median "
            "of rounds run back to back",
            ", ".join(f"{stream:.1f} vs {memory:.1f}" for stream, memory in pairs),
            ratio,
            ">= 0.95x",
            ratio >= 0.95,
        )
    page = results.get("page")
    if page:
        add(
            "Compare page rerun during a 2,000-image background re-score",
            f"{page['busy_s']:.2f} s (idle {page['idle_s']:.2f} s, max {page['busy_max_s']:.2f})",
            page["busy_s"],
            "< 1 s",
            page["busy_s"] < 1,
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the options; run the child role or the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--record", action="store_true", help="write docs/BENCHMARKS.md")
    parser.add_argument("--resume", action="store_true", help="keep the steps already measured")
    parser.add_argument("--child-train", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--image-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, default=PROBE_BATCHES, help=argparse.SUPPRESS)
    parser.add_argument("--child-throughput", dest="mode", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_train:
        _child_train(args)
        return 0
    if args.mode:
        _child_throughput(args)
        return 0
    work = settings.artifacts_dir() / "bench"
    tree = kaggle_tree(work / "kaggle-tree")
    home = os.environ.get(settings.ARTIFACTS_ENV)
    results = json.loads((work / "results.json").read_text()) if args.resume else {}
    steps = [(f"rate-{s}", lambda s=s: build_rate(tree, s, work)) for s in args.sizes]
    for size in args.sizes:
        steps.append((f"store-{size}", lambda size=size: build_whole(tree, size)))
        steps.append((f"store-ffhq-{size}", lambda size=size: build_whole(FFHQ, size)))
        steps.append(
            (
                f"probe-{size}",
                lambda size=size: {
                    "small": probe_training(FFHQ, size, work),
                    "whole": probe_training(tree, size, work),
                },
            )
        )
    steps += [("throughput", throughput), ("page", lambda: page_during_rescore(tree, work))]
    for name, step in steps:
        if name in results:
            continue
        if home:  # every step reads and writes the same artifacts folder
            os.environ[settings.ARTIFACTS_ENV] = home
        else:
            os.environ.pop(settings.ARTIFACTS_ENV, None)
        print(f"{name} ...", flush=True)
        results[name] = step()
        print(f"{name}: {json.dumps(results[name])[:300]}", flush=True)
        _save(results, work)
    text = "## Scale (`python -m bench.scale_bench`)\n\n" + "\n".join(_rows(results)) + "\n"
    print(text)
    if args.record:
        record_section("scale", text + NOTES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
