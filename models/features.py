"""Feature lookups and encoders shared by the retrieval and ranking models.

``FeatureEncoder`` turns raw ids and values into indices inside the TensorFlow graph, so training
and the exported signatures use the same mapping. ``UserEncoder`` and ``ItemEncoder`` turn those
indices into one vector per user and per item.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models.config import config_dataclass
from models.vocabulary import AGE_BOUNDARIES, ItemFeatureTables, Vocabularies

Features = Mapping[str, tf.Tensor]
USER_INDEX_KEYS = ("user", "categories", "age_bucket", "recent_items", "recent_ratings")


def to_tensor(values: np.ndarray) -> tf.Tensor:
    """A numpy signature input -> a tensor; object arrays of ids or categories become string tensors,
    also when they have no columns (a version whose users have no categorical features)."""
    return tf.constant(values.astype(str) if values.dtype == object else values)


def lookup_table(values: tuple[str, ...]) -> tf.lookup.StaticHashTable:
    """String id -> index ``position + 1``; anything else -> 0 (padding / unknown)."""
    keys = tf.constant(list(values) or ["\x00"], dtype=tf.string)
    indices = tf.range(1, tf.size(keys, out_type=tf.int64) + 1, dtype=tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, indices), default_value=0)


class FeatureEncoder(tf.Module):
    """Raw features -> indices (0 for padding and for anything not in the training vocabulary)."""

    def __init__(self, vocab: Vocabularies) -> None:
        super().__init__(name="feature_encoder")
        self.user_table = lookup_table(vocab.users)
        self.item_table = lookup_table(vocab.items)
        # Every categorical user feature in one table of "column=value" keys: any set of columns the data
        # has, one signature input (B, F) for all of them.
        self.category_table = lookup_table(vocab.user_categories)
        self.category_prefixes = tf.constant([f"{name}=" for name in vocab.user_features], tf.string)
        self.age_boundaries = tf.constant(AGE_BOUNDARIES, dtype=tf.float32)

    def categories(self, values: tf.Tensor) -> tf.Tensor:
        """(B, F) raw values, "" for unknown -> (B, F) indices, 0 for unknown or unseen values."""
        keys = self.category_prefixes[tf.newaxis, :] + values
        return tf.cast(self.category_table.lookup(keys), tf.int32)

    def items(self, item_ids: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.item_table.lookup(item_ids), tf.int32)

    def profile(self, raw: Features) -> dict[str, tf.Tensor]:
        """The user's id, categorical features and age group (``user_id``, ``categories``, ``age``)."""
        age = tf.cast(raw["age"], tf.float32)
        bucket = tf.searchsorted(self.age_boundaries, tf.where(tf.math.is_nan(age), 0.0, age), side="right") + 1
        return {
            "user": tf.cast(self.user_table.lookup(raw["user_id"]), tf.int32),
            "categories": self.categories(raw["categories"]),
            "age_bucket": tf.where(tf.math.is_nan(age), 0, tf.cast(bucket, tf.int32)),
        }

    def users(self, raw: Features) -> dict[str, tf.Tensor]:
        """Every user input of the signatures (``models.artifact_format.USER_FEATURES``) -> indices."""
        return {**self.profile(raw), "recent_items": self.items(raw["recent_items"]),
                "recent_ratings": tf.cast(raw["recent_ratings"], tf.float32)}


@config_dataclass
class EncoderConfig:
    id_dim: int = 32  # user / item id embedding size
    feature_dim: int = 8  # size of each side-feature embedding
    use_user_id: bool = True  # a free vector per user (without it, users are their features and history)
    use_user_features: bool = True  # embed every categorical user feature of the data (gender, occupation...)
    use_age: bool = True  # embed the age group, where the data has ages
    use_history: bool = True  # mean of the user's recent item embeddings
    use_history_ratings: bool = False  # also a mean weighted by each rating's offset from the user's mean
    use_item_features: bool = True  # genres and title tokens
    l2: float = 0.0  # L2 penalty on the id embeddings


# Each model's own defaults as classes, not instances, so that overriding one field from the command
# line keeps the model's other defaults.
@config_dataclass
class RetrievalEncoderConfig(EncoderConfig):
    # No free vector per user: on ML-100K validation, users as their history and demographics did better.
    use_user_id: bool = False


@config_dataclass
class RankingEncoderConfig(EncoderConfig):
    use_history_ratings: bool = True
    l2: float = 1e-5


