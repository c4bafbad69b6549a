"""A linear blend of rating models (the Netflix Prize's final step): intercept + sum_k w_k r_k(u, i),
each member's prediction clipped to the rating range first. The weights are fitted by least squares
on held-out (validation) predictions (``fit_blend``), never on the data the members learned from."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models import rating_head


def fit_blend(predictions: Mapping[str, np.ndarray], ratings: np.ndarray,
              rating_range: tuple[float, float]) -> np.ndarray:
    """Least-squares weights [intercept, w_1, ..., w_K] for the members in ``predictions`` order."""
    columns = [np.ones(len(ratings))] + [np.clip(values, *rating_range) for values in predictions.values()]
    weights, *_ = np.linalg.lstsq(np.column_stack(columns), ratings, rcond=None)
    return weights.astype(np.float32)


class RatingEnsemble(tfrs.Model):
    def __init__(self, members: Mapping[str, tf.keras.Model], weights: np.ndarray,
                 rating_range: tuple[float, float]) -> None:
        super().__init__()
        self.member_names = list(members)
        self.members = [members[name] for name in self.member_names]
        self.blend = tf.Variable(weights, trainable=False, name="blend_weights")  # (1 + K,)
        self.rating_range = rating_range

    @property
    def state_size(self) -> int:
        return sum(member.state_size for member in self.members)

    @property
    def item_state_size(self) -> int:
        return sum(member.item_state_size for member in self.members)

    def user_state(self, features) -> tf.Tensor:
        return tf.concat([member.user_state(features) for member in self.members], axis=-1)

    def item_state(self, items: tf.Tensor) -> tf.Tensor:
        return tf.concat([member.item_state(items) for member in self.members], axis=-1)

    def head(self) -> rating_head.BlendHead:
        return rating_head.BlendHead(tuple(member.head() for member in self.members),
                                     tuple(member.state_size for member in self.members),
                                     tuple(member.item_state_size for member in self.members),
                                     self.blend.numpy(), tuple(self.rating_range))

    def score_items(self, state: tf.Tensor, items: tf.Tensor, training: bool = False) -> tf.Tensor:
        states = tf.split(state, [member.state_size for member in self.members], axis=-1)
        prediction = self.blend[0]
        for position, (member, member_state) in enumerate(zip(self.members, states, strict=True)):
            rating = tf.clip_by_value(member.score_items(member_state, items), *self.rating_range)
            prediction += self.blend[position + 1] * rating
        return prediction

    def call(self, features, training: bool = False) -> tf.Tensor:
        return self.score_items(self.user_state(features), features["item"], training)
