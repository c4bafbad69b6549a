"""Rating data -> the indexed arrays and tf.data pipelines that the retrieval and ranking models eat.

Two views of each user's history exist: fitted models learn from the ``fit`` part (their history
excludes validation interactions, which they are scored on), while test evaluation and the exported
artifacts use the whole training part. Interactions without a rating (logged views, clicks,
purchases: NaN) are interactions for the retrieval models and history items, and never rating
examples (``RatingContext.rated``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from models.artifact_format import user_feature_arrays
from models.features import FeatureEncoder, to_tensor
from models.history import fill_unrated
from models.selection import SeenItems, rows_of
from models.vocabulary import (
    ItemFeatureTables,
    Vocabularies,
    build_vocabularies,
    item_feature_tables,
    user_feature_columns,
)
from training.data.dataset import RatingData
from training.data.split import RatingSplit


@dataclass(frozen=True)
class UserView:
    """Users as seen from one body of interactions (index arrays have a zero row 0 for unknown users)."""

    frame: pd.DataFrame  # user_id, age, categorical features, recent_items, recent_ratings; vocabulary order
    indices: dict[str, np.ndarray]  # models.features.USER_INDEX_KEYS -> (n_users + 1, ...)
    seen: SeenItems  # user row -> item rows interacted with (excluded from recommendations)


@dataclass(frozen=True)
class RatingContext:
    vocab: Vocabularies
    item_tables: ItemFeatureTables
    encoder: FeatureEncoder
    fit_view: UserView
    train_view: UserView
    counts: np.ndarray  # (n_items + 1,) interactions per item index in train
    mean_rating: float
    frames: dict[str, pd.DataFrame]  # split part -> rows with user_index, item_index and rating (NaN: none)

    @property
    def sizes(self) -> dict[str, int]:
        return self.vocab.sizes()

    def rated(self, part: str) -> pd.DataFrame:
        """The rows of a split part that carry a rating: what rating models learn from and are scored on."""
        frame = self.frames[part]
        return frame[frame["rating"].notna()]

    def held_out_items(self, part: str) -> dict[int, set[int]]:
        """User index -> item indices in a held-out part ("validation" or "test"), known users and items only."""
        frame = known(self.frames[part])
        return {int(user): set(group.tolist()) for user, group in frame.groupby("user_index")["item_index"]}


def user_feature_frame(interactions: pd.DataFrame, users: pd.DataFrame, user_ids: tuple[str, ...],
                       history_length: int, rating_range: tuple[float, float]) -> pd.DataFrame:
    """One row per id in ``user_ids``: age and the categorical features (NaN / "" where unknown) and the
    user's latest ``history_length`` items, oldest first, with their ratings (``models.history``)."""
    ordered = interactions.sort_values(["user_id", "timestamp"], kind="stable").groupby("user_id", sort=False)
    recent = ordered["item_id"].agg(lambda items: items.iloc[-history_length:].tolist())
    recent_ratings = ordered["rating"].agg(
        lambda ratings: fill_unrated(ratings.iloc[-history_length:].astype(float).tolist(), rating_range))
    frame = pd.DataFrame({"user_id": list(user_ids)})
    features = users if "age" in users else users.assign(age=np.nan)
    frame = frame.merge(features.drop_duplicates("user_id"), on="user_id", how="left")
    frame["age"] = frame["age"].astype(np.float32)
    categories = list(user_feature_columns(frame))
    frame[categories] = frame[categories].astype(object).where(frame[categories].notna(), "").astype(str)
    for column, values in (("recent_items", recent), ("recent_ratings", recent_ratings)):
        frame[column] = frame["user_id"].map(values).apply(lambda found: found if isinstance(found, list) else [])
    return frame


def _index(values: pd.Series, ids: tuple[str, ...]) -> np.ndarray:
    lookup = pd.Series(np.arange(1, len(ids) + 1, dtype=np.int32), index=list(ids))
    return values.map(lookup).fillna(0).to_numpy(np.int32)


