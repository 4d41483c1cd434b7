"""The Train page's peak-memory line, and the refusal of a setting that cannot fit.

The estimate comes from :mod:`core.training.memory`; the first time a model (with these
options) is seen, it is built once in a subprocess, which takes a few seconds.
"""

from __future__ import annotations

import streamlit as st

from core.models import registry
from core.runs.config import TrainConfig
from core.training import memory

GB = memory.GB


def memory_check(configs: list[TrainConfig]) -> list[str]:
    """Show the estimated peak memory of the chosen run(s); return a refusal if it cannot fit.

    Runs train one at a time, so the largest estimate among ``configs`` is the one
    that must fit.

    Args:
        configs: the runs Start would queue (one per chosen model).

    Returns:
        [] when it fits (or cannot be estimated), else one sentence saying what would.
    """
    if not configs:
        return []
    try:
        with st.spinner("Estimating peak memory (the first time for a model, it is built once)..."):
            profiles = memory.profiles_for([(config.model, config.options) for config in configs])
    except memory.EstimateError as error:
        st.caption(f"Peak memory could not be estimated ({error}).")
        return []
    runs = [
        (config, profile, memory.estimate(profile, config.image_size, config.batch_size))
        for config, profile in zip(configs, profiles, strict=True)
    ]
    worst = max(runs, key=lambda run: run[2].total)
    config, profile, needed = worst
    available = memory.available_bytes()
    which = f" ({registry.display_name(config.model)}, the largest)" if len(configs) > 1 else ""
    st.caption(
        f"Peak memory ≈ {needed.total / GB:.1f} GB{which} of {available / GB:.1f} GB available",
        help=f"Runtime {needed.baseline / GB:.1f} GB, weights with gradients and Adam's "
        f"slots {needed.parameters / GB:.2f} GB, one batch's activations "
        f"{needed.activations / GB:.1f} GB, data pipeline {needed.pipeline / GB:.2f} GB; "
        "streamed data does not grow with the subset size.",
    )
    if memory.fits(needed, available):
        return []
    batch = memory.largest_batch_that_fits(profile, config.image_size, available)
    advice = (
        f"batch size {batch} would fit"
        if batch
        else "not even batch size 1 fits at this image size: choose a smaller image size"
    )
    kept = f"{1 - memory.SAFETY:.0%} of it is kept free"
    return [
        f"This needs about {needed.total / GB:.1f} GB but {available / GB:.1f} GB is "
        f"available ({kept}); {advice}."
    ]
