"""Where things live: the repository root, the artifacts folder, the data root.

Every path the app reads or writes is resolved here, so tests can point the whole
app at a temporary folder with two environment variables:

- ``DEEPFAKE_ARTIFACTS_DIR``: runs, the generated demo dataset, caches
  (default ``artifacts/`` in the repository).
- ``DEEPFAKE_DATA_DIR``: the dataset root used when the sidebar names none
  (default: the generated demo dataset).

It also holds what a server shared with others may do (see :class:`Access`):

- ``DEEPFAKE_DATA_ROOTS``: the folders (separated by ``:``) under which datasets may
  be opened; setting it restricts the app even on localhost.
- ``DEEPFAKE_ALLOW_DELETE=1``: allow deleting runs while restricted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent

ARTIFACTS_ENV = "DEEPFAKE_ARTIFACTS_DIR"
DATA_ENV = "DEEPFAKE_DATA_DIR"
DATA_ROOTS_ENV = "DEEPFAKE_DATA_ROOTS"
ALLOW_DELETE_ENV = "DEEPFAKE_ALLOW_DELETE"
#: Server addresses only this machine can reach.
LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})
DELETE_OFF_MESSAGE = (
    "Deleting runs is off: this app is shared (served beyond localhost or with "
    f"{DATA_ROOTS_ENV} set). Whoever runs the server can allow it with {ALLOW_DELETE_ENV}=1."
)

#: Fixed label convention, used everywhere: models output the logit of P(Real).
LABEL_FAKE = 0
LABEL_REAL = 1
CLASS_NAMES = ("Fake", "Real")  # index = label
#: Image files a dataset folder may hold. Here, not in core.data.images, so that indexing a
#: folder (Home, the sidebar) does not load Pillow and numpy.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
#: Side in pixels of the generated demo images (core.sources.demo_faces draws them).
DEMO_IMAGE_SIZE = 128


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


def data_roots() -> list[Path]:
    """The folders listed in ``DEEPFAKE_DATA_ROOTS`` (``:``-separated), resolved."""
    value = os.environ.get(DATA_ROOTS_ENV, "")
    return [Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part.strip()]


def allowed_roots() -> list[Path]:
    """Where datasets may be opened while restricted.

    The ``DEEPFAKE_DATA_ROOTS`` folders, the artifacts folder (the demo dataset)
    and ``DEEPFAKE_DATA_DIR``: all chosen by whoever runs the server.
    """
    roots = [*data_roots(), artifacts_dir().resolve()]
    env = env_data_dir()
    if env is not None:
        roots.append(env.resolve())
    return roots


@dataclass(frozen=True)
class Access:
    """Who can reach the app, and so what it may open and delete.

    Made once per page run by the UI from Streamlit's ``server.address`` and passed
    to the core functions that open folders or delete; a shell command or worker
    uses ``Access()`` (not served).

    Attributes:
        server_address: the address the server listens on; None when not served,
            empty for every network interface.
    """

    server_address: str | None = None

    def served_beyond_localhost(self) -> bool:
        """True when other machines can reach the app."""
        if self.server_address is None:
            return False
        return self.server_address.strip() not in LOCAL_ADDRESSES

    def restricted(self) -> bool:
        """True when the app must protect the machine from its users.

        That is when it is served beyond localhost or ``DEEPFAKE_DATA_ROOTS`` is set:
        then datasets outside the allowed roots are refused (:meth:`folder_refusal`)
        and deleting is off unless ``DEEPFAKE_ALLOW_DELETE=1`` (:meth:`delete_allowed`).
        """
        return self.served_beyond_localhost() or bool(os.environ.get(DATA_ROOTS_ENV, "").strip())

    def folder_refusal(self, path: str | Path) -> str | None:
        """Why a dataset folder typed by a user may not be opened, or None when it may.

        Only while :meth:`restricted`: the folder, with links and ``..`` resolved, must
        lie inside one of :func:`allowed_roots`.
        """
        if not self.restricted():
            return None
        folder = Path(path).expanduser().resolve()
        if any(folder.is_relative_to(root) for root in allowed_roots()):
            return None
        listed = ", ".join(str(root) for root in data_roots()) or "none are listed"
        return (
            f"{path} is outside the dataset folders this server may open ({listed}); "
            f"whoever runs it can add a folder to {DATA_ROOTS_ENV}."
        )

    def delete_allowed(self) -> bool:
        """True unless :meth:`restricted` and ``DEEPFAKE_ALLOW_DELETE`` is not ``1``."""
        return not self.restricted() or os.environ.get(ALLOW_DELETE_ENV, "").strip() == "1"


#: A command line or background worker: not served, so only ``DEEPFAKE_DATA_ROOTS`` restricts.
SHELL = Access()


def enable_onednn() -> None:
    """Turn on oneDNN kernels unless the user chose otherwise.

    TensorFlow leaves them off on these CPUs; on our 2-core machines they made
    training 1.5-3x faster. Must run before TensorFlow is imported.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


