"""Fit and evaluate the models trained on rating data: two-tower retrieval, deep ranking, MF.

Each ``train_*`` function fits on the ``fit`` part with early stopping on the validation part and
returns the model, its test metrics beside its baselines, and its training curve.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from models.autorec import MAX_CELLS as AUTOREC_MAX_CELLS
from models.autorec import AutoRecConfig, ItemAutoRec, ratings_matrix
from models.ensemble import RatingEnsemble, fit_blend
from models.ranking import DeepRankingModel, MatrixFactorization, MFConfig, RankingConfig, RatingModel
from models.retrieval import RetrievalConfig, TwoTowerModel
from training.data.examples import RatingContext, UserView, interaction_dataset
from training.evaluate.baselines import ease_scorer, item_knn_scorer, popularity_scorer
from training.evaluate.metrics import UserScorer, evaluate_retrieval, rating_metrics, top_k_indices
from training.fit.loop import TrainingCurve, fit_keras

log = logging.getLogger(__name__)


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


# Weights of the predicted rating in the final order of GET /recommend (see two_stage_scorer).
RATING_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)


def two_stage_scorer(retrieval: TwoTowerModel, ranking: RatingModel, view: UserView, n_items: int,
                     rating_weight: float, candidates: int = 100) -> UserScorer:
    """What GET /recommend serves: the two-tower's top ``candidates`` unseen items, ordered by
    retrieval logit (similarity / temperature) + ``rating_weight`` x predicted rating; every other item
    scores -inf. Ordering by predicted rating alone ranks what a user would rate highly *if* they
    watched it, not what they will pick, so the weight is chosen on validation (``tune_two_stage``)."""
    retrieval_scores = two_tower_scorer(retrieval, view, n_items)

    def score(users: np.ndarray) -> np.ndarray:
        scores = retrieval_scores(users)
        scores[:, 0] = -np.inf
        for row, user in enumerate(users):
            scores[row, view.seen.get(int(user), [])] = -np.inf
        top = top_k_indices(scores, candidates)  # (B, C)
        features = {name: tf.constant(values[users]) for name, values in view.indices.items()}
        ratings = ranking({**features, "item": tf.constant(top, tf.int32)}).numpy()
        logits = np.take_along_axis(scores, top, axis=1) / retrieval.config.temperature
        served = np.full_like(scores, -np.inf)
        np.put_along_axis(served, top, logits + rating_weight * ratings, axis=1)
        return served

    return score


def tune_two_stage(context: RatingContext, retrieval: TwoTowerModel, ranking: RatingModel,
                   candidates: int = 100) -> tuple[float, dict[float, float]]:
    """The rating weight with the best validation ndcg@10 (models fitted on the fit part)."""
    validation_items = context.held_out_items("validation")
    by_weight = {}
    for weight in RATING_WEIGHTS:
        scorer = two_stage_scorer(retrieval, ranking, context.fit_view, len(context.vocab.items), weight, candidates)
        by_weight[weight] = evaluate_retrieval(scorer, validation_items, context.fit_view.seen)["ndcg@10"]
    best = max(by_weight, key=by_weight.get)
    log.info("two-stage rating weight %s chosen on validation (ndcg@10 by weight: %s)", best,
             {weight: round(float(value), 4) for weight, value in by_weight.items()})
    return best, by_weight


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
    metrics = {"two_tower": evaluate_retrieval(two_tower_scorer(model, context.train_view, n_items), test_items,
                                               seen, label="evaluate two_tower")}
    for name, scorer in retrieval_baselines(context).items():
        metrics[name] = evaluate_retrieval(scorer, test_items, seen, label=f"evaluate {name}")
    return Trained(model=model, metrics=metrics, curves=[curve])


def retrieval_baselines(context: RatingContext, ease_l2_grid: tuple[float, ...] = (50, 100, 200, 500, 1000, 2000),
                        ease_max_items: int = 20_000) -> dict[str, UserScorer]:
    """Popularity, item-kNN and EASE fitted on the training part; EASE's lambda is the one with the best
    validation recall@10 when fitted on the fit part (skipped above ``ease_max_items``: O(n^3))."""
    n_users, n_items = len(context.vocab.users), len(context.vocab.items)

    def pairs(part: str) -> tuple[np.ndarray, np.ndarray]:
        frame = _known(context.frames[part])
        return frame["user_index"].to_numpy(), frame["item_index"].to_numpy()

    train_users, train_items = pairs("train")
    scorers = {"item_knn": item_knn_scorer(train_users, train_items, n_users, n_items)}
    if n_items <= ease_max_items:
        fit_users, fit_items = pairs("fit")
        validation_items = context.held_out_items("validation")
        validation = {l2: evaluate_retrieval(ease_scorer(fit_users, fit_items, n_users, n_items, l2), validation_items,
                                             context.fit_view.seen, ks=(10,))["recall@10"] for l2 in ease_l2_grid}
        best = max(validation, key=validation.get)
        log.info("EASE lambda %s chosen on validation (recall@10 by lambda: %s)", best,
                 {l2: round(float(value), 4) for l2, value in validation.items()})
        scorers[f"ease (lambda {best:g})"] = ease_scorer(train_users, train_items, n_users, n_items, best)
    scorers["popularity"] = popularity_scorer(context.counts)
    return scorers


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


def _fit_autorec(context: RatingContext, config: AutoRecConfig, rating_range: tuple[float, float],
                 seed: int) -> tuple[ItemAutoRec, TrainingCurve]:
    n_users, n_items = len(context.vocab.users), len(context.vocab.items)
    model = ItemAutoRec(_ratings_matrix(context, "fit"), config)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    items = tf.data.Dataset.from_tensor_slices({"item": np.arange(1, n_items + 1, dtype=np.int32)})
    dataset = items.shuffle(n_items, seed=seed, reshuffle_each_iteration=True).batch(config.batch_size)
    validation = _known(context.frames["validation"])

    def validate() -> float:
        model.refresh_codes()
        predictions = predict_ratings(model, context.fit_view, validation)
        return rating_metrics(predictions, validation["rating"].to_numpy(), rating_range)["rmse"]

    curve = TrainingCurve(model="autorec", metric="rmse", higher_is_better=False)
    started = time.perf_counter()
    fit_keras(model, dataset, curve, config.epochs, config.patience, validate)
    model.refresh_codes()
    curve.seconds = time.perf_counter() - started
    log.info("autorec over %d users x %d items", n_users, n_items)
    return model, curve


def _ratings_matrix(context: RatingContext, part: str) -> np.ndarray:
    frame = _known(context.frames[part])
    return ratings_matrix(frame["user_index"].to_numpy(), frame["item_index"].to_numpy(), frame["rating"].to_numpy(),
                          len(context.vocab.users), len(context.vocab.items))


def train_rating_models(context: RatingContext, ranking_config: RankingConfig, mf_config: MFConfig,
                        autorec_config: AutoRecConfig | None, rating_range: tuple[float, float],
                        seed: int = 42) -> Trained:
    """The served rating model: a blend of the deep ranking model, MF with biases and I-AutoRec (when
    ``autorec_config`` is given and the catalog is small enough), weighted on validation. Its baselines:
    each member alone and the global mean."""
    tf.keras.utils.set_random_seed(seed)
    deep = DeepRankingModel(context.sizes, context.item_tables, context.mean_rating, ranking_config)
    members: dict[str, RatingModel | ItemAutoRec] = {"deep": deep}
    curves = [_fit_rating_model(deep, "deep", context, rating_range, ranking_config.learning_rate,
                                ranking_config.batch_size, ranking_config.epochs, ranking_config.patience, seed)]
    mf = MatrixFactorization(context.sizes, context.mean_rating, mf_config)
    members["mf"] = mf
    curves.append(_fit_rating_model(mf, "mf", context, rating_range, mf_config.learning_rate, mf_config.batch_size,
                                    mf_config.epochs, mf_config.patience, seed))
    cells = (len(context.vocab.users) + 1) * (len(context.vocab.items) + 1)
    if autorec_config is not None and cells <= AUTOREC_MAX_CELLS:
        members["autorec"], curve = _fit_autorec(context, autorec_config, rating_range, seed)
        curves.append(curve)
    validation = _known(context.frames["validation"])
    weights = fit_blend({name: predict_ratings(model, context.fit_view, validation) for name, model in members.items()},
                        validation["rating"].to_numpy(), rating_range)
    log.info("rating blend fitted on validation: intercept %.3f, %s", weights[0],
             {name: round(float(weight), 3) for name, weight in zip(members, weights[1:], strict=True)})
    if "autorec" in members:
        members["autorec"].use_ratings(_ratings_matrix(context, "train"))  # test and serving read all training ratings
    ensemble = RatingEnsemble(members, weights, rating_range)
    test_ratings = context.frames["test"]["rating"].to_numpy()
    metrics = {"ranking": evaluate_rating_model(ensemble, context, rating_range)}
    metrics.update({name: evaluate_rating_model(model, context, rating_range) for name, model in members.items()})
    metrics["global_mean"] = {**rating_metrics(np.full(len(test_ratings), context.mean_rating), test_ratings,
                                               rating_range), "ratings": len(test_ratings)}
    return Trained(model=ensemble, metrics=metrics, curves=curves)
