"""Compare's default table at 1400 px in a real browser: AUC and its interval in view.

Two runs (a Capsule Network and a CNN: the longer names) on a dataset whose folder name
is long, scored on another dataset too (a cross-dataset score). The page is opened at
1400 px, as the README's screenshots are; nothing is scrolled sideways.
"""

from __future__ import annotations

import pytest

from core import settings
from core.data import testsets
from core.evaluation import compare, scoring
from tests.conftest import make_tree
from tests.e2e_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server
from tests.test_compare import make_run
from ui.compare_table import HELP

pytestmark = pytest.mark.e2e

#: The grid's horizontal scroller: its scrollWidth is the width all columns need.
SCROLLER = """() => {
    const s = document.querySelector('[data-testid="stDataFrame"] .dvn-scroller');
    return [s.scrollWidth, s.clientWidth];
}"""


def titles_in_view(page) -> set[str]:
    """Help texts of the columns whose title can be pointed at without scrolling.

    The grid draws its titles on a canvas; pointing at one shows its help (every
    column of the table has one), so each help seen is a column in view.
    """
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    seen = set()
    for x in range(10, int(box["width"]) - 5, 20):
        page.mouse.move(box["x"] + x, box["y"] + 15)  # on the title row
        page.wait_for_timeout(400)
        for tip in page.get_by_role("tooltip").all():
            if tip.is_visible():
                seen.add(tip.inner_text().split(" Scored on")[0].strip())
    return seen


def test_auc_and_its_interval_are_in_view_at_1400_px(tmp_path, openforensics):
    sync_api = pytest.importorskip("playwright.sync_api")
    dataset = make_tree(
        tmp_path / "deepfake-and-real-images-kaggle-sample" / "Dataset",
        {"Train": (4, 4), "Validation": (2, 2), "Test": (6, 6)},
    )
    make_run(dataset, test_size=8, seed=1, model="capsnet", runs_root=settings.runs_dir())
    make_run(dataset, test_size=6, seed=2, runs_root=settings.runs_dir())
    records = compare.load_comparison().records
    cross = testsets.dataset_test_set(openforensics, None, 0, settings.SHELL)
    assert all(result.error is None for result in scoring.rescore(records, cross, "cross"))
    wanted = {HELP["auc"], HELP["auc_ci"].replace("*", "")}
    with (
        streamlit_server(settings.artifacts_dir(), tmp_path / "server.log") as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/compare")
            page.get_by_role("heading", name="Results").wait_for()
            page.wait_for_timeout(1500)
            # Each run's own test set: the long test-set names come last.
            assert wanted <= titles_in_view(page)
            # The cross-dataset score: named once above the table, every column in view.
            page.locator('[data-testid="stSelectbox"]').first.click()
            page.get_by_role("option").filter(has_text="cross-dataset").first.click()
            page.get_by_text("Every row is scored on the same").wait_for()
            page.wait_for_timeout(1500)
            needed, visible = page.evaluate(SCROLLER)
            assert needed <= visible + 1, f"the table needs {needed} px, shows {visible} px"
            assert wanted <= titles_in_view(page)
        finally:
            browser.close()
