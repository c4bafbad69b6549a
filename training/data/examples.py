"""Rating data -> the indexed arrays and tf.data pipelines that the retrieval and ranking models eat.

Two views of each user's history exist: fitted models learn from the ``fit`` part (their history
excludes validation interactions, which they are scored on), while test evaluation and the exported
artifacts use the whole training part. Interactions without a rating (logged views, clicks,
purchases: NaN) are interactions for the retrieval models and history items, and never rating
examples (``RatingContext.rated``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from models.features import FeatureEncoder, to_tensor
from models.selection import SeenItems, range_positions, rows_of
from models.vocabulary import (
    ItemFeatureTables,
    Vocabularies,
    build_vocabularies,
    item_feature_tables,
    user_feature_columns,
)
from training.data.dataset import RatingData
from training.data.split import RatingSplit
from training.data.training_rows import CHUNK_ROWS, TrainingRows, write_training_rows


@dataclass(frozen=True)
class RecentHistory:
    """Each user's latest interactions, oldest first, stored user after user (CSR by user index; index 0,
    the unknown user, has none): a few bytes per kept interaction, where a (users x longest history)
    table would be mostly padding. ``models.history`` fills the rating of an interaction without one."""

    items: np.ndarray  # (n_kept,) int32 item indices
    ratings: np.ndarray  # (n_kept,) float32
    offsets: np.ndarray  # (n_users + 2,) int64: user index u holds [offsets[u], offsets[u + 1])
    width: int  # the longest kept history (at least 1): the width of the dense tables

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def dense(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(len(users), width) item indices and ratings of ``users`` (indices), right-padded with 0."""
        lengths = self.offsets[users + 1] - self.offsets[users]  # not every user's, as `lengths` would
        owners = np.repeat(np.arange(len(users)), lengths)
        kept = range_positions(self.offsets[users], lengths)
        column = kept - np.repeat(self.offsets[users], lengths)
        items, ratings = np.zeros((len(users), self.width), np.int32), np.zeros((len(users), self.width), np.float32)
        items[owners, column], ratings[owners, column] = self.items[kept], self.ratings[kept]
        return items, ratings

    def ragged(self) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Item indices and ratings as ragged tensors by user index. Make them outside a traced function,
        which then captures them instead of copying their values into its graph."""
        splits = tf.constant(self.offsets)
        return tuple(tf.RaggedTensor.from_row_splits(tf.constant(values), splits, validate=False)
                     for values in (self.items, self.ratings))


@dataclass(frozen=True)
class UserView:
    """Users as seen from one body of interactions, by user index (0: unknown users, all padding)."""

    frame: pd.DataFrame  # user_id, age, categorical features; vocabulary order
    profile: dict[str, np.ndarray]  # "user", "categories", "age_bucket" -> (n_users + 1, ...)
    history: RecentHistory
    seen: SeenItems  # user row -> item rows interacted with (excluded from recommendations)

    @property
    def n_users(self) -> int:
        return len(self.frame)

    def features(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """The model inputs (``models.features.USER_INDEX_KEYS``) of ``users`` (user indices)."""
        items, ratings = self.history.dense(users)
        return {**{name: values[users] for name, values in self.profile.items()},
                "recent_items": items, "recent_ratings": ratings}

    def tensors(self, users: np.ndarray) -> dict[str, tf.Tensor]:
        return {name: tf.constant(values) for name, values in self.features(users).items()}


@dataclass(frozen=True)
class RatingContext:
    vocab: Vocabularies
    item_tables: ItemFeatureTables
    encoder: FeatureEncoder
    fit_view: UserView
    train_view: UserView
    counts: np.ndarray  # (n_items + 1,) interactions per item index in train
    mean_rating: float
    training_rows: TrainingRows  # the fit and validation rows, on disk: what the models train on
    held_out: dict[str, pd.DataFrame]  # "validation", "test" -> rows with user_index, item_index and rating

    @property
    def sizes(self) -> dict[str, int]:
        return self.vocab.sizes()

    def rated(self, part: str) -> pd.DataFrame:
        """The rows of a held-out part that carry a rating: what rating models are scored on."""
        frame = self.held_out[part]
        return frame[frame["rating"].notna()]

    def held_out_items(self, part: str) -> SeenItems:
        """User row -> item rows in a held-out part ("validation" or "test"), known users and items only, as
        CSR arrays (4 bytes a pair, no bitmap)."""
        users, items = known_pairs(self.held_out[part])
        return SeenItems.from_pairs(rows_of(users), rows_of(items), len(self.vocab.users), len(self.vocab.items),
                                    mask_max_cells=0)


def user_profile_frame(users: pd.DataFrame, user_ids: tuple[str, ...]) -> pd.DataFrame:
    """One row per id in ``user_ids``: the age and the categorical features (NaN / "" where unknown)."""
    frame = pd.DataFrame({"user_id": list(user_ids)})
    features = users if "age" in users else users.assign(age=np.nan)
    frame = frame.merge(features.drop_duplicates("user_id"), on="user_id", how="left")
    frame["age"] = frame["age"].astype(np.float32)
    categories = list(user_feature_columns(frame))
    frame[categories] = frame[categories].astype(object).where(frame[categories].notna(), "").astype(str)
    return frame


def recent_history(user_rows: np.ndarray, items: np.ndarray, ratings: np.ndarray, timestamps: np.ndarray,
                   n_users: int, history_length: int, rating_range: tuple[float, float]) -> RecentHistory:
    """The latest ``history_length`` interactions of each of ``n_users`` users (ties in time keep the
    log's order), built from index arrays: no per-interaction Python object, so it costs a few bytes
    per interaction whatever the ids look like."""
    order = np.lexsort((timestamps, user_rows))  # by user, then by time; a stable sort
    starts = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(user_rows, minlength=n_users), out=starts[1:])
    lengths = np.minimum(np.diff(starts), history_length)
    rows = order[range_positions(starts[1:] - lengths, lengths)]  # each user's last `lengths` rows, oldest first
    del order
    kept_users = np.repeat(np.arange(n_users), lengths)
    values = ratings[rows].astype(np.float64)
    rated = ~np.isnan(values)
    rated_sum = np.bincount(kept_users, weights=np.where(rated, values, 0.0), minlength=n_users)
    rated_count = np.bincount(kept_users, weights=rated, minlength=n_users)
    neutral = np.where(rated_count > 0, rated_sum / np.maximum(rated_count, 1), sum(rating_range) / 2)
    offsets = np.zeros(n_users + 2, np.int64)
    np.cumsum(lengths, out=offsets[2:])
    return RecentHistory(items=items[rows].astype(np.int32),
                         ratings=np.where(rated, values, neutral[kept_users]).astype(np.float32),
                         offsets=offsets, width=max(1, int(lengths.max(initial=0))))


def _indexed(ids: pd.Series, train: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The ids that occur in the ``train`` rows, sorted, and each row's 1-based int32 index among them (0: an
    id that is not in training). One hash pass over the ids; nothing else per row is a string."""
    codes, uniques = pd.factorize(ids)
    present_codes = np.unique(codes[train])
    present = sorted(uniques[present_codes[present_codes >= 0]].tolist())  # code -1: a missing id, no id at all
    # The appended 0 is where code -1 lands.
    lookup = np.append(pd.Index(present).get_indexer(uniques) + 1, 0).astype(np.int32)
    return present, lookup[codes]


def _all_or_mask(mask: np.ndarray) -> np.ndarray | slice:
    """``mask``, or every row (a slice: indexing with it gives views, not copies) when it keeps them all, as it
    does in the training parts, whose ids make the vocabulary."""
    return slice(None) if mask.all() else mask


def _user_view(encoder: FeatureEncoder, columns: pd.DataFrame, timestamps: np.ndarray, users: pd.DataFrame,
               vocab: Vocabularies, history_length: int, rating_range: tuple[float, float]) -> UserView:
    """``columns``: user_index, item_index and rating of the interactions the view sees, at ``timestamps``."""
    frame = user_profile_frame(users, vocab.users)
    encoded = encoder.profile({"user_id": to_tensor(frame["user_id"].to_numpy(object)), "age": frame["age"].to_numpy(),
                               "categories": to_tensor(frame[list(user_feature_columns(frame))].to_numpy(object))})
    user_rows, item_indices = rows_of(columns["user_index"].to_numpy()), columns["item_index"].to_numpy()
    known_user = _all_or_mask(user_rows >= 0)
    history = recent_history(user_rows[known_user], item_indices[known_user], columns["rating"].to_numpy()[known_user],
                             timestamps[known_user], len(vocab.users), history_length, rating_range)
    # Row 0 stands for unknown users: all features at their padding index.
    profile = {}
    for name, tensor in encoded.items():
        values = tensor.numpy()
        profile[name] = np.concatenate([np.zeros_like(values[:1]), values])
    known_pair = _all_or_mask((user_rows >= 0) & (item_indices > 0))
    seen = SeenItems.from_pairs(user_rows[known_pair], rows_of(item_indices[known_pair]), len(vocab.users),
                                len(vocab.items))
    return UserView(frame=frame, profile=profile, history=history, seen=seen)


@dataclass(frozen=True)
class IndexedLog:
    """The log as vocabulary indices (ids -> int32, from the training part only): all that the rating context
    is built from, 20 bytes a row, so the loaded log and its string ids can go before it is."""

    vocab: Vocabularies
    columns: pd.DataFrame  # user_index, item_index (int32, 0: not in training) and rating (float32), every row
    timestamps: np.ndarray  # (rows,) int64


def index_log(data: RatingData, split: RatingSplit) -> IndexedLog:
    log = data.all_interactions()
    train = split.mask("train")
    user_ids, user_index = _indexed(log["user_id"], train)
    item_ids, item_index = _indexed(log["item_id"], train)
    columns = pd.DataFrame({"user_index": user_index, "item_index": item_index,
                            "rating": log["rating"].to_numpy(np.float32)})
    return IndexedLog(build_vocabularies(user_ids, item_ids, data.items, data.users), columns,
                      log["timestamp"].to_numpy())


def rating_context(indexed: IndexedLog, split: RatingSplit, data: RatingData, history_length: int = 50,
                   chunk_rows: int = CHUNK_ROWS) -> RatingContext:
    """What the rating models learn and are scored from: the training rows go to disk (``TrainingRows``, in
    chunks of ``chunk_rows``), the held-out parts stay as int32 and float32 columns, 12 bytes a row. Of
    ``data`` only the user and item tables and the rating range are read, not the log."""
    vocab, columns, train = indexed.vocab, indexed.columns, split.mask("train")
    held_out = {part: columns[split.mask(part)].reset_index(drop=True) for part in ("validation", "test")}
    training = columns[train]
    training_rows = write_training_rows(*(training[name].to_numpy() for name in columns), split.parts[train],
                                        chunk_rows)
    counts = np.bincount(training["item_index"], minlength=len(vocab.items) + 1).astype(np.float32)
    counts[0] = 0.0
    del training
    encoder = FeatureEncoder(vocab)
    views = {part: _user_view(encoder, columns[split.mask(part)], indexed.timestamps[split.mask(part)], data.users,
                              vocab, history_length, data.rating_range) for part in ("fit", "train")}
    return RatingContext(
        vocab=vocab,
        item_tables=item_feature_tables(vocab, data.items),
        encoder=encoder,
        fit_view=views["fit"],
        train_view=views["train"],
        counts=counts,
        mean_rating=float(columns["rating"][split.mask("fit")].mean()),
        training_rows=training_rows,
        held_out=held_out,
    )


def prepare_ratings(data: RatingData, split: RatingSplit, history_length: int = 50,
                    chunk_rows: int = CHUNK_ROWS) -> RatingContext:
    """``index_log`` then ``rating_context``, for a caller that keeps the log anyway."""
    return rating_context(index_log(data, split), split, data, history_length, chunk_rows)


# Users (or rows) per inference call. A model reading histories makes a few (batch, history_length, id_dim)
# float tensors: about 100 MB at 1,024 rows, history 200 and 32 dimensions, four times that at 4,096.
INFERENCE_BATCH = 1024


def known(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a split part whose user and item are both in the vocabulary: ``frame`` itself when all
    are (the training parts, whose ids make the vocabulary), not a copy of it."""
    keep = (frame["user_index"] > 0) & (frame["item_index"] > 0)
    return frame if keep.all() else frame[keep]


def known_pairs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """User and item indices of ``known(frame)``."""
    rows = known(frame)
    return rows["user_index"].to_numpy(), rows["item_index"].to_numpy()


def with_user_features(view: UserView, counts: np.ndarray | None = None,
                       ) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """A ``tf.data`` map from batches of ``user_row``, ``item`` and ``rating`` to the models' inputs: the user
    features gathered per batch from the view's per-user tables (so memory stays O(users)), ``item``,
    ``rating``, and ``item_log_probability`` when item ``counts`` are given."""
    per_item = {}
    if counts is not None:  # a table by item index, gathered per batch: not another column as long as the rows
        per_item["item_log_probability"] = tf.constant(np.log(np.maximum(counts, 1.0) / counts.sum()), tf.float32)
    profile = {name: tf.constant(values) for name, values in view.profile.items()}
    history, width = view.history.ragged(), view.history.width

    def features(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch = dict(batch)
        batch.update({name: tf.gather(table, batch["item"]) for name, table in per_item.items()})
        users = batch.pop("user_row")
        recent_items, recent_ratings = (tf.gather(table, users).to_tensor(shape=[None, width]) for table in history)
        return {**{name: tf.gather(table, users) for name, table in profile.items()},
                "recent_items": recent_items, "recent_ratings": recent_ratings, **batch}

    return features


def interaction_dataset(view: UserView, frame: pd.DataFrame, batch_size: int) -> tf.data.Dataset:
    """The model inputs of ``frame``'s rows (known users and items), in order: for predictions."""
    rows = {"user_row": frame["user_index"].to_numpy(np.int32), "item": frame["item_index"].to_numpy(np.int32),
            "rating": frame["rating"].to_numpy(np.float32)}
    return tf.data.Dataset.from_tensor_slices(rows).batch(batch_size).map(with_user_features(view)).prefetch(2)
