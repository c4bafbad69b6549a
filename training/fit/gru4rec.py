"""GRU4Rec's training loop: session-parallel mini-batches, shared popularity-sampled negatives,
cross-entropy or BPR-max loss (see ``models.gru4rec``), Adagrad as in the official code."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from models.gru4rec import GRU4Rec, GRU4RecConfig, bpr_max_loss, cross_entropy_loss
from training.data.sequences import SequenceSet, SequenceSplit
from training.evaluate.metrics import HistoryScorer, evaluate_next_item
from training.fit.loop import TrainingCurve, refit_epochs, run_epochs
from training.fit.session_parallel import PopularitySampler, session_parallel_steps


def history_scorer(model: GRU4Rec) -> HistoryScorer:
    """A ``training.evaluate.metrics`` history scorer over the model's compiled forward pass."""
    forward = tf.function(model.next_item_scores, input_signature=[tf.TensorSpec([None, None], tf.int32)])

    def score(histories: np.ndarray) -> np.ndarray:
        return forward(tf.constant(histories, tf.int32)).numpy()

    return score


def _gru4rec_epochs(sequences: SequenceSet, counts: np.ndarray, n_items: int, config: GRU4RecConfig,
                    seed: int) -> tuple[GRU4Rec, Callable[[], float]]:
    """A fresh model and the function that trains it for one epoch over ``sequences``."""
    tf.random.set_seed(seed)
    model = GRU4Rec(n_items, config, seed=seed)
    # No initial accumulator, as the official Adagrad: Keras' default of 0.1 shrinks the first steps ~100x.
    optimizer = tf.keras.optimizers.Adagrad(learning_rate=config.learning_rate, initial_accumulator_value=0.0,
                                            epsilon=1e-6)
    sampler = PopularitySampler(counts, config.sample_alpha, np.random.default_rng(seed))
    # log Q of in-batch targets is their popularity, of shared samples popularity ** alpha (official code).
    log_popularity = np.log(np.maximum(counts, 1.0)).astype(np.float32)
    log_sampled = np.log(np.maximum(sampler.probabilities, 1e-12)).astype(np.float32)
    variables = model.trainable_variables
    score_all_items = config.n_sample >= n_items
    all_items = tf.range(1, n_items + 1, dtype=tf.int32)
    n_sample = 0 if score_all_items else config.n_sample

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)] * 3 + [tf.TensorSpec([None, None], tf.float32)])
    def train_step(inputs: tf.Tensor, targets: tf.Tensor, negatives: tf.Tensor, hidden: tf.Tensor):
        if score_all_items:
            candidates, target_columns = all_items, targets - 1
        else:  # (B + S,): each row's target is a negative for the other rows; targets on the diagonal
            candidates, target_columns = tf.concat([targets, negatives], axis=0), tf.range(tf.shape(targets)[0])
        with tf.GradientTape() as tape:
            new_hidden = model.step(inputs, hidden, training=True)
            logits = model.score_candidates(new_hidden, candidates)  # (B, C)
            if config.loss == "bpr-max":
                loss = bpr_max_loss(logits, target_columns, config.bpreg, config.elu_param)
            else:
                log_q = None
                if config.logq and not score_all_items:
                    log_q = config.logq * tf.concat([tf.gather(log_popularity, targets),
                                                     tf.gather(log_sampled, negatives)], axis=0)
                loss = cross_entropy_loss(logits, target_columns, log_q)
            loss = loss / tf.cast(tf.shape(inputs)[0], tf.float32)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss, new_hidden

    def train_epoch() -> float:
        hidden = np.zeros((config.batch_size, config.hidden_size), dtype=np.float32)
        total, steps = 0.0, 0
        for step in session_parallel_steps(sequences.items, sequences.offsets, config.batch_size):
            hidden = hidden[step.keep]
            hidden[step.reset] = 0.0
            loss, new_hidden = train_step(step.inputs, step.targets, sampler.sample(n_sample), hidden)
            hidden = new_hidden.numpy()
            total += float(loss)
            steps += 1
        return total / max(steps, 1)

    return model, train_epoch


def fit_gru4rec(split: SequenceSplit, validation: SequenceSplit, config: GRU4RecConfig, seed: int = 42,
                refit: bool = True) -> tuple[GRU4Rec, GRU4Rec, TrainingCurve]:
    """(served, fitted, curve): train on ``validation.train`` and keep the epoch with the best validation
    recall@20 (fitted); with ``refit``, the served model is a fresh one trained on all of ``split.train``
    for that many epochs, else the fitted one.

    Both splits share one vocabulary (``training.data.sequences.split_sequences``)."""
    fitted, train_epoch = _gru4rec_epochs(validation.train, validation.counts, split.n_items, config, seed)
    validation_scorer = history_scorer(fitted)

    def validate() -> float:
        return evaluate_next_item(validation_scorer, validation.test)["recall@20"]

    curve = TrainingCurve(model="gru4rec", metric="recall@20", higher_is_better=True)
    started = time.perf_counter()
    variables = fitted.trainable_variables
    run_epochs(curve, config.epochs, config.patience, train_epoch, validate,
               get_weights=lambda: [variable.numpy() for variable in variables],
               set_weights=lambda weights: [v.assign(w) for v, w in zip(variables, weights, strict=True)])
    curve.seconds = time.perf_counter() - started
    served = fitted
    if refit:
        served, train_epoch = _gru4rec_epochs(split.train, split.counts, split.n_items, config, seed)
        refit_epochs(curve, train_epoch)
    return served, fitted, curve
