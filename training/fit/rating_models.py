"""Fit and evaluate the models trained on rating data: two-tower retrieval, deep ranking, MF, I-AutoRec.

Each ``train_*`` function fits on the ``fit`` part with early stopping on the validation part; with
``refit`` it then trains a fresh model on the whole training part (fit + validation) for the epochs
validation chose, which is the model served and tested. It returns both models, the served model's
test metrics beside its baselines, and the training curves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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
from training.evaluate.baselines import ease_weights, item_item_scorer, item_knn_scorer, popularity_scorer
from training.evaluate.metrics import UserScorer, evaluate_retrieval, rating_metrics
from training.evaluate.two_stage import item_embeddings
from training.fit.loop import TrainingCurve, fit_keras, keras_epoch, refit_epochs

log = logging.getLogger(__name__)


@dataclass
class Trained:
    model: Any  # the served model: refitted on the training part, or the fitted one without refit
    fitted: Any  # fitted on the fit part: what choices on validation data are made with
    metrics: dict[str, dict[str, float]]  # model name -> test metrics (the model and its baselines)
    curves: list[TrainingCurve]


def two_tower_scorer(model: TwoTowerModel, view: UserView, n_items: int) -> UserScorer:
    candidates = item_embeddings(model, n_items)

    def score(users: np.ndarray) -> np.ndarray:
        features = {name: tf.constant(values[users]) for name, values in view.indices.items()}
        return model.query_embedding(features).numpy() @ candidates.T

    return score


def _refit_keras(build: Callable[[], tf.keras.Model], learning_rate: float, dataset: tf.data.Dataset,
                 curve: TrainingCurve, seed: int) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    refit_epochs(curve, keras_epoch(model, dataset))
    return model


def train_retrieval(context: RatingContext, config: RetrievalConfig, seed: int = 42, refit: bool = True,
                    ease: EaseFit | None = None) -> Trained:
    def build() -> TwoTowerModel:
        return TwoTowerModel(context.sizes, context.item_tables, config)

    tf.keras.utils.set_random_seed(seed)
    fitted = build()
    fitted.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    dataset = interaction_dataset(context.fit_view, context.frames["fit"], config.batch_size, seed, context.counts)
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
        everything = interaction_dataset(context.train_view, context.frames["train"], config.batch_size, seed,
                                         context.counts)
        model = _refit_keras(build, config.learning_rate, everything, curve, seed)

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


def _pairs(context: RatingContext, part: str) -> tuple[np.ndarray, np.ndarray]:
    frame = _known(context.frames[part])
    return frame["user_index"].to_numpy(), frame["item_index"].to_numpy()


def fit_ease(context: RatingContext, l2_grid: tuple[float, ...] = (50, 100, 200, 500, 1000, 2000),
             max_items: int = 20_000) -> EaseFit | None:
    """EASE with the lambda of the best validation recall@10 when fitted on the fit part, refitted on
    the training part; None above ``max_items`` (O(n^3) time, n^2 memory)."""
    n_users, n_items = len(context.vocab.users), len(context.vocab.items)
    if n_items > max_items:
        log.info("EASE skipped: %d items, more than %d", n_items, max_items)
        return None
    fit_users, fit_items = _pairs(context, "fit")
    validation_items = context.held_out_items("validation")
    fits, validation = {}, {}
    for l2 in l2_grid:
        fits[l2] = ease_weights(fit_users, fit_items, n_users, n_items, l2)
        scorer = item_item_scorer(fit_users, fit_items, n_users, fits[l2])
        validation[l2] = evaluate_retrieval(scorer, validation_items, context.fit_view.seen, ks=(10,))["recall@10"]
    best = max(validation, key=validation.get)
    log.info("EASE lambda %s chosen on validation (recall@10 by lambda: %s)", best,
             {l2: round(float(value), 4) for l2, value in validation.items()})
    train_users, train_items = _pairs(context, "train")
    return EaseFit(best, fits[best], ease_weights(train_users, train_items, n_users, n_items, best))


def retrieval_baselines(context: RatingContext, ease: EaseFit | None) -> dict[str, UserScorer]:
    """Popularity, item-kNN and EASE, fitted on the training part."""
    n_users, n_items = len(context.vocab.users), len(context.vocab.items)
    train_users, train_items = _pairs(context, "train")
    scorers = {"item_knn": item_knn_scorer(train_users, train_items, n_users, n_items)}
    if ease is not None:
        scorers[ease.name] = item_item_scorer(train_users, train_items, n_users, ease.train)
    scorers["popularity"] = popularity_scorer(context.counts)
    return scorers


def predict_ratings(model: RatingModel, view: UserView, frame, batch_size: int = 4096) -> np.ndarray:
    dataset = interaction_dataset(view, frame, batch_size)
    return np.concatenate([model(batch).numpy() for batch in dataset]) if len(frame) else np.zeros(0)


def _known(frame):
    return frame[(frame["user_index"] > 0) & (frame["item_index"] > 0)]


def _fit_member(name: str, build: Callable[[str], Any], dataset: Callable[[str], tf.data.Dataset], learning_rate: float,
                epochs: int, patience: int, context: RatingContext, rating_range: tuple[float, float], seed: int,
                refit: bool) -> tuple[Any, Any, TrainingCurve]:
    """(fitted, served, curve) for one rating model; ``build(part)`` and ``dataset(part)`` give a fresh
    model and its training batches for the "fit" or the whole "train" part."""
    tf.keras.utils.set_random_seed(seed)
    fitted = build("fit")
    fitted.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    validation = _known(context.frames["validation"])

    def validate() -> float:
        if isinstance(fitted, ItemAutoRec):
            fitted.refresh_codes()  # the item codes follow the encoder
        predictions = predict_ratings(fitted, context.fit_view, validation)
        return rating_metrics(predictions, validation["rating"].to_numpy(), rating_range)["rmse"]

    curve = TrainingCurve(model=name, metric="rmse", higher_is_better=False)
    started = time.perf_counter()
    fit_keras(fitted, dataset("fit"), curve, epochs, patience, validate)
    curve.seconds = time.perf_counter() - started
    served = _refit_keras(lambda: build("train"), learning_rate, dataset("train"), curve, seed) if refit else fitted
    for model in (fitted, served):
        if isinstance(model, ItemAutoRec):
            model.refresh_codes()
    return fitted, served, curve


def evaluate_rating_model(model: RatingModel, context: RatingContext,
                        rating_range: tuple[float, float]) -> dict[str, float]:
    """Test RMSE/MAE over all test ratings; pairs with an unknown user or item get the training mean
    (what the service can say about them), so every model is scored on the same rows."""
    test = context.frames["test"]
    known = ((test["user_index"] > 0) & (test["item_index"] > 0)).to_numpy()
    predictions = np.full(len(test), context.mean_rating, dtype=np.float32)
    predictions[known] = predict_ratings(model, context.train_view, test[known])
    return {**rating_metrics(predictions, test["rating"].to_numpy(), rating_range), "ratings": len(test)}


def _ratings_matrix(context: RatingContext, part: str) -> np.ndarray:
    frame = _known(context.frames[part])
    return ratings_matrix(frame["user_index"].to_numpy(), frame["item_index"].to_numpy(), frame["rating"].to_numpy(),
                          len(context.vocab.users), len(context.vocab.items))


def train_rating_models(context: RatingContext, ranking_config: RankingConfig, mf_config: MFConfig,
                        autorec_config: AutoRecConfig | None, rating_range: tuple[float, float],
                        seed: int = 42, refit: bool = True) -> Trained:
    """The served rating model: a blend of the deep ranking model, MF with biases and I-AutoRec (when
    ``autorec_config`` is given and the catalog is small enough), weighted on validation predictions of
    the fitted members and applied to the refitted ones. Its baselines: each member alone and the
    global mean."""
    views = {"fit": context.fit_view, "train": context.train_view}

    def interactions(batch_size: int) -> Callable[[str], tf.data.Dataset]:
        return lambda part: interaction_dataset(views[part], context.frames[part], batch_size, seed)

    specs: dict[str, tuple[Callable[[str], Any], Callable[[str], tf.data.Dataset], Any]] = {
        "deep": (lambda part: DeepRankingModel(context.sizes, context.item_tables, context.mean_rating, ranking_config),
                 interactions(ranking_config.batch_size), ranking_config),
        "mf": (lambda part: MatrixFactorization(context.sizes, context.mean_rating, mf_config),
               interactions(mf_config.batch_size), mf_config),
    }
    n_items = len(context.vocab.items)
    cells = (len(context.vocab.users) + 1) * (n_items + 1)
    if autorec_config is not None and cells <= AUTOREC_MAX_CELLS:
        items = tf.data.Dataset.from_tensor_slices({"item": np.arange(1, n_items + 1, dtype=np.int32)})
        by_item = items.shuffle(n_items, seed=seed, reshuffle_each_iteration=True).batch(autorec_config.batch_size)
        specs["autorec"] = (lambda part: ItemAutoRec(_ratings_matrix(context, part), autorec_config),
                            lambda part: by_item, autorec_config)
    fitted, served, curves = {}, {}, []
    for name, (build, dataset, config) in specs.items():
        fitted[name], served[name], curve = _fit_member(name, build, dataset, config.learning_rate, config.epochs,
                                                        config.patience, context, rating_range, seed, refit)
        curves.append(curve)
    validation = _known(context.frames["validation"])
    weights = fit_blend({name: predict_ratings(model, context.fit_view, validation) for name, model in fitted.items()},
                        validation["rating"].to_numpy(), rating_range)
    log.info("rating blend fitted on validation: intercept %.3f, %s", weights[0],
             {name: round(float(weight), 3) for name, weight in zip(fitted, weights[1:], strict=True)})
    if "autorec" in served and not refit:
        served["autorec"].use_ratings(_ratings_matrix(context, "train"))  # test and serving read all training ratings
    ensemble = RatingEnsemble(served, weights, rating_range)
    test_ratings = context.frames["test"]["rating"].to_numpy()
    metrics = {"ranking": evaluate_rating_model(ensemble, context, rating_range)}
    metrics.update({name: evaluate_rating_model(model, context, rating_range) for name, model in served.items()})
    metrics["global_mean"] = {**rating_metrics(np.full(len(test_ratings), context.mean_rating), test_ratings,
                                               rating_range), "ratings": len(test_ratings)}
    return Trained(model=ensemble, fitted=RatingEnsemble(fitted, weights, rating_range) if refit else ensemble,
                   metrics=metrics, curves=curves)
