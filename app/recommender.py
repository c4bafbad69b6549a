"""The serving pipeline in plain Python: retrieve -> exclude seen -> rank -> cut to k, with an explicit
fallback to popular items. Model math happens behind the ``Scorer`` protocol (``app.backend`` in
production, a numpy fake in tests), always on arrays of rows, never on vocabulary indices from outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from app.artifacts import Catalog

Strategy = Literal["personalized", "popular"]


class Scorer(Protocol):
    def retrieve(self, user_rows: np.ndarray, n: int) -> np.ndarray:
        """(B,) user rows -> (B, n) item rows, best first (approximate nearest neighbours)."""

    def rank(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        """(B,) user rows and (B, N) item rows -> (B, N) predicted ratings."""

    def session_scores(self, sessions: list[list[str]]) -> np.ndarray:
        """Known session item ids, oldest first -> (B, n_session_items) next-item scores."""


class UnknownIdError(LookupError):
    def __init__(self, kind: Literal["user", "item"], value: str) -> None:
        super().__init__(f"unknown {kind} {value!r}")
        self.kind = kind
        self.value = value


@dataclass(frozen=True)
class ScoredItem:
    item_id: str
    score: float
    title: str | None


@dataclass(frozen=True)
class Recommendation:
    strategy: Strategy
    items: list[ScoredItem]
    unknown_items: list[str] | None = None


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; ties keep index order."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


class Recommender:
    def __init__(self, catalog: Catalog, scorer: Scorer, candidates: int = 100) -> None:
        self.catalog = catalog
        self.scorer = scorer
        self.candidates = candidates
        self.session_max_history = int(catalog.manifest["serving"]["session_max_history"])

    @property
    def version(self) -> str:
        return self.catalog.version

    def _items(self, ids: np.ndarray, scores: np.ndarray) -> list[ScoredItem]:
        titles = self.catalog.titles
        return [ScoredItem(item_id=item, score=float(score), title=titles.get(item) or None)
                for item, score in zip(ids.tolist(), scores.tolist(), strict=True)]

    def popular(self, k: int) -> Recommendation:
        rows = self.catalog.popular_rows[:k]
        return Recommendation("popular", self._items(self.catalog.item_ids[rows], self.catalog.popularity[rows]))

    def recommend(self, user_id: str, k: int) -> Recommendation:
        catalog = self.catalog
        user_row = catalog.user_rows.get(user_id)
        if user_row is None:
            return self.popular(k)
        seen = catalog.seen(user_row)
        # Ask ScaNN for enough neighbours that `candidates` remain after removing the seen ones.
        n = min(len(catalog.item_ids), self.candidates + len(seen))
        retrieved = self.scorer.retrieve(np.array([user_row]), n)[0]
        candidates = retrieved[~np.isin(retrieved, seen)][: max(self.candidates, k)]
        if len(candidates) < k:  # tiny catalogs or heavy users: top up with popular unseen items
            extra = catalog.popular_rows[~np.isin(catalog.popular_rows, np.concatenate([seen, candidates]))]
            candidates = np.concatenate([candidates, extra[: k - len(candidates)]])
        if not len(candidates):
            return Recommendation("personalized", [])
        ratings = self.scorer.rank(np.array([user_row]), candidates[np.newaxis, :])[0]
        best = top_rows(ratings, k)
        return Recommendation("personalized", self._items(catalog.item_ids[candidates[best]], ratings[best]))

    def next_items(self, items: list[str], k: int) -> Recommendation:
        rows = self.catalog.session_item_rows
        known = [item for item in items if item in rows]
        unknown = list(dict.fromkeys(item for item in items if item not in rows))
        if not known:
            popular = self.catalog.session_popular_rows[:k]
            return Recommendation("popular", self._items(self.catalog.session_item_ids[popular],
                                                         self.catalog.session_popularity[popular]), unknown)
        scores = self.scorer.session_scores([known[-self.session_max_history:]])[0]
        best = top_rows(scores, k)
        return Recommendation("personalized", self._items(self.catalog.session_item_ids[best], scores[best]), unknown)

    def predict_ratings(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Ratings for (user, item) pairs; an unknown user or item fails the whole request."""
        user_rows, item_rows = [], []
        for user_id, item_id in pairs:
            if user_id not in self.catalog.user_rows:
                raise UnknownIdError("user", user_id)
            if item_id not in self.catalog.item_rows:
                raise UnknownIdError("item", item_id)
            user_rows.append(self.catalog.user_rows[user_id])
            item_rows.append(self.catalog.item_rows[item_id])
        ratings = self.scorer.rank(np.array(user_rows), np.array(item_rows)[:, np.newaxis])[:, 0]
        return [float(rating) for rating in ratings]
