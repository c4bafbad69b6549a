"""The serving pipeline in plain Python: the two-stage order of ``models.two_stage`` (the one the
trainer evaluates) for known users, with an explicit fallback to popular items. Each method serves a
batch of requests with one call per model stage (see ``app.batching``); model math happens behind
the ``Scorer`` protocol (``app.backend`` in production, a numpy fake in tests), on arrays of rows,
never on vocabulary indices from outside.

With an event log (``app.event_reader``), every batch first reads its users' events after the
version's cut-off: users with events are encoded anew from their history with the events applied
(``app.history``) and ranked by the same order, so the very next request reflects them; a user the
version does not know is served from their events alone (strategy "history").
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from app.artifacts import Catalog
from app.event_reader import EventReader, Feedback
from app.history import changed_users
from app.timing import StageTimes
from models.selection import SeenItems, top_columns
from models.two_stage import ItemSources, Ranked, TwoStage, Users

Strategy = Literal["personalized", "history", "popular"]
RatingPairs = list[tuple[str, str]]


class Scorer(Protocol):
    items: ItemSources  # the catalog side of the two-stage order
    known_users: Users  # the users of the version, in user rows, as trained

    def users_from_features(self, features: dict[str, np.ndarray], seen: SeenItems) -> Users:
        """Users from their signature inputs (``models.artifact_format.USER_FEATURES``), row per input row."""

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
    def __init__(self, catalog: Catalog, scorer: Scorer, candidates: int = 100,
                 events: EventReader | None = None) -> None:
        self.catalog = catalog
        self.scorer = scorer
        self.events = events
        serving = catalog.manifest["serving"]
        self.session_max_history = int(serving["session_max_history"])
        self.history_length = int(serving["history_length"])
        # Whether the rating model reads the user's history (the deep model does; MF, NeuMF and I-AutoRec
        # know users by id only, so they cannot rate for a user the version does not know).
        self.rating_uses_history = bool(serving.get("rating_uses_history", True))
        self.two_stage = TwoStage(scorer.items, scorer.known_users, catalog.popular_rows, mix=catalog.mix,
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

    def known_items(self) -> Container[str]:
        """The version's item ids (events naming others are refused)."""
        return self.catalog.item_rows

    def example_users(self, limit: int) -> list[str]:
        return list(self.catalog.user_rows)[:limit]

    def retire(self) -> None:
        """Another version became current; this one goes once no request uses it (``in_flight``)."""

    def _items(self, ids: np.ndarray, scores: np.ndarray, ratings: np.ndarray | None = None) -> list[Item]:
        titles = self.catalog.titles
        ratings_list = ratings.tolist() if ratings is not None else [None] * len(ids)
        return [{"item_id": item, "score": score, "title": titles.get(item) or None, "rating": rating}
                for item, score, rating in zip(ids.tolist(), scores.astype(float).tolist(), ratings_list,
                                               strict=True)]

    def popular(self, k: int) -> Recommendation:
        """The most popular items: trending ones first where the trending window is on (scored by their
        events in the window), then by training interactions."""
        catalog = self.catalog
        trending = [(catalog.item_rows[item], count) for item, count in
                    (self.events.trending() if self.events is not None else []) if item in catalog.item_rows][:k]
        rows = [row for row, _ in trending]
        rows += [row for row in catalog.popular_rows[:k + len(rows)].tolist() if row not in set(rows)][:k - len(rows)]
        scores = np.array([count for _, count in trending] + catalog.popularity[rows[len(trending):]].tolist())
        return Recommendation("popular", self._items(catalog.item_ids[np.array(rows, dtype=np.int64)], scores))

    def _feedback(self, users: Sequence[str], times: StageTimes) -> Feedback:
        if self.events is None:
            return Feedback()
        with times.stage("events"):
            return self.events.feedback(users)

    def _changed(self, users: list[str], feedback: Feedback, times: StageTimes) -> Users:
        """The users whose history changed since training, encoded with their events applied."""
        with times.stage("encode"):
            changed = changed_users(self.catalog, users, feedback.events, set(feedback.from_scratch),
                                    self.history_length)
            return self.scorer.users_from_features(changed.features, changed.seen)

    def _strategy(self, user: str, feedback: Feedback) -> Strategy | None:
        """How a user is served: from the trained state, from the trained state and later events, from
        events alone, or (None) with popular items."""
        trained = user in self.catalog.user_rows and user not in feedback.from_scratch
        if user in feedback.events:
            return "personalized" if trained else "history"
        return "personalized" if trained else None

    def _fill(self, results: list, ranked: Ranked, entries: list[tuple[int, object, int]],
              strategies: list[Strategy]) -> None:
        """Put each entry's (position, user, k) ranked items into ``results``."""
        ids = self.catalog.item_ids[ranked.rows]
        for j, ((position, _, k), strategy) in enumerate(zip(entries, strategies, strict=True)):
            k = min(k, int(ranked.lengths[j]))
            results[position] = Recommendation(strategy, self._items(ids[j, :k], ranked.scores[j, :k],
                                                                     ranked.ratings[j, :k]))

    def recommend_batch(self, requests: Sequence[tuple[str, int]], times: StageTimes) -> list[Recommendation]:
        """(user_id, k) requests: users known at training time get the two-stage order from their trained
        state, users with events from their history with the events applied, the others popular items."""
        catalog = self.catalog
        feedback = self._feedback([user for user, _ in requests], times)
        results: list[Recommendation | None] = [None] * len(requests)
        unchanged: list[tuple[int, int, int]] = []  # (position, user row, k)
        changed: list[tuple[int, str, int]] = []  # (position, user, k)
        for position, (user, k) in enumerate(requests):
            strategy = self._strategy(user, feedback)
            if strategy is None:
                results[position] = self.popular(k)
            elif user in feedback.events:
                changed.append((position, user, k))
            else:
                unchanged.append((position, catalog.user_rows[user], k))
        if unchanged:
            ranked = self.two_stage.recommend(np.array([row for _, row, _ in unchanged]),
                                              [k for _, _, k in unchanged], stage=times.stage)
            self._fill(results, ranked, unchanged, ["personalized"] * len(unchanged))
        if changed:
            order = replace(self.two_stage, users=self._changed([user for _, user, _ in changed], feedback, times))
            ranked = order.recommend(np.arange(len(changed)), [k for _, _, k in changed], stage=times.stage)
            self._fill(results, ranked, changed, [self._strategy(user, feedback) for _, user, _ in changed])
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

    def history_batch(self, requests: Sequence[tuple[str, int]], times: StageTimes) -> list[dict]:
        """(user_id, limit) requests -> the user's latest items, newest first: their events since the
        version's cut-off, then their training history (as the models read it), with titles and ratings."""
        catalog = self.catalog
        feedback = self._feedback([user for user, _ in requests], times)
        answers = []
        for user, limit in requests:
            logged = [{"item_id": interaction.item_id, "title": catalog.titles.get(interaction.item_id) or None,
                       "rating": interaction.rating, "source": "event"}
                      for interaction in reversed(feedback.events.get(user, []))]
            trained = []
            row = catalog.user_rows.get(user) if user not in feedback.from_scratch else None
            if row is not None:
                features = catalog.user_features
                items, ratings = features["recent_items"][row], features["recent_ratings"][row]
                trained = [{"item_id": item, "title": catalog.titles.get(item) or None, "rating": float(rating),
                            "source": "training"}
                           for item, rating in zip(items[::-1], ratings[::-1], strict=True) if item]
            answers.append({"user_id": user, "known": row is not None, "items": (logged + trained)[:limit]})
        return answers

    def items_batch(self, requests: Sequence[tuple[str, int]], times: StageTimes) -> list[list[Item]]:
        """(query, limit) requests -> catalog items whose title or id contains the query (any case), most
        popular first; an empty query gives the most popular items."""
        catalog = self.catalog
        with times.stage("search"):
            answers = []
            for query, limit in requests:
                needle = query.casefold()
                found = []
                for row in catalog.popular_rows.tolist():
                    item = catalog.item_ids[row]
                    title = catalog.titles.get(item) or ""
                    if needle in item.casefold() or needle in title.casefold():
                        found.append({"item_id": item, "title": title or None})
                        if len(found) == limit:
                            break
                answers.append(found)
        return answers

    def _first_unknown(self, pairs: RatingPairs, feedback: Feedback) -> UnknownIdError | None:
        """The first id of ``pairs`` that cannot be rated: an item the version does not know, or a user it
        does not know and who has no events (or whose events the rating model cannot read)."""
        for user, item in pairs:
            strategy = self._strategy(user, feedback)
            if strategy is None or (strategy == "history" and not self.rating_uses_history):
                return UnknownIdError("user", user)
            if item not in self.catalog.item_rows:
                return UnknownIdError("item", item)
        return None

    def predict_batch(self, requests: Sequence[RatingPairs], times: StageTimes) -> list[list[float] | UnknownIdError]:
        """Lists of (user, item) pairs; a request naming an unknown user or item gets that error alone.
        A user with events is rated from their history with the events applied."""
        catalog = self.catalog
        feedback = self._feedback([user for pairs in requests for user, _ in pairs], times)
        results: list[list[float] | UnknownIdError | None] = [self._first_unknown(pairs, feedback)
                                                              for pairs in requests]
        rateable = [pairs for pairs, problem in zip(requests, results, strict=True) if problem is None]
        changed = list(dict.fromkeys(user for pairs in rateable for user, _ in pairs if user in feedback.events))
        by_set: dict[bool, tuple[list[int], list[int]]] = {False: ([], []), True: ([], [])}
        changed_rows = {user: row for row, user in enumerate(changed)}
        for pairs in rateable:
            for user, item in pairs:
                is_changed = user in changed_rows
                user_rows, item_rows = by_set[is_changed]
                user_rows.append(changed_rows[user] if is_changed else catalog.user_rows[user])
                item_rows.append(catalog.item_rows[item])
        users = {False: self.scorer.known_users}
        if changed:
            users[True] = self._changed(changed, feedback, times)
        ratings: dict[bool, list[float]] = {}
        with times.stage("rank"):
            for is_changed, (user_rows, item_rows) in by_set.items():
                if user_rows:
                    ratings[is_changed] = users[is_changed].ratings(np.array(user_rows),
                                                                    np.array(item_rows)[:, np.newaxis])[:, 0].tolist()
        taken = {False: 0, True: 0}
        for position, pairs in enumerate(requests):
            if results[position] is not None:
                continue
            answer = []
            for user, _ in pairs:
                is_changed = user in changed_rows
                answer.append(ratings[is_changed][taken[is_changed]])
                taken[is_changed] += 1
            results[position] = answer
        return results
