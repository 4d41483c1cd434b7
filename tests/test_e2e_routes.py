"""A fresh server's first request straight to a page's address goes through the router.

Streamlit runs the files of a folder named ``pages/`` next to the main script on its own
(its older multipage mode) when a browser's first request is ``/compare``: the router in
``streamlit_app.py``, its shared sidebar and its optional login were skipped. The pages
live in ``app_pages/`` so that this cannot happen; these tests open a page's address
first on a server nobody has visited yet, in a real browser.
"""

from __future__ import annotations

import pytest

from tests.e2e_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("route", "title"), [("compare", "Compare models")])
def test_first_request_to_a_page_address_uses_the_router(tmp_path, route, title):
    sync_api = pytest.importorskip("playwright.sync_api")
    with (
        streamlit_server(tmp_path / "artifacts", tmp_path / "server.log") as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/{route}")  # the first request this server sees
            main = page.locator('[data-testid="stMain"]')
            main.get_by_text(title).first.wait_for()
            sidebar = page.locator('[data-testid="stSidebar"]')
            # The router's sidebar: its page titles and the shared Dataset folder field.
            sidebar.get_by_role("textbox", name="Dataset folder").wait_for()
            nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
            assert "Data Explorer" in nav and "Classify" in nav, nav
            assert "streamlit app" not in nav.lower(), nav  # the legacy mode's own entry
        finally:
            browser.close()
