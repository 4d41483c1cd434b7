"""The shared sidebar and the dataset every page works on.

The dataset comes from, in order: the sidebar's path field (validated), the dataset
downloaded from Kaggle on Home (:func:`core.sources.download.remembered_dataset`), the
``DEEPFAKE_DATA_DIR`` environment variable, else the generated demo dataset.

The field survives a reload and a new tab: it is mirrored in the page URL
(``?data=<folder>``) and, once usable, remembered in the artifacts folder
(:mod:`core.sources.chosen`); a new session starts from the URL, else from that file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import settings
from core.data import catalog, testsets
from core.sources import chosen, demo, download

DATA_DIR_KEY = "app_data_dir"
QUERY_KEY = "data"  # the page URL's ?data=<folder>
DEMO_LABEL = "Demo dataset (synthetic)"


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset in use: its root, how it was chosen, and a display label."""

    path: Path
    source: str  # "sidebar", "download", "environment" or "demo"
    is_demo: bool

    @property
    def label(self) -> str:
        """Short name for headers and tables."""
        return DEMO_LABEL if self.is_demo else str(self.path)


@st.cache_resource(show_spinner=False)
def access() -> settings.Access:
    """Who can reach this app (from Streamlit's ``server.address``): what it may open and delete."""
    return settings.Access(st.get_option("server.address"))


def _ensure_demo(root: Path) -> None:
    """Generate the demo set if needed, with a progress bar where the page is drawing."""
    if demo.is_ready(root):
        return
    bar = st.progress(0.0, text="Generating the demo dataset (first visit only)...")

    def report(done: int, total: int) -> None:
        bar.progress(
            done / total,
            text=f"Generating the demo dataset (first visit only): {done} of {total} images",
        )

    demo.ensure_demo_dataset(root, progress=report)
    bar.empty()


def _folder_stamp(path: Path) -> float:
    """Cheap change marker: newest mtime among the dataset's split and class folders."""
    stamps = [path.stat().st_mtime]
    for split in path.iterdir():
        if split.is_dir():
            stamps.append(split.stat().st_mtime)
            stamps.extend(child.stat().st_mtime for child in split.iterdir() if child.is_dir())
    return max(stamps)


@st.cache_data(show_spinner="Indexing the dataset...", max_entries=8)
def _index(root: str, stamp: float) -> catalog.DatasetIndex:
    return catalog.index_dataset(root)


def dataset_index(choice: DatasetChoice) -> catalog.DatasetIndex:
    """Return the cached index of the chosen dataset (re-indexed when folders change).

    The demo set is generated here on first use, with a progress bar on the page.
    """
    if choice.is_demo:
        _ensure_demo(choice.path)
    root = catalog.resolve_root(choice.path)
    return _index(str(root), _folder_stamp(root))


def dataset_or_stop(on_home: bool = False) -> tuple[DatasetChoice, catalog.DatasetIndex]:
    """Return the dataset in use and its index, with the demo notice shown.

    Args:
        on_home: the caller is Home, whose demo notice points below, not "on Home".

    A folder typed in the sidebar that cannot be used stops the page: showing the
    previous dataset under a wrong path would mislead; the error is shown on the page
    (:func:`folder_problem_banner`). A dataset that cannot be indexed is shown as one
    error and stops the page too.
    """
    if folder_problem_banner():
        st.info(
            "This page shows nothing until the **Dataset folder** in the sidebar is fixed, "
            "or cleared to use " + _fallback_label() + "."
        )
        st.stop()
    choice = current_dataset()
    demo_notice(choice, on_home)
    try:
        return choice, dataset_index(choice)
    except catalog.DatasetError as error:
        st.error(str(error))
        st.stop()
        raise  # st.stop() raises; this line only tells type checkers so


def check_folder(folder: str | Path) -> Path:
    """Resolve a dataset folder given by the user, or say in one sentence why it cannot be.

    Raises:
        DatasetError: a folder this server may not open (outside ``DEEPFAKE_DATA_ROOTS``
            when restricted), a file instead of a folder, a missing folder, a wrong layout.
    """
    refusal = access().folder_refusal(folder)
    if refusal:
        raise catalog.DatasetError(refusal)
    path = Path(folder).expanduser()
    if path.is_file():
        raise catalog.DatasetError(
            f"{folder} is a file, not a folder: enter the dataset folder holding Train/, "
            "Validation/ and Test/ (or the folder above it)."
        )
    return catalog.resolve_root(path)


def folder_problem_banner() -> bool:
    """Show on the page (not only in the sidebar) why the typed folder cannot be used.

    Every page calls this near its top, directly or through :func:`dataset_or_stop`.

    Returns:
        True when there is a problem.
    """
    problem = typed_folder_error()
    if problem:
        st.error(f"**Dataset folder:** {problem}", icon="📁")
    return problem is not None


def typed_folder_error() -> str | None:
    """Why the folder typed in the sidebar cannot be used; None when empty or fine."""
    typed = st.session_state.get(DATA_DIR_KEY, "").strip()
    if not typed:
        return None
    try:
        check_folder(typed)
    except catalog.DatasetError as error:
        return str(error)
    return None


