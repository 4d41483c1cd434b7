"""Streamlit-side helpers shared by the pages: dataset choice, caching wrappers, notices.

Caching (``st.cache_data``, ``st.cache_resource``) lives here, on the UI side, so
``core`` stays free of streamlit.
"""
