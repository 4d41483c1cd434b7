"""The training configuration: one frozen dataclass, saved with every run as JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from core.models.registry import find_spec, list_models

DEFAULT_IMAGE_SIZE = 128  # CPU default; 256 is the dataset's native size
CLASS_WEIGHT_MODES = ("auto", "on", "off")
#: Where the training fakes come from (see :mod:`core.training.pipelines`).
FAKES_FROM = ("dataset", "self-blended", "both")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        model: registry name (see :func:`core.models.registry.list_models`).
        data_dir: dataset root as given (``None``: the generated demo dataset).
        image_size: side of the square model input, in pixels.
        train_size: training images (None: the whole Train split).
        val_size: validation images (None: the whole Validation split).
        test_size: test images (None: the whole Test split).
        epochs: maximum epochs; early stopping on validation AUC may end sooner.
        batch_size: images per step.
        learning_rate: Adam learning rate of the first phase.
        seed: seeds subset sampling, weight initialisation and shuffling.
        augment: random horizontal flips during training (no resampling: it blurs
            away generator traces).
        class_weight: "auto" (weight classes when a split is imbalanced), "on" or "off".
        early_stopping_patience: epochs without a better validation AUC before stopping.
        fine_tune_epochs: models with pre-trained weights: epochs of fine-tuning the
            top of the base after the frozen-base phase (0 disables).
        weights_path: models with pre-trained weights: a weights file to use instead
            of the cache or a download.
        fakes_from: where training fakes come from: "dataset" (its Fake images),
            "self-blended" (pseudo-fakes blended from its Real images, its fakes unused)
            or "both"; validation and test always use the dataset's own images.
        options: the model's own options (see its spec); missing ones take their
            defaults, which are filled in here so config.json records every value.
        subset_seed: seeds the choice of subset files when set (None: ``seed`` does),
            so runs repeated with several seeds train and test on the same files.
        experiment: the name shared by the runs of one model repeated with several
            seeds ("" for a single run); the comparison groups them by it.
    """

    model: str = "cnn"
    data_dir: str | None = None
    image_size: int = DEFAULT_IMAGE_SIZE
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 42
    augment: bool = True
    class_weight: str = "auto"
    early_stopping_patience: int = 6
    fine_tune_epochs: int = 0
    weights_path: str | None = None
    fakes_from: str = "dataset"
    options: dict[str, Any] = field(default_factory=dict)
    subset_seed: int | None = None
    experiment: str = ""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(" ".join(problems))
        resolved = find_spec(self.model).resolve_options(self.options)  # type: ignore[union-attr]
        object.__setattr__(self, "options", resolved)

    def problems(self) -> list[str]:
        """Return plain-language reasons this configuration cannot train (empty if fine)."""
        spec = find_spec(self.model)
        if spec is None:
            return [f"Unknown model {self.model!r}; choose one of: {', '.join(list_models())}."]
        problems = []
        if self.image_size < spec.min_image_size:
            problems.append(
                f"Image size {self.image_size} is below {self.model}'s minimum of "
                f"{spec.min_image_size}."
            )
        try:
            spec.resolve_options(self.options)
        except ValueError as error:
            problems.append(str(error))
        if not spec.pretrained and (self.weights_path or self.fine_tune_epochs):
            problems.append(f"{spec.display_name} has no pre-trained weights to load or fine-tune.")
        for name in ("train_size", "val_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 2:
                problems.append(f"{name} must be at least 2 images (one per class).")
        if self.epochs < 1:
            problems.append("epochs must be at least 1.")
        if self.batch_size < 1:
            problems.append("batch_size must be at least 1.")
        if not 0 < self.learning_rate < 1:
            problems.append("learning_rate must be between 0 and 1.")
        if self.fine_tune_epochs < 0:
            problems.append("fine_tune_epochs must be 0 or more.")
        if self.class_weight not in CLASS_WEIGHT_MODES:
            problems.append("class_weight must be 'auto', 'on' or 'off'.")
        if self.fakes_from not in FAKES_FROM:
            problems.append(f"fakes_from must be one of: {', '.join(FAKES_FROM)}.")
        return problems

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuple options become lists)."""
        values = dataclasses.asdict(self)
        values["options"] = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.options.items()
        }
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict, ignoring keys this version does not know.

        A saved config lacks the options added after it was written (the oldest have
        no ``options`` key): they take the values those runs were built with, the
        option's ``saved_default`` where its default has changed since, else the default.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in values.items() if key in known}
        spec = find_spec(values.get("model", ""))
        if spec is not None:
            values["options"] = spec.saved_options(values.get("options"))
        return cls(**values)

    def __hash__(self) -> int:
        """Hash of the JSON form (the options dict is not hashable itself)."""
        return hash(repr(sorted(self.to_dict().items())))

    @property
    def sampling_seed(self) -> int:
        """The seed that chooses the subset files."""
        return self.seed if self.subset_seed is None else self.subset_seed

    def with_seeds(self, count: int) -> list[TrainConfig]:
        """``count`` runs of this config on the same files, seeds ``seed``, ``seed + 1``...

        They share an experiment name made from the settings, so the same request
        always gives the same name (and the same runs, which the queue calls duplicates).

        Args:
            count: how many seeds (1 gives this config back unchanged).
        """
        if count < 1:
            raise ValueError("The number of seeds must be 1 or more.")
        if count == 1:
            return [self]
        settings = {k: v for k, v in self.to_dict().items() if k not in ("seed", "experiment")}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:6]
        experiment = f"{self.model} seeds {self.seed}-{self.seed + count - 1} · {digest}"
        return [
            self.replace(
                seed=self.seed + offset, subset_seed=self.sampling_seed, experiment=experiment
            )
            for offset in range(count)
        ]

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with some fields changed (validated again).

        Changing the model without giving options starts from the new model's defaults:
        options belong to one model.
        """
        if changes.get("model", self.model) != self.model:
            changes.setdefault("options", {})
        return dataclasses.replace(self, **changes)
