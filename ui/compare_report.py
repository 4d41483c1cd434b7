"""Compare page: download the comparison as a self-contained HTML report, or as Markdown."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.evaluation import compare, report


def report_buttons(selected: Sequence[compare.RunRecord], test_id: str | None, combined) -> None:
    """Two download buttons; the report is written only when one is pressed.

    Args:
        selected: the runs compared.
        test_id: the test set the table shows (None: each run's own).
        combined: the ensemble shown (``ui.compare_charts.Ensemble``), or None.
    """
    method = combined.method if combined is not None else None

    def gathered() -> report.Report:
        return report.gather(selected, test_id, method)

    st.download_button(
        "Report (HTML)",
        lambda: report.html_report(gathered()),
        file_name="comparison-report.html",
        mime="text/html",
        key="compare_report_html",
        on_click="ignore",  # no rerun: one could drop the file before the browser has it
        help="One file that opens offline: the table, the dataset, every run's settings and "
        "subset sizes, ROC/PR, confusion matrices, training and robustness curves, the "
        "ensemble, and the machine and package versions.",
    )
    st.download_button(
        "Report (Markdown)",
        lambda: report.markdown_report(gathered()),
        file_name="comparison-report.md",
        mime="text/markdown",
        key="compare_report_md",
        on_click="ignore",
        help="The same tables as Markdown, for a README or a pull request.",
    )
