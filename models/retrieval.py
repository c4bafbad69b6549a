"""Two-tower retrieval (Yi et al. 2019; TFRS ``tasks.Retrieval``).

score(user, item) = <query_tower(user), candidate_tower(item)> / temperature, trained with a softmax
over the other items of the mini-batch (in-batch negatives). In-batch negatives are drawn in
proportion to popularity, so the logits are corrected by log Q(item) (``logq_correction``), the
sampling-bias correction of Yi et al.; ``remove_accidental_hits`` drops in-batch copies of the
positive from the negatives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field

import tensorflow as tf
import tensorflow_recommenders as tfrs

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models.config import config_dataclass
from models.features import Features, ItemEncoder, RetrievalEncoderConfig, UserEncoder, dense_stack
from models.replica_model import ReplicaModel
from models.vocabulary import ItemFeatureTables


@config_dataclass
class RetrievalConfig:
    encoder: RetrievalEncoderConfig = field(default_factory=RetrievalEncoderConfig)
    tower_widths: tuple[int, ...] = (64,)  # dense layers on top of each encoder; last = embedding size
    normalize: bool = True  # cosine similarity: keeps popular items from winning on norm alone
    temperature: float = 0.1
    logq_correction: bool = True
    remove_accidental_hits: bool = True
    learning_rate: float = 0.003
    batch_size: int = 512
    epochs: int = 30  # upper bound; early stopping on validation recall picks the epoch
    patience: int = 3


class L2Normalize(tf.keras.layers.Layer):
    def call(self, vectors: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(vectors, axis=-1)


class TwoTowerModel(ReplicaModel):
    """Query tower: user id, demographics, recent items. Candidate tower: item id, genres, title tokens.

    Training features: the user index features (``models.features.USER_INDEX_KEYS``), ``item`` (B,)
    and ``item_log_probability`` (B,), the log of each item's share of training interactions.
    """

    def __init__(self, sizes: Mapping[str, int], item_tables: ItemFeatureTables, config: RetrievalConfig) -> None:
        super().__init__()
        self.config = config
        self.user_encoder = UserEncoder(sizes, config.encoder)
        self.item_encoder = ItemEncoder(sizes, item_tables, config.encoder)
        self.query_layers = dense_stack(config.tower_widths, name="query_layers")
        self.candidate_layers = dense_stack(config.tower_widths, name="candidate_layers")
        self.normalize = L2Normalize() if config.normalize else tf.keras.layers.Identity()
        self.task = tfrs.tasks.Retrieval(temperature=config.temperature,
                                         remove_accidental_hits=config.remove_accidental_hits)

    def query_embedding(self, features: Features, exclude_item: tf.Tensor | None = None) -> tf.Tensor:
        return self.normalize(self.query_layers(self.user_encoder(features, exclude_item=exclude_item)))

    def candidate_embedding(self, items: tf.Tensor) -> tf.Tensor:
        return self.normalize(self.candidate_layers(self.item_encoder(items)))

    def compute_loss(self, features: Features, training: bool = False) -> tf.Tensor:
        queries = self.query_embedding(features, exclude_item=features["item"])  # (B, d)
        candidates = self.candidate_embedding(features["item"])  # (B, d)
        sampling_probability = tf.exp(features["item_log_probability"]) if self.config.logq_correction else None
        return self.task(queries, candidates, candidate_ids=features["item"],
                         candidate_sampling_probability=sampling_probability, compute_metrics=False)  # summed