def _user_view(encoder: FeatureEncoder, interactions: pd.DataFrame, users: pd.DataFrame, vocab: Vocabularies,
               history_length: int, rating_range: tuple[float, float]) -> UserView:
    frame = user_feature_frame(interactions, users, vocab.users, history_length, rating_range)
    raw = user_feature_arrays(frame)
    encoded = encoder.users({name: to_tensor(values) for name, values in raw.items()})
    # Row 0 stands for unknown users: all features at their padding index.
    indices = {}
    for name, tensor in encoded.items():
        values = tensor.numpy()
        indices[name] = np.concatenate([np.zeros_like(values[:1]), values])
    pairs = pd.DataFrame({"user": rows_of(_index(interactions["user_id"], vocab.users)),
                          "item": rows_of(_index(interactions["item_id"], vocab.items))})
    by_user = pairs[(pairs["user"] >= 0) & (pairs["item"] >= 0)].groupby("user")["item"].unique()
    lists = [np.sort(by_user.get(row, np.zeros(0, np.int64))) for row in range(len(vocab.users))]
    return UserView(frame=frame, indices=indices, seen=SeenItems.from_lists(lists, len(vocab.items)))


def prepare_ratings(data: RatingData, split: RatingSplit, history_length: int = 50) -> RatingContext:
    vocab = build_vocabularies(split.train, data.items, data.users)
    encoder = FeatureEncoder(vocab)
    frames = {}
    for part in ("train", "fit", "validation", "test"):
        frame = getattr(split, part)
        frames[part] = pd.DataFrame({
            "user_index": _index(frame["user_id"], vocab.users),
            "item_index": _index(frame["item_id"], vocab.items),
            "rating": frame["rating"].to_numpy(np.float32),
        })
    counts = np.bincount(frames["train"]["item_index"], minlength=len(vocab.items) + 1).astype(np.float32)
    counts[0] = 0.0
    return RatingContext(
        vocab=vocab,
        item_tables=item_feature_tables(vocab, data.items),
        encoder=encoder,
        fit_view=_user_view(encoder, split.fit, data.users, vocab, history_length, data.rating_range),
        train_view=_user_view(encoder, split.train, data.users, vocab, history_length, data.rating_range),
        counts=counts,
        mean_rating=float(split.fit["rating"].mean()),
        frames=frames,
    )


def known(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a split part whose user and item are both in the vocabulary."""
    return frame[(frame["user_index"] > 0) & (frame["item_index"] > 0)]


def known_pairs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """User and item indices of ``known(frame)``."""
    rows = known(frame)
    return rows["user_index"].to_numpy(), rows["item_index"].to_numpy()


def interaction_dataset(view: UserView, frame: pd.DataFrame, batch_size: int, shuffle_seed: int | None = None,
                        counts: np.ndarray | None = None) -> tf.data.Dataset:
    """Batches of user index features + ``item`` and ``rating`` (and ``item_log_probability`` when item
    ``counts`` are given) for the known users and items of ``frame``; user features are gathered per
    batch from the per-user tables, so memory stays O(users + interactions)."""
    frame = known(frame)
    items = frame["item_index"].to_numpy(np.int32)
    columns = {"user_row": frame["user_index"].to_numpy(np.int32), "item": items,
               "rating": frame["rating"].to_numpy(np.float32)}
    if counts is not None:
        columns["item_log_probability"] = np.log(np.maximum(counts, 1.0) / counts.sum()).astype(np.float32)[items]
    rows = {name: tf.constant(values) for name, values in columns.items()}
    tables = {name: tf.constant(values) for name, values in view.indices.items()}
    # Row positions are shuffled, not rows: a shuffle buffer holds each element as tensors (about 240 bytes
    # for a scalar), so one scalar instead of four saves two thirds of it; the order is the same.
    positions = tf.data.Dataset.range(len(frame))
    if shuffle_seed is not None:
        positions = positions.shuffle(len(frame), seed=shuffle_seed, reshuffle_each_iteration=True)

    def batch_at(batch_positions: tf.Tensor) -> dict[str, tf.Tensor]:
        batch = {name: tf.gather(values, batch_positions) for name, values in rows.items()}
        users = batch.pop("user_row")
        return {**{name: tf.gather(table, users) for name, table in tables.items()}, **batch}

    return positions.batch(batch_size).map(batch_at, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
