"""Fit the user autoencoders (Mult-VAE, Mult-DAE: ``models.mult_vae``), a candidate source of ``/recommend``.

Each is fitted on the users' ``fit`` items with early stopping on validation recall@10 (which also
fixes Mult-VAE's KL weight beta, annealed per step); with ``refit`` a fresh model is trained on the
whole training part for the epochs validation chose. With kind "auto" both are fitted and the one
with the better validation recall@10 is served. Validation and test score with the served numpy
form (``models.user_autoencoder``), the code the server runs.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import tensorflow as tf

from models.mult_vae import MAX_CELLS, AutoencoderConfig, MultVAE, kind
from models.selection import SeenItems, indices_of, rows_of
from models.user_autoencoder import UserAutoencoder
from training.data.examples import RatingContext
from training.evaluate.metrics import UserScorer, evaluate_retrieval
from training.fit.loop import Trained, TrainingCurve, fit_keras, refit_keras

log = logging.getLogger(__name__)


def report_name(kind_name: str) -> str:
    """The report's row of one autoencoder alone: "mult_vae" or "mult_dae"."""
    return f"mult_{kind_name}"


def interaction_vectors(seen: SeenItems, batch_size: int, seed: int) -> tf.data.Dataset:
    """Batches of (B, n_items) 0/1 float32 rows, one per user with at least one item, built per batch
    from the CSR arrays (the dense users x items matrix never exists)."""
    users = np.flatnonzero(seen.counts > 0).astype(np.int64)
    items = tf.RaggedTensor.from_row_splits(tf.constant(seen.indices, tf.int64), tf.constant(seen.indptr, tf.int64))
    n_items = seen.n_columns

    def dense(rows: tf.Tensor) -> tf.Tensor:
        picked = tf.gather(items, rows)  # (B, None)
        coordinates = tf.stack([picked.value_rowids(), picked.flat_values], axis=1)
        return tf.scatter_nd(coordinates, tf.ones_like(picked.flat_values, tf.float32),
                             tf.stack([tf.shape(rows, out_type=tf.int64)[0], n_items]))

    return (tf.data.Dataset.from_tensor_slices(users).shuffle(len(users), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size).map(dense).prefetch(2))


def autoencoder_scorer(model: UserAutoencoder, seen: SeenItems) -> UserScorer:
    """User indices -> scores over every item index (column 0, padding, is -inf)."""

    def score(users: np.ndarray) -> np.ndarray:
        scores = np.full((len(users), model.n_items + 1), -np.inf, dtype=np.float32)
        scores[:, indices_of(np.arange(model.n_items))] = model.scores(seen, rows_of(users))
        return scores

    return score


def train_autoencoder(context: RatingContext, config: AutoencoderConfig, seed: int = 42,
                      refit: bool = True) -> Trained | None:
    """``model`` and ``fitted`` are ``UserAutoencoder``s; None on catalogs too large (``MAX_CELLS``)."""
    n_users, n_items = len(context.vocab.users), len(context.vocab.items)
    if n_users * n_items > MAX_CELLS:
        log.info("Mult-VAE / Mult-DAE skipped: %d users x %d items is more than %d cells", n_users, n_items, MAX_CELLS)
        return None
    steps_per_epoch = math.ceil(int((context.train_view.seen.counts > 0).sum()) / config.batch_size)
    validation_items = context.held_out_items("validation")
    test_items, seen = context.held_out_items("test"), context.train_view.seen
    outcomes: dict[str, tuple[UserAutoencoder, UserAutoencoder, TrainingCurve]] = {}
    for variational in (True, False) if config.kind == "auto" else (config.kind == "vae",):
        name = report_name(kind(variational))

        def build(variational: bool = variational) -> MultVAE:
            return MultVAE(n_items, config, variational, anneal_steps=config.anneal_epochs * steps_per_epoch)

        tf.keras.utils.set_random_seed(seed)
        fitted = build()
        fitted.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))

        def validate(fitted: MultVAE = fitted) -> float:
            scorer = autoencoder_scorer(fitted.to_numpy(), context.fit_view.seen)
            return evaluate_retrieval(scorer, validation_items, context.fit_view.seen, ks=(10,))["recall@10"]

        curve = TrainingCurve(model=name, metric="recall@10", higher_is_better=True)
        started = time.perf_counter()
        fit_keras(fitted, interaction_vectors(context.fit_view.seen, config.batch_size, seed), curve, config.epochs,
                  config.patience, validate)
        curve.seconds = time.perf_counter() - started
        if variational:
            log.info("%s: beta %.3f at the kept epoch %d", name, float(fitted.beta), curve.best_epoch)
        served = fitted
        if refit:
            served = refit_keras(build, lambda: tf.keras.optimizers.Adam(config.learning_rate),
                                 interaction_vectors(seen, config.batch_size, seed), curve, seed)
        outcomes[name] = (fitted.to_numpy(), served.to_numpy(), curve)
    chosen = max(outcomes, key=lambda name: outcomes[name][2].best_value)
    if len(outcomes) > 1:
        log.info("user autoencoder chosen on validation: %s (recall@10 %s)", chosen,
                 {name: round(curve.best_value, 4) for name, (_, _, curve) in outcomes.items()})
    metrics = {name: evaluate_retrieval(autoencoder_scorer(served, seen), test_items, seen, label=f"evaluate {name}")
               for name, (_, served, _) in outcomes.items()}
    fitted_model, served_model, _ = outcomes[chosen]
    return Trained(model=served_model, fitted=fitted_model, metrics=metrics,
                   curves=[curve for _, _, curve in outcomes.values()], served=chosen)
