"""The timeline of a clip: each run's P(Real) per sampled frame, with its threshold and band.

Pure plotly (no Streamlit), drawn from :func:`core.serving.clips.frame_table`. Runs keep
their colours from :func:`core.evaluation.figures.run_colours`. Frames with a face are
filled dots joined by a line; frames without one are grey crosses, not joined: they
are left out of the clip's verdict.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from core.evaluation import figures

NO_FACE_COLOUR = "#888888"


def _thresholds(figure: go.Figure, thresholds: Mapping[str, float], band: float) -> None:
    for threshold in sorted(set(thresholds.values())):
        if band > 0:
            figure.add_hrect(
                y0=max(threshold - band, 0.0),
                y1=min(threshold + band, 1.0),
                fillcolor="#bbbbbb",
                opacity=0.25,
                line_width=0,
            )
        figure.add_hline(
            y=threshold,
            line_dash="dash",
            line_color="#555555",
            annotation_text=f"threshold {threshold:.2f}" + (f" ± {band:.2f}" if band else ""),
        )


def timeline(table: pd.DataFrame, thresholds: Mapping[str, float], band: float) -> go.Figure:
    """P(Real) over the clip's time, one line per run.

    Args:
        table: the per-frame table (``time_s``, ``run``, ``p_real``, ``face_found``).
        thresholds: each run's threshold on P(Real).
        band: the uncertain band's half-width around each threshold.

    Returns:
        The figure: lines for face frames, crosses for frames without a face, a dashed
        line per threshold and the band shaded around it.
    """
    colours = figures.run_colours(list(thresholds))
    figure = go.Figure()
    for run, rows in table.groupby("run", sort=False):
        face = rows[rows["face_found"]]
        figure.add_trace(
            go.Scatter(
                x=face["time_s"],
                y=face["p_real"],
                mode="lines+markers",
                name=str(run),
                line={"color": colours.get(str(run))},
                hovertemplate="%{x:.1f} s · P(Real) %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
        empty = rows[~rows["face_found"]]
        if len(empty):
            figure.add_trace(
                go.Scatter(
                    x=empty["time_s"],
                    y=empty["p_real"],
                    mode="markers",
                    name=f"{run}: no face (not counted)",
                    marker={"symbol": "x", "color": NO_FACE_COLOUR, "size": 9},
                    hovertemplate="%{x:.1f} s · no face · P(Real) %{y:.3f}<extra></extra>",
                )
            )
    _thresholds(figure, thresholds, band)
    figure.update_layout(
        xaxis_title="time in the clip (s)",
        yaxis_title="P(Real)",
        yaxis_range=[0, 1],
        legend=figures.LEGEND_BELOW,
        margin={"t": 30},
        height=320,
    )
    return figure
