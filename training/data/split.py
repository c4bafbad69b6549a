"""Held-out splits of rating data: test for the report, validation (inside training) for early stopping.

A split that ships with the data (ML-100K ``u1.base``/``u1.test``) is used as given, so figures
compare with published ones; otherwise a random split with a fixed seed, or a temporal one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from training.data.dataset import RatingData

SplitMethod = Literal["random", "temporal"]


@dataclass(frozen=True)
class RatingSplit:
    train: pd.DataFrame  # everything a final model may learn from
    test: pd.DataFrame
    fit: pd.DataFrame  # train minus validation: what models are fitted on
    validation: pd.DataFrame  # carved out of train; picks epochs and hyperparameters, never test

    def describe(self) -> dict[str, int]:
        sizes = {name: len(getattr(self, name)) for name in ("train", "test", "fit", "validation")}
        return {**sizes, "test_users": int(self.test["user_id"].nunique())}


def _holdout(frame: pd.DataFrame, fraction: float, method: SplitMethod, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    if method == "temporal":
        order = np.argsort(frame["timestamp"].to_numpy(), kind="stable")
    else:
        order = np.random.default_rng(seed).permutation(len(frame))
    n_test = int(round(len(frame) * fraction))
    cut = len(frame) - n_test
    kept, held = np.sort(order[:cut]), np.sort(order[cut:])
    return frame.iloc[kept].reset_index(drop=True), frame.iloc[held].reset_index(drop=True)


def split_ratings(data: RatingData, method: SplitMethod = "random", test_fraction: float = 0.2,
                  validation_fraction: float = 0.1, seed: int = 42) -> RatingSplit:
    if data.test_interactions is not None:
        train, test = data.interactions.reset_index(drop=True), data.test_interactions.reset_index(drop=True)
    else:
        train, test = _holdout(data.interactions, test_fraction, method, seed)
    fit, validation = _holdout(train, validation_fraction, method, seed + 1)
    return RatingSplit(train=train, test=test, fit=fit, validation=validation)
