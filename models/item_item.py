"""Item-to-item scores, in numpy: score(u, ·) = X_u · W, where X_u is the user's seen items and W an
(n_items, n_items) weight matrix in item rows (EASE's, Steck 2019, as the trainer fits it). One
implementation for the trainer's evaluation and the server's candidate generation.

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

import numpy as np

from models.selection import SeenItems

# Largest catalog whose weight matrix is served: n² float32 is 400 MB at 10,000 items. Above it the
# trainer leaves the item-to-item source out of the served mix (and says so).
SERVE_MAX_ITEMS = 10_000


def item_item_scores(weights: np.ndarray, seen: SeenItems, user_rows: np.ndarray) -> np.ndarray:
    """(B,) user rows -> (B, n_items) float32: the sum of the weight rows of each user's seen items."""
    scores = np.zeros((len(user_rows), weights.shape[1]), dtype=np.float32)
    for position, user in enumerate(user_rows):
        items = seen.of(int(user))
        if len(items):
            scores[position] = weights[items].sum(axis=0)
    return scores
