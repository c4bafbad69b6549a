"""NARM (Li et al. 2017, "Neural Attentive Session-based Recommendation").

A GRU reads the session's item embeddings. The global encoder is the last hidden state h_t; the local
encoder attends over all hidden states with weights alpha_j = v . sigmoid(A1 h_t + A2 h_j) (no
softmax, as in the paper); the session representation c = [h_t ; sum_j alpha_j h_j] is decoded
bilinearly against every item embedding: score_i = emb_i . (B c). Trained with cross-entropy over
all items (``training.fit.narm``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from models.config import config_dataclass


@config_dataclass
class NARMConfig:
    embedding_size: int = 64
    hidden_size: int = 100
    dropout_embedding: float = 0.25  # paper: 25% between the item embedding and the GRU
    dropout_context: float = 0.25  # paper: 50%; 25% did better on validation on every data set here
    learning_rate: float = 0.005  # paper: 0.001 with batch 512, which needed 30+ epochs here
    batch_size: int = 256
    epochs: int = 12  # upper bound; early stopping on validation recall picks the epoch
    patience: int = 3
    train_length: int = 20  # most recent items of each training prefix (each GRU step costs time)
    max_history: int = 200  # items read at prediction time (the most recent ones)


class NARM(tf.keras.Model):
    """Item indices follow ``models.vocabulary``: 0 is padding, items are 1..n_items.
    Input: right-padded sequences (B, T); output: logits for every item index (B, n_items + 1)."""

    def __init__(self, n_items: int, config: NARMConfig) -> None:
        super().__init__(name="narm")
        self.config = config
        self.item_embedding = tf.keras.layers.Embedding(n_items + 1, config.embedding_size, mask_zero=True)
        self.embedding_dropout = tf.keras.layers.Dropout(config.dropout_embedding)
        self.gru = tf.keras.layers.GRU(config.hidden_size, return_sequences=True, return_state=True)
        self.attention_last = tf.keras.layers.Dense(config.hidden_size, use_bias=False)  # A1
        self.attention_each = tf.keras.layers.Dense(config.hidden_size, use_bias=False)  # A2
        self.attention_score = tf.keras.layers.Dense(1, use_bias=False)  # v
        self.context_dropout = tf.keras.layers.Dropout(config.dropout_context)
        self.bilinear = tf.keras.layers.Dense(config.embedding_size, use_bias=False)  # B

    def call(self, sequences: tf.Tensor, training: bool = False) -> tf.Tensor:
        mask = sequences > 0  # (B, T)
        embedded = self.embedding_dropout(self.item_embedding(sequences), training=training)  # (B, T, E)
        states, last = self.gru(embedded, mask=mask, training=training)  # (B, T, H), (B, H)
        weights = self.attention_score(tf.sigmoid(self.attention_last(last)[:, tf.newaxis, :]
                                                  + self.attention_each(states)))  # (B, T, 1)
        weights *= tf.cast(mask, weights.dtype)[..., tf.newaxis]
        local = tf.reduce_sum(weights * states, axis=1)  # (B, H)
        context = self.context_dropout(tf.concat([last, local], axis=1), training=training)  # (B, 2H)
        return tf.matmul(self.bilinear(context), self.item_embedding.embeddings, transpose_b=True)  # (B, n + 1)

    def next_item_scores(self, sequences: tf.Tensor) -> tf.Tensor:
        """(B, T) -> scores of every item index (B, n_items + 1); column 0 (padding) is -inf."""
        scores = self(sequences, training=False)
        return tf.concat([tf.fill([tf.shape(scores)[0], 1], -np.inf), scores[:, 1:]], axis=1)
