"""A model card per run: what it was trained on, and where its scores say it can be trusted.

A detector learns the generator it was shown: trained on StyleGAN2 faces it can be
near perfect there and at chance on face swaps. The card gathers, from the run
folder alone, what the run was trained on (dataset, classes, where its fakes came
from, subset sizes), its in-domain test scores, and every other score stored so far
(re-scores on other datasets, robustness results), each AUC with its bootstrap
interval when the set is small. It ends with a plain warning when the model has
only been scored on its own dataset. :func:`summary` is the one line shown beside a
verdict; :func:`write_card` stores ``model_card.md`` in the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.runs import learning
from core.runs.run_folders import RunError, read_json, write_text

CARD_NAME = "model_card.md"
RESCORES_DIR = "rescores"
ROBUSTNESS_DIR = "robustness"
FAKES_FROM_TEXT = {
    "dataset": "the dataset's own fakes",
    "self-blended": "self-blended pseudo-fakes made from its real images",
    "both": "the dataset's fakes and self-blended pseudo-fakes",
}


@dataclass
class Score:
    """One stored evaluation of the run.

    Attributes:
        where: the images, for people ("FFHQ-vs-StyleGAN2 Test, 60 images").
        dataset: short name of the dataset the images come from.
        in_domain: True for the run's own dataset.
        auc, accuracy: the scores (AUC None for a one-class set).
        auc_ci: 95 % bootstrap interval of the AUC, when computed.
        n_fake, n_real: the images of each class (for an interval when none is stored).
    """

    where: str
    dataset: str
    in_domain: bool
    auc: float | None
    accuracy: float | None
    auc_ci: tuple[float, float] | None = None

    n_fake: int = 0
    n_real: int = 0

    @property
    def verdict(self) -> str:
        """``chance``, ``weak``, ``good`` or ``unknown``: the rule of :mod:`core.runs.learning`."""
        if self.auc is None:
            return "unknown"
        interval = self.auc_ci or learning.hanley_mcneil_interval(
            self.auc, self.n_fake, self.n_real
        )
        if interval is None:  # no interval can be had: only a clear AUC reads as better
            return (
                "chance" if self.auc < 0.6 else "weak" if self.auc < learning.USABLE_AUC else "good"
            )
        if interval[0] <= 0.5:
            return "chance"
        return "good" if self.auc >= learning.USABLE_AUC else "weak"

    def auc_text(self) -> str:
        """``0.912 [0.85, 0.97]`` or ``n/a``."""
        if self.auc is None:
            return "n/a"
        interval = f" [{self.auc_ci[0]:.2f}, {self.auc_ci[1]:.2f}]" if self.auc_ci else ""
        return f"{self.auc:.3f}{interval}"


@dataclass
class Card:
    """Everything a model card says, as data."""

    run: str
    model: str
    dataset: str
    fakes_from: str
    sizes: dict[str, Any]
    image_size: Any
    scores: list[Score] = field(default_factory=list)
    robustness: dict[str, float | None] = field(default_factory=dict)
    learned: learning.Learning | None = None

    @property
    def only_in_domain(self) -> bool:
        """True when nothing but the run's own dataset has scored it."""
        return not any(not score.in_domain for score in self.scores)


def dataset_name(root: str | Path | None) -> str:
    """Short name of a dataset root: the folder above ``Dataset/`` when it is so named."""
    if not root:
        return "unknown dataset"
    path = Path(str(root))
    return path.parent.name if path.name.lower() == "dataset" and path.parent.name else path.name


def _read(path: Path) -> dict[str, Any]:
    try:
        value = read_json(path)
    except RunError:
        return {}
    return value if isinstance(value, dict) else {}


def _score(values: dict[str, Any], where: str, dataset: str, in_domain: bool) -> Score:
    interval = values.get("auc_ci")
    return Score(
        where=where,
        dataset=dataset,
        in_domain=in_domain,
        auc=values.get("auc"),
        accuracy=values.get("accuracy"),
        auc_ci=tuple(interval)
        if isinstance(interval, list | tuple) and len(interval) == 2
        else None,
        n_fake=int(values.get("n_fake") or 0),
        n_real=int(values.get("n_real") or 0),
    )


