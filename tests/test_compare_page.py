"""AppTest of the Compare page: empty state, table and charts, re-score, delete, no TF on render."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.evaluation import compare
from tests.conftest import make_tree
from tests.test_compare import make_run

pytestmark = pytest.mark.demo

PAGE = "app_pages/compare.py"
APP = str(settings.REPO_ROOT / "streamlit_app.py")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """An artifacts folder with two tiny finished runs on different test subsets (built once).

    The older run has the larger test set (8 images against 6).
    """
    folder = tmp_path_factory.mktemp("compare_page")
    dataset = make_tree(
        folder / "data" / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (6, 6)}
    )
    make_run(dataset, test_size=8, seed=1, runs_root=folder / "runs")
    make_run(dataset, test_size=6, seed=2, model="xception", runs_root=folder / "runs", size=72)
    return folder


@pytest.fixture
def app_home(home, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the module's runs, so tests that change them stay independent."""
    import shutil

    copy = tmp_path / "artifacts"
    shutil.copytree(home, copy)
    monkeypatch.setenv(settings.ARTIFACTS_ENV, str(copy))
    monkeypatch.setenv(settings.DATA_ENV, str(copy / "data" / "Dataset"))
    return copy


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_state_links_to_training(tmp_path, monkeypatch):
    make_tree(tmp_path / "Dataset", {"Train": (2, 2), "Test": (2, 2)})
    monkeypatch.setenv(settings.DATA_ENV, str(tmp_path / "Dataset"))
    at = open_page()
    assert any("No finished training runs yet" in info.value for info in at.info)
    assert not at.dataframe
    assert [link.proto.page for link in at.get("page_link")] == ["train"]


COMPACT = [
    "Run",
    "Model",
    "Train n",
    "Epochs run",
    "Verdict",
    "Accuracy",
    "AUC",
    "AUC 95% CI",
    "EER",
    "Loss",
    "Train time (s)",
    "Test set",  # last: its names are long (issue 22.7)
]
#: On a re-scored set, named once above the table, its columns take the short titles.
COMPACT_ON_A_SET = [title for title in COMPACT if title != "Test set"]


def test_renders_table_and_charts(app_home):
    at = open_page()
    table = at.dataframe[0].value
    assert len(table) == 2
    # Issue 15.1: a compact table with the run pinned; the rest through the column chooser.
    assert list(table.columns) == COMPACT
    assert json.loads(at.dataframe[0].proto.columns)["Run"]["pinned"] is True
    assert any("2 different test sets" in warning.value for warning in at.warning)
    at.multiselect(key="compare_columns").set_value(
        ["pretrained_weights", "inference_ms_per_image"]
    ).run()
    table = at.dataframe[0].value
    assert list(table.columns) == [*COMPACT, "ImageNet weights", "ms/image"]
    assert sorted(table["ImageNet weights"]) == ["n/a", "no"]
    # ROC, PR, 2 confusion matrices, training curves, headline bars.
    assert len(at.get("plotly_chart")) == 6
    labels = [button.label for button in at.get("download_button")]
    assert re.fullmatch(r"Download model\.keras \(\d+ KB\)", labels[2])  # its size (issue 22.5)
    labels[2] = "Download model.keras"
    assert labels == [
        "Table (CSV)",
        "Full record (JSON)",
        "Download model.keras",
        "Report (HTML)",
        "Report (Markdown)",
    ]


def _figure(at: AppTest, key: str):
    import plotly.io

    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.key]
    return plotly.io.from_json(chart.proto.spec)


def test_one_colour_per_run_across_charts(app_home):
    """Issue 15.13: a run has the same colour in the ROC, PR, history and bar figures."""
    from core.evaluation import figures

    at = open_page()
    names = at.multiselect(key="compare_runs").value
    expected = figures.run_colours(names)
    assert len(set(expected.values())) == len(names)
    for key in ("compare_roc", "compare_pr", "compare_history", "compare_bars"):
        found = figures.trace_colours(_figure(at, key))
        for name in names:
            colours = {colour for label, colour in found.items() if label.startswith(name)}
            assert colours == {expected[name]}, (key, name, found)


def wait_jobs(timeout: float = 240.0) -> list:
    """Wait until every background scoring job has ended; return them."""
    import time

    from core.jobs import scoring_queue
    from core.runs import run_folders

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = scoring_queue.list_jobs()
        if found and all(job.state in run_folders.FINAL_STATES for job in found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"jobs still active: {[(j.name, j.state) for j in found]}")


