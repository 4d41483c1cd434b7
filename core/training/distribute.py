"""Where a run trains: one CPU, one or several GPUs, or several machines.

:func:`distribution_strategy` picks the ``tf.distribute`` strategy:

- ``TF_CONFIG`` set with a cluster of two or more tasks: one
  ``MultiWorkerMirroredStrategy`` shared by every worker (each machine runs the same
  ``python -m core.train ...`` with its own ``TF_CONFIG``; see the README's
  "Training on several machines");
- several visible GPUs (or several logical CPUs): ``MirroredStrategy`` over them;
- else TensorFlow's default strategy (one GPU when TensorFlow sees one, else the CPU).

Only the chief writes the run folder: :func:`run_folder` hands every other worker a
throwaway temporary folder (deleted when it exits), as Keras' multi-worker guide does.
The chief is the task of type ``chief``, or worker 0 when the cluster has no chief.

Batches are split by data, not by file: every worker reads the same files in the same
seeded order and keeps its share of each batch (``AutoShardPolicy.DATA``), so
``batch_size`` is the global batch and an epoch has the same steps as on one machine.

Keras 3 (3.15) does not run ``fit`` under ``MultiWorkerMirroredStrategy`` as shipped
(keras-team/keras#20585): it reduces a whole data batch, then per-step scalar logs,
with calls that strategy does not accept. :func:`_patch_keras` corrects those two
calls in-process, only once a multi-worker strategy exists.

:func:`devices_used` records what a run trained on; :func:`devices_text` says it in
words for the Train page. This module imports TensorFlow only inside functions.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from core import settings
from core.runs import run_folders
from core.training import precision

logger = logging.getLogger(__name__)

TF_CONFIG_ENV = "TF_CONFIG"
#: The jobs of a TF_CONFIG cluster that train (an "evaluator" or "ps" job is not supported).
TRAINING_JOBS = ("chief", "worker")

#: The one multi-worker strategy of this process (TensorFlow allows one, made first).
_multi_worker: Any = None
#: How long a finished worker waits for the others before it exits (:func:`exit_process`).
EXIT_BARRIER_S = 120


class DistributeError(ValueError):
    """TF_CONFIG is set but cannot be used; the message is one sentence for the user."""


@dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker cluster, from ``TF_CONFIG``.

    Attributes:
        workers: tasks that train (the chief, if any, plus the workers).
        task_type: ``chief`` or ``worker``.
        task_index: this task's index within its type.
        has_chief: the cluster names a ``chief`` task.
    """

    workers: int
    task_type: str
    task_index: int
    has_chief: bool

    @property
    def is_chief(self) -> bool:
        """The task that writes the run folder: ``chief``, else worker 0."""
        if self.task_type == "chief":
            return True
        return not self.has_chief and self.task_type == "worker" and self.task_index == 0


def _tf_config_problem(value: Any) -> str | None:
    """What is wrong with a parsed TF_CONFIG (None when it is usable)."""
    if not isinstance(value, dict) or not isinstance(value.get("cluster"), dict):
        return 'it has no "cluster" object'
    cluster, task = value["cluster"], value.get("task")
    others = sorted(set(cluster) - set(TRAINING_JOBS))
    if others:
        return f"its cluster names {', '.join(others)}; only chief and worker jobs are supported"
    jobs = {name: cluster.get(name, []) for name in TRAINING_JOBS}
    if not all(
        isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
        for hosts in jobs.values()
    ):
        return 'each job of its cluster must be a list of "host:port" strings'
    if len(jobs["chief"]) > 1:
        return "its cluster has more than one chief"
    if not isinstance(task, dict) or task.get("type") not in TRAINING_JOBS:
        return 'its "task" must have a "type" of chief or worker'
    index = task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return 'its task "index" must be a whole number'
    if index >= len(jobs[task["type"]]):
        return f"task {task['type']} {index} is not in its cluster"
    return None


def parse_tf_config(text: str | None) -> Cluster | None:
    """This process's :class:`Cluster` from a ``TF_CONFIG`` value.

    Args:
        text: the variable's value (None or blank: not set).

    Returns:
        The cluster, or None when training stays on this machine (not set, or a
        cluster of one task).

    Raises:
        DistributeError: the value is not JSON or not a chief/worker cluster.
    """
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        problem = f"it is not valid JSON ({error.msg} at character {error.pos})"
    else:
        problem = _tf_config_problem(value)
    if problem is not None:
        raise DistributeError(
            f"{TF_CONFIG_ENV} cannot be used: {problem}; see the README's "
            '"Training on several machines", or unset it to train on this machine.'
        )
    chief, workers = value["cluster"].get("chief", []), value["cluster"].get("worker", [])
    task = value["task"]
    if len(chief) + len(workers) < 2:
        return None
    return Cluster(len(chief) + len(workers), task["type"], task.get("index", 0), bool(chief))


