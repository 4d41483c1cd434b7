"""Plotly figures shared by the Train, Compare and Data Explorer pages and the report.

Pure plotly (no Streamlit), so the pages and the HTML report
(:mod:`core.evaluation.report`) draw the same figures.

One colour per run across every chart: :func:`run_colours` maps run names to a fixed
palette, and every builder here takes that mapping, so a run has the same colour in
the training curves, the ROC and precision-recall curves and the bar chart, on both
pages. The Real/Fake classes have their own two colours (:data:`CLASS_COLOURS`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: Run colours (Plotly's qualitative D3 palette: ten colours that stay apart).
PALETTE: tuple[str, ...] = tuple(px.colors.qualitative.D3)
#: The two classes, on every chart that splits by class.
CLASS_COLOURS = {"Real": "#2a9d8f", "Fake": "#e76f51"}
#: Per-epoch panels of the training curves: history key and title.
CURVE_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"), ("auc", "AUC"))
LEGEND_BELOW = {"orientation": "h", "y": -0.25}


def run_colours(names: Sequence[str]) -> dict[str, str]:
    """Give every run a colour that depends on its name, not on its position in a list.

    A run starts from the palette slot its name hashes to (CRC-32, stable across
    processes), so it keeps its colour when other runs are added, removed or
    reordered; only two runs hashing to the same slot are moved apart (the later
    name, in sorted order, takes the next free slot).

    Args:
        names: the runs drawn together.

    Returns:
        run name -> colour (``#rrggbb``).
    """
    colours: dict[str, str] = {}
    taken: set[int] = set()
    for name in sorted(set(names)):
        slot = zlib.crc32(name.encode()) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        colours[name] = PALETTE[slot]
    return colours


def training_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    colours: Mapping[str, str],
    height: int = 380,
) -> go.Figure | None:
    """Loss, accuracy and AUC per epoch: one panel each, train solid, validation dashed.

    Args:
        histories: run name -> its history (``loss``, ``val_loss``, ``accuracy``...).
        colours: run name -> colour (from :func:`run_colours`).
        height: figure height in pixels.

    Returns:
        The figure, or None when no run has a finished epoch yet.
    """
    if not any(history.get("loss") for history in histories.values()):
        return None
    figure = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in CURVE_PANELS])
    for name, history in histories.items():
        for col, (key, _) in enumerate(CURVE_PANELS, start=1):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                values = history.get(prefix + key)
                if not values:
                    continue
                figure.add_scatter(
                    x=list(range(1, len(values) + 1)),
                    y=list(values),
                    mode="lines+markers",
                    line={"color": colours.get(name), "dash": dash},
                    name=f"{name} {'validation' if prefix else 'train'}",
                    legendgroup=name,
                    showlegend=col == 1,
                    row=1,
                    col=col,
                )
    figure.update_xaxes(title_text="Epoch", dtick=1)
    figure.update_layout(
        height=height, legend={"orientation": "h", "y": -0.3}, margin={"t": 40, "b": 10}
    )
    return figure


def _overlaid(
    figure: Any,
    scored: Sequence[tuple[str, Mapping[str, Any]]],
    colours: Mapping[str, str],
    curve: tuple[str, str, str],
    score: tuple[str, str],
    titles: tuple[str, str],
    **line: Any,
):
    """Add one line per run that has ``curve`` (metrics key, x key, y key) and lay it out.

    Each line is named after its run and ``score`` (metrics key, label), e.g. "AUC 0.912".
    """
    key, x, y = curve
    for name, values in scored:
        if values.get(key):
            figure.add_scatter(
                x=values[key][x],
                y=values[key][y],
                mode="lines",
                line={"color": colours.get(name)},
                name=f"{name} ({score[1]} {values.get(score[0], float('nan')):.3f})",
                **line,
            )
    figure.update_layout(
        xaxis_title=titles[0], yaxis_title=titles[1], height=450, legend=LEGEND_BELOW
    )
    return figure


def roc_curves(scored: Sequence[tuple[str, Mapping[str, Any]]], colours: Mapping[str, str]):
    """Overlaid ROC curves (Fake is the positive class) with the chance diagonal.

    Args:
        scored: (run name, metrics with ``roc`` and ``auc``) pairs.
        colours: run name -> colour.
    """
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance"
    )
    titles = ("False-positive rate (real images called fake)", "True-positive rate (fakes caught)")
    return _overlaid(figure, scored, colours, ("roc", "fpr", "tpr"), ("auc", "AUC"), titles)


def pr_curves(scored: Sequence[tuple[str, Mapping[str, Any]]], colours: Mapping[str, str]):
    """Overlaid precision-recall curves (Fake is the positive class).

    Args:
        scored: (run name, metrics with ``pr`` and ``ap``) pairs.
        colours: run name -> colour.
    """
    titles = (
        "Recall (share of fakes caught)",
        "Precision (share of 'fake' calls that are fake)",
    )
    return _overlaid(
        go.Figure(),
        scored,
        colours,
        ("pr", "recall", "precision"),
        ("ap", "AP"),
        titles,
        line_shape="hv",
    )


def confusion_matrix(name: str, matrix: Sequence[Sequence[int]], colour: str | None = None):
    """One run's confusion matrix (rows: true class, columns: predicted; Fake first).

    ``go.Heatmap`` rather than ``px.imshow``: 8x cheaper, which matters with dozens of runs.

    Args:
        name: the run, used as the title (drawn in the run's colour).
        matrix: 2x2 counts.
        colour: the run's colour for the title.
    """
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=["Fake", "Real"],
            y=["Fake", "Real"],
            text=matrix,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    figure.update_layout(
        title={"text": name, "font": {"size": 12, "color": colour}},
        xaxis_title="Predicted",
        yaxis={"title": "True", "autorange": "reversed"},
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def headline_bars(long: pd.DataFrame, colours: Mapping[str, str]) -> go.Figure:
    """Grouped bars of headline metrics, one colour per run.

    Args:
        long: columns ``Run``, ``Metric``, ``Value`` (as ``core.evaluation.compare.headline_long``).
        colours: run name -> colour.
    """
    figure = px.bar(
        long,
        x="Metric",
        y="Value",
        color="Run",
        barmode="group",
        height=420,
        color_discrete_map=dict(colours),
    )
    figure.update_layout(yaxis_range=[0, 1], legend=LEGEND_BELOW)
    return figure


def trace_colours(figure: go.Figure) -> dict[str, str]:
    """Legend name (or legend group) -> colour of every trace; what tests compare across charts."""
    found = {}
    for trace in figure.data:
        colour = None
        if getattr(trace, "line", None) is not None and trace.line.color:
            colour = trace.line.color
        elif getattr(trace, "marker", None) is not None and isinstance(trace.marker.color, str):
            colour = trace.marker.color
        name = trace.legendgroup or trace.name
        if colour and name:
            found[str(name)] = colour
    return found


#: Robustness panels: perturbation name -> (title, x-axis title).
ROBUSTNESS_PANELS = {
    "jpeg": ("JPEG re-compression", "quality"),
    "rescale": ("Downscale and upscale", "scale"),
    "blur": ("Gaussian blur", "sigma"),
    "noise": ("Gaussian noise", "std (0-255)"),
    "crop": ("Centre crop and resize", "kept side"),
}


def robustness_curves(
    lines: Mapping[str, Mapping[str, Mapping[str, Sequence[tuple[float, float | None]]]]],
    colours: Mapping[str, str],
    height: int = 520,
) -> go.Figure:
    """AUC and accuracy against strength, one panel per perturbation, one line per run.

    Args:
        lines: metric (``auc``, ``accuracy``) -> run -> perturbation -> points, as
            :func:`core.evaluation.robustness.curves` gives them (clean score first).
        colours: run name -> colour.
        height: figure height in pixels.
    """
    metrics_ = list(lines)
    names = list(ROBUSTNESS_PANELS)
    figure = make_subplots(
        rows=len(metrics_),
        cols=len(names),
        subplot_titles=[ROBUSTNESS_PANELS[n][0] for n in names] + [""] * len(names),
        vertical_spacing=0.12,
        horizontal_spacing=0.04,
    )
    for row, metric in enumerate(metrics_, start=1):
        for run, per_name in lines[metric].items():
            for col, name in enumerate(names, start=1):
                points = per_name.get(name, [])
                figure.add_scatter(
                    x=[x for x, _ in points],
                    y=[y for _, y in points],
                    mode="lines+markers",
                    line={"color": colours.get(run)},
                    name=run,
                    legendgroup=run,
                    showlegend=row == 1 and col == 1,
                    row=row,
                    col=col,
                )
                figure.update_xaxes(title_text=ROBUSTNESS_PANELS[name][1], row=row, col=col)
                if name in ("jpeg", "rescale", "crop"):  # stronger to the right
                    figure.update_xaxes(autorange="reversed", row=row, col=col)
        figure.update_yaxes(title_text="AUC" if metric == "auc" else metric.title(), row=row, col=1)
    figure.update_layout(height=height, legend=LEGEND_BELOW, margin={"t": 40})
    return figure


__all__ = [
    "CLASS_COLOURS",
    "CURVE_PANELS",
    "LEGEND_BELOW",
    "PALETTE",
    "ROBUSTNESS_PANELS",
    "confusion_matrix",
    "headline_bars",
    "pr_curves",
    "robustness_curves",
    "roc_curves",
    "run_colours",
    "trace_colours",
    "training_curves",
]
