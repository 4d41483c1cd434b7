"""Classify's uploads, kept when a person leaves the page and comes back.

Streamlit forgets a file uploader's files once its page is left. The files' bytes are
kept in the session here; on the way back they are used again and named, with a button
to clear them. Removing the files in the uploader itself forgets them too.
"""

from __future__ import annotations

import streamlit as st

KEPT_KEY = "classify_kept_uploads"


def returning(upload_key: str) -> bool:
    """True before the uploader is drawn when it has no state: the page was just (re)entered."""
    return upload_key not in st.session_state


def _clear() -> None:
    st.session_state.pop(KEPT_KEY, None)


def keep(uploads: list | None, fresh: bool) -> list[tuple[str, bytes]]:
    """The images to classify: this visit's uploads, else the ones kept from before.

    Args:
        uploads: what the file uploader returned on this run.
        fresh: :func:`returning`, read before the uploader was drawn.

    Returns:
        (file name, bytes) of each upload.
    """
    if uploads:
        st.session_state[KEPT_KEY] = [(upload.name, upload.getvalue()) for upload in uploads]
        return st.session_state[KEPT_KEY]
    if not fresh:  # the person removed the files in the uploader
        _clear()
        return []
    kept = st.session_state.get(KEPT_KEY) or []
    if kept:
        text, button = st.columns([4, 1], vertical_alignment="center")
        names = ", ".join(name for name, _ in kept)
        text.caption(f"Kept from your last visit to this page: {names}.")
        button.button("Clear uploads", key="classify_clear_kept", on_click=_clear)
    return kept