@pytest.mark.slow
def test_rescore_switches_table_and_charts_to_the_common_set(app_home):
    at = open_page()
    # Issue 15.2: the proposed reference run has the largest test set, not the newest run.
    records = compare.load_comparison().records
    largest = max(records, key=lambda record: len(record.test_set.files))
    assert records[0].name != largest.name  # the newest run has the smaller set
    assert at.selectbox(key="compare_common_run").value == largest.name
    at.button(key="compare_rescore").click()
    at.run()
    assert not at.exception, at.exception
    # Issue 10.4: scoring is a background job; the page only queued it.
    (job,) = wait_jobs()
    assert job.kind == "rescore" and job.state == "finished"
    at.run()  # the jobs panel sees its job ended and reruns the page with the new set
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("2 runs scored" in s.value for s in at.success)
    # The table and the charts show the common set; the "different test sets" warning is gone.
    chosen = at.selectbox(key="compare_scored_on").value
    assert chosen != "own"
    table = at.dataframe[0].value
    assert list(table.columns) == COMPACT_ON_A_SET
    assert table["AUC"].notna().all()
    scored_on = " ".join(md.value for md in at.markdown)
    assert f"Scored on **common test set: data Test, 8 images · {chosen}**" in scored_on
    assert not any("different test sets" in warning.value for warning in at.warning)
    assert any("scored on the same 8 images" in caption.value for caption in at.caption)
    assert any(f"common test set: data Test, 8 images · {chosen}" in c.value for c in at.caption)
    stored = [r.rescores[chosen]["files"] for r in compare.load_comparison().records]
    assert stored[0] == stored[1] == list(largest.test_set.files)
    # A fresh session (a new visitor) shows the stored common group by default, unrecomputed.
    again = open_page()
    assert again.dataframe[0].value["AUC"].notna().all()


def card_scores(at: AppTest) -> list[str]:
    """The score rows of the model card shown on the page."""
    (card,) = [md.value for md in at.markdown if md.value.startswith("# Model card:")]
    return [line for line in card.splitlines() if line.startswith("| ") and "AUC" not in line]


@pytest.mark.slow
def test_cross_dataset_score_switches_the_table(app_home):
    at = open_page()
    assert len(card_scores(at)) == 1  # issue 14.2: the card lists its own test score...
    at.text_input(key="compare_cross_folder").set_value(str(app_home / "data" / "Dataset"))
    at.button(key="compare_cross_button").click()
    at.run()
    wait_jobs()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    # Issue 21.3: the set is named once above the table, so the headline columns fit.
    assert list(table.columns) == COMPACT_ON_A_SET
    assert any("Scored on **cross-dataset: data Test" in md.value for md in at.markdown)
    assert table["AUC 95% CI"].str.match(r"^\[0\.\d\d, [01]\.\d\d\]$").all()  # small set: CI
    assert table["AUC"].notna().all()  # AUC on the other dataset, every run
    assert len(card_scores(at)) == 2  # ... and every stored score, with its interval
    assert "[0." in card_scores(at)[1] or "[1." in card_scores(at)[1]
    # Back on the runs' own test sets, the cross columns can still be added.
    at.selectbox(key="compare_scored_on").set_value("own").run()
    assert "cross: data · AUC" in at.multiselect(key="compare_columns").options


def test_delete_needs_confirmation_and_updates_the_selector(app_home):
    at = open_page()
    victim = at.dataframe[0].value["Run"].iloc[0]
    at.multiselect(key="compare_delete_runs").set_value([victim])
    at.run()
    assert at.button(key="compare_delete").disabled
    at.checkbox(key="compare_delete_confirm").check()
    at.run()
    at.button(key="compare_delete").click()
    at.run()
    assert not at.exception, at.exception
    assert not (app_home / "runs" / victim).exists()
    assert at.dataframe[0].value["Run"].tolist() != [victim]
    assert len(at.dataframe[0].value) == 1
    # Issue 15.3: the browser keeps a widget's own value unless the page sets it: the page
    # must set the selector's value to the remaining runs, not merely forget its own.
    selector = at.multiselect(key="compare_runs")
    assert victim not in selector.options and victim not in selector.value
    assert selector.proto.set_value and victim not in selector.proto.raw_values
    assert any("Deleted 1 run." in s.value for s in at.success)


def test_csv_export_writes_counts_as_integers(app_home):
    """Issue 15.13: 20, not 20.0, for counts; metrics keep their decimals."""
    import csv
    import io

    from ui import compare_view

    records = compare.load_comparison().records
    text = compare_view.table_csv(compare.comparison_table(records))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["Test n"] for row in rows} == {"8", "6"}
    assert all(row["Params"].isdigit() and row["Image size"].isdigit() for row in rows)
    assert all("." in row["AUC"] or row["AUC"] in ("0", "1") for row in rows)


