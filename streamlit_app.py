"""The workbench's entry point: the page router and the shared sidebar.

Run with ``streamlit run streamlit_app.py``.
"""

import streamlit as st

from ui import common

st.set_page_config(page_title="Deepfake Detection Workbench", page_icon="🕵️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/data_explorer.py", title="Data Explorer", icon="📊"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("pages/classify.py", title="Classify", icon="🔍"),
]

page = st.navigation(PAGES)
common.sidebar()
page.run()