def _masked_mean(vectors: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over axis -2 of ``vectors`` (..., L, d) where ``mask`` (..., L) is true."""
    weights = tf.cast(mask, vectors.dtype)[..., tf.newaxis]
    return tf.reduce_sum(vectors * weights, axis=-2) / tf.maximum(tf.reduce_sum(weights, axis=-2), 1.0)


def _pooled_lookup(embedding: tf.keras.layers.Embedding, ids: tf.Tensor, mask: tf.Tensor,
                   weights: tf.Tensor | None = None) -> tf.Tensor:
    """Sum over each row of ``embedding(ids)`` (B, H) -> (B, d) where ``mask`` (B, H) is true, each vector
    times its ``weights`` entry if given. Only the true entries are looked up: a history padded to H items
    costs the items it holds, not B x H lookups, and so does its gradient."""
    positions = tf.where(mask)  # (N, 2), row by row
    vectors = embedding(tf.gather_nd(ids, positions))  # (N, d)
    if weights is not None:
        vectors *= tf.gather_nd(weights, positions)[:, tf.newaxis]
    return tf.math.unsorted_segment_sum(vectors, positions[:, 0], num_segments=tf.shape(ids, out_type=tf.int64)[0])


class UserEncoder(tf.keras.layers.Layer):
    """User indices -> (B, d): id embedding, demographics, and the mean embedding of recent items.

    When ``exclude_item`` is given, that item is left out of the history mean, so a training example
    never sees its own target (at serving time the candidates are unseen items anyway).
    """

    def __init__(self, sizes: Mapping[str, int], config: EncoderConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        regularizer = tf.keras.regularizers.l2(config.l2) if config.l2 else None
        if config.use_user_id:
            self.user_embedding = tf.keras.layers.Embedding(sizes["users"], config.id_dim,
                                                            embeddings_regularizer=regularizer)
        self.n_categories = sizes["user_features"] if config.use_user_features else 0
        if self.n_categories:
            self.category_embedding = tf.keras.layers.Embedding(sizes["user_categories"], config.feature_dim,
                                                                name="category_embedding")
        if config.use_age:
            self.age_embedding = tf.keras.layers.Embedding(sizes["age_buckets"], config.feature_dim,
                                                           name="age_bucket_embedding")
        if config.use_history:
            self.history_embedding = tf.keras.layers.Embedding(sizes["items"], config.id_dim,
                                                               embeddings_regularizer=regularizer)
        if config.use_history_ratings:
            self.rated_embedding = tf.keras.layers.Embedding(sizes["items"], config.id_dim,
                                                             embeddings_regularizer=regularizer)

    @property
    def output_size(self) -> int:
        config = self.config
        ids = int(config.use_user_id) + int(config.use_history) + int(config.use_history_ratings)
        return ids * config.id_dim + (self.n_categories + int(config.use_age)) * config.feature_dim

    def call(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        parts = [self.user_embedding(features["user"])] if self.config.use_user_id else []
        if self.n_categories:  # one vector per feature column, side by side
            categories = self.category_embedding(features["categories"])  # (B, F, d)
            parts.append(tf.reshape(categories, [-1, self.n_categories * self.config.feature_dim]))
        if self.config.use_age:
            parts.append(self.age_embedding(features["age_bucket"]))
        recent = features["recent_items"]  # (B, H)
        mask = recent > 0
        if exclude_item is not None:
            mask &= recent != exclude_item[:, tf.newaxis]
        counts = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.float32), axis=1, keepdims=True), 1.0)  # (B, 1)
        if self.config.use_history:
            parts.append(_pooled_lookup(self.history_embedding, recent, mask) / counts)
        if self.config.use_history_ratings:
            # Like the rated-item term of Koren's NSVD/SVD++ family, but with the ratings themselves:
            # items the user rated above their own mean pull one way, below it the other.
            ratings = features["recent_ratings"]
            user_mean = tf.reduce_sum(tf.where(mask, ratings, 0.0), axis=1, keepdims=True) / counts
            parts.append(_pooled_lookup(self.rated_embedding, recent, mask, ratings - user_mean) / tf.sqrt(counts))
        return tf.concat(parts, axis=-1)


class ItemEncoder(tf.keras.layers.Layer):
    """Item indices of any shape (...) -> (..., d): id embedding, genres and title tokens."""

    def __init__(self, sizes: Mapping[str, int], tables: ItemFeatureTables, config: EncoderConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        regularizer = tf.keras.regularizers.l2(config.l2) if config.l2 else None
        self.item_embedding = tf.keras.layers.Embedding(sizes["items"], config.id_dim,
                                                        embeddings_regularizer=regularizer)
        if config.use_item_features:
            # Catalog tables are weights, so they are saved with the model and never trained.
            self.genre_table = self.add_weight(name="genre_table", shape=tables.genres.shape, trainable=False,
                                               initializer=tf.constant_initializer(tables.genres))
            self.token_table = self.add_weight(name="title_token_table", shape=tables.title_tokens.shape,
                                               dtype=tf.int32, trainable=False,
                                               initializer=tf.constant_initializer(tables.title_tokens))
            self.genre_projection = tf.keras.layers.Dense(config.feature_dim, use_bias=False)
            self.token_embedding = tf.keras.layers.Embedding(sizes["title_tokens"], config.feature_dim)

    @property
    def output_size(self) -> int:
        return self.config.id_dim + (2 * self.config.feature_dim if self.config.use_item_features else 0)

    def call(self, items: tf.Tensor) -> tf.Tensor:
        parts = [self.item_embedding(items)]
        if self.config.use_item_features:
            parts.append(self.genre_projection(tf.gather(self.genre_table, items)))
            tokens = tf.gather(self.token_table, items)  # (..., T)
            parts.append(_masked_mean(self.token_embedding(tokens), tokens > 0))
        return tf.concat(parts, axis=-1)


def dense_stack(widths: tuple[int, ...], dropout: float = 0.0, final_activation: str | None = None,
                name: str | None = None) -> tf.keras.Sequential:
    """ReLU layers of the given widths; the last layer uses ``final_activation``."""
    layers: list[tf.keras.layers.Layer] = []
    for position, width in enumerate(widths):
        last = position == len(widths) - 1
        layers.append(tf.keras.layers.Dense(width, activation=final_activation if last else "relu"))
        if dropout and not last:
            layers.append(tf.keras.layers.Dropout(dropout))
    return tf.keras.Sequential(layers, name=name)
