"""Benchmark: index a Kaggle-sized dataset tree (about 190,000 files) and count it.

Builds the tree of the Kaggle "Deepfake and Real Images" set with its real split and
class proportions, as hard links to a few real images from ../shared/data (no data is
copied beyond those few files), times ``core.data.catalog.index_dataset`` plus the class
counts, and records the table in docs/BENCHMARKS.md (section ``index``).

Run: ``python -m bench.index_bench`` (about a minute, most of it building the tree).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench._record import record_section
from core import settings
from core.data import catalog

SOURCE = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"
#: The Kaggle set's layout: split -> (Real, Fake) file counts.
KAGGLE_COUNTS = {
    "Train": (70_001, 70_001),
    "Validation": (19_641, 19_787),
    "Test": (5_413, 5_492),
}
TARGET_S = 5.0
REPEATS = 3


def build_tree(root: Path, counts: dict[str, tuple[int, int]], sources: list[Path]) -> int:
    """Create ``root/<split>/<Real|Fake>/<real|fake>_N.jpg`` as hard links; return the count."""
    seeds = root / ".sources"
    seeds.mkdir(parents=True)
    # Hard links need the same file system: copy the few source images next to the tree.
    local = [Path(shutil.copy(source, seeds / source.name)) for source in sources]
    made = 0
    for split, (n_real, n_fake) in counts.items():
        for name, count in (("Real", n_real), ("Fake", n_fake)):
            folder = root / split / name
            folder.mkdir(parents=True)
            prefix = name.lower()
            for i in range(count):
                os.link(local[i % len(local)], folder / f"{prefix}_{i}.jpg")
            made += count
    return made


def scandir_only(root: Path) -> int:
    """Baseline: list the same class folders with bare os.scandir, nothing else."""
    total = 0
    for split in KAGGLE_COUNTS:
        for name in ("Real", "Fake"):
            with os.scandir(root / split / name) as entries:
                total += sum(1 for _ in entries)
    return total


def main() -> None:
    sources = (
        sorted((SOURCE / "Train" / "Real").iterdir())[:4]
        + sorted((SOURCE / "Train" / "Fake").iterdir())[:4]
    )
    with tempfile.TemporaryDirectory(prefix="index-bench-") as temp:
        root = Path(temp) / "Dataset"
        start = time.perf_counter()
        made = build_tree(root, KAGGLE_COUNTS, sources)
        build_s = time.perf_counter() - start
        print(f"built {made:,} files in {build_s:.1f} s")

        index_times, baseline_times = [], []
        for _ in range(REPEATS):
            start = time.perf_counter()
            listed = scandir_only(root)
            baseline_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            index = catalog.index_dataset(root)
            counts = index.counts()
            index_times.append(time.perf_counter() - start)
        assert listed == made == index.total, (listed, made, index.total)
        expected = {s: {"Real": r, "Fake": f} for s, (r, f) in KAGGLE_COUNTS.items()}
        assert counts == expected, counts

    index_s = statistics.median(index_times)
    baseline_s = statistics.median(baseline_times)
    verdict = "meets" if index_s < TARGET_S else "MISSES"
    rows = "\n".join(f"| {split} | {c['Real']:,} | {c['Fake']:,} |" for split, c in counts.items())
    markdown = f"""\
## Indexing a Kaggle-sized tree (`python -m bench.index_bench`)

{made:,} files in the Kaggle layout (hard links to 8 real JPEGs from ../shared/data),
indexed with `core.data.catalog.index_dataset` plus `DatasetIndex.counts()`; median of
{REPEATS} runs, file-system cache warm (the tree was just built).

| split | Real | Fake |
|---|---:|---:|
{rows}

| step | time |
|---|---:|
| index + counts (median) | **{index_s:.2f} s** ({", ".join(f"{t:.2f}" for t in index_times)}) |
| baseline: bare `os.scandir` of the same folders | {baseline_s:.2f} s |
| ratio index / baseline | {index_s / baseline_s:.1f}x |

Target under {TARGET_S:.0f} s: {verdict} it. A cold cache (first read after a reboot)
adds the disk's directory-read time on top; that part is the same for any lister.
"""
    print(markdown)
    record_section("index", markdown)


if __name__ == "__main__":
    main()
