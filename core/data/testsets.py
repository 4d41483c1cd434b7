"""Test sets: fixed lists of test images, named by what they hold, and found again after a move.

A comparison is only fair on identical images, so every test set is named by a
short id (:func:`test_set_id`) that hashes the sorted relative paths together with
each file's size and a hash of its bytes: the same images give the same id on
another machine, after the dataset folder was moved, or with the artifacts folder
copied elsewhere; changed images give another. Test sets come from a run's own test
files (:func:`core.evaluation.compare.run_test_set`) or a seeded stratified sample of a
dataset's Test split (:func:`dataset_test_set`).

Hashing reads every file once; :func:`file_digest` keeps the result per (path, size,
modification time) for the life of the process, and run folders store the id they
were scored with (``metrics.json`` ``test_set_id``, ``rescores/<id>.json``), so a page
render never re-reads the images.

Run folders record the dataset as given (``data_dir``; None: the demo set) and as
found (``root``), with file lists relative to it. :func:`resolve_root` finds the
folder again after a move: where it was, the demo folder of the current artifacts,
the folder as given, the folder the app is pointed at (``DEEPFAKE_DATA_DIR``, the
sidebar), or under ``DEEPFAKE_DATA_ROOTS``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import settings
from core.data import catalog


class CompareError(ValueError):
    """A comparison request that cannot be carried out, with a message for the user."""


#: Files checked to accept a candidate root (all of them when fewer).
PROBE_FILES = 5

#: Dataset folders the app used lately (newest first), where a moved dataset is looked for.
NOTED_ROOTS_NAME = "dataset_roots.json"
NOTED_ROOTS_KEPT = 8


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), cached per (path, size, mtime).

    Raises:
        OSError: the file cannot be read.
    """
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The hash of one version of a file (size and mtime name the version)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_set_id(root: str | Path, files: Iterable[str]) -> str:
    """A 10-character id of the sorted relative files with each one's size and content hash.

    A file that cannot be read counts as ``missing`` (its id differs from the
    readable set's, so it is never mistaken for it).
    """
    lines = []
    for relative in sorted(files):
        path = Path(root) / relative
        try:
            lines.append(f"{relative}\t{path.stat().st_size}\t{file_digest(path)}")
        except OSError:
            lines.append(f"{relative}\tmissing")
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:10]


test_set_id.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def legacy_test_set_id(root: str | Path, files: Iterable[str]) -> str:
    """The id of run folders written before content ids: a hash of root and sorted files."""
    text = str(root) + "\n" + "\n".join(sorted(files))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def _noted_roots_path() -> Path:
    return settings.artifacts_dir() / NOTED_ROOTS_NAME


def noted_roots() -> list[Path]:
    """The dataset folders the app used lately, newest first (see :func:`note_root`)."""
    try:
        names = json.loads(_noted_roots_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return (
        [Path(name) for name in names if isinstance(name, str)] if isinstance(names, list) else []
    )


def note_root(path: str | Path) -> None:
    """Remember a dataset folder the app is using, as a place moved datasets may be found.

    Kept in the artifacts folder (the last few), so every page, process and later
    session looks there too.
    """
    folder = Path(path)
    known = noted_roots()
    if known[:1] == [folder]:
        return
    kept = [folder, *(root for root in known if root != folder)][:NOTED_ROOTS_KEPT]
    target = _noted_roots_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps([str(root) for root in kept]), encoding="utf-8")
    os.replace(partial, target)


def _holds(root: Path, files: Sequence[str]) -> bool:
    probe = list(files[:PROBE_FILES]) + list(files[-1:])
    return bool(probe) and all((root / relative).is_file() for relative in probe)


def _candidates(recorded: str | None, given: str | None, is_demo: bool) -> list[Path]:
    found: list[Path] = []
    if recorded:
        found.append(Path(recorded))
    if is_demo:
        found.append(settings.demo_data_dir())
    if given:
        path = Path(given).expanduser()
        found.append(path if path.is_absolute() else settings.REPO_ROOT / path)
    env = settings.env_data_dir()
    found.extend([*noted_roots(), *([env] if env else [])])
    name = Path(recorded or given or "").name
    for root in settings.data_roots():
        found.append(root)
        if name:
            found.extend(path for path in (root / name, root / name / "Dataset"))
    return found


