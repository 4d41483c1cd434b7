"""A comparison report a person can send: one self-contained HTML file, or Markdown.

The HTML opens offline: plotly's JavaScript is embedded once (``include_plotlyjs=True``)
and a few sample test images are inline PNG data, so nothing is fetched. It holds the
dataset and its split counts, each run's configuration and exact subset sizes, the
metrics table with its test set named, ROC and precision-recall curves, confusion
matrices, training curves, robustness curves and the ensemble where computed, the video
clip verdicts people chose to keep with the runs, and the machine and package versions
that produced it. The Markdown version holds the same
tables (no charts) for a README or a pull request.

``python -m core.report --runs RUN [RUN ...] --out report.html [--markdown report.md]``
writes them from a shell; the Compare page's Report button calls :func:`html_report`.
"""

from __future__ import annotations

import argparse
import html
import importlib.metadata
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core import settings
from core.evaluation import compare, ensemble, figures, report_tables, robustness
from core.runs import run_folders
from core.text import plural

logger = logging.getLogger(__name__)

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "plotly", "streamlit")


@dataclass
class Report:
    """Everything a report shows, gathered once for both formats."""

    records: list[compare.RunRecord]
    test_id: str | None
    test_label: str
    table: pd.DataFrame
    datasets: dict[str, dict[str, dict[str, int]] | str]
    runs_table: pd.DataFrame
    scored: list[tuple[str, dict[str, Any]]]
    ensemble: dict[str, Any] | None = None
    ensemble_name: str | None = None
    robustness: dict[str, Any] | None = None
    machine: dict[str, str] = field(default_factory=dict)
    created: str = ""
    clips: pd.DataFrame = field(default_factory=pd.DataFrame)


def machine_info() -> dict[str, str]:
    """The machine and the package versions (read from metadata, nothing imported)."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
    }
    for package in PACKAGES:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return info


def _robustness(records: Sequence[compare.RunRecord], method: str | None) -> dict[str, Any] | None:
    """The newest robustness results all runs have on one test set and seed, with the ensemble."""
    by_key: dict[str, dict[str, dict]] = {}
    for record in records:
        folder = record.run.path / robustness.RESULTS_DIR
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                stored = run_folders.read_json(path)
            except run_folders.RunError:
                continue
            if isinstance(stored, dict) and stored.get("complete"):
                by_key.setdefault(path.stem, {})[record.name] = stored
    shared = [(key, found) for key, found in by_key.items() if len(found) == len(records)]
    if not shared:
        return None
    key, results = max(shared, key=lambda item: max(r.get("created", 0) for r in item[1].values()))
    lines = {metric: robustness.curves(results, metric) for metric in ("auc", "accuracy")}
    if method and len(results) >= 2:
        try:
            combined = robustness.ensemble_result(results, list(results), method)
            name = ensemble.ensemble_name(list(results), method)
            for metric in lines:
                lines[metric][name] = robustness.curves({name: combined}, metric)[name]
        except ensemble.EnsembleError as error:
            logger.info("no robustness ensemble: %s", error)
    return {"key": key, "lines": lines}


def gather(
    records: Sequence[compare.RunRecord],
    test_id: str | None = None,
    method: str | None = None,
) -> Report:
    """Collect the report of ``records`` scored on ``test_id`` (None: each run's own set).

    Args:
        records: the runs, as the Compare page loads them.
        test_id: a re-scored common or cross-dataset test set, or None.
        method: ``logit`` or ``probability`` for an ensemble row, or None.
    """
    records = list(records)
    combined = name = None
    if method and len(records) >= 2:
        try:
            combined = ensemble.for_test_set(records, test_id, method)
            name = ensemble.ensemble_name(combined["members"], method)
        except ensemble.EnsembleError as error:
            logger.info("no ensemble in the report: %s", error)
    scored = [(r.name, r.metrics_on(test_id)) for r in records if r.metrics_on(test_id)]
    if combined is not None:
        scored.append((name, combined["metrics"]))
    label = report_tables.scored_label(records, test_id)
    return Report(
        records=records,
        test_id=test_id,
        test_label=label,
        table=report_tables.metrics_table(records, test_id, combined, name),
        datasets=report_tables.datasets(records, test_id),
        runs_table=report_tables.runs_table(records),
        scored=scored,
        ensemble=combined,
        ensemble_name=name,
        robustness=_robustness(records, method),
        machine=machine_info(),
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        clips=report_tables.clips_table(records),
    )


def _colours(report: Report) -> dict[str, str]:
    colours = figures.run_colours([record.name for record in report.records])
    if report.ensemble_name:
        colours[report.ensemble_name] = "#222222"
    for lines in (report.robustness or {}).get("lines", {}).values():
        for name in lines:
            colours.setdefault(name, "#222222")
    return colours


def _figures(report: Report) -> list[tuple[str, Any]]:
    colours = _colours(report)
    found = [
        ("ROC curves", figures.roc_curves(report.scored, colours)),
        ("Precision-recall curves", figures.pr_curves(report.scored, colours)),
    ]
    for name, values in report.scored:
        if values.get("confusion_matrix"):
            found.append(
                (
                    f"Confusion matrix: {name}",
                    figures.confusion_matrix(name, values["confusion_matrix"], colours.get(name)),
                )
            )
    history = figures.training_curves({r.name: r.history for r in report.records}, colours)
    if history is not None:
        found.append(("Training curves (train solid, validation dashed)", history))
    if report.robustness:
        title = f"Robustness ({report.robustness['key']})"
        found.append((title, figures.robustness_curves(report.robustness["lines"], colours)))
    return found


def _frame_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.4f}", border=0)


def _datasets_frame(report: Report) -> pd.DataFrame:
    rows = []
    for root, counts in report.datasets.items():
        if isinstance(counts, str):
            rows.append({"dataset": root, "split": "—", "Real": None, "Fake": None, "note": counts})
            continue
        for split, classes in counts.items():
            rows.append({"dataset": root, "split": split, **classes, "note": ""})
    return pd.DataFrame(rows)


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
)


#: Sample test images per class shown inline in the HTML report.
SAMPLES_PER_CLASS = 3


def _sample_images(report: Report) -> str:
    """A few images of the test set scored, inline as PNG data (nothing fetched)."""
    import base64
    import io

    from PIL import Image

    from core.data import images
    from core.data.testsets import label_of

    root, files, name = _scored_files(report)
    if not files:
        return ""
    cells = []
    for label, class_name in ((1, "Real"), (0, "Fake")):
        chosen = [f for f in files if label_of(f) == label][:SAMPLES_PER_CLASS]
        for relative in chosen:
            try:
                pixels = images.thumbnail(images.decode(Path(root) / relative).pixels, 128)
            except (images.ImageError, OSError):
                continue
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "PNG")
            data = base64.b64encode(buffer.getvalue()).decode()
            cells.append(
                f"<figure style='display:inline-block;margin:4px'><img alt='{class_name}' "
                f"src='data:image/png;base64,{data}'><figcaption>{class_name}</figcaption></figure>"
            )
    if not cells:
        return ""
    return f"<h2>Sample test images ({html.escape(name)})</h2>" + "".join(cells)


def _scored_files(report: Report) -> tuple[str, list[str], str]:
    """Root, files and name of the test set the report's metrics are on (its first run's)."""
    for record in report.records:
        if report.test_id is None and record.test_set and record.test_set.files:
            return record.test_set.root, list(record.test_set.files), record.test_set.label
        stored = record.rescores.get(report.test_id) if report.test_id else None
        if stored and stored.get("files"):
            return (
                stored.get("root", ""),
                list(stored["files"]),
                report_tables.set_name(record, report.test_id),
            )
    return "", [], ""


def html_report(report: Report) -> str:
    """The report as one self-contained HTML page (plotly's JavaScript embedded once)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Deepfake detector comparison</title><style>{STYLE}</style></head><body>",
        "<h1>Deepfake detector comparison</h1>",
        f"<p>{plural(len(report.records), 'run')}, written {html.escape(report.created)}. "
        f"Metrics on {html.escape(report.test_label)}. Fake is the positive class for "
        "precision, recall, F1, AP and EER.</p>",
        "<h2>Metrics</h2>",
        _frame_html(report.table),
        "<h2>Dataset and split counts</h2>",
        _frame_html(_datasets_frame(report)),
        "<h2>Runs: configuration and exact subset sizes</h2>",
        _frame_html(report.runs_table),
        _sample_images(report),
    ]
    if report.ensemble is not None:
        parts.append(
            f"<p>Ensemble: {html.escape(report.ensemble_name or '')} of "
            f"{html.escape(', '.join(report.ensemble['members']))}.</p>"
        )
    first = True
    for title, figure in _figures(report):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=first))
        first = False
    if not report.clips.empty:
        parts += [f"<h2>{report_tables.CLIPS_TITLE}</h2>", _frame_html(report.clips)]
    machine = pd.DataFrame([{"what": k, "version": v} for k, v in report.machine.items()])
    parts += ["<h2>Machine and packages</h2>", _frame_html(machine), "</body></html>"]
    return "\n".join(parts)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "—"
        return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines)


