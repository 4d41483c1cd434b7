"""The comparison report: every run and every section, offline HTML, Markdown, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data import testsets
from core.evaluation import compare, report, robustness, scoring
from core.runs import run_folders
from tests.conftest import make_tree
from tests.test_compare import make_run

SECTIONS = (
    "Metrics",
    "Dataset and split counts",
    "Runs: configuration and exact subset sizes",
    "ROC curves",
    "Precision-recall curves",
    "Confusion matrix",
    "Training curves",
    "Sample test images",
    "Robustness",
    "Machine and packages",
)


@pytest.fixture
def scored_runs(artifacts) -> tuple[list[compare.RunRecord], str]:
    """Three runs re-scored on one common set, with robustness results on it."""
    dataset = make_tree(
        artifacts / "data" / "Dataset", {"Train": (4, 4), "Validation": (2, 2), "Test": (4, 4)}
    )
    folders = [make_run(dataset, test_size=6, seed=seed) for seed in (1, 2, 3)]
    test_set = testsets.dataset_test_set(dataset, 6, 0)
    records = [compare.load_record(run_folders.load_run(folder)) for folder in folders]
    scoring.rescore(records, test_set, "common")
    robustness.score_runs(folders, Path(test_set.root), test_set.files, test_set.id)
    return [compare.load_record(run_folders.load_run(folder)) for folder in folders], test_set.id


def external_sources(page: str) -> list[str]:
    """Every src/href of a tag that would fetch something (scripts' text is not parsed)."""
    from html.parser import HTMLParser

    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(
                v
                for k, v in attrs
                if k in ("src", "href") and v and tag != "a" and not v.startswith("data:")
            )

    Tags().feed(page)
    return found


def test_report_holds_every_run_section_and_the_ensemble(scored_runs, tmp_path) -> None:
    records, test_id = scored_runs
    gathered = report.gather(records, test_id, "logit")
    page = report.html_report(gathered)
    for section in SECTIONS:
        assert section in page, section
    for record in records:
        assert record.name in page
    assert "Ensemble (mean logit) of 3 runs" in page
    assert page.count("plotly.js v") == 1  # the library embedded once, offline
    assert external_sources(page) == []
    assert page.count("src='data:image/png;base64,") == 6  # 3 Real + 3 Fake test images
    # Issue 21.3: the set is named by its data everywhere, with intervals and verdicts.
    named = f"data Test, 6 images · {test_id}"
    assert len(gathered.table) == 4 and (gathered.table["test set"] == named).all()
    assert f"common test set: {named}" in gathered.test_label and gathered.test_label in page
    assert gathered.table["AUC 95% CI"].str.match(r"^\[\d\.\d\d, \d\.\d\d\]$").all()
    assert set(gathered.table["verdict"][:3]) <= {"chance", "weak", "usable"}
    assert f"Sample test images ({named})" in page  # from the set scored
    text = report.markdown_report(gathered)
    assert named in text and "AUC 95% CI" in text
    assert "## Robustness AUC" in text and all(record.name in text for record in records)


def test_report_cli_writes_html_and_markdown(scored_runs, tmp_path) -> None:
    records, test_id = scored_runs
    out, markdown = tmp_path / "report.html", tmp_path / "report.md"
    names = [record.name for record in records]
    status = report.main(
        ["--runs", *names, "--out", str(out), "--markdown", str(markdown), "--test-set", test_id]
    )
    assert status == 0
    assert all(name in out.read_text() for name in names)
    assert markdown.read_text().startswith("# Deepfake detector comparison")
    assert report.main(["--runs", "no_such_run", "--out", str(out)]) == 2
