"""Held-out splits of rating data: test for the report, validation (inside training) for early stopping.

A split that ships with the data (ML-100K ``u1.base``/``u1.test``) is used as given, so figures
compare with published ones; otherwise a random split with a fixed seed, or a temporal one.

A split is one byte per interaction (which part it is in), not copies of the interactions: the indexed
columns that models learn from are made once from the loaded log (``training.data.examples``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from training.data.dataset import RatingData

SplitMethod = Literal["random", "temporal"]
PartName = Literal["train", "test", "fit", "validation"]
FIT, VALIDATION, TEST = 0, 1, 2


@dataclass(frozen=True)
class RatingSplit:
    """Which part each row of ``RatingData.all_interactions()`` is in. train: everything a final model may
    learn from (fit and validation); fit: what models are fitted on; validation: carved out of train, picks
    epochs and hyperparameters, never test."""

    parts: np.ndarray  # (rows,) uint8: FIT, VALIDATION or TEST
    test_users: int  # distinct users in test, known in train or not

    def mask(self, part: PartName) -> np.ndarray:
        if part == "train":
            return self.parts != TEST
        return self.parts == {"fit": FIT, "validation": VALIDATION, "test": TEST}[part]

    def describe(self) -> dict[str, int]:
        fit, validation, test = np.bincount(self.parts, minlength=3).tolist()
        return {"train": fit + validation, "test": test, "fit": fit, "validation": validation,
                "test_users": self.test_users}


def _held_out(timestamps: np.ndarray, fraction: float, method: SplitMethod, seed: int) -> np.ndarray:
    """A mask of the rows held out: the latest ``fraction`` (temporal) or a random one."""
    if method == "temporal":
        order = np.argsort(timestamps, kind="stable")
    else:
        order = np.random.default_rng(seed).permutation(len(timestamps))
    held = np.zeros(len(timestamps), dtype=bool)
    held[order[len(timestamps) - int(round(len(timestamps) * fraction)):]] = True
    return held


def split_ratings(data: RatingData, method: SplitMethod = "random", test_fraction: float = 0.2,
                  validation_fraction: float = 0.1, seed: int = 42) -> RatingSplit:
    timestamps = data.interactions["timestamp"].to_numpy()
    if data.test_interactions is not None:
        parts = np.concatenate([np.full(len(timestamps), FIT, np.uint8),
                                np.full(len(data.test_interactions), TEST, np.uint8)])
        test_users = data.test_interactions["user_id"].nunique()
    else:
        test = _held_out(timestamps, test_fraction, method, seed)
        parts = np.where(test, TEST, FIT).astype(np.uint8)
        test_users = data.interactions["user_id"][test].nunique()
    train = np.flatnonzero(parts != TEST)
    parts[train[_held_out(timestamps[train], validation_fraction, method, seed + 1)]] = VALIDATION
    return RatingSplit(parts=parts, test_users=int(test_users))