def resolve_root(
    recorded: str | None,
    files: Sequence[str],
    *,
    given: str | None = None,
    is_demo: bool = False,
    expected_id: str | None = None,
) -> str | None:
    """Return the dataset folder that holds ``files`` now, or ``recorded`` when none does.

    Kaggle-layout datasets share file names (``real_0.jpg``...), so a folder found
    anywhere but where the run recorded it must also hold the same *images*: when the
    run stored its test set's content id, the candidate's id must match it (hashing its
    files once per process; only after a move).

    Args:
        recorded: the root the run recorded (absolute, where it was found then).
        files: relative paths the root must hold (a few are checked).
        given: the dataset as the user gave it (``data_dir``).
        is_demo: the run used the generated demo dataset.
        expected_id: the content id the run stored for ``files`` (``test_set_id``).
    """
    from core.data.catalog import DatasetError
    from core.data.catalog import resolve_root as dataset_folder

    for candidate in _candidates(recorded, given, is_demo):
        try:
            root = dataset_folder(candidate)
        except (DatasetError, OSError):
            continue
        if not _holds(root, files):
            continue
        moved = recorded is None or root != Path(recorded)
        if moved and expected_id and test_set_id(root, files) != expected_id:
            continue  # same names, other images
        return str(root)
    return recorded


def dataset_name(root: str | Path) -> str:
    """Short name of a dataset root: the folder above ``Dataset/`` when it is so named."""
    path = Path(root)
    return path.parent.name if path.name.lower() == "dataset" and path.parent.name else path.name


def label_of(relative_path: str) -> int:
    """Label of a file from its class folder (``.../Real/x.jpg`` -> 1).

    Raises:
        CompareError: the file does not lie in a Real or Fake folder.
    """
    parts = Path(relative_path).parts
    folder = parts[-2].lower() if len(parts) >= 2 else ""
    if folder not in catalog.CLASS_ALIASES:
        raise CompareError(f"{relative_path} is not inside a Real or Fake folder.")
    return catalog.CLASS_ALIASES[folder]


@dataclass(frozen=True)
class TestSet:
    """A fixed list of test images.

    Attributes:
        root: the dataset root the paths are relative to.
        files: relative paths, sorted.
        description: how the list was chosen, for people.
        stored_id: the id recorded when the run was scored (no need to read the files).
    """

    __test__ = False  # not a pytest test class despite its name

    root: str
    files: tuple[str, ...]
    description: str = ""
    stored_id: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, root: str | Path, files: Iterable[str], description: str = "") -> TestSet:
        """Build a test set from any iterable of relative paths (sorted, duplicates dropped)."""
        return cls(str(root), tuple(sorted(set(files))), description)

    @property
    def id(self) -> str:
        """Short hash of the relative files and their contents (see :func:`test_set_id`)."""
        return self.stored_id or test_set_id(self.root, self.files)

    @property
    def name(self) -> str:
        """Short name of the dataset the files come from."""
        return dataset_name(self.root)

    @property
    def label(self) -> str:
        """``ffhq-stylegan2 Test, 60 images · 5fc15793da``: how tables name this set."""
        return f"{set_name(self.root, self.files)} · {self.id}"

    def samples(self) -> list[catalog.Sample]:
        """The files as samples, labelled by their class folder."""
        return [catalog.Sample(path, label_of(path)) for path in self.files]


def split_of(files: Sequence[str]) -> str:
    """The split folder all the files share (``Test``), or "" when they do not share one."""
    tops = {Path(path).parts[0] for path in files if Path(path).parts}
    return tops.pop() if len(tops) == 1 and len(Path(files[0]).parts) > 2 else ""


def set_name(root: str | Path, files: Sequence[str]) -> str:
    """A test set for people: dataset folder, split and image count."""
    split = split_of(list(files))
    return f"{dataset_name(root)}{' ' + split if split else ''}, {len(files)} images"


def dataset_test_set(
    path: str | Path,
    size: int | None = None,
    seed: int = 0,
    access: settings.Access = settings.SHELL,
) -> TestSet:
    """A seeded stratified sample of the Test split of a dataset folder.

    Args:
        path: the dataset folder (``Dataset/`` or the folder holding it).
        size: number of images (None: the whole Test split).
        seed: the same seed always gives the same files.
        access: who can reach the app (:class:`core.settings.Access`).

    Raises:
        CompareError, catalog.DatasetError: a folder this server may not open (see
            :meth:`core.settings.Access.folder_refusal`), no such folder, no Test split, or
            too few images.
    """
    refusal = access.folder_refusal(path)
    if refusal:
        raise CompareError(refusal)
    index = catalog.index_dataset(path)
    samples = index.splits.get("Test")
    if not samples:
        raise CompareError(
            f"{index.root} has no Test split with images; choose a folder holding Test/Real "
            "and Test/Fake."
        )
    chosen = catalog.stratified_subset(samples, size, seed)
    name = dataset_name(index.root)
    if size is None or len(chosen) == len(samples):
        description = f"all {len(chosen)} Test images of {name}"
    else:
        description = f"{len(chosen)} Test images of {name}, stratified sample, seed {seed}"
    return TestSet.of(index.root, [sample.path for sample in chosen], description)
