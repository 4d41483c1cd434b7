"""Xception's frozen phase with and without cached base features (issue 24.4).

Two runs of ``core.training.trainer.train`` on the shared FFHQ/StyleGAN2 split at 128 px,
the same config and seed, a pre-trained base standing in for ImageNet's (built from a
fixed seed and written as Keras's notop file: these machines cannot download the real
weights, so the accuracy means nothing; only time is compared):

- cached: the head trains on base features computed once per image and flip;
- images: the same phase fed the images every epoch (the cache switched off).

Run: ``nice -n 10 python -m bench.features_bench [--train-size 160] [--epochs 3]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench._record import record_section
from core import settings

FFHQ = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"


def _seeded_weights(folder: Path, image_size: int) -> Path:
    import h5py
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.Xception(
        include_top=False, weights=None, input_shape=(image_size, image_size, 3)
    )
    path = folder / "seeded_xception_notop.h5"
    with h5py.File(path, "w") as file:  # Keras's legacy topological layout
        file.attrs["layer_names"] = [layer.name.encode() for layer in base.layers]
        for layer in base.layers:
            group = file.create_group(layer.name)
            names = [f"weight{i}" for i in range(len(layer.weights))]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, value in zip(names, layer.get_weights(), strict=True):
                group.create_dataset(name, data=value)
    return path


def main(argv: list[str] | None = None) -> None:
    """Time both runs, print the table and record it in docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="features-bench-"))
    os.environ[settings.ARTIFACTS_ENV] = str(folder)
    settings.enable_onednn()
    from core.runs import run_folders
    from core.runs.config import TrainConfig
    from core.training import features, trainer

    config = TrainConfig(
        model="xception", data_dir=str(FFHQ), image_size=128, train_size=args.train_size,
        val_size=60, test_size=20, epochs=args.epochs, early_stopping_patience=args.epochs + 1,
        weights_path=str(_seeded_weights(folder, 128)), seed=0,
    )  # fmt: skip
    results = {}
    original = features.fit_frozen
    for mode in ("images", "cached"):
        features.fit_frozen = original if mode == "cached" else (lambda *args, **kwargs: None)
        result = trainer.train(config)
        history = run_folders.read_json(result.run_dir / "history.json")
        results[mode] = (result.metrics["train_seconds"], history["epoch_seconds"])
    features.fit_frozen = original
    rows = ["| frozen phase fed | fit s (features included) | epoch seconds |", "|---|---|---|"]
    for mode, (total, epochs) in results.items():
        rows.append(f"| {mode} | {total:.0f} | {', '.join(f'{s:.1f}' for s in epochs)} |")
    later = [sum(results[m][1][1:]) / max(1, len(results[m][1]) - 1) for m in results]
    markdown = "\n".join(
        [
            "## Xception's frozen phase on cached base features (`bench.features_bench`)",
            "",
            f"Shared FFHQ/StyleGAN2 split, {args.train_size} Train + 60 Validation images at "
            f"128 px, batch 32, {args.epochs} epochs, augmentation on (features cached for "
            "each image and its mirror). The pre-trained base is built from a fixed seed "
            "(the real ImageNet weights cannot be downloaded here): accuracy is not "
            "compared, only time. The cached run's first epoch is its head's; computing "
            "the features happens before it (in *fit s*).",
            "",
            *rows,
            "",
            f"Epochs after the first: {later[0]:.2f} s fed images, {later[1]:.2f} s on "
            f"cached features ({later[0] / max(later[1], 1e-9):.0f}x).",
        ]
    )
    print(markdown)
    record_section("features", markdown)


if __name__ == "__main__":
    main()
