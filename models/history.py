"""The ratings that stand beside a user's history items, for interactions that carry no rating.

The ranking model reads each history item with its rating (``models.features.UserEncoder``: the
rated-item term weighs items by their offset from the user's mean rating). A view, click or purchase
has no rating: it takes the user's mean over the ratings they gave (the mid-scale for a user who gave
none), so its offset is zero and it weighs in the history mean alone. One rule for the trainer
(``training.data.examples``) and the server (``app.history``).

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fill_unrated(ratings: Sequence[float], rating_range: tuple[float, float]) -> list[float]:
    """``ratings`` with every NaN (an interaction without a rating) replaced by the user's mean rating."""
    values = np.asarray(ratings, dtype=np.float64)
    rated = values[~np.isnan(values)]
    neutral = float(rated.mean()) if len(rated) else (rating_range[0] + rating_range[1]) / 2
    return np.where(np.isnan(values), neutral, values).tolist()
