"""Vocabularies and catalog side-feature tables, built from training data only.

Index convention shared by every model: index 0 is padding / unknown, the vocabulary entry at
position ``r`` has index ``r + 1``. Plain numpy; the TensorFlow lookups live in ``models.features``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Age groups of the MovieLens 1M documentation; bucket 0 means "age unknown".
AGE_BOUNDARIES = (18.0, 25.0, 35.0, 45.0, 50.0, 56.0)
NON_CATEGORY_COLUMNS = ("user_id", "age", "recent_items", "recent_ratings")
_TOKEN = re.compile(r"[a-z0-9]+")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


@dataclass(frozen=True)
class Vocabularies:
    users: tuple[str, ...]
    items: tuple[str, ...]
    user_features: tuple[str, ...]  # the categorical user feature columns, in the order the models read them
    user_categories: tuple[str, ...]  # their values as "column=value" keys
    genres: tuple[str, ...]
    title_tokens: tuple[str, ...]

    def sizes(self) -> dict[str, int]:
        """Embedding table sizes, padding row included."""
        return {
            "users": len(self.users) + 1,
            "items": len(self.items) + 1,
            "user_features": len(self.user_features),
            "user_categories": len(self.user_categories) + 1,
            "age_buckets": len(AGE_BOUNDARIES) + 2,
            "genres": len(self.genres),
            "title_tokens": len(self.title_tokens) + 1,
        }


@dataclass(frozen=True)
class ItemFeatureTables:
    """Catalog features indexed by item index (row 0 is padding)."""

    genres: np.ndarray  # (n_items + 1, n_genres) float32 multi-hot
    title_tokens: np.ndarray  # (n_items + 1, max_title_tokens) int32, 0 = padding


def title_tokens(title: str) -> list[str]:
    """Lower-cased word tokens; release years are dropped because they repeat across unrelated titles."""
    return [token for token in _TOKEN.findall(title.lower()) if not _YEAR.match(token)]


def user_feature_columns(users: pd.DataFrame) -> tuple[str, ...]:
    """The categorical user features of a users frame: every column but the id, the age (bucketed on
    its own) and the history columns."""
    return tuple(column for column in users.columns if column not in NON_CATEGORY_COLUMNS)


def build_vocabularies(
    user_ids: Iterable[str],
    item_ids: Iterable[str],
    items: pd.DataFrame,
    users: pd.DataFrame,
    min_token_count: int = 2,
    max_title_tokens_vocab: int = 5000,
) -> Vocabularies:
    """The users and items that occur in the training part (each id once), sorted by id so that the same
    data always gives the same indices; side-feature vocabularies from the metadata of those users and items."""
    user_ids, item_ids = sorted(user_ids), sorted(item_ids)
    known_users = users[users["user_id"].isin(set(user_ids))] if len(users) else users
    known_items = items[items["item_id"].isin(set(item_ids))] if len(items) else items

    feature_names = user_feature_columns(users)
    categories = sorted(f"{name}={value}" for name in feature_names
                        for value in known_users[name].dropna().astype(str).unique() if value != "")

    genres: set[str] = set()
    token_counts: dict[str, int] = {}
    for genre_list, title in zip(known_items.get("genres", []), known_items.get("title", []), strict=True):
        genres.update(genre_list)
        for token in set(title_tokens(title)):
            token_counts[token] = token_counts.get(token, 0) + 1
    frequent = sorted((token for token, count in token_counts.items() if count >= min_token_count),
                      key=lambda token: (-token_counts[token], token))[:max_title_tokens_vocab]
    return Vocabularies(
        users=tuple(user_ids),
        items=tuple(item_ids),
        user_features=feature_names,
        user_categories=tuple(categories),
        genres=tuple(sorted(genres)),
        title_tokens=tuple(sorted(frequent)),
    )


def item_feature_tables(vocab: Vocabularies, items: pd.DataFrame, max_title_tokens: int = 8) -> ItemFeatureTables:
    n_rows = len(vocab.items) + 1
    genre_table = np.zeros((n_rows, max(len(vocab.genres), 1)), dtype=np.float32)
    token_table = np.zeros((n_rows, max_title_tokens), dtype=np.int32)
    item_index = {item: row + 1 for row, item in enumerate(vocab.items)}
    genre_index = {genre: column for column, genre in enumerate(vocab.genres)}
    token_index = {token: row + 1 for row, token in enumerate(vocab.title_tokens)}
    for item_id, title, genre_list in zip(items.get("item_id", []), items.get("title", []),
                                          items.get("genres", []), strict=True):
        row = item_index.get(item_id)
        if row is None:
            continue
        for genre in genre_list:
            genre_table[row, genre_index[genre]] = 1.0
        known = [token_index[token] for token in title_tokens(title) if token in token_index]
        token_table[row, : len(known[:max_title_tokens])] = known[:max_title_tokens]
    return ItemFeatureTables(genres=genre_table, title_tokens=token_table)
