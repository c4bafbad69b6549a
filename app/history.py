"""Users whose history changed since their version was trained: their model inputs with the logged
events applied (``events.store``), so that the very next request reflects what they just did.

A user known at training time keeps their features and trained history, and their later events are
appended to it, one per item at the place of its latest event (``events.store.Interaction``, as the
trainer keeps one row per pair), of which the latest ``history_length`` items are kept; a user the
version does not know, or whose trained state learned from events they asked to delete, starts from
no features and only their events. Every event's item joins the user's seen items, so it is not
recommended again. The ranking model reads ratings beside the history: a rated item brings its
latest rating, any other the rule of ``models.history.fill_unrated`` (which the trainer applies too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.artifacts import Catalog
from events.store import Interaction
from models.artifact_format import PAD_ID
from models.history import fill_unrated
from models.selection import SeenItems


@dataclass(frozen=True)
class ChangedUsers:
    features: dict[str, np.ndarray]  # signature inputs (models.artifact_format.USER_FEATURES), row per user
    seen: SeenItems  # row per user: trained seen items (if kept) and every event's item


def changed_users(catalog: Catalog, users: Sequence[str], events: dict[str, list[Interaction]],
                  from_scratch: set[str], history_length: int) -> ChangedUsers:
    """Rows for ``users`` in order; a user in ``from_scratch`` (or unknown) ignores their trained state."""
    features = catalog.user_features
    recent_items, recent_ratings, seen_lists, rows = [], [], [], []
    for user in users:
        row = catalog.user_rows.get(user) if user not in from_scratch else None
        rows.append(row)
        items: list[str] = []
        ratings: list[float] = []
        seen: set[int] = set()
        if row is not None:
            trained = features["recent_items"][row]
            length = int((trained != PAD_ID).sum())
            items, ratings = list(trained[:length]), list(features["recent_ratings"][row][:length])
            seen.update(catalog.seen.of(row).tolist())
        for interaction in events.get(user, []):
            if interaction.item_id in catalog.item_rows:  # a later version may not know every logged item
                items.append(interaction.item_id)
                ratings.append(np.nan if interaction.rating is None else interaction.rating)
                seen.add(catalog.item_rows[interaction.item_id])
        recent_items.append(items[-history_length:])
        recent_ratings.append(fill_unrated(ratings[-history_length:], catalog.rating_range))
        seen_lists.append(np.array(sorted(seen), dtype=np.int64))
    width = max(1, max(len(items) for items in recent_items))
    padded_items = np.full((len(users), width), PAD_ID, dtype=object)
    padded_ratings = np.zeros((len(users), width), dtype=np.float32)
    for position, (items, ratings) in enumerate(zip(recent_items, recent_ratings, strict=True)):
        padded_items[position, :len(items)] = items
        padded_ratings[position, :len(ratings)] = ratings
    known = np.array([row is not None for row in rows])
    known_rows = np.array([row if row is not None else 0 for row in rows], dtype=np.int64)
    categories = features["categories"][known_rows].copy()
    categories[~known] = PAD_ID
    return ChangedUsers(
        features={
            "user_id": np.where(known, features["user_id"][known_rows], PAD_ID).astype(object),
            "age": np.where(known, features["age"][known_rows], np.nan).astype(np.float32),
            "categories": categories,
            "recent_items": padded_items,
            "recent_ratings": padded_ratings,
        },
        seen=SeenItems.from_lists(seen_lists, len(catalog.item_ids)),
    )
