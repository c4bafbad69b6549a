"""The ScaNN index over candidate-tower item embeddings (the ``scann_ops_pybind`` searcher, no TF ops).

Settings follow the ScaNN README's recipe, scaled to the catalog: a partitioning tree only pays off
on large catalogs (below ``TREE_MIN_ITEMS`` every query scans all items, which costs microseconds),
asymmetric hashing scores the scanned items, and the top ``reorder`` are re-scored exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from scann import scann_ops_pybind

from models.artifact_format import SCANN_REORDER

TREE_MIN_ITEMS = 20_000


@contextmanager
def _native_logs_dropped() -> Iterator[None]:
    """ScaNN logs through absl's C++ logging, which Python cannot configure: where TensorFlow's native
    logs are off (``recsys-train`` without ``--log-level debug``), its lines to stderr are dropped too."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        yield
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def build_searcher(embeddings: np.ndarray, num_neighbors: int = 100, leaves_to_search_fraction: float = 0.1,
                   reorder: int = SCANN_REORDER) -> scann_ops_pybind.ScannSearcher:
    """Dot-product searcher over ``embeddings`` (n, d); neighbour ids are row numbers."""
    n_items = len(embeddings)
    builder = scann_ops_pybind.builder(np.ascontiguousarray(embeddings, dtype=np.float32),
                                       min(num_neighbors, n_items), "dot_product")
    if n_items >= TREE_MIN_ITEMS:
        leaves = int(math.sqrt(n_items))
        builder = builder.tree(num_leaves=leaves, num_leaves_to_search=max(1, int(leaves * leaves_to_search_fraction)),
                               training_sample_size=min(n_items, 250_000))
    with _native_logs_dropped():
        return builder.score_ah(2, anisotropic_quantization_threshold=0.2).reorder(min(reorder, n_items)).build()
