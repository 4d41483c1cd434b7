"""Plotly figures shared by the Train, Compare and Data Explorer pages and the report.

Pure plotly (no Streamlit), so the pages and the HTML report
(:mod:`core.evaluation.report`) draw the same figures.

One colour per run across every chart, page and report: :func:`run_colours` gives a
run the colour its name hashes to, with clashes settled over every run in the artifacts
folder in the order they were created, so a run keeps its colour whichever runs are
drawn beside it, and a new run never takes an older run's colour. Every builder here
takes that mapping. The palette is dark enough for text on white (WCAG AA, contrast
>= 4.5:1: run names are drawn in their colour). The Real/Fake classes have their own
two colours (:data:`CLASS_COLOURS`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import settings

#: Run colours: Plotly's D3 palette darkened where needed so that text in each colour
#: reads on white (contrast >= 4.5:1, WCAG AA); ten colours that stay apart.
PALETTE: tuple[str, ...] = (
    "#1f77b4",  # blue
    "#b35806",  # orange
    "#1e7b34",  # green
    "#d62728",  # red
    "#8056b0",  # purple
    "#8c564b",  # brown
    "#c2185b",  # pink
    "#5a5a5a",  # grey
    "#6f6a00",  # olive
    "#00737a",  # teal
)
#: The two classes, on every chart that splits by class.
CLASS_COLOURS = {"Real": "#2a9d8f", "Fake": "#e76f51"}
#: Per-epoch panels of the training curves: history key and title.
CURVE_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"), ("auc", "AUC"))
LEGEND_BELOW = {"orientation": "h", "y": -0.25}
#: One shading for every confusion-matrix panel: the share of the true class, 0 to 1.
MATRIX_SCALE = "Blues"
_STAMP = re.compile(r"_(\d{8}-\d{6})")


def contrast_on_white(colour: str) -> float:
    """WCAG contrast ratio of ``#rrggbb`` text on white (1 to 21; AA asks >= 4.5)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)
    return 1.05 / (luminance + 0.05)


def _created_order(name: str) -> tuple[str, str]:
    """Sort key: the run folder's timestamp (``<model>_<YYYYmmdd-HHMMSS>``), then the name."""
    found = _STAMP.search(name)
    return (found.group(1) if found else "", name)


def _stored_run_names() -> list[str]:
    try:
        return [path.name for path in settings.runs_dir().iterdir() if path.is_dir()]
    except OSError:
        return []


def run_colours(names: Sequence[str], among: Sequence[str] | None = None) -> dict[str, str]:
    """Give every run a colour that depends on its name, not on the runs drawn beside it.

    A run starts from the palette slot its name hashes to (CRC-32, stable across
    processes). Clashes are settled over ``among`` (default: every run folder in the
    artifacts folder, plus ``names``) in the order the runs were created: a later run
    takes the next free slot. So the Train page, the Compare page and the report give
    a run the same colour, and adding a run never recolours an older one.

    Args:
        names: the runs drawn together.
        among: every run whose colour must stay apart; default as above.

    Returns:
        run name -> colour (``#rrggbb``), for ``names`` only.
    """
    everyone = set(names) | set(_stored_run_names() if among is None else among)
    colours: dict[str, str] = {}
    taken: set[int] = set()
    for name in sorted(everyone, key=_created_order):
        slot = zlib.crc32(name.encode()) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        colours[name] = PALETTE[slot]
    return {name: colours[name] for name in names}


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
    # Shaded by the share of each true class, on one 0-1 scale: panels with other
    # totals stay comparable, and a count of 10 looks like 11, not white beside dark.
    shares = [[count / max(1, sum(row)) for count in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            zmin=0.0,
            zmax=1.0,
            x=["Fake", "Real"],
            y=["Fake", "Real"],
            text=matrix,
            texttemplate="%{text}",
            colorscale=MATRIX_SCALE,
            showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{text} (%{z:.0%} of true %{y})"
            "<extra></extra>",
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
    "MATRIX_SCALE",
    "PALETTE",
    "ROBUSTNESS_PANELS",
    "confusion_matrix",
    "contrast_on_white",
    "headline_bars",
    "pr_curves",
    "robustness_curves",
    "roc_curves",
    "run_colours",
    "trace_colours",
    "training_curves",
]
