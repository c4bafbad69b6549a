"""The serving pipeline in plain Python: embed -> retrieve -> exclude seen -> rank -> cut to k, with an
explicit fallback to popular items. Each method serves a batch of requests with one call per model
stage (see ``app.batching``); model math happens behind the ``Scorer`` protocol (``app.backend`` in
production, a numpy fake in tests), on arrays of rows, never on vocabulary indices from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from app.artifacts import Catalog
from app.timing import StageTimes

Strategy = Literal["personalized", "popular"]
RatingPairs = list[tuple[str, str]]


class Scorer(Protocol):
    def query_embeddings(self, user_rows: np.ndarray) -> np.ndarray:
        """(B,) user rows -> (B, d) query-tower embeddings."""

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        """(B, d) queries -> (B, n) item rows, best first (approximate nearest neighbours)."""

    def similarities(self, queries: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        """(B, d) queries and (B, N) item rows -> (B, N) exact query . item embedding products."""

    def rank(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        """(B,) user rows and (B, N) item rows -> (B, N) predicted ratings."""

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


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """(B, n) -> (B, min(k, n)): each row's columns with the highest scores, best first, for the whole
    batch in a few numpy calls; ties within the top k keep column order."""
    k = min(k, scores.shape[1])
    top = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


class Recommender:
    def __init__(self, catalog: Catalog, scorer: Scorer, candidates: int = 100) -> None:
        self.catalog = catalog
        self.scorer = scorer
        self.candidates = candidates
        serving = catalog.manifest["serving"]
        self.session_max_history = int(serving["session_max_history"])
        # Final order of /recommend: retrieval logit + rating_weight x predicted rating, the weight
        # chosen on validation by the trainer (ordering by rating alone ranks poorly; see report.md).
        self.rating_weight = float(serving["rating_weight"])
        self.temperature = float(serving["retrieval_temperature"])
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

    def _unseen_candidates(self, user_rows: np.ndarray, retrieved: np.ndarray, wanted: int,
                           ks: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(B, wanted) of each user's first ``wanted`` unseen retrieved items, and how many of each row
        are real: rows that come up short (tiny catalogs, heavy users) are topped up with popular unseen
        items to at least k, then padded."""
        unseen = ~self.catalog.is_seen(user_rows, retrieved)  # (B, n)
        keep = unseen & (np.cumsum(unseen, axis=1) <= wanted)
        lengths = keep.sum(axis=1)
        if (lengths == wanted).all():  # the usual case, without a Python loop
            return retrieved[keep].reshape(len(user_rows), wanted), lengths
        rows = []
        for row, user in enumerate(user_rows):
            candidates = retrieved[row][keep[row]]
            if len(candidates) < ks[row]:
                popular = self.catalog.popular_rows
                extra = popular[~np.isin(popular, np.concatenate([self.catalog.seen(user), candidates]))]
                candidates = np.concatenate([candidates, extra[: ks[row] - len(candidates)]])
            rows.append(candidates)
        lengths = np.array([len(candidates) for candidates in rows])
        width = max(int(lengths.max()), 1)
        return np.stack([np.pad(candidates, (0, width - len(candidates))) for candidates in rows]), lengths

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
            user_rows = np.array([row for _, row, _ in personal])
            ks = [k for _, _, k in personal]
            wanted = max(self.candidates, *ks)
            # Ask ScaNN for enough neighbours that `wanted` remain after removing the seen ones.
            n = min(len(catalog.item_ids), wanted + int(catalog.seen_counts[user_rows].max()))
            with times.stage("embed"):
                queries = self.scorer.query_embeddings(user_rows)
            with times.stage("retrieve"):
                retrieved = self.scorer.search(queries, n)
            with times.stage("filter"):
                matrix, lengths = self._unseen_candidates(user_rows, retrieved, wanted, ks)  # padding: scored, dropped
            with times.stage("rank"):
                ratings = self.scorer.rank(user_rows, matrix)
                scores = self.scorer.similarities(queries, matrix) / self.temperature + self.rating_weight * ratings
            with times.stage("select"):
                scores[np.arange(scores.shape[1]) >= lengths[:, np.newaxis]] = -np.inf  # padding never wins
                best = top_columns(scores, max(ks))
                rows = np.take_along_axis(matrix, best, axis=1)
                ids, scores, ratings = (catalog.item_ids[rows], np.take_along_axis(scores, best, axis=1),
                                        np.take_along_axis(ratings, best, axis=1))
                for j, (position, _, k) in enumerate(personal):
                    k = min(k, int(lengths[j]))
                    results[position] = Recommendation("personalized",
                                                       self._items(ids[j, :k], scores[j, :k], ratings[j, :k]))
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
