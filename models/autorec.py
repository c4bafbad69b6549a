"""I-AutoRec (Sedhain et al. 2015, "AutoRec: Autoencoders Meet Collaborative Filtering").

Each item's vector of ratings by all users, r_i, is encoded h_i = sigmoid(V r_i + mu) and decoded
r_hat_i = W h_i + b; only observed ratings count in the loss, with an L2 penalty on V and W. The
prediction for (u, i) is row u of the decoder applied to h_i, i.e. W[u] . h_i + b[u], so predictions
read a table of item codes (``refresh_codes`` recomputes it after training or ``use_ratings``) and one
decoder row per user: a few thousand multiply-adds per candidate.

The ratings matrix lives inside the model (items x users, float32), which bounds it to catalogs
where that matrix fits in memory (``MAX_CELLS``); the trainer skips it above that.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models import rating_head
from models.config import config_dataclass
from models.replica_model import ReplicaModel

MAX_CELLS = 50_000_000  # items x users; 200 MB of float32


@config_dataclass
class AutoRecConfig:
    # On ML-100K u1 validation RMSE (seed 42): hidden 500 at learning rate 0.002 -> 0.9186 (best epoch
    # 12: it overfits within a few epochs), 0.0005 -> 0.9014, 0.0002 -> 0.8996; hidden 250 at 0.0005 ->
    # 0.8933, at 0.0002 -> 0.8914; hidden 100 / 150 / 1000 and L2 1e-4 / 5e-4 / 2e-3 / 3e-3 did worse.
    hidden_size: int = 250
    l2: float = 1e-3  # on encoder and decoder weights
    learning_rate: float = 0.0002
    batch_size: int = 64  # items per step
    epochs: int = 400  # upper bound; early stopping on validation RMSE picks the epoch (150-190 on ML-100K)
    patience: int = 10


def ratings_matrix(user_index: np.ndarray, item_index: np.ndarray, ratings: np.ndarray, n_users: int,
                   n_items: int) -> np.ndarray:
    """(n_items + 1, n_users + 1) float32 with 0 where unobserved (ratings are >= 0.5 on every scale)."""
    matrix = np.zeros((n_items + 1, n_users + 1), dtype=np.float32)
    matrix[item_index, user_index] = ratings
    return matrix


class ItemAutoRec(ReplicaModel):
    """Features: ``user`` (B,) and ``item`` (B,) or (B, N) indices; training batches carry ``item`` only."""

    def __init__(self, matrix: np.ndarray, config: AutoRecConfig) -> None:
        super().__init__()
        self.config = config
        self.ratings = tf.Variable(matrix, trainable=False, name="item_ratings")  # (items, users)
        regularizer = tf.keras.regularizers.l2(config.l2)
        self.encoder = tf.keras.layers.Dense(config.hidden_size, activation="sigmoid", kernel_regularizer=regularizer)
        self.decoder = tf.keras.layers.Dense(matrix.shape[1], kernel_regularizer=regularizer)
        self.decoder.build((None, config.hidden_size))
        self.item_codes = tf.Variable(self.encoder(matrix), trainable=False, name="item_codes")

    def use_ratings(self, matrix: np.ndarray) -> None:
        """Encode from a different (e.g. larger) body of ratings, as at test and serving time."""
        self.ratings.assign(matrix)
        self.refresh_codes()

    def refresh_codes(self) -> None:
        self.item_codes.assign(self.encoder(self.ratings))

    @property
    def state_size(self) -> int:
        return 1 + self.config.hidden_size

    @property
    def item_state_size(self) -> int:
        return self.config.hidden_size

    def user_state(self, features) -> tf.Tensor:
        """(B, 1 + hidden): the user's decoder bias b[u] and row W[u]."""
        users = features["user"]
        return tf.concat([tf.gather(self.decoder.bias, users)[:, tf.newaxis],
                          tf.gather(tf.transpose(self.decoder.kernel), users)], axis=1)

    def item_state(self, items: tf.Tensor) -> tf.Tensor:
        """(..., hidden): the item's code h_i."""
        return tf.gather(self.item_codes, items)

    def score_items(self, state: tf.Tensor, items: tf.Tensor, training: bool = False) -> tf.Tensor:
        """W[u] . h_i + b[u]: the decoder's output for user u, without decoding every user."""
        if items.shape.rank == 2:
            state = state[:, tf.newaxis, :]
        return tf.reduce_sum(self.item_state(items) * state[..., 1:], axis=-1) + state[..., 0]

    def head(self) -> rating_head.AutoRecHead:
        return rating_head.AutoRecHead()

    def call(self, features, training: bool = False) -> tf.Tensor:
        return self.score_items(self.user_state(features), features["item"], training)

    def compute_loss(self, features, training: bool = False) -> tf.Tensor:
        observed = tf.gather(self.ratings, features["item"])  # (B, users)
        mask = tf.cast(observed > 0, tf.float32)
        reconstruction = self.decoder(self.encoder(observed))
        squared = tf.reduce_sum(mask * tf.square(reconstruction - observed))
        # The mean over observed ratings, this replica's share of it (ReplicaModel adds the L2 penalties).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return squared / tf.maximum(tf.reduce_sum(mask), 1.0) / replicas