def cluster_from_env() -> Cluster | None:
    """:func:`parse_tf_config` of this process's ``TF_CONFIG``."""
    return parse_tf_config(os.environ.get(TF_CONFIG_ENV))


def multi_worker_strategy() -> Any:
    """This process's ``MultiWorkerMirroredStrategy`` (made once, before any other TF op).

    It reads the cluster from ``TF_CONFIG``. Every dataset it distributes is split
    by data (see the module docstring), and Keras is patched for it (:func:`_patch_keras`).
    """
    global _multi_worker
    if _multi_worker is None:
        import tensorflow as tf

        hosts = json.loads(os.environ[TF_CONFIG_ENV])["cluster"]
        logger.info("waiting for every worker of TF_CONFIG's cluster to start: %s", hosts)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        distribute = strategy.experimental_distribute_dataset

        def distribute_by_data(dataset: Any, options: Any = None) -> Any:
            data_options = tf.data.Options()
            data_options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.DATA
            )
            return distribute(dataset.with_options(data_options), options)

        strategy.experimental_distribute_dataset = distribute_by_data
        _patch_keras()
        _multi_worker = strategy
    return _multi_worker


def _first_local(strategy: Any, values: Any) -> Any:
    """Each distributed value of a structure replaced by its first local one."""
    import tensorflow as tf
    from keras.src import tree

    def first(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return tree.map_structure(first, values)


def _patch_keras() -> None:
    """Let Keras 3's TensorFlow trainer ``fit`` under MultiWorkerMirroredStrategy.

    Two calls fail there (keras-team/keras#20585): the symbolic build reduces a data
    batch (a tuple, which the strategy's ``reduce`` refuses) only to learn its
    shapes, so the first local batch stands in; and the per-step logs, scalars, are
    averaged "along axis 0", so scalars are averaged whole. The epoch's logs come
    from the metrics' own cross-worker aggregation either way.
    """
    from keras import version as keras_version
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_deepfake_patched", False):
        return
    if not hasattr(trainer, "reduce_per_replica") or not hasattr(
        trainer.TensorFlowTrainer, "_maybe_symbolic_build"
    ):  # a Keras whose trainer differs from 3.10-3.15's: leave it as it is
        logger.warning("Keras %s: multi-worker fit not patched", keras_version())
        return
    reduce_per_replica = trainer.reduce_per_replica
    maybe_symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    def symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        strategy = self.distribute_strategy
        if strategy is not _multi_worker:
            return maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = _first_local(strategy, next(batches))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce(values: Any, strategy: Any, reduction: str = "auto") -> Any:
        if reduction not in ("auto", "mean") or strategy is not _multi_worker:
            return reduce_per_replica(values, strategy, reduction)

        def mean(value: Any) -> Any:
            scalar = not _first_local(strategy, value).shape.rank
            return strategy.reduce("MEAN", value, axis=None if scalar else 0)

        return tree.map_structure(mean, values)

    trainer.TensorFlowTrainer._maybe_symbolic_build = symbolic_build
    trainer.reduce_per_replica = reduce
    trainer._deepfake_patched = True


def distribution_strategy() -> Any:
    """The strategy to build and fit in (see the module docstring for the choice).

    Raises:
        DistributeError: ``TF_CONFIG`` is set but unusable.
    """
    if cluster_from_env() is not None:
        return multi_worker_strategy()
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    return tf.distribute.get_strategy()


def choose_precision(has_gpu: bool, default: str = "float32") -> settings.PrecisionChoice:
    """:func:`core.settings.choose_precision`, but ``auto`` is float32 across machines.

    ``auto`` decides per machine (its CPU flags, a GPU, bfloat16 timed against
    float32 by :mod:`core.training.precision`); workers that decided
    differently would build different graphs and never meet in their collectives.
    An explicit ``float32`` or ``mixed_bfloat16`` is the same on every worker.
    """
    if cluster_from_env() is not None and settings.asked_precision(default) == "auto":
        logger.info("%s=auto trains in float32 on several machines", settings.PRECISION_ENV)
        return settings.PrecisionChoice("float32", "auto: float32 on several machines")
    return settings.choose_precision(
        has_gpu, default=default, time_bfloat16=precision.bfloat16_timing
    )


def training_precision(has_gpu: bool, default: str = "float32") -> str:
    """The precision half of :func:`choose_precision`."""
    return choose_precision(has_gpu, default).precision


def run_folder(run_dir: Path | str | None, model: str) -> Path:
    """The folder this process writes the run into.

    On several machines it first makes the multi-worker strategy (TensorFlow wants
    it before any other op). The chief, or a process training alone, gets
    ``run_dir`` (None: a new ``<model>_<timestamp>`` folder); any other worker gets
    a temporary folder, deleted when the process exits.

    Raises:
        DistributeError: ``TF_CONFIG`` is set but unusable.
    """
    cluster = cluster_from_env()
    if cluster is not None:
        multi_worker_strategy()
        if not cluster.is_chief:
            scratch = Path(
                tempfile.mkdtemp(prefix=f"deepfake-{cluster.task_type}{cluster.task_index}-")
            )
            atexit.register(shutil.rmtree, scratch, ignore_errors=True)
            logger.info(
                "%s %d of a %d-worker cluster: the chief writes the run; this worker's "
                "files go to %s (deleted at exit)",
                cluster.task_type,
                cluster.task_index,
                cluster.workers,
                scratch,
            )
            (scratch / model).mkdir()
            return scratch / model
    return Path(run_dir) if run_dir else run_folders.new_run_dir(model)


def exit_process(code: int) -> NoReturn:
    """End ``python -m core.train`` with ``code``.

    After a multi-worker run the workers first wait for each other (at most
    :data:`EXIT_BARRIER_S`), then leave without TensorFlow's own teardown: with
    the cluster's coordination service inside it, that teardown took from 10 s to
    over a minute, or never ended, on a busy machine. Everything the run wrote is
    closed by then; the exit handlers still run (a non-chief's temporary folder goes).
    """
    if _multi_worker is None:
        sys.exit(code)
    if code == 0:
        from tensorflow.python.eager import context

        try:
            context.context().wait_at_barrier("deepfake-train-exit", EXIT_BARRIER_S * 1000)
        except Exception as error:  # a worker that failed or left: exit all the same
            logger.warning("not every worker reached the end: %s", error)
    atexit._run_exitfuncs()  # what a normal exit runs: temporary folders, log handlers
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _device_label(name: str) -> str:
    """``/job:worker/replica:0/task:1/device:GPU:0`` -> ``GPU:0 (NVIDIA ...)``; a CPU: ``CPU``."""
    import tensorflow as tf

    kind, _, index = name.rpartition("device:")[2].partition(":")
    if kind != "GPU":
        return kind
    gpus = tf.config.list_physical_devices("GPU")
    try:
        details = tf.config.experimental.get_device_details(gpus[int(index)])
    except (IndexError, ValueError, RuntimeError):
        details = {}
    model = details.get("device_name")
    return f"GPU:{index} ({model})" if model else f"GPU:{index}"


def devices_used(strategy: Any) -> dict[str, Any]:
    """What a run trains on, for status.json and metrics.json.

    Returns:
        ``devices_used``: this process's devices (``["CPU"]``, ``["GPU:0 (NVIDIA ...)"]``,
        one entry per mirrored device); ``workers``: the machines training together
        (each is assumed to have devices like the chief's).
    """
    import tensorflow as tf

    cluster = cluster_from_env()
    workers = cluster.workers if cluster is not None and strategy is _multi_worker else 1
    if workers > 1:
        names = list(strategy.extended.worker_devices)
    else:
        try:
            names = list(strategy.extended.worker_devices)
        except RuntimeError:  # the default strategy: one device
            names = [gpu.name for gpu in tf.config.list_logical_devices("GPU")[:1]] or ["CPU:0"]
    return {"devices_used": [_device_label(name) for name in names], "workers": workers}


def devices_text(record: dict[str, Any] | None) -> str:
    """``1 CPU``, ``2 GPUs (NVIDIA ...)``, ``2 workers x 1 CPU``; empty for older runs.

    Args:
        record: a run's metrics.json or status.json contents.
    """
    used = (record or {}).get("devices_used")
    if not isinstance(used, list) or not used:
        return ""
    kinds = Counter(str(label).partition(":")[0].partition(" ")[0] for label in used)
    parts = []
    for kind, count in kinds.items():
        names = {
            str(label).partition(" (")[2].rstrip(")")
            for label in used
            if str(label).startswith(kind)
        }
        named = f" ({', '.join(sorted(n for n in names if n))})" if any(names) else ""
        parts.append(f"{count} {kind}{'s' if count > 1 else ''}{named}")
    local = " + ".join(parts)
    workers = record.get("workers")
    return f"{workers} workers x {local}" if isinstance(workers, int) and workers > 1 else local
