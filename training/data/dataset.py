"""The canonical in-memory form that every loader produces and the rest of the pipeline consumes.

Ids are strings everywhere outside the models (``"u1"``, ``"i42"``, ``"196"``); the mapping to
vocabulary indices is built from training data only (see ``training.vocab``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

INTERACTION_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
ITEM_COLUMNS = ["item_id", "title", "genres"]
USER_COLUMNS = ["user_id", "age", "gender", "occupation"]
CLICK_COLUMNS = ["session_id", "item_id", "timestamp"]


class DataFormatError(ValueError):
    """A data file that does not have the expected shape; the message names file, line and problem."""


@dataclass(frozen=True)
class RatingData:
    """Explicit feedback with optional side information.

    interactions: ``user_id`` (str), ``item_id`` (str), ``rating`` (float), ``timestamp`` (int64, Unix s); the
        ids may be categoricals of str with sorted categories (the Parquet loader's, for large logs).
    items: one row per item: ``item_id`` (str), ``title`` (str), ``genres`` (list[str]); may be empty.
    users: one row per user: ``user_id`` (str), ``age`` (float, NaN if unknown), then any categorical
        feature columns (str, "" if unknown; MovieLens and the synthetic data have ``gender`` and
        ``occupation``); may be empty.
    test_interactions: a split that ships with the data (ML-100K ``u1.test``); ``interactions`` is
        then its training part. None when the split is ours to make.
    rating_range: the smallest and largest rating the scale allows.
    notes: what loading changed and why (refused rows, merged duplicates, an inferred scale).
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    rating_range: tuple[float, float]
    test_interactions: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        frame = self.all_interactions()
        return {
            "name": self.name,
            "interactions": len(frame),
            "users": int(frame["user_id"].nunique()),
            "items": int(frame["item_id"].nunique()),
            "rating_range": list(self.rating_range),
            "predefined_split": self.test_interactions is not None,
            "checks": list(self.notes),
        }

    def all_interactions(self) -> pd.DataFrame:
        if self.test_interactions is None:
            return self.interactions
        return pd.concat([self.interactions, self.test_interactions], ignore_index=True)


@dataclass(frozen=True)
class SessionData:
    """Click sequences: ``session_id`` (str), ``item_id`` (str), ``timestamp`` (float, Unix s).

    test_clicks: a prepared split (GRU4Rec's ``_test`` file), or None when the split is ours to make.
    notes: what loading changed and why (dropped repeats, clicks outside the served catalog).
    """

    name: str
    clicks: pd.DataFrame
    test_clicks: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        frame = self.clicks if self.test_clicks is None else pd.concat([self.clicks, self.test_clicks])
        return {
            "name": self.name,
            "clicks": len(frame),
            "sessions": int(frame["session_id"].nunique()),
            "items": int(frame["item_id"].nunique()),
            "predefined_split": self.test_clicks is not None,
            "checks": list(self.notes),
        }
