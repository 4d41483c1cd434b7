"""The shared chart builders: one stable colour per run, and every builder uses it."""

from __future__ import annotations

import pandas as pd

from core.evaluation import figures


def test_a_run_keeps_its_colour_whatever_else_is_drawn():
    names = ["cnn_20260101-000000", "capsnet_20260101-000001", "xception_20260101-000002"]
    together = figures.run_colours(names)
    assert together == figures.run_colours(list(reversed(names)))
    # These names hash to different slots, so each keeps its colour drawn alone or together.
    for name in names:
        assert figures.run_colours([name]) == {name: together[name]}
    assert len(set(together.values())) == 3


def test_colours_stay_distinct_up_to_the_palette_size():
    names = [f"cnn_20260101-{i:06d}" for i in range(len(figures.PALETTE))]
    assert len(set(figures.run_colours(names).values())) == len(figures.PALETTE)
    many = [f"cnn_20260102-{i:06d}" for i in range(len(figures.PALETTE) + 3)]
    assert len(figures.run_colours(many)) == len(many)  # beyond it colours repeat, none missing


def test_builders_draw_each_run_in_its_colour():
    colours = figures.run_colours(["a", "b"])
    history = {"loss": [0.7, 0.6], "val_loss": [0.8, 0.7], "auc": [0.5, 0.6]}
    curves = figures.training_curves({"a": history, "b": history}, colours)
    assert set(figures.trace_colours(curves).items()) == set(colours.items())
    assert figures.training_curves({"a": {}}, colours) is None  # no finished epoch yet
    metrics = {
        "roc": {"fpr": [0, 1], "tpr": [0, 1]},
        "auc": 0.5,
        "pr": {"recall": [0, 1], "precision": [1, 0.5]},
        "ap": 0.5,
    }
    roc = figures.trace_colours(figures.roc_curves([("a", metrics), ("b", metrics)], colours))
    assert {
        name.split(" ")[0]: colour for name, colour in roc.items() if name != "chance"
    } == colours
    pr = figures.trace_colours(figures.pr_curves([("a", metrics)], colours))
    assert list(pr.values()) == [colours["a"]]
    long = pd.DataFrame({"Run": ["a", "b"], "Metric": ["AUC", "AUC"], "Value": [0.5, 0.6]})
    assert figures.trace_colours(figures.headline_bars(long, colours)) == colours


def _clashing_pair() -> tuple[str, str]:
    """Two run names, the older first, whose names hash to the same palette slot."""
    import zlib

    first = "cnn_20260101-000000"
    slot = zlib.crc32(first.encode()) % len(figures.PALETTE)
    for i in range(1, 10_000):
        later = f"capsnet_20260102-{i:06d}"
        if zlib.crc32(later.encode()) % len(figures.PALETTE) == slot:
            return first, later
    raise AssertionError("no clash found")


def test_a_run_has_one_colour_on_every_page_even_when_names_clash(artifacts):
    # Train draws one run alone, Compare draws it beside others, the report both:
    # the colour is settled over every stored run, not over the runs drawn together.
    older, later = _clashing_pair()
    for name in (older, later):
        (artifacts / "runs" / name).mkdir(parents=True)
    together = figures.run_colours([older, later])
    assert together[older] != together[later]
    assert figures.run_colours([later]) == {later: together[later]}
    assert figures.run_colours([older]) == {older: together[older]}
    # A run added later never takes an older run's colour.
    assert figures.run_colours([older], among=[older]) == {older: together[older]}


def test_run_colours_read_on_white():
    assert all(figures.contrast_on_white(colour) >= 4.5 for colour in figures.PALETTE)
    assert figures.contrast_on_white("#bcbd22") < 4.5  # the old yellow title, for contrast
    assert round(figures.contrast_on_white("#000000"), 1) == 21.0


def test_confusion_matrices_share_one_scale():
    panels = [figures.confusion_matrix(name, matrix) for name, matrix in
              (("a", [[10, 10], [0, 20]]), ("b", [[11, 9], [1, 19]]))]  # fmt: skip
    for panel in panels:
        heatmap = panel.data[0]
        assert (heatmap.zmin, heatmap.zmax) == (0.0, 1.0)
    # The counts 10 and 11 get nearly the same shade, not white beside dark blue.
    assert abs(panels[0].data[0].z[0][0] - panels[1].data[0].z[0][0]) < 0.06
    assert list(panels[0].data[0].text[0]) == [10, 10]  # the counts are still written
