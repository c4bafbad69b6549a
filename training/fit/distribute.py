"""Training on several workers with ``tf.distribute.MultiWorkerMirroredStrategy``.

Every worker runs the same ``recsys-train`` command with its own ``TF_CONFIG`` (the cluster's worker
addresses and this worker's index; ``recsys-train --workers N`` writes them for N local processes),
or plainer variables (``cluster_from_environment``).
Each worker loads the data and makes the same split, vocabularies and choices (they are deterministic);
the Keras fits of the rating stage (the two-tower retrieval model and the rating models) run on the
strategy: each worker feeds its own shard of the training rows (every ``workers``-th row from its index,
streamed from disk by ``TrainingRows.batches``; ``Cluster.shard`` for tables in memory) in batches of its
share of the global batch size, and the gradients of every step are summed across workers, so the
variables stay equal everywhere and a step learns from as many rows as on one worker. The chief (worker 0) alone
writes the artifact version.

Without a ``TF_CONFIG`` naming more than one worker, nothing here changes how training runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from training.data.examples import UserView, with_user_features
from training.data.training_rows import TrainingPart, TrainingRows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cluster:
    """This process's place among the training workers."""

    workers: int = 1
    index: int = 0
    addresses: tuple[str, ...] = ()  # host:port of every worker, in index order

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def distributed(self) -> bool:
        return self.workers > 1

    def shard(self, n_rows: int) -> slice:
        """The rows of an n-row table this worker trains on: every ``workers``-th row from its index, so
        the shards of all workers are disjoint and together cover the table. A slice, so that taking it
        from an array or frame is a view, not a copy (one worker's shard is the whole table)."""
        return slice(self.index, n_rows, self.workers)

    def local_batch(self, batch_size: int) -> int:
        """Each worker's share of a global batch of ``batch_size`` rows (one replica per worker)."""
        return max(batch_size // self.workers, 1)

    def steps(self, n_rows: int, batch_size: int) -> int:
        """Steps per epoch over an ``n_rows`` table, the same on every worker: the largest shard's."""
        return math.ceil(math.ceil(n_rows / self.workers) / self.local_batch(batch_size))

    def describe(self) -> dict[str, object]:
        strategy = "MultiWorkerMirroredStrategy" if self.distributed else "default (one process)"
        return {"strategy": strategy, "workers": self.workers}


def cluster_from_environment() -> Cluster:
    """The cluster that ``TF_CONFIG`` describes; without one, ``RECSYS_TRAIN_WORKERS`` (the workers'
    host:port, comma-separated, the same on every worker) with this worker's index in
    ``RECSYS_WORKER_INDEX`` or ``JOB_COMPLETION_INDEX`` (which a Kubernetes Indexed Job sets). One
    worker when neither is set."""
    if os.environ.get("TF_CONFIG"):
        config = json.loads(os.environ["TF_CONFIG"])
        addresses = list(config.get("cluster", {}).get("worker", []))
        task = config.get("task", {})
        if len(addresses) > 1 and task.get("type") != "worker":
            raise ValueError(f"TF_CONFIG's task must be one of the {len(addresses)} workers, got {task}")
        index = task.get("index", -1)
    elif os.environ.get("RECSYS_TRAIN_WORKERS"):
        addresses = [address.strip() for address in os.environ["RECSYS_TRAIN_WORKERS"].split(",") if address.strip()]
        index = os.environ.get("RECSYS_WORKER_INDEX", os.environ.get("JOB_COMPLETION_INDEX", ""))
        if not str(index).isdigit():
            raise ValueError("RECSYS_TRAIN_WORKERS needs this worker's index in RECSYS_WORKER_INDEX or "
                             "JOB_COMPLETION_INDEX")
    else:
        return Cluster()
    if len(addresses) <= 1:
        return Cluster()
    if not 0 <= int(index) < len(addresses):
        raise ValueError(f"the worker index must name one of the {len(addresses)} workers "
                         f"(0..{len(addresses) - 1}), got {index}")
    return Cluster(workers=len(addresses), index=int(index), addresses=tuple(addresses))


_cluster = Cluster()
_strategy: tf.distribute.Strategy | None = None


def start() -> Cluster:
    """Join the cluster ``TF_CONFIG`` names, before any other TensorFlow operation runs (the strategy
    must be created first); a no-op on one worker. Every worker must make the same calls in the same
    order from here on, so TensorFlow's ops are made deterministic: the validation metrics that decide
    early stopping are then equal on all workers."""
    global _cluster, _strategy
    cluster = cluster_from_environment()
    if cluster.distributed and _strategy is None:
        tf.config.experimental.enable_op_determinism()
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({"worker": list(cluster.addresses)}), task_type="worker", task_id=cluster.index)
        _strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver,
                                                              communication_options=options)
        log.info("worker %d of %d joined the cluster (%s)", cluster.index, cluster.workers,
                 "chief: it exports" if cluster.is_chief else "it trains, the chief exports")
    _cluster = cluster
    return cluster


def current() -> Cluster:
    return _cluster


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Where the models trained on the strategy are built and compiled."""
    if _strategy is None:
        yield
        return
    with _strategy.scope():
        yield


@dataclass(frozen=True)
class WorkerBatches:
    """This worker's training batches on the strategy, and the steps of an epoch over them (Keras cannot
    count a distributed dataset: it must be told)."""

    data: tf.distribute.DistributedDataset
    steps: int


TrainingBatches = tf.data.Dataset | WorkerBatches


def equal_steps(dataset: tf.data.Dataset, n_rows: int, batch_size: int) -> TrainingBatches:
    """``dataset``: batches of ``local_batch(batch_size)`` rows of this worker's shard of an ``n_rows``
    table, fed to the strategy as they are (``distribute_datasets_from_function``: TensorFlow neither
    shards nor re-batches them). Every worker must take the same number of steps per epoch (a step
    waits for all of them), so a shorter shard takes its last batch from its next shuffled pass."""
    if _strategy is None:
        return dataset
    steps = _cluster.steps(n_rows, batch_size)
    return WorkerBatches(_strategy.distribute_datasets_from_function(lambda _: dataset.repeat().take(steps)), steps)


def worker_batches(view: UserView, rows: TrainingRows, part: TrainingPart, batch_size: int, seed: int,
                   rated: bool = False, counts: np.ndarray | None = None) -> TrainingBatches:
    """Shuffled training batches of this worker's shard of a part's rows (``rated``: only those with a
    rating), streamed from disk with the view's user features (``with_user_features``): together, the
    workers' batches of a step hold about ``batch_size`` rows."""
    batches = rows.batches(part, rated, _cluster.local_batch(batch_size), seed, _cluster.shard(rows.count(part, rated)))
    batches = batches.map(with_user_features(view, counts), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    return equal_steps(batches, rows.count(part, rated), batch_size)