def build_card(run_dir: Path) -> Card:
    """Read a run folder and gather what its card says (missing files are skipped)."""
    run_dir = Path(run_dir)
    config = _read(run_dir / "config.json")
    metrics = _read(run_dir / "metrics.json")
    home = (
        "demo (synthetic)"
        if config.get("is_demo")
        else dataset_name(config.get("dataset") or config.get("data_dir"))
    )
    card = Card(
        run=run_dir.name,
        model=metrics.get("model_display") or config.get("model", "?"),
        dataset=home,
        fakes_from=config.get("fakes_from", "dataset"),
        sizes={key: config.get(key) for key in ("train_size", "val_size", "test_size")},
        image_size=config.get("image_size"),
    )
    if metrics:
        where = f"{home} Test, {metrics.get('n', '?')} images"
        card.scores.append(_score(metrics, where, home, True))
        card.learned = learning.of_record(metrics, _read(run_dir / "history.json"), config)
    for path in sorted((run_dir / RESCORES_DIR).glob("*.json")):
        record = _read(path)
        if not isinstance(record.get("metrics"), dict):
            continue
        name = dataset_name(record.get("root"))
        where = f"{name}: {record.get('description') or path.stem}"
        card.scores.append(_score(record["metrics"], where, name, name == home))
    for path in sorted((run_dir / ROBUSTNESS_DIR).glob("*.json")):
        settings = _read(path).get("settings") or {}
        for key, values in settings.items():
            card.robustness[key] = (values.get("metrics") or {}).get("auc")
    return card


def summary(card: Card) -> str:
    """One line for a verdict: what it was trained on and how it did elsewhere."""
    trained = f"trained on {card.dataset}"
    if card.learned is not None and not card.learned.learned:
        trained = f"{card.learned.label} ({trained})"
    if card.fakes_from != "dataset":
        trained += f" ({card.fakes_from} fakes)"
    elsewhere = [score for score in card.scores if not score.in_domain]
    if not elsewhere:
        return f"{trained}; not yet scored on any other dataset"
    parts = []
    for score in elsewhere:
        label = "chance" if score.verdict == "chance" else f"AUC {score.auc_text()}"
        parts.append(f"{label} on {score.dataset}")
    return f"{trained}; " + ", ".join(dict.fromkeys(parts))


def to_markdown(card: Card) -> str:
    """The card as Markdown."""
    lines = [
        f"# Model card: {card.run}",
        "",
        f"- **Model**: {card.model}, input {card.image_size} px",
        f"- **Trained on**: {card.dataset}, classes Real and Fake, fakes from "
        f"{FAKES_FROM_TEXT.get(card.fakes_from, card.fakes_from)}",
        "- **Subset sizes**: "
        + ", ".join(
            f"{key.split('_')[0]} {value or 'whole split'}" for key, value in card.sizes.items()
        ),
        f"- **In short**: {summary(card)}",
    ]
    if card.learned is not None:
        lines.append(f"- **Did it learn?** {card.learned.label}: {card.learned.text}")
    lines += [
        "",
        "## Scores",
        "",
        "| images | AUC [95% CI] | accuracy | reading |",
        "|---|---|---|---|",
    ]
    for score in card.scores:
        accuracy = "n/a" if score.accuracy is None else f"{score.accuracy:.3f}"
        lines.append(f"| {score.where} | {score.auc_text()} | {accuracy} | {score.verdict} |")
    if card.robustness:
        lines += ["", "## Robustness (AUC per degradation)", ""]
        lines += [
            f"- {key}: {'n/a' if value is None else f'{value:.3f}'}"
            for key, value in card.robustness.items()
        ]
    if card.only_in_domain:
        lines += [
            "",
            "> **Warning**: this model has only been scored on images from its own dataset. "
            "Detectors often fall to chance on fakes from another generator; score it on "
            "another dataset (Compare, cross-dataset check) before trusting it there.",
        ]
    return "\n".join(lines) + "\n"


def write_card(run_dir: Path) -> Path:
    """Write (or refresh) ``model_card.md`` in the run folder, atomically."""
    path = Path(run_dir) / CARD_NAME
    write_text(path, to_markdown(build_card(run_dir)))
    return path


__all__ = ["CARD_NAME", "Card", "Score", "build_card", "summary", "to_markdown", "write_card"]