PRECISION_ENV = "DEEPFAKE_PRECISION"
PRECISIONS = ("float32", "mixed_bfloat16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo`` by default; none where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return set()
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return flags


def cpu_has_bfloat16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 flags)."""
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def asked_precision(default: str = "float32") -> str:
    """What was asked for: ``DEEPFAKE_PRECISION`` when set, else the model's ``default``."""
    return os.environ.get(PRECISION_ENV, "").strip() or default


class PrecisionChoice(NamedTuple):
    """The Keras dtype policy a run trains in, and why, in a few words for the Train page."""

    precision: str
    reason: str


def choose_precision(
    has_gpu: bool,
    cpuinfo: str | None = None,
    default: str = "float32",
    time_bfloat16: Callable[[], tuple[bool, str]] | None = None,
) -> PrecisionChoice:
    """``DEEPFAKE_PRECISION``, else the model's default; ``auto`` decided here, with why.

    ``mixed_bfloat16`` is opt-in for the CNN and the Capsule Network: on a CPU with
    native bfloat16 it trained them no faster beyond the measurement drift, so there
    was nothing to trade. For Xception it trained 1.3-1.5x faster and its mean test
    AUC over 3 paired seeds held within the seeds' standard error, so Xception's
    ``default`` is ``auto`` (docs/BENCHMARKS.md, "Training speed").
    ``auto`` picks bfloat16 only where it is native: no GPU, oneDNN not switched off
    and the CPU's AVX512-BF16 or AMX-BF16 flag; and where ``time_bfloat16`` is given,
    only when its first answer is True (:func:`core.training.precision.bfloat16_timing`
    times it: the flag alone is not enough; its second answer is what it measured).
    Saved models are float32 either way.

    Raises:
        ValueError: the variable names an unknown precision.
    """
    asked = asked_precision(default)
    if asked != "auto":
        if asked not in PRECISIONS:
            raise ValueError(
                f"{PRECISION_ENV}={asked!r} is not one of: auto, {', '.join(PRECISIONS)}."
            )
        if os.environ.get(PRECISION_ENV, "").strip():
            return PrecisionChoice(asked, f"set by {PRECISION_ENV}")
        return PrecisionChoice(asked, "the model's default")
    if has_gpu:
        return PrecisionChoice("float32", "auto: float32 on a GPU")
    # Without oneDNN, TensorFlow emulates bfloat16 on the CPU: many times slower.
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return PrecisionChoice("float32", "auto: oneDNN is off, bfloat16 would be emulated")
    if not cpu_has_bfloat16(cpuinfo):
        return PrecisionChoice("float32", "auto: this CPU has no native bfloat16")
    if time_bfloat16 is None:
        return PrecisionChoice("mixed_bfloat16", "auto: this CPU has native bfloat16")
    faster, measured = time_bfloat16()
    return PrecisionChoice("mixed_bfloat16" if faster else "float32", f"auto: {measured}")


def training_precision(
    has_gpu: bool,
    cpuinfo: str | None = None,
    default: str = "float32",
    time_bfloat16: Callable[[], tuple[bool, str]] | None = None,
) -> str:
    """The precision half of :func:`choose_precision`."""
    return choose_precision(has_gpu, cpuinfo, default, time_bfloat16).precision
