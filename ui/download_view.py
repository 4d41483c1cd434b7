"""Home's "Get the Kaggle dataset" section: Download, progress, Cancel, the result.

The download runs in a background process (:mod:`core.sources.download`); this section only
starts it, reads its status file and cancels it, so a reload or a second tab shows
the same download.
"""

from __future__ import annotations

import streamlit as st

from core.sources import download, kaggle
from ui import common

POLL_S = 1.0


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def _progress() -> None:
    """Progress and Cancel while a download runs; a full rerun when it ends."""
    status = download.read_status()
    if not status.active:
        st.rerun()  # the dataset in use may have changed: redraw the whole page
    if status.state == "downloading" and status.total:
        text = f"Downloading: {_size(status.done)} of {_size(status.total)}"
    else:
        text = status.message or "Starting the download..."
    st.progress(status.fraction, text=text)
    if st.button("Cancel download", key="home_download_cancel"):
        download.cancel()
        st.rerun()


def download_section() -> None:
    """Draw the section (Home calls it above the dataset summary)."""
    st.subheader("Get the Kaggle dataset")
    status = download.read_status()
    if status.active:
        st.fragment(_progress, run_every=POLL_S)()
        return
    remembered = download.remembered_dataset()
    if status.state == "finished" and remembered is not None:
        st.success(status.message, icon="✅")
    elif status.state == "failed":
        st.error(status.message, icon="📥")
    elif status.state == "cancelled":
        st.info(status.message)

    if remembered is not None:
        st.caption(
            f"The app uses the downloaded dataset `{remembered}` while the sidebar's "
            "**Dataset folder** is empty."
        )
        if st.button("Stop using the downloaded dataset", key="home_download_forget"):
            download.forget_dataset()
            st.rerun()
        return
    if common.access().restricted():
        st.caption(
            "Downloading from the app is off on a shared app; whoever runs the server can "
            "run `python -m core.download`."
        )
        return
    found = kaggle.credentials_source()
    st.write(
        f"*Deepfake and Real Images* ([Kaggle]({kaggle.PAGE_URL}), about 190,000 face "
        f"images) is downloaded with kagglehub into `{kaggle.cache_dir()}` and then "
        "becomes the dataset the app uses."
    )
    st.caption(
        f"Kaggle credentials: {found}."
        if found
        else "No Kaggle credentials found on this machine: the download is tried without "
        "them, and if Kaggle asks for them you will be told what to do."
    )
    if st.button("Download from Kaggle", key="home_download_start", icon="📥"):
        download.start()
        st.rerun()
