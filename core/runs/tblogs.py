"""TensorBoard logs of a training run, for people who already use TensorBoard.

Each run writes scalar logs (loss, accuracy, AUC, train and validation, per epoch)
under ``<run folder>/tensorboard/``; ``tensorboard --logdir artifacts/runs`` shows
every run side by side. Only scalars: no graph, histograms or profiling, which would
slow training and fill the disk.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras

logger = logging.getLogger(__name__)

LOG_DIR = "tensorboard"


def callbacks(run_dir: Path) -> list[keras.callbacks.Callback]:
    """The TensorBoard callback of a run (none when the ``tensorboard`` package is missing).

    Args:
        run_dir: the run folder; logs go to its ``tensorboard/`` subfolder.
    """
    try:
        import tensorboard  # noqa: F401 - tf.summary needs it to write anything
    except ImportError:
        logger.warning("tensorboard is not installed: no TensorBoard logs for %s", run_dir.name)
        return []
    return [
        keras.callbacks.TensorBoard(
            log_dir=str(Path(run_dir) / LOG_DIR),
            histogram_freq=0,
            write_graph=False,
            write_images=False,
            update_freq="epoch",
            profile_batch=0,
        )
    ]
