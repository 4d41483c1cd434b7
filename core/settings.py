"""Where things live: the repository root, the artifacts folder, the data root.

Every path the app reads or writes is resolved here, so tests can point the whole
app at a temporary folder with two environment variables:

- ``DEEPFAKE_ARTIFACTS_DIR``: runs, the generated demo dataset, caches
  (default ``artifacts/`` in the repository).
- ``DEEPFAKE_DATA_DIR``: the dataset root used when the sidebar names none
  (default: the generated demo dataset).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

ARTIFACTS_ENV = "DEEPFAKE_ARTIFACTS_DIR"
DATA_ENV = "DEEPFAKE_DATA_DIR"

#: Fixed label convention, used everywhere: models output the logit of P(Real).
LABEL_FAKE = 0
LABEL_REAL = 1
CLASS_NAMES = ("Fake", "Real")  # index = label


def artifacts_dir() -> Path:
    """Return the artifacts folder, creating it if needed."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or REPO_ROOT / "artifacts").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Return the folder that holds one sub-folder per training run."""
    path = artifacts_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_data_dir() -> Path:
    """Return where the generated demo dataset lives (it may not exist yet)."""
    return artifacts_dir() / "demo" / "Dataset"


def env_data_dir() -> Path | None:
    """Return the dataset root named by ``DEEPFAKE_DATA_DIR``, if any."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


def enable_onednn() -> None:
    """Turn on oneDNN kernels unless the user chose otherwise.

    TensorFlow leaves them off on these CPUs; on our 2-core machines they made
    training 1.5-3x faster. Must run before TensorFlow is imported.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


PRECISION_ENV = "DEEPFAKE_PRECISION"
PRECISIONS = ("float32", "mixed_bfloat16")


def cpu_has_bfloat16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 flags)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def training_precision(has_gpu: bool, cpuinfo: str | None = None) -> str:
    """The Keras dtype policy to train in, from ``DEEPFAKE_PRECISION`` (default float32).

    ``mixed_bfloat16`` trains about 1.7x faster on a CPU with native bfloat16, but
    scored a little lower on the shared data (docs/BENCHMARKS.md), so it is opt-in.
    ``auto`` picks it only where it is native: no GPU, oneDNN not switched off and
    the CPU's AVX512-BF16 or AMX-BF16 flag. Saved models are float32 either way.

    Raises:
        ValueError: the variable names an unknown precision.
    """
    chosen = os.environ.get(PRECISION_ENV, "").strip() or "float32"
    if chosen != "auto":
        if chosen not in PRECISIONS:
            raise ValueError(
                f"{PRECISION_ENV}={chosen!r} is not one of: auto, {', '.join(PRECISIONS)}."
            )
        return chosen
    # Without oneDNN, TensorFlow emulates bfloat16 on the CPU: many times slower.
    onednn_off = os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"
    native = not has_gpu and not onednn_off and cpu_has_bfloat16(cpuinfo)
    return "mixed_bfloat16" if native else "float32"
