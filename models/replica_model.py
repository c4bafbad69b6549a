"""A ``tfrs.Model`` whose training step is also right on several replicas (``tf.distribute``).

On a strategy with N replicas in sync (``training.fit.distribute``), each replica computes the loss of
its own part of the global batch and the gradients of all replicas are summed. So ``compute_loss``
returns this replica's share of the global batch's loss: a sum over its examples as it is, a mean
through ``tf.nn.compute_average_loss`` (which divides by the global batch size), and the
regularization penalty is split among the replicas. On one replica all of this is the plain loss.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)


class ReplicaModel(tfrs.Model):
    def __init__(self) -> None:
        super().__init__()
        # Logged losses: the sum of the replicas' shares is the global batch's loss.
        self.distribute_reduction_method = "sum"

    def train_step(self, inputs) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            penalties = [tf.reduce_sum(penalty) for penalty in self.losses]
            regularization_loss = tf.nn.scale_regularization_loss(tf.add_n(penalties)) if penalties else 0.0
            total_loss = loss + regularization_loss
        gradients = tape.gradient(total_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        return {"loss": loss, "regularization_loss": regularization_loss, "total_loss": total_loss}
