"""Fit and evaluate the candidate sources of ``/recommend`` that learn from rating data: the two-tower
retrieval model and EASE, beside the retrieval baselines (popularity, item-kNN).

``train_retrieval`` fits on the ``fit`` part with early stopping on the validation part; with
``refit`` it then trains a fresh model on the whole training part for the epochs validation chose,
which is the model served and tested.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from models.retrieval import RetrievalConfig, TwoTowerModel
from training.data.examples import RatingContext, UserView
from training.evaluate.baselines import (
    DENSE_MAX_ITEMS,
    ease_weights,
    item_gram,
    item_item_scorer,
    item_knn_scorer,
    popularity_scorer,
)
from training.evaluate.metrics import UserScorer, evaluate_retrieval
from training.evaluate.two_stage import item_embeddings
from training.fit.distribute import worker_batches
from training.fit.loop import Trained, TrainingCurve, compiled, fit_keras, refit_keras

log = logging.getLogger(__name__)


def two_tower_scorer(model: TwoTowerModel, view: UserView, n_items: int) -> UserScorer:
    candidates = item_embeddings(model, n_items)

    def score(users: np.ndarray) -> np.ndarray:
        return model.query_embedding(view.tensors(users)).numpy() @ candidates.T

    return score


def train_retrieval(context: RatingContext, config: RetrievalConfig, seed: int = 42, refit: bool = True,
                    ease: EaseFit | None = None) -> Trained:
    def build() -> TwoTowerModel:
        return TwoTowerModel(context.sizes, context.item_tables, config)

    tf.keras.utils.set_random_seed(seed)
    fitted = compiled(build, lambda: tf.keras.optimizers.Adam(config.learning_rate))
    dataset = worker_batches(context.fit_view, context.training_rows, "fit", config.batch_size, seed,
                             counts=context.counts)
    validation_items = context.held_out_items("validation")
    n_items = len(context.vocab.items)

    def validate() -> float:
        scorer = two_tower_scorer(fitted, context.fit_view, n_items)
        return evaluate_retrieval(scorer, validation_items, context.fit_view.seen, ks=(10,))["recall@10"]

    curve = TrainingCurve(model="two_tower", metric="recall@10", higher_is_better=True)
    started = time.perf_counter()
    fit_keras(fitted, dataset, curve, config.epochs, config.patience, validate)
    curve.seconds = time.perf_counter() - started
    model = fitted
    if refit:
        everything = worker_batches(context.train_view, context.training_rows, "train", config.batch_size, seed,
                                    counts=context.counts)
        model = refit_keras(build, lambda: tf.keras.optimizers.Adam(config.learning_rate), everything, curve, seed)

    test_items, seen = context.held_out_items("test"), context.train_view.seen
    metrics = {"two_tower": evaluate_retrieval(two_tower_scorer(model, context.train_view, n_items), test_items,
                                               seen, label="evaluate two_tower")}
    for name, scorer in retrieval_baselines(context, ease).items():
        metrics[name] = evaluate_retrieval(scorer, test_items, seen, label=f"evaluate {name}")
    return Trained(model=model, fitted=fitted, metrics=metrics, curves=[curve])


@dataclass(frozen=True)
class EaseFit:
    """EASE's item-to-item weights (``ease_weights``, over item indices) with the lambda chosen on validation."""

    l2: float
    fit: np.ndarray  # fitted on the fit part: what choices on validation data are made with
    train: np.ndarray  # fitted on the whole training part: tested and, where the mix uses it, served

    @property
    def name(self) -> str:
        return f"ease (lambda {self.l2:g})"


def fit_ease(context: RatingContext, l2_grid: tuple[float, ...] = (50, 100, 200, 500, 1000, 2000),
             max_items: int = DENSE_MAX_ITEMS) -> EaseFit | None:
    """EASE with the lambda of the best validation recall@10 when fitted on the fit part, refitted on
    the training part; None above ``max_items`` (O(n^3) time, n^2 memory)."""
    n_items = len(context.vocab.items)
    if n_items > max_items:
        log.info("EASE skipped: %d items, more than %d", n_items, max_items)
        return None
    seen = context.fit_view.seen
    gram, validation_items = item_gram(seen), context.held_out_items("validation")
    validation, best, best_weights = {}, l2_grid[0], None
    for l2 in l2_grid:  # only the best weights so far are kept: n_items² floats each
        weights = ease_weights(gram, l2)
        validation[l2] = evaluate_retrieval(item_item_scorer(seen, weights), validation_items, seen,
                                            ks=(10,))["recall@10"]
        if best_weights is None or validation[l2] > validation[best]:
            best, best_weights = l2, weights
    log.info("EASE lambda %s chosen on validation (recall@10 by lambda: %s)", best,
             {l2: round(float(value), 4) for l2, value in validation.items()})
    return EaseFit(best, best_weights, ease_weights(item_gram(context.train_view.seen), best))


def retrieval_baselines(context: RatingContext, ease: EaseFit | None) -> dict[str, UserScorer]:
    """Popularity, item-kNN (up to ``DENSE_MAX_ITEMS`` items) and EASE, fitted on the training part."""
    n_items, seen = len(context.vocab.items), context.train_view.seen
    scorers = {}
    if n_items <= DENSE_MAX_ITEMS:
        scorers["item_knn"] = item_knn_scorer(seen)
    else:
        log.info("item-kNN baseline skipped: %d items, more than %d", n_items, DENSE_MAX_ITEMS)
    if ease is not None:
        scorers[ease.name] = item_item_scorer(seen, ease.train)
    scorers["popularity"] = popularity_scorer(context.counts)
    return scorers