def current_dataset() -> DatasetChoice:
    """Return the dataset in use (see module docstring); never raises.

    A wrong sidebar folder falls back here; pages that show a dataset call
    :func:`dataset_or_stop`, which stops instead.
    """
    typed = st.session_state.get(DATA_DIR_KEY, "").strip()
    if typed:
        try:
            return DatasetChoice(check_folder(typed), "sidebar", is_demo=False)
        except catalog.DatasetError:
            pass  # the sidebar shows the error; fall back below
    downloaded = download.remembered_dataset()
    if downloaded is not None:
        try:
            return DatasetChoice(check_folder(downloaded), "download", is_demo=False)
        except catalog.DatasetError:
            pass  # the sidebar shows the error
    env = settings.env_data_dir()
    if env is not None:
        try:
            return DatasetChoice(check_folder(env), "environment", is_demo=False)
        except catalog.DatasetError:
            pass
    # Not generated here: pages generate it with a progress bar (dataset_index).
    return DatasetChoice(settings.demo_data_dir(), "demo", is_demo=True)


def sidebar() -> None:
    """Draw the shared sidebar: dataset path field, dataset in use, artifacts folder.

    An unusable folder is reported here and, by :func:`folder_problem_banner`, on the
    page the user is on, where it cannot be missed.
    """
    env = settings.env_data_dir()
    downloaded = download.remembered_dataset()
    if DATA_DIR_KEY not in st.session_state:  # a new session: a reload or a new tab
        st.session_state[DATA_DIR_KEY] = (
            st.query_params.get(QUERY_KEY) or chosen.chosen_folder() or ""
        )
    with st.sidebar:
        st.text_input(
            "Dataset folder",
            key=DATA_DIR_KEY,
            placeholder=(
                f"Empty: {downloaded} (downloaded)"
                if downloaded is not None
                else f"Empty: {env} (from {settings.DATA_ENV})"
                if env is not None
                else "/path/to/Dataset (empty: demo data)"
            ),
            help="The Kaggle 'Deepfake and Real Images' folder holding Train/, "
            "Validation/ and Test/ (or the folder above it). Leave empty for "
            + _fallback_label()
            + ".",
        )
        typed = st.session_state.get(DATA_DIR_KEY, "").strip()
        problem = typed_folder_error()
        _keep_folder(typed, usable=problem is None)
        if problem:
            st.error(problem)
        if downloaded is not None and not typed:
            try:
                check_folder(downloaded)
            except catalog.DatasetError as error:
                st.error(f"Downloaded dataset: {error} Download it again on Home.")
        elif env is not None and not typed:
            try:
                check_folder(env)
            except catalog.DatasetError as error:
                problem = f"{settings.DATA_ENV}: {error}"
                st.error(problem)
        choice = current_dataset()
        if not choice.is_demo:  # where runs recorded elsewhere may find their dataset now
            testsets.note_root(choice.path)
        if typed and problem:
            st.caption("Using: nothing until the folder above is fixed or cleared.")
        elif choice.is_demo:
            st.caption(f"Using: **{DEMO_LABEL}**")
        else:
            st.caption(f"Using: `{choice.path}` (from the {choice.source})")
        st.caption(f"Artifacts: `{settings.artifacts_dir()}`")


def _keep_folder(typed: str, usable: bool) -> None:
    """Mirror the field in the URL; remember a usable folder (forget it when cleared)."""
    if typed:
        if st.query_params.get(QUERY_KEY) != typed:
            st.query_params[QUERY_KEY] = typed
        if usable:
            chosen.remember_folder(typed)
    else:
        if QUERY_KEY in st.query_params:
            del st.query_params[QUERY_KEY]
        chosen.forget_folder()


def _fallback_label() -> str:
    """What an empty **Dataset folder** field uses: the download, the variable, or the demo."""
    if download.remembered_dataset() is not None:
        return "the dataset downloaded from Kaggle"
    return f"the folder in `{settings.DATA_ENV}`" if settings.env_data_dir() else "the demo data"


def demo_notice(choice: DatasetChoice, on_home: bool = False) -> None:
    """Say plainly that the data is synthetic, and how to use the real dataset."""
    if choice.is_demo:
        where = "below" if on_home else "on Home"
        st.info(
            "You are looking at the **synthetic demo dataset** generated by this app: "
            "procedurally drawn faces, with 'fakes' carrying blending and upsampling "
            "traces. To use real data, download the Kaggle dataset "
            f"*Deepfake and Real Images* {where} (it is then used), or enter the folder of "
            f"a copy in the sidebar (or set `{settings.DATA_ENV}`).",
            icon="🧪",
        )


def repo_relative(path: Path) -> str:
    """Show a path relative to the repository when it lies inside it."""
    try:
        return (
            os.path.relpath(path, settings.REPO_ROOT)
            if path.is_relative_to(settings.REPO_ROOT)
            else str(path)
        )
    except ValueError:
        return str(path)
