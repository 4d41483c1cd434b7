"""The workbench's entry point: the page router, the optional login and the shared sidebar.

Run with ``streamlit run streamlit_app.py``. It listens on localhost only
(``.streamlit/config.toml``); README "Serving it to others" says how to share it.
"""

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from ui import common

st.set_page_config(page_title="Deepfake Detection Workbench", page_icon="🕵️", layout="wide")


def login_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (OIDC for st.login)."""
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:
        return False


if login_configured() and not st.user.get("is_logged_in", False):
    st.title("Deepfake Detection Workbench")
    st.info("This workbench is shared: log in to use it.")
    st.button("Log in", key="app_login", on_click=st.login, type="primary")
    st.stop()

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("app_pages/data_explorer.py", title="Data Explorer", icon="📊"),
    st.Page("app_pages/train.py", title="Train", icon="🏋️"),
    st.Page("app_pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("app_pages/classify.py", title="Classify", icon="🔍"),
]

page = st.navigation(PAGES)
common.sidebar()
if login_configured():
    with st.sidebar:
        st.caption(f"Logged in as {st.user.get('email') or st.user.get('name') or 'you'}")
        st.button("Log out", key="app_logout", on_click=st.logout)
page.run()
