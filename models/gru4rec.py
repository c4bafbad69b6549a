"""GRU4Rec (Hidasi et al. 2016, "Session-based Recommendations with Recurrent Neural Networks";
Hidasi & Karatzoglou 2018, "Recurrent Neural Networks with Top-k Gains for Session-based Recommendations").

One GRU layer reads the session's items one at a time; the score of item j after step t is
``h_t . W_out[j] + b_out[j]``. With ``constrained_embedding`` the input embedding of an item is its
output vector ``W_out[j]`` (the official default), so each item has one vector.

Training (see ``training.fit.gru4rec``) scores each mini-batch row against the targets of all rows
(in-batch negatives) plus ``n_sample`` negatives shared by the whole mini-batch, drawn from
popularity ** ``sample_alpha``. When ``n_sample`` is at least the number of items, sampling buys
nothing: every item is scored instead (an exact softmax, and cheaper). Two losses, as in the official code:

- ``cross-entropy``: softmax over those candidates, -log p(target); optional log Q correction.
- ``bpr-max``: -log sum_j softmax_neg(r)_j sigmoid(r_target - r_j) + bpreg * sum_j softmax_neg(r)_j r_j^2,
  on ELU-transformed scores. Plain BPR and TOP1 are left out: their gradients vanish once most
  negatives are already ranked below the target (Hidasi & Karatzoglou 2018, section 3).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models.config import config_dataclass


@config_dataclass
class GRU4RecConfig:
    hidden_size: int = 100
    loss: Literal["cross-entropy", "bpr-max"] = "cross-entropy"
    constrained_embedding: bool = True
    embedding_size: int = 0  # used only without constrained_embedding; 0 means hidden_size
    batch_size: int = 64  # parallel sessions per mini-batch
    n_sample: int = 2048  # negatives shared by the mini-batch
    sample_alpha: float = 0.5  # sampling distribution: popularity ** sample_alpha
    logq: float = 0.0  # strength of the log Q correction (cross-entropy only)
    bpreg: float = 1.0  # score regularisation of BPR-max
    elu_param: float = 0.5  # ELU on scores before BPR-max; 0 disables it
    dropout_embedding: float = 0.0
    dropout_hidden: float = 0.1
    learning_rate: float = 0.05
    epochs: int = 10  # upper bound; early stopping on validation recall picks the epoch
    patience: int = 2
    max_history: int = 200  # items read at prediction time (the most recent ones)


def _uniform(shape: tuple[int, int], rng: np.random.Generator) -> tf.Variable:
    bound = np.sqrt(6.0 / (shape[0] + shape[1]))  # Glorot uniform, as the official code
    return tf.Variable(rng.uniform(-bound, bound, size=shape).astype(np.float32))


class GRU4Rec(tf.Module):
    """Item indices follow ``models.vocabulary``: 0 is padding, items are 1..n_items."""

    def __init__(self, n_items: int, config: GRU4RecConfig, seed: int = 42) -> None:
        super().__init__(name="gru4rec")
        self.config = config
        rng = np.random.default_rng(seed)
        hidden = config.hidden_size
        rows = n_items + 1
        self.output_weights = _uniform((rows, hidden), rng)  # W_out, one row per item
        self.output_bias = tf.Variable(np.zeros(rows, dtype=np.float32))
        input_size = hidden if config.constrained_embedding else (config.embedding_size or hidden)
        if not config.constrained_embedding:
            self.input_embedding = _uniform((rows, input_size), rng)
        # GRU gates as in Cho et al. 2014: update z, reset r, candidate h~ = tanh(x W_x + (r * h) W_h).
        self.w_input = _uniform((input_size, 3 * hidden), rng)
        self.w_gates = _uniform((hidden, 2 * hidden), rng)
        self.w_candidate = _uniform((hidden, hidden), rng)
        self.gate_bias = tf.Variable(np.zeros(3 * hidden, dtype=np.float32))

    def embed(self, items: tf.Tensor) -> tf.Tensor:
        table = self.output_weights if self.config.constrained_embedding else self.input_embedding
        return tf.gather(table, items)

    def step(self, items: tf.Tensor, hidden: tf.Tensor, training: bool = False) -> tf.Tensor:
        """One GRU step: items (B,), hidden (B, H) -> new hidden (B, H)."""
        x = self.embed(items)
        if training and self.config.dropout_embedding:
            x = tf.nn.dropout(x, self.config.dropout_embedding)
        x_candidate, x_reset, x_update = tf.split(tf.matmul(x, self.w_input) + self.gate_bias, 3, axis=1)
        h_reset, h_update = tf.split(tf.matmul(hidden, self.w_gates), 2, axis=1)
        reset = tf.sigmoid(x_reset + h_reset)
        update = tf.sigmoid(x_update + h_update)
        candidate = tf.tanh(tf.matmul(hidden * reset, self.w_candidate) + x_candidate)
        new_hidden = (1.0 - update) * hidden + update * candidate
        if training and self.config.dropout_hidden:
            new_hidden = tf.nn.dropout(new_hidden, self.config.dropout_hidden)
        return new_hidden

    def score_candidates(self, hidden: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """hidden (B, H), candidates (C,) -> logits (B, C)."""
        return tf.matmul(hidden, tf.gather(self.output_weights, candidates), transpose_b=True) + tf.gather(
            self.output_bias, candidates)

    def encode(self, sequences: tf.Tensor) -> tf.Tensor:
        """Right-padded item sequences (B, T) -> hidden state after each one's last item (B, H)."""
        batch = tf.shape(sequences)[0]
        initial = tf.zeros((batch, self.config.hidden_size))

        def advance(hidden: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
            return tf.where((items > 0)[:, tf.newaxis], self.step(items, hidden), hidden)

        return tf.foldl(advance, tf.transpose(sequences), initializer=initial)

    def next_item_scores(self, sequences: tf.Tensor) -> tf.Tensor:
        """(B, T) -> scores of every item index (B, n_items + 1); column 0 (padding) is -inf."""
        hidden = self.encode(sequences)
        scores = tf.matmul(hidden, self.output_weights, transpose_b=True) + self.output_bias
        return tf.concat([tf.fill([tf.shape(scores)[0], 1], -np.inf), scores[:, 1:]], axis=1)


def cross_entropy_loss(logits: tf.Tensor, target_columns: tf.Tensor, log_q: tf.Tensor | None = None) -> tf.Tensor:
    """logits (B, C), the column of each row's target (B,), and optionally log_q (C,): scaled log sampling
    probabilities to subtract (the log Q correction). Returns the summed loss."""
    if log_q is not None:
        logits = logits - log_q[tf.newaxis, :]
    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(target_columns, logits))


def bpr_max_loss(logits: tf.Tensor, target_columns: tf.Tensor, bpreg: float, elu_param: float) -> tf.Tensor:
    """BPR-max over logits (B, C) given the column of each row's target (B,). Returns the summed loss."""
    if elu_param > 0:
        # ELU with alpha = elu_param; exp of the clipped value keeps the unused branch finite.
        logits = tf.where(logits > 0, logits, elu_param * (tf.exp(tf.minimum(logits, 0.0)) - 1.0))
    target = tf.gather(logits, target_columns, batch_dims=1)[:, tf.newaxis]
    negatives_mask = 1.0 - tf.one_hot(target_columns, tf.shape(logits)[1])
    masked = logits * negatives_mask
    weights = tf.exp(masked - tf.reduce_max(masked, axis=1, keepdims=True)) * negatives_mask
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)  # softmax over the negatives only
    ranking = -tf.math.log(tf.reduce_sum(tf.sigmoid(target - logits) * weights, axis=1) + 1e-24)
    regularization = bpreg * tf.reduce_sum(weights * tf.square(logits), axis=1)
    return tf.reduce_sum(ranking + regularization)
