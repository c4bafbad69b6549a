"""Fit and evaluate the models trained on rating data: two-tower retrieval, deep ranking, MF.

Each ``train_*`` function fits on the ``fit`` part with early stopping on the validation part and
returns the model, its test metrics beside its baselines, and its training curve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from models.ranking import DeepRankingModel, MatrixFactorization, MFConfig, RankingConfig, RatingModel
from models.retrieval import RetrievalConfig, TwoTowerModel
from training.baselines import popularity_scorer
from training.evaluate import UserScorer, evaluate_retrieval, rating_metrics
from training.examples import RatingContext, UserView, interaction_dataset
from training.fit import TrainingCurve, fit_keras


@dataclass
class Trained:
    model: Any
    metrics: dict[str, dict[str, float]]  # model name -> test metrics (the model and its baselines)
    curves: list[TrainingCurve]


def item_embeddings(model: TwoTowerModel, n_items: int) -> np.ndarray:
    """(n_items + 1, d) candidate embeddings; row 0 is the padding index."""
    return model.candidate_embedding(tf.range(n_items + 1, dtype=tf.int32)).numpy()


def two_tower_scorer(model: TwoTowerModel, view: UserView, n_items: int) -> UserScorer:
    candidates = item_embeddings(model, n_items)

    def score(users: np.ndarray) -> np.ndarray:
        features = {name: tf.constant(values[users]) for name, values in view.indices.items()}
        return model.query_embedding(features).numpy() @ candidates.T

    return score


def train_retrieval(context: RatingContext, config: RetrievalConfig, seed: int = 42) -> Trained:
    tf.keras.utils.set_random_seed(seed)
    model = TwoTowerModel(context.sizes, context.item_tables, config)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    dataset = interaction_dataset(context.fit_view, context.frames["fit"], config.batch_size, seed, context.counts)
    validation_items = context.held_out_items("validation")
    n_items = len(context.vocab.items)

    def validate() -> float:
        scorer = two_tower_scorer(model, context.fit_view, n_items)
        return evaluate_retrieval(scorer, validation_items, context.fit_view.seen, ks=(10,))["recall@10"]

    curve = TrainingCurve(model="two_tower", metric="recall@10", higher_is_better=True)
    started = time.perf_counter()
    fit_keras(model, dataset, curve, config.epochs, config.patience, validate)
    curve.seconds = time.perf_counter() - started

    test_items, seen = context.held_out_items("test"), context.train_view.seen
    metrics = {
        "two_tower": evaluate_retrieval(two_tower_scorer(model, context.train_view, n_items), test_items, seen,
                                        label="evaluate two_tower"),
        "popularity": evaluate_retrieval(popularity_scorer(context.counts), test_items, seen),
    }
    return Trained(model=model, metrics=metrics, curves=[curve])


def predict_ratings(model: RatingModel, view: UserView, frame, batch_size: int = 4096) -> np.ndarray:
    dataset = interaction_dataset(view, frame, batch_size)
    return np.concatenate([model(batch).numpy() for batch in dataset]) if len(frame) else np.zeros(0)


def _known(frame):
    return frame[(frame["user_index"] > 0) & (frame["item_index"] > 0)]


def _fit_rating_model(model: RatingModel, name: str, context: RatingContext, rating_range: tuple[float, float],
                      learning_rate: float, batch_size: int, epochs: int, patience: int, seed: int) -> TrainingCurve:
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    dataset = interaction_dataset(context.fit_view, context.frames["fit"], batch_size, seed)
    validation = _known(context.frames["validation"])

    def validate() -> float:
        predictions = predict_ratings(model, context.fit_view, validation)
        return rating_metrics(predictions, validation["rating"].to_numpy(), rating_range)["rmse"]

    curve = TrainingCurve(model=name, metric="rmse", higher_is_better=False)
    started = time.perf_counter()
    fit_keras(model, dataset, curve, epochs, patience, validate)
    curve.seconds = time.perf_counter() - started
    return curve


def evaluate_rating_model(model: RatingModel, context: RatingContext,
                        rating_range: tuple[float, float]) -> dict[str, float]:
    """Test RMSE/MAE over all test ratings; pairs with an unknown user or item get the training mean
    (what the service can say about them), so every model is scored on the same rows."""
    test = context.frames["test"]
    known = ((test["user_index"] > 0) & (test["item_index"] > 0)).to_numpy()
    predictions = np.full(len(test), context.mean_rating, dtype=np.float32)
    predictions[known] = predict_ratings(model, context.train_view, test[known])
    return {**rating_metrics(predictions, test["rating"].to_numpy(), rating_range), "ratings": len(test)}


def train_rating_models(context: RatingContext, ranking_config: RankingConfig, mf_config: MFConfig,
                        rating_range: tuple[float, float], seed: int = 42) -> Trained:
    """The deep ranking model (served) and its baselines: MF with biases and the global mean."""
    tf.keras.utils.set_random_seed(seed)
    ranking = DeepRankingModel(context.sizes, context.item_tables, context.mean_rating, ranking_config)
    ranking_curve = _fit_rating_model(ranking, "ranking", context, rating_range, ranking_config.learning_rate,
                                      ranking_config.batch_size, ranking_config.epochs, ranking_config.patience, seed)
    mf = MatrixFactorization(context.sizes, context.mean_rating, mf_config)
    mf_curve = _fit_rating_model(mf, "mf", context, rating_range, mf_config.learning_rate, mf_config.batch_size,
                                 mf_config.epochs, mf_config.patience, seed)
    test_ratings = context.frames["test"]["rating"].to_numpy()
    metrics = {
        "ranking": evaluate_rating_model(ranking, context, rating_range),
        "mf": evaluate_rating_model(mf, context, rating_range),
        "global_mean": {**rating_metrics(np.full(len(test_ratings), context.mean_rating), test_ratings,
                                         rating_range), "ratings": len(test_ratings)},
    }
    return Trained(model=ranking, metrics=metrics, curves=[ranking_curve, mf_curve])
