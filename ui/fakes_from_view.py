"""The Train page's "training fakes from" choice, its one-sentence explanation and examples.

The examples are self-blends of a few of the chosen dataset's Train reals, picked
and blended with the run's seed (:func:`core.training.pipelines.example_blends`), so a
person sees what the detector will be shown as fakes before starting a run.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.data.catalog import DatasetIndex
from core.runs.config import FAKES_FROM
from core.settings import LABEL_REAL
from core.training.pipelines import example_blends

LABELS = {
    "dataset": "The dataset's Fake images",
    "self-blended": "Self-blended from its Real images",
    "both": "Both",
}
EXPLANATION = (
    "Self-blended fakes paste a slightly altered copy of each real face back onto itself "
    "through a soft face-shaped mask, so the detector learns the seams and colour "
    "mismatches that face swaps leave rather than one generator's fingerprint "
    "(Shiohara & Yamasaki, CVPR 2022); validation and test always use the dataset's "
    "own images."
)
EXAMPLES = 3


@st.cache_data(show_spinner="Blending a few examples...", max_entries=16)
def _examples(root: str, paths: tuple[str, ...], seed: int):
    return example_blends(Path(root), list(paths), seed, count=EXAMPLES)


def fakes_from_choice(index: DatasetIndex, seed: int) -> str:
    """The radio, its explanation and, for the blended options, example blends.

    Args:
        index: the chosen dataset (its Train reals are blended for the examples).
        seed: the run's seed (the examples follow it).

    Returns:
        The chosen option (a :data:`core.runs.config.FAKES_FROM` value).
    """
    choice = st.radio(
        "Training fakes from",
        FAKES_FROM,
        format_func=LABELS.get,
        horizontal=True,
        key="train_fakes_from",
        help="Self-blended fakes help a detector recognise face swaps from generators "
        "it never saw; the dataset's fakes teach it that dataset's generator.",
    )
    st.caption(EXPLANATION)
    if choice == "dataset":
        return choice
    reals = [s.path for s in index.splits.get("Train", []) if s.label == LABEL_REAL]
    if not reals:
        st.info("The Train split has no Real images to blend.")
        return choice
    examples = _examples(str(index.root), tuple(reals), seed)
    columns = st.columns(len(examples) or 1)
    for column, (path, original, blend, found) in zip(columns, examples, strict=False):
        column.image(
            [original, blend], caption=["real", "self-blended"], width=120, output_format="PNG"
        )
        column.caption(Path(path).name + ("" if found else " · no face found: centred ellipse"))
    return choice