def markdown_report(report: Report) -> str:
    """The report's tables as Markdown (no charts)."""
    parts = [
        "# Deepfake detector comparison",
        f"{plural(len(report.records), 'run')}, written {report.created}. "
        f"Metrics on {report.test_label}.",
        "## Metrics",
        _markdown_table(report.table),
        "## Dataset and split counts",
        _markdown_table(_datasets_frame(report)),
        "## Runs: configuration and exact subset sizes",
        _markdown_table(report.runs_table),
    ]
    if report.robustness:
        rows = []
        for run, lines in report.robustness["lines"]["auc"].items():
            for name, points in lines.items():
                rows.append({"run": run, "perturbation": name} | {f"{x:g}": y for x, y in points})
        parts += [
            f"## Robustness AUC ({report.robustness['key']})",
            _markdown_table(pd.DataFrame(rows)),
        ]
    if not report.clips.empty:
        parts += [f"## {report_tables.CLIPS_TITLE}", _markdown_table(report.clips)]
    machine = pd.DataFrame([{"what": k, "version": v} for k, v in report.machine.items()])
    parts += ["## Machine and packages", _markdown_table(machine)]
    return "\n\n".join(parts) + "\n"


def _find_runs(names: Sequence[str]) -> list[compare.RunRecord]:
    records = []
    for name in names:
        path = Path(name)
        if not path.is_dir():
            path = settings.runs_dir() / name
        run = run_folders.load_run(path)
        if not run.finished:
            raise run_folders.RunError(f"{name} is not a finished run folder.")
        records.append(compare.load_record(run))
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m core.report``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m core.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", nargs="+", required=True, help="run folders or names")
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown version here")
    parser.add_argument("--test-set", help="a re-scored test-set id (default: own test sets)")
    parser.add_argument("--ensemble", choices=ensemble.METHODS, help="add an ensemble row")
    args = parser.parse_args(argv)
    try:
        report = gather(_find_runs(args.runs), args.test_set, args.ensemble)
    except run_folders.RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.write_text(html_report(report), encoding="utf-8")
    print(f"wrote {args.out}")
    if args.markdown:
        args.markdown.write_text(markdown_report(report), encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
