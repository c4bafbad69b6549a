"""Non-neural baselines, each a scorer with the contract of ``training.evaluate``: a batch of user
indices or histories in, scores of every item index (column 0 is padding) out."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def popularity_scorer(counts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The same scores for everyone: the training interaction counts."""

    def score(batch: np.ndarray) -> np.ndarray:
        return np.broadcast_to(counts, (len(batch), len(counts)))

    return score
