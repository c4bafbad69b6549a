"""A small in-memory catalog and a numpy scorer, so the API is tested without TensorFlow."""

from pathlib import Path

import numpy as np

from app.artifacts import Catalog
from app.recommender import Recommender
from models.selection import SeenItems
from models.two_stage import ItemSources, Mix, Users

USERS = ["u1", "u2", "u3"]
ITEMS = ["i1", "i2", "i3", "i4", "i5", "i6"]
SESSION_ITEMS = ["i1", "i2", "i3", "i4"]


def fake_catalog(version: str = "v-test") -> Catalog:
    seen = {0: [0, 1], 1: [], 2: [2]}  # u1 saw i1 and i2; u3 saw i3
    popularity = np.array([50.0, 40.0, 30.0, 20.0, 10.0, 5.0], dtype=np.float32)
    session_popularity = np.array([3.0, 9.0, 1.0, 2.0], dtype=np.float32)
    return Catalog(
        version=version, path=Path("/nonexistent") / version,
        manifest={"version": version, "serving": {"rating_range": [1.0, 5.0], "session_max_history": 3,
                                                  "history_length": 5,
                                                  "mix": {"two_tower": 1.0, "item_item": 0.0, "rating": 1.0},
                                                  "retrieval_temperature": 0.1}},
        item_ids=np.array(ITEMS, dtype=object), item_rows={item: row for row, item in enumerate(ITEMS)},
        titles={item: f"Title {item}" for item in ITEMS[:-1]},  # i6 has no title
        popular_rows=np.argsort(-popularity, kind="stable"), popularity=popularity,
        user_rows={user: row for row, user in enumerate(USERS)},
        user_features={"user_id": np.array(USERS, dtype=object), "age": np.full(3, np.nan, np.float32),
                       "categories": np.zeros((3, 0), dtype=object),
                       "recent_items": np.array([["i1", "i2"], ["", ""], ["i3", ""]], dtype=object),
                       "recent_ratings": np.array([[4.0, 2.0], [0.0, 0.0], [5.0, 0.0]], dtype=np.float32)},
        seen=SeenItems.from_lists([np.array(seen[user]) for user in range(3)], len(ITEMS)),
        session_item_ids=np.array(SESSION_ITEMS, dtype=object),
        session_item_rows={item: row for row, item in enumerate(SESSION_ITEMS)},
        session_popular_rows=np.argsort(-session_popularity, kind="stable"), session_popularity=session_popularity,
        rating_range=(1.0, 5.0), mix=Mix(two_tower=1.0, item_item=0.0, rating=1.0),
    )


class FakeScorer:
    """Ratings = 1 + user row + item row / 10; retrieval returns items by descending row. Users encoded from
    features (users with events) rate like user row 0 plus 0.1 per item in their history."""

    def __init__(self, catalog: Catalog) -> None:
        self.sessions: list[list[str]] = []
        embeddings = np.zeros((len(ITEMS), 1), dtype=np.float32)
        self.items = ItemSources(embeddings, lambda queries, n: np.tile(np.arange(len(ITEMS))[::-1][:n],
                                                                        (len(queries), 1)))
        self.known_users = Users(np.arange(len(USERS), dtype=np.float32)[:, None], _ratings(np.arange(len(USERS))),
                                 catalog.seen)

    def users_from_features(self, features, seen):
        history = (features["recent_items"] != "").sum(axis=1)
        return Users(np.zeros((len(history), 1), np.float32), _ratings(history / 10.0), seen)

    def session_scores(self, sessions):
        self.sessions.extend(sessions)
        return np.tile(np.array([0.1, 0.2, 0.9, 0.4]), (len(sessions), 1))


def _ratings(offsets: np.ndarray):
    return lambda user_rows, item_rows: 1.0 + offsets[user_rows][:, None] + np.asarray(item_rows) / 10.0


def fake_recommender(version: str = "v-test") -> Recommender:
    catalog = fake_catalog(version)
    return Recommender(catalog, FakeScorer(catalog), candidates=3)
