"""Rating prediction: the deep ranking model and its matrix-factorization baseline.

Both predict ``mean + b_user + b_item + interaction(user, item)``; they differ in the interaction term:
MF uses the dot product of id embeddings (Koren et al. 2009), the deep model an MLP over user and item
representations that include side features and the user's history (with an optional DCN cross
layer, Wang et al. 2021). Inputs: the user index features (``models.features.USER_INDEX_KEYS``) and
``item`` of shape (B,) or (B, N); output: ratings of the item's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field

import tensorflow as tf
import tensorflow_recommenders as tfrs

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models import rating_head
from models.config import config_dataclass
from models.features import Features, ItemEncoder, RankingEncoderConfig, UserEncoder, dense_stack
from models.replica_model import ReplicaModel
from models.vocabulary import ItemFeatureTables


@config_dataclass
class RankingConfig:
    encoder: RankingEncoderConfig = field(default_factory=RankingEncoderConfig)
    hidden_widths: tuple[int, ...] = (128, 64)
    use_cross: bool = True
    dropout: float = 0.3  # on ML-100K validation RMSE: 0.1 -> 0.9112, 0.3 -> 0.9073, 0.5 -> 0.9076
    bias_l2: float = 1e-5
    learning_rate: float = 0.001
    batch_size: int = 256
    epochs: int = 40  # upper bound; early stopping on validation RMSE picks the epoch
    patience: int = 3


@config_dataclass
class MFConfig:
    dim: int = 32
    l2: float = 1e-4
    learning_rate: float = 0.003
    batch_size: int = 256
    epochs: int = 60
    patience: int = 3


class RatingModel(ReplicaModel):
    """Shared parts: global mean, biases, MSE task. Every model splits into a user side, an item side and a
    head: rating = head(user_state(features), item_state(items)), so that serving computes each known
    user's and each item's state once at load time and a request only runs the head (``head`` gives its
    numpy twin). Subclasses define ``user_vector`` (B, S - 1), ``item_vector`` (..., S_item - 1),
    ``interaction``, ``state_size``, ``item_state_size`` and ``head``."""

    def __init__(self, sizes: Mapping[str, int], mean_rating: float, bias_l2: float) -> None:
        super().__init__()
        regularizer = tf.keras.regularizers.l2(bias_l2) if bias_l2 else None
        self.mean_rating = tf.constant(mean_rating, dtype=tf.float32)
        self.user_bias = tf.keras.layers.Embedding(sizes["users"], 1, embeddings_initializer="zeros",
                                                   embeddings_regularizer=regularizer)
        self.item_bias = tf.keras.layers.Embedding(sizes["items"], 1, embeddings_initializer="zeros",
                                                   embeddings_regularizer=regularizer)

    @property
    def state_size(self) -> int:
        raise NotImplementedError

    @property
    def item_state_size(self) -> int:
        raise NotImplementedError

    def user_vector(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        raise NotImplementedError

    def item_vector(self, items: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def interaction(self, users: tf.Tensor, items: tf.Tensor, training: bool) -> tf.Tensor:
        """users (B, [N,] S - 1) and item vectors (B, [N,] S_item - 1) -> (B,) or (B, N)."""
        raise NotImplementedError

    def head(self) -> rating_head.Head:
        raise NotImplementedError

    def user_state(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        """(B, state_size): the user's bias, then ``user_vector``; ``exclude_item`` (B,) is left out of
        the user's history (see ``compute_loss``)."""
        return tf.concat([self.user_bias(features["user"]), self.user_vector(features, exclude_item)], axis=-1)

    def item_state(self, items: tf.Tensor) -> tf.Tensor:
        """(..., item_state_size): the item's bias, then ``item_vector``."""
        return tf.concat([self.item_bias(items), self.item_vector(items)], axis=-1)

    def score_items(self, state: tf.Tensor, items: tf.Tensor, training: bool = False) -> tf.Tensor:
        state, item_state = _broadcast_to_items(state, items), self.item_state(items)
        return (self.mean_rating + state[..., 0] + item_state[..., 0]
                + self.interaction(state[..., 1:], item_state[..., 1:], training))

    def call(self, features: Features, training: bool = False) -> tf.Tensor:
        return self.score_items(self.user_state(features), features["item"], training)

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        # A training example's own item and rating are in the user's history; validation, test and
        # serving never see their target there, so training must not either.
        items = features["item"]
        predictions = self.score_items(self.user_state(features, exclude_item=items), items, training)
        return tf.nn.compute_average_loss(tf.square(features["rating"] - predictions))  # MSE (ReplicaModel)