def test_page_render_does_not_import_tensorflow(home, tmp_path):
    """Rendering the page with runs present must not pay TensorFlow's import."""
    script = textwrap.dedent(
        f"""
        import json, os, sys
        os.environ[{settings.ARTIFACTS_ENV!r}] = {str(home)!r}
        os.environ[{settings.DATA_ENV!r}] = {str(home / "data" / "Dataset")!r}
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60)
        at.run()
        at.switch_page({PAGE!r})
        at.run()
        print(json.dumps({{"exception": bool(at.exception), "rows": len(at.dataframe[0].value),
                          "tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"exception": False, "rows": 2, "tf": False, "keras": False}


@pytest.mark.slow
def test_background_rescore_survives_a_page_reload(app_home):
    """Issue 10.4: a re-score queued in one session finishes; a new session shows it."""
    at = open_page()
    at.button(key="compare_rescore").click()
    at.run()
    assert not at.exception, at.exception
    del at  # the tab is closed (or reloaded) while the job runs
    again = open_page()
    (job,) = wait_jobs()
    assert job.state == "finished", job.status
    again.run()
    assert not again.exception, again.exception
    assert again.selectbox(key="compare_scored_on").value == job.test_set().id
    assert again.dataframe[0].value["AUC"].notna().all()


@pytest.mark.slow
def test_ensemble_row_needs_a_common_set_then_joins_table_and_curves(app_home):
    """Issue 13.2: refused on own test sets with a reason; a row and a ROC line on a common one."""
    at = open_page()
    at.selectbox(key="compare_ensemble").set_value("logit").run()
    assert any("needs its runs scored on identical files" in i.value for i in at.info)
    assert len(at.dataframe[0].value) == 2
    at.button(key="compare_rescore").click()
    at.run()
    wait_jobs()
    at.run()
    table = at.dataframe[0].value
    assert len(table) == 3 and table["Run"].iloc[-1] == "Ensemble (mean logit) of 2 runs"
    assert table["AUC"].notna().all()
    names = {trace.name.split(" (AUC")[0] for trace in _figure(at, "compare_roc").data}
    assert "Ensemble (mean logit) of 2 runs" in names


@pytest.mark.slow
def test_robustness_tab_queues_a_job_and_draws_the_curves(app_home):
    """Issue 13.1: a button queues the robustness job; stored results become curves."""
    at = open_page()
    assert any("No robustness results" in i.value for i in at.info)
    at.button(key="compare_robust_button").click()
    at.run()
    (job,) = wait_jobs()
    assert job.kind == "robustness" and job.state == "finished", job.status
    at.run()
    assert not at.exception, at.exception
    figure = _figure(at, "compare_robustness")
    names = {trace.name for trace in figure.data}
    assert names == set(at.multiselect(key="compare_runs").value)
    assert len(figure.data) == 2 * 5 * 2  # AUC and accuracy, 5 perturbations, 2 runs
    assert not any(b.key == "compare_robust_button" for b in at.button)  # reused, not redone
    # The ensemble of the runs (on identical degraded files) gets its own lines.
    at.selectbox(key="compare_ensemble").set_value("logit").run()
    names = {trace.name for trace in _figure(at, "compare_robustness").data}
    assert "Ensemble (mean logit) of 2 runs" in names and len(names) == 3


def test_report_buttons_write_html_and_markdown(app_home):
    """Issue 13.3: the report holds every selected run and every section."""
    from core.evaluation import report

    records = compare.load_comparison().records
    gathered = report.gather(records)
    page = report.html_report(gathered)
    for section in (
        "Metrics",
        "Dataset and split counts",
        "Runs: configuration",
        "ROC curves",
        "Precision-recall",
        "Confusion matrix",
        "Training curves",
        "Machine and packages",
    ):
        assert section in page, section
    assert all(record.name in page for record in records)
    text = report.markdown_report(gathered)
    assert all(record.name in text for record in records) and "| run |" in text


def _make_chance(run_dir: Path) -> None:
    """Give a run the test scores of a model that outputs a constant (learned nothing)."""
    from core import metrics
    from core.runs import run_folders

    stored = run_folders.read_json(run_dir / "metrics.json")
    labels = [int("/Real/" in path) for path in stored["test_files"]]
    report = metrics.detection_report(labels, [0.5] * len(labels))
    stored |= report | {"labels": labels, "p_real": [0.5] * len(labels)}
    stored.pop("learning", None)
    run_folders.write_json(run_dir / "metrics.json", stored)


def test_runs_at_chance_are_called_so_and_never_crowned(app_home):
    """Issue 21.1-2: a verdict on every row; when all are at chance, nothing is highlighted."""
    for run_dir in (app_home / "runs").iterdir():
        _make_chance(run_dir)
    at = open_page()
    table = at.dataframe[0].value
    assert set(table["Verdict"]) == {"did not learn"}
    assert any("No selected run beats chance" in info.value for info in at.info)
    # The model card says it too, with what to change.
    (card,) = [md.value for md in at.markdown if md.value.startswith("# Model card:")]
    assert "**Did it learn?** did not learn: Did not learn: test AUC 0.50" in card


def test_the_chosen_chart_tab_is_kept(app_home):
    """Issue 22.5: the chart tabs keep the tab a person chose across reruns (keyed state)."""
    at = open_page()
    assert at.session_state["compare_chart_tab"] == "ROC"
    at.session_state["compare_chart_tab"] = "Robustness"
    at.run()
    at.run()  # e.g. a background job's panel appearing above, then going away
    assert not at.exception, at.exception
    assert at.session_state["compare_chart_tab"] == "Robustness"
