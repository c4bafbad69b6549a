"""The serving pipeline in plain Python: the two-stage order of ``models.two_stage`` (the one the
trainer evaluates) for known users, with an explicit fallback to popular items. Each method serves a
batch of requests with one call per model stage (see ``app.batching``); model math happens behind
the ``Scorer`` protocol (``app.backend`` in production, a numpy fake in tests), on arrays of rows,
never on vocabulary indices from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from app.artifacts import Catalog
from app.timing import StageTimes
from models.selection import top_columns
from models.two_stage import CandidateScorer, TwoStage

Strategy = Literal["personalized", "popular"]
RatingPairs = list[tuple[str, str]]


class Scorer(CandidateScorer, Protocol):
    def session_scores(self, sessions: list[list[str]]) -> np.ndarray:
        """Known session item ids, oldest first -> (B, n_session_items) next-item scores."""


class UnknownIdError(LookupError):
    def __init__(self, kind: Literal["user", "item"], value: str) -> None:
        super().__init__(f"unknown {kind} {value!r}")
        self.kind = kind
        self.value = value

    def __reduce__(self) -> tuple:  # crosses from the model process by pickle
        return UnknownIdError, (self.kind, self.value)


# One recommended item, already in the shape of ``schemas.RecommendedItem``: building JSON-ready dicts
# here once is what lets the route serialize with orjson instead of constructing pydantic objects.
Item = dict[str, str | float | None]


@dataclass(frozen=True)
class Recommendation:
    strategy: Strategy
    items: list[Item]
    unknown_items: list[str] | None = None


class Recommender:
    def __init__(self, catalog: Catalog, scorer: Scorer, candidates: int = 100) -> None:
        self.catalog = catalog
        self.scorer = scorer
        serving = catalog.manifest["serving"]
        self.session_max_history = int(serving["session_max_history"])
        self.two_stage = TwoStage(scorer, catalog.seen, catalog.popular_rows, mix=catalog.mix,
                                  temperature=float(serving["retrieval_temperature"]), candidates=candidates)
        self.in_flight = 0  # requests accepted with this version and not yet answered (event loop only)

    @property
    def version(self) -> str:
        return self.catalog.version

    @property
    def path(self) -> Path:
        return self.catalog.path

    @property
    def manifest(self) -> dict:
        return self.catalog.manifest

    def unavailable(self) -> str | None:
        """Why this version cannot answer right now, or None when it can."""
        return None

    def retire(self) -> None:
        """Another version became current; this one goes once no request uses it (``in_flight``)."""

    def _items(self, ids: np.ndarray, scores: np.ndarray, ratings: np.ndarray | None = None) -> list[Item]:
        titles = self.catalog.titles
        ratings_list = ratings.tolist() if ratings is not None else [None] * len(ids)
        return [{"item_id": item, "score": score, "title": titles.get(item) or None, "rating": rating}
                for item, score, rating in zip(ids.tolist(), scores.astype(float).tolist(), ratings_list,
                                               strict=True)]

    def popular(self, k: int) -> Recommendation:
        rows = self.catalog.popular_rows[:k]
        return Recommendation("popular", self._items(self.catalog.item_ids[rows], self.catalog.popularity[rows]))

    def recommend_batch(self, requests: Sequence[tuple[str, int]], times: StageTimes) -> list[Recommendation]:
        """(user_id, k) requests; known users get ranked ScaNN candidates, unknown users popular items."""
        catalog = self.catalog
        results: list[Recommendation | None] = [None] * len(requests)
        personal = [(position, catalog.user_rows[user], k) for position, (user, k) in enumerate(requests)
                    if user in catalog.user_rows]
        for position, (user, k) in enumerate(requests):
            if user not in catalog.user_rows:
                results[position] = self.popular(k)
        if personal:
            ranked = self.two_stage.recommend(np.array([row for _, row, _ in personal]), [k for _, _, k in personal],
                                              stage=times.stage)
            ids = catalog.item_ids[ranked.rows]
            for j, (position, _, k) in enumerate(personal):
                k = min(k, int(ranked.lengths[j]))
                results[position] = Recommendation("personalized",
                                                   self._items(ids[j, :k], ranked.scores[j, :k], ranked.ratings[j, :k]))
        return results

    def next_items_batch(self, requests: Sequence[tuple[list[str], int]], times: StageTimes) -> list[Recommendation]:
        """(session item ids, k) requests; unknown items are skipped and reported."""
        catalog = self.catalog
        rows = catalog.session_item_rows
        results: list[Recommendation] = []
        personal: list[tuple[int, list[str]]] = []
        for position, (items, k) in enumerate(requests):
            known = [item for item in items if item in rows]
            unknown = list(dict.fromkeys(item for item in items if item not in rows))
            popular = catalog.session_popular_rows[:k]
            results.append(Recommendation("popular", self._items(catalog.session_item_ids[popular],
                                                                 catalog.session_popularity[popular]), unknown))
            if known:
                personal.append((position, known[-self.session_max_history:]))
        if personal:
            with times.stage("session_model"):
                scores = self.scorer.session_scores([known for _, known in personal])
            with times.stage("select"):
                best = top_columns(scores, max(requests[position][1] for position, _ in personal))
                ids, scores = catalog.session_item_ids[best], np.take_along_axis(scores, best, axis=1)
                for j, (position, _) in enumerate(personal):
                    k = requests[position][1]
                    results[position] = Recommendation("personalized", self._items(ids[j, :k], scores[j, :k]),
                                                       results[position].unknown_items)
        return results

    def _first_unknown(self, pairs: RatingPairs) -> UnknownIdError | None:
        for user, item in pairs:
            if user not in self.catalog.user_rows:
                return UnknownIdError("user", user)
            if item not in self.catalog.item_rows:
                return UnknownIdError("item", item)
        return None

    def predict_batch(self, requests: Sequence[RatingPairs], times: StageTimes) -> list[list[float] | UnknownIdError]:
        """Lists of (user, item) pairs; a request naming an unknown user or item gets that error alone."""
        catalog = self.catalog
        results: list[list[float] | UnknownIdError] = []
        user_rows: list[int] = []
        item_rows: list[int] = []
        for pairs in requests:
            unknown = self._first_unknown(pairs)
            results.append(unknown or [])
            if unknown is None:
                user_rows += [catalog.user_rows[user] for user, _ in pairs]
                item_rows += [catalog.item_rows[item] for _, item in pairs]
        if user_rows:
            with times.stage("rank"):
                ratings = self.scorer.rank(np.array(user_rows), np.array(item_rows)[:, np.newaxis])[:, 0].tolist()
            for position, pairs in enumerate(requests):
                if isinstance(results[position], list):
                    results[position], ratings = ratings[: len(pairs)], ratings[len(pairs):]
        return results
