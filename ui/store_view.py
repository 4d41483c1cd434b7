"""The decoded-image stores on disk (:mod:`core.data.store`): listed, each with a Delete button.

Shown on the Train page in an expander. Deleting follows the rule for runs
(:meth:`core.settings.Access.delete_allowed`); a deleted store is decoded again, once, by
the next run that needs it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import settings
from core.data import store
from core.jobs import training_queue
from core.runs import run_folders
from core.training.subsets import DECODING
from ui import common

MESSAGE = "train_store_message"  # (kind, text) of the last delete, shown once


def _size_text(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def decoding_text(status: dict) -> str | None:
    """The progress line of the "decoding images" phase (None in any other phase)."""
    if status.get("phase") != DECODING or not status.get("batches"):
        return None
    rate = status.get("decode_rate")
    speed = f" ({rate:,.0f} images/s)" if rate else ""
    done, total = status.get("batch") or 0, status["batches"]
    return f"Decoding images into the store: {done:,} of {total:,}{speed}"


def _delete(path: Path) -> None:
    try:
        store.delete_store(path, common.access())
    except (PermissionError, store.StoreError) as error:
        st.session_state[MESSAGE] = ("error", str(error))
    else:
        st.session_state[MESSAGE] = ("success", f"Deleted the store {path.name}.")


def stores_panel() -> None:
    """List every store (dataset, image size, images, size on disk) with a Delete button."""
    kind, text = st.session_state.pop(MESSAGE, (None, None))
    if text:
        (st.success if kind == "success" else st.error)(text)
    found = store.list_stores()
    if not found:
        st.caption(
            "No store yet. A run decodes its images once per image size and keeps them "
            f"under {store.stores_dir()}; later runs and re-scores reuse them."
        )
        return
    allowed = common.access().delete_allowed()
    # A run streams its images from a store until it ends: none is deleted under it.
    busy = any(run.state in training_queue.ACTIVE_STATES for run in run_folders.list_runs())
    total = sum(info.bytes for info in found)
    st.caption(f"{len(found)} store(s), {_size_text(total)} on disk in {store.stores_dir()}.")
    for info in found:
        left, right = st.columns([5, 1])
        left.markdown(
            f"**{Path(info.dataset).parent.name}/{Path(info.dataset).name}** · "
            f"{info.image_size} px · {info.images:,} images · {_size_text(info.bytes)}"
        )
        if allowed:
            right.button(
                "Delete",
                key=f"train_store_delete_{info.path.name}",
                on_click=_delete,
                args=(info.path,),
                disabled=busy,
                help="Wait until no run is queued or training."
                if busy
                else "Its images are decoded again by the next run that needs them.",
            )
    if not allowed:
        st.caption(settings.DELETE_OFF_MESSAGE)