def _broadcast_to_items(user_vectors: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
    """(B, d) user vectors -> (B, N, d) when items are (B, N)."""
    if items.shape.rank == 2:
        return tf.repeat(user_vectors[:, tf.newaxis, :], tf.shape(items)[1], axis=1)
    return user_vectors


class MatrixFactorization(RatingModel):
    def __init__(self, sizes: Mapping[str, int], mean_rating: float, config: MFConfig) -> None:
        super().__init__(sizes, mean_rating, bias_l2=config.l2)
        self.config = config

        def factors(rows: int) -> tf.keras.layers.Embedding:
            return tf.keras.layers.Embedding(rows, config.dim,
                                             embeddings_regularizer=tf.keras.regularizers.l2(config.l2),
                                             embeddings_initializer=tf.keras.initializers.RandomNormal(0.0, 0.01))

        self.user_factors = factors(sizes["users"])
        self.item_factors = factors(sizes["items"])

    @property
    def state_size(self) -> int:
        return 1 + self.config.dim

    @property
    def item_state_size(self) -> int:
        return 1 + self.config.dim

    def user_vector(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        return self.user_factors(features["user"])

    def item_vector(self, items: tf.Tensor) -> tf.Tensor:
        return self.item_factors(items)

    def interaction(self, users: tf.Tensor, items: tf.Tensor, training: bool) -> tf.Tensor:
        return tf.reduce_sum(users * items, axis=-1)

    def head(self) -> rating_head.DotHead:
        return rating_head.DotHead(float(self.mean_rating.numpy()))


class DeepRankingModel(RatingModel):
    def __init__(self, sizes: Mapping[str, int], item_tables: ItemFeatureTables, mean_rating: float,
                 config: RankingConfig) -> None:
        super().__init__(sizes, mean_rating, bias_l2=config.bias_l2)
        self.config = config
        self.user_encoder = UserEncoder(sizes, config.encoder)
        self.item_encoder = ItemEncoder(sizes, item_tables, config.encoder)
        self.cross = tfrs.layers.dcn.Cross() if config.use_cross else None
        self.mlp = dense_stack((*config.hidden_widths, 1), dropout=config.dropout, name="mlp")

    @property
    def state_size(self) -> int:
        return 1 + self.user_encoder.output_size

    @property
    def item_state_size(self) -> int:
        return 1 + self.item_encoder.output_size

    def user_vector(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        return self.user_encoder(features, exclude_item=exclude_item)

    def item_vector(self, items: tf.Tensor) -> tf.Tensor:
        return self.item_encoder(items)

    def interaction(self, users: tf.Tensor, items: tf.Tensor, training: bool) -> tf.Tensor:
        combined = tf.concat([users, items], axis=-1)  # (B, [N,] du + di)
        if self.cross is not None:
            combined = self.cross(combined)
        return self.mlp(combined, training=training)[..., 0]

    def head(self) -> rating_head.DeepHead:
        cross = None
        if self.cross is not None:
            dense = self.cross._dense  # tfrs builds one full-rank Dense when projection_dim is None
            cross = (dense.kernel.numpy(), dense.bias.numpy())
        dense_layers = [layer for layer in self.mlp.layers if isinstance(layer, tf.keras.layers.Dense)]
        return rating_head.DeepHead(float(self.mean_rating.numpy()), self.user_encoder.output_size, cross,
                                    tuple((layer.kernel.numpy(), layer.bias.numpy()) for layer in dense_layers))
