"""Issue 22: the app remembers the dataset and keeps a person oriented (AppTests and units)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.sources import chosen, demo
from core.text import plural
from tests.test_classify_page import open_page as open_classify
from tests.test_classify_page import verdicts, with_run  # noqa: F401 - the fixture

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")


def new_session(query: dict | None = None, typed: str | None = None) -> AppTest:
    """A fresh session (a reload or a new tab), optionally with ``?data=`` or a typed folder.

    AppTest draws the sidebar of the entry script on the first run only, so each
    check here is one first run.
    """
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query or {})
    if typed is not None:
        at.session_state["app_data_dir"] = typed
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_typed_folder_goes_into_the_url_and_is_remembered(ffhq):
    at = new_session(typed=str(ffhq))
    assert at.query_params.get("data") == str(ffhq)
    assert chosen.chosen_folder() == str(ffhq)
    # A reload without the URL (a new tab) starts on the same folder.
    again = new_session()
    assert again.text_input(key="app_data_dir").value == str(ffhq)
    assert "Real 300 · Fake 100" in [caption.value for caption in again.caption]


def test_the_url_wins_and_a_wrong_folder_is_not_remembered(ffhq, tmp_path):
    chosen.remember_folder(str(ffhq))
    wrong = str(tmp_path / "missing")
    at = new_session(query={"data": wrong})
    assert at.text_input(key="app_data_dir").value == wrong
    assert wrong in " ".join(error.value for error in at.main.error)
    assert chosen.chosen_folder() == str(ffhq)  # only usable folders are remembered


def test_clearing_the_field_forgets_the_folder(ffhq):
    chosen.remember_folder(str(ffhq))
    at = new_session(query={"data": str(ffhq)}, typed="")
    assert "data" not in at.query_params
    assert chosen.chosen_folder() is None


def test_train_names_the_dataset_beside_start(ffhq):
    chosen.remember_folder(str(ffhq))
    at = new_session()
    at.switch_page("app_pages/train.py")
    at.run()
    assert not at.exception, at.exception
    beside = [m.value for m in at.markdown if m.value.startswith("on ")]
    assert beside == [f"on `{ffhq}` (520 images)"]


def test_home_leads_with_the_dataset_in_use_then_how_to_get_the_real_one():
    at = new_session()
    headers = [header.value for header in at.subheader]
    assert headers.index("Dataset in use") < headers.index("Get the Kaggle dataset")
    notice = at.info[0].value
    assert "synthetic demo dataset" in notice and "on Home" not in notice and "below" in notice


def test_demo_generation_reports_progress(tmp_path):
    calls: list[tuple[int, int]] = []
    counts = {"Train": (20, 20), "Validation": (5, 5), "Test": (5, 5)}
    demo.ensure_demo_dataset(
        tmp_path / "D", counts=counts, size=32, progress=lambda *call: calls.append(call)
    )
    assert calls[-1] == (60, 60) and len(calls) >= 3


def test_plural():
    words = [plural(n, "run") for n in (0, 1, 2, 1200)]
    assert words == ["0 runs", "1 run", "2 runs", "1,200 runs"]


def test_uploads_are_kept_when_leaving_classify_and_coming_back(with_run, ffhq):  # noqa: F811
    image = next((ffhq / "Test" / "Real").iterdir())
    at = open_classify()
    at.get("file_uploader")[0].set_value((image.name, image.read_bytes(), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert len(verdicts(at)) == 1
    at.switch_page("app_pages/home.py").run()
    at.switch_page("app_pages/classify.py").run()
    assert not at.exception, at.exception
    assert len(verdicts(at)) == 1  # the upload is still classified
    assert any(image.name in caption.value for caption in at.caption)
    at.button(key="classify_clear_kept").click().run()
    assert verdicts(at) == []


def test_compare_default_table_tells_two_runs_of_one_model_apart():
    import pandas as pd

    from ui import compare_view

    table = pd.DataFrame(
        columns=["run", "model", "train_n", "val_n", "epochs_run", "test_set", "accuracy", "auc"]
    )
    shown = compare_view.compact_columns(table)
    assert shown[:4] == ["run", "model", "train_n", "epochs_run"]
