"""Exportable wrappers: raw ids in, model outputs out, with the signatures named in ``artifact_format``.

Each wrapper holds the feature lookups, so a SavedModel is self-contained: the server passes the
strings it received (and the user features it stores) and never sees vocabulary indices.
"""

from __future__ import annotations

import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models import artifact_format as fmt
from models.features import FeatureEncoder, lookup_table
from models.gru4rec import GRU4Rec
from models.narm import NARM
from models.ranking import RatingModel
from models.retrieval import TwoTowerModel

_USER_SPECS = [tf.TensorSpec([None] * rank, getattr(tf, dtype), name=name)
               for name, (dtype, rank) in fmt.USER_FEATURES.items()]
_ITEMS_SPEC = tf.TensorSpec([None, None], tf.string, name="item_ids")


def _raw_users(user_id, age, categories, recent_items, recent_ratings) -> dict[str, tf.Tensor]:
    return {"user_id": user_id, "age": age, "categories": categories, "recent_items": recent_items,
            "recent_ratings": recent_ratings}


class QueryServing(tf.Module):
    def __init__(self, encoder: FeatureEncoder, model: TwoTowerModel) -> None:
        super().__init__(name="query_serving")
        self.encoder = encoder
        self.model = model

    @tf.function(input_signature=_USER_SPECS)
    def embed_users(self, user_id, age, categories, recent_items, recent_ratings):
        features = self.encoder.users(_raw_users(user_id, age, categories, recent_items, recent_ratings))
        return {"embedding": self.model.query_embedding(features)}


class RankingServing(tf.Module):
    def __init__(self, encoder: FeatureEncoder, model: RatingModel, rating_range: tuple[float, float]) -> None:
        super().__init__(name="ranking_serving")
        self.encoder = encoder
        self.model = model
        self.rating_range = tf.constant(rating_range, dtype=tf.float32)

    @tf.function(input_signature=[*_USER_SPECS, _ITEMS_SPEC])
    def predict_ratings(self, user_id, age, categories, recent_items, recent_ratings, item_ids):
        state = self.encode_users(user_id, age, categories, recent_items, recent_ratings)["user_state"]
        return self.score_items(state, item_ids)

    @tf.function(input_signature=_USER_SPECS)
    def encode_users(self, user_id, age, categories, recent_items, recent_ratings):
        features = self.encoder.users(_raw_users(user_id, age, categories, recent_items, recent_ratings))
        return {"user_state": self.model.user_state(features)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="item_ids")])
    def encode_items(self, item_ids):
        return {"item_state": self.model.item_state(self.encoder.items(item_ids))}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="user_state"), _ITEMS_SPEC])
    def score_items(self, user_state, item_ids):
        ratings = self.model.score_items(user_state, self.encoder.items(item_ids))  # (B, N)
        return {"rating": tf.clip_by_value(ratings, self.rating_range[0], self.rating_range[1])}


class SessionServing(tf.Module):
    def __init__(self, item_ids: tuple[str, ...], model: GRU4Rec | NARM) -> None:
        super().__init__(name="session_serving")
        self.item_table = lookup_table(item_ids)
        self.model = model

    @tf.function(input_signature=[_ITEMS_SPEC])
    def next_item_scores(self, item_ids):
        """Unknown ids map to the padding index, which the model skips."""
        sequences = tf.cast(self.item_table.lookup(item_ids), tf.int32)
        return {"scores": self.model.next_item_scores(sequences)[:, 1:]}


def save(module: tf.Module, signature_names: tuple[str, ...], directory: str) -> None:
    tf.saved_model.save(module, directory, signatures={name: getattr(module, name) for name in signature_names})
