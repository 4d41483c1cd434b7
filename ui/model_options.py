"""The Train page's "Model options": widgets drawn from each chosen model's spec.

Every option of a :class:`core.models.registry.ModelSpec` gets an input of its type
(checkbox, number, comma-separated list); models with pre-trained weights also get
fine-tuning epochs, a weights-file field and the spec's own account of what this
machine has (``weights_status``). Widget keys: ``train_option_<model>_<option>``,
``train_fine_tune_epochs_<model>``, ``train_weights_path_<model>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from core.models import registry


@dataclass
class ModelChoices:
    """What the person chose under "Model options", per model name.

    Attributes:
        options: model -> option name -> value as entered (the spec converts it).
        fine_tune_epochs: model -> fine-tuning epochs (models with a fine-tune hook).
        weights_paths: model -> weights file ("" for none; models with pre-trained weights).
    """

    options: dict[str, dict[str, object]] = field(default_factory=dict)
    fine_tune_epochs: dict[str, int] = field(default_factory=dict)
    weights_paths: dict[str, str] = field(default_factory=dict)


def option_widget(spec: registry.ModelSpec, name: str, option: registry.Option) -> object:
    """One input for a model option, of the option's type; returns its value."""
    key = f"train_option_{spec.name}_{name}"
    default = option.default
    # A plain label; the option's own name (for configs and the CLI) stays in the help.
    label = option.label or name.replace("_", " ").capitalize()
    help_text = f"{option.help} Option `{name}`.".strip()
    if isinstance(default, bool):
        return st.checkbox(label, value=default, key=key, help=help_text)
    if isinstance(default, tuple):
        return st.text_input(label, ",".join(map(str, default)), key=key, help=help_text)
    step = 1 if isinstance(default, int) else 0.05
    limits = {"min_value": option.minimum, "max_value": option.maximum}
    if isinstance(default, int):
        limits = {k: None if v is None else int(v) for k, v in limits.items()}
    return st.number_input(label, value=default, step=step, key=key, help=help_text, **limits)


def _weights_inputs(spec: registry.ModelSpec, choices: ModelChoices) -> None:
    if spec.fine_tune is not None:
        choices.fine_tune_epochs[spec.name] = int(
            st.number_input(
                "Fine-tuning epochs (top blocks, low learning rate; 0 = none)",
                0,
                100,
                0,
                key=f"train_fine_tune_epochs_{spec.name}",
            )
        )
    if spec.pretrained:
        path = st.text_input(
            "Pre-trained weights file (optional)",
            key=f"train_weights_path_{spec.name}",
            placeholder=f"/path/to/{spec.weights_file_hint}",
        ).strip()
        choices.weights_paths[spec.name] = path
        if spec.weights_status is not None:
            st.caption(spec.weights_status(path or None))


def model_options(specs: list[registry.ModelSpec]) -> ModelChoices:
    """Draw the "Model options" expander for these models; return what was chosen."""
    choices = ModelChoices()
    with st.expander("Model options", expanded=any(spec.pretrained for spec in specs)):
        for spec in specs:
            st.markdown(f"**{spec.display_name}** — {spec.summary}")
            choices.options[spec.name] = {
                name: option_widget(spec, name, option) for name, option in spec.options.items()
            }
            _weights_inputs(spec, choices)
    return choices
