"""NARM training: every prefix of every training sequence predicts its next item (the paper's data
augmentation), cross-entropy over all items, Adam, early stopping on validation recall@20."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from models.narm import NARM, NARMConfig
from training.data.sequences import SequenceSet, SequenceSplit
from training.evaluate.metrics import HistoryScorer, evaluate_next_item
from training.fit.loop import TrainingCurve, fit_keras, keras_epoch, refit_epochs


def prefix_examples(sequences: SequenceSet, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(histories (N, width) right-padded with the most recent items, targets (N,)) for every position
    p >= 1 of every sequence; width is ``length`` or the longest history, if shorter (each GRU step costs)."""
    starts, ends = sequences.offsets[:-1], sequences.offsets[1:]
    positions = np.concatenate([np.arange(start + 1, end) for start, end in zip(starts, ends, strict=True)])
    sequence_start = np.repeat(starts, ends - starts - 1)
    first = np.maximum(sequence_start, positions - length)
    sizes = positions - first
    width = int(sizes.max(initial=1))
    histories = np.zeros((len(positions), width), dtype=np.int32)
    columns = np.arange(width)
    take = columns[np.newaxis, :] < sizes[:, np.newaxis]
    histories[take] = sequences.items[(first[:, np.newaxis] + columns[np.newaxis, :])[take]]
    return histories, sequences.items[positions].astype(np.int32)


def narm_scorer(model: NARM) -> HistoryScorer:
    forward = tf.function(model.next_item_scores, input_signature=[tf.TensorSpec([None, None], tf.int32)])

    def score(histories: np.ndarray) -> np.ndarray:
        return forward(tf.constant(histories, tf.int32)).numpy()

    return score


def _narm_epochs(sequences: SequenceSet, n_items: int, config: NARMConfig, seed: int) -> tuple[NARM, tf.data.Dataset]:
    tf.keras.utils.set_random_seed(seed)
    model = NARM(n_items, config)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    histories, targets = prefix_examples(sequences, config.train_length)
    dataset = (tf.data.Dataset.from_tensor_slices((histories, targets))
               .shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
               .batch(config.batch_size).prefetch(2))
    return model, dataset


def fit_narm(split: SequenceSplit, validation: SequenceSplit, config: NARMConfig, seed: int = 42,
             refit: bool = True) -> tuple[NARM, NARM, TrainingCurve]:
    """(served, fitted, curve) as ``training.fit.gru4rec.fit_gru4rec``."""
    fitted, dataset = _narm_epochs(validation.train, split.n_items, config, seed)
    scorer = narm_scorer(fitted)
    curve = TrainingCurve(model="narm", metric="recall@20", higher_is_better=True)
    started = time.perf_counter()
    fit_keras(fitted, dataset, curve, config.epochs, config.patience,
              lambda: evaluate_next_item(scorer, validation.test)["recall@20"])
    curve.seconds = time.perf_counter() - started
    served = fitted
    if refit:
        served, dataset = _narm_epochs(split.train, split.n_items, config, seed)
        refit_epochs(curve, keras_epoch(served, dataset))
    return served, fitted, curve
