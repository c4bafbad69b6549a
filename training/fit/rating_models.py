"""Fit and evaluate the rating models: the deep ranking model, NeuMF, MF with biases and I-AutoRec, and
the served rating model (``TrainConfig.rating_model``): one of them alone, or their blend.

Each model is fitted on the ``fit`` part with early stopping on the validation part; with ``refit``
a fresh model is then trained on the whole training part (fit + validation) for the epochs
validation chose, which is the model served and tested. Blend weights are fitted on the validation
predictions of the fitted models and applied to the refitted ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from models.autorec import MAX_CELLS as AUTOREC_MAX_CELLS
from models.autorec import ItemAutoRec, ratings_matrix
from models.ensemble import RatingEnsemble, fit_blend
from models.neumf import NeuMF
from models.ranking import DeepRankingModel, MatrixFactorization, RatingModel
from training.config import TrainConfig
from training.data.examples import INFERENCE_BATCH, RatingContext, UserView, interaction_dataset, known
from training.data.training_rows import TrainingPart
from training.evaluate.metrics import rating_metrics
from training.fit import distribute
from training.fit.distribute import TrainingBatches, worker_batches
from training.fit.loop import Trained, TrainingCurve, compiled, fit_keras, refit_keras

log = logging.getLogger(__name__)

Part = TrainingPart  # "fit" (choices on validation are made with it) or "train" (fit + validation: served)


@dataclass(frozen=True)
class Member:
    """How to train one rating model: a fresh model and its batches for a part, and the schedule."""

    build: Callable[[Part], tf.keras.Model]
    dataset: Callable[[Part], TrainingBatches]
    optimizer: Callable[[], tf.keras.optimizers.Optimizer]
    epochs: int
    patience: int


def predict_ratings(model: RatingModel, view: UserView, frame: pd.DataFrame,
                    batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    dataset = interaction_dataset(view, frame, batch_size)
    return np.concatenate([model(batch).numpy() for batch in dataset]) if len(frame) else np.zeros(0)


def _fit_member(name: str, member: Member, context: RatingContext, rating_range: tuple[float, float], seed: int,
                refit: bool) -> tuple[Any, Any, TrainingCurve]:
    """(fitted, served, curve) for one rating model."""
    tf.keras.utils.set_random_seed(seed)
    fitted = compiled(lambda: member.build("fit"), member.optimizer)
    validation = known(context.rated("validation"))

    def validate() -> float:
        if isinstance(fitted, ItemAutoRec):
            fitted.refresh_codes()  # the item codes follow the encoder
        predictions = predict_ratings(fitted, context.fit_view, validation)
        return rating_metrics(predictions, validation["rating"].to_numpy(), rating_range)["rmse"]

    curve = TrainingCurve(model=name, metric="rmse", higher_is_better=False)
    started = time.perf_counter()
    fit_keras(fitted, member.dataset("fit"), curve, member.epochs, member.patience, validate)
    curve.seconds = time.perf_counter() - started
    served = refit_keras(lambda: member.build("train"), member.optimizer, member.dataset("train"), curve,
                         seed) if refit else fitted
    for model in (fitted, served):
        if isinstance(model, ItemAutoRec):
            model.refresh_codes()
    return fitted, served, curve


def evaluate_rating_model(model: RatingModel, context: RatingContext,
                          rating_range: tuple[float, float]) -> dict[str, float]:
    """Test RMSE/MAE over all test ratings; pairs with an unknown user or item get the training mean
    (what the service can say about them), so every model is scored on the same rows."""
    test = context.rated("test")
    is_known = ((test["user_index"] > 0) & (test["item_index"] > 0)).to_numpy()
    predictions = np.full(len(test), context.mean_rating, dtype=np.float32)
    predictions[is_known] = predict_ratings(model, context.train_view, test[is_known])
    return {**rating_metrics(predictions, test["rating"].to_numpy(), rating_range), "ratings": len(test)}


def _ratings_matrix(context: RatingContext, part: Part) -> np.ndarray:
    rows = context.training_rows.columns(part, rated=True)
    return ratings_matrix(rows["user_row"], rows["item"], rows["rating"], len(context.vocab.users),
                          len(context.vocab.items))


class _Members:
    """The ``Member`` of each rating model the trainer knows; NeuMF with ``pretrain`` first fits its GMF
    and MLP branches alone (their curves join ``curves``)."""

    def __init__(self, context: RatingContext, config: TrainConfig, rating_range: tuple[float, float]) -> None:
        self.context, self.config, self.rating_range = context, config, rating_range
        self.curves: list[TrainingCurve] = []

    def interactions(self, batch_size: int) -> Callable[[Part], TrainingBatches]:
        views = {"fit": self.context.fit_view, "train": self.context.train_view}
        return lambda part: worker_batches(views[part], self.context.training_rows, part, batch_size,
                                           self.config.seed, rated=True)

    def get(self, name: str) -> Member:
        context, config = self.context, self.config
        sizes, mean = context.sizes, context.mean_rating
        if name == "deep":
            return Member(lambda part: DeepRankingModel(sizes, context.item_tables, mean, config.ranking),
                          self.interactions(config.ranking.batch_size), _adam(config.ranking.learning_rate),
                          config.ranking.epochs, config.ranking.patience)
        if name == "mf":
            return Member(lambda part: MatrixFactorization(sizes, mean, config.mf),
                          self.interactions(config.mf.batch_size), _adam(config.mf.learning_rate), config.mf.epochs,
                          config.mf.patience)
        if name == "neumf":
            return self.neumf()
        if name == "autorec":
            n_items = len(context.vocab.items)
            cluster, batch_size = distribute.current(), config.autorec.batch_size
            shard = np.arange(1, n_items + 1, dtype=np.int32)[cluster.shard(n_items)]
            by_item = distribute.equal_steps(tf.data.Dataset.from_tensor_slices({"item": shard}).shuffle(
                len(shard), seed=config.seed, reshuffle_each_iteration=True).batch(cluster.local_batch(batch_size)),
                n_items, batch_size)
            return Member(lambda part: ItemAutoRec(_ratings_matrix(context, part), config.autorec),
                          lambda part: by_item, _adam(config.autorec.learning_rate), config.autorec.epochs,
                          config.autorec.patience)
        raise ValueError(f"unknown rating model {name!r}")

    def neumf(self) -> Member:
        context, config, neumf = self.context, self.config, self.config.neumf
        batches = self.interactions(neumf.batch_size)
        if not neumf.pretrain:
            return Member(lambda part: NeuMF(context.sizes, context.mean_rating, neumf), batches,
                          _adam(neumf.learning_rate), neumf.epochs, neumf.patience)
        branches = {}
        for branch in ("gmf", "mlp"):
            member = Member(lambda part, branch=branch: NeuMF(context.sizes, context.mean_rating, neumf, (branch,)),
                            batches, _adam(neumf.learning_rate), neumf.epochs, neumf.patience)
            fitted, served, curve = _fit_member(f"neumf_{branch}", member, context, self.rating_range, config.seed,
                                                config.refit)
            branches[branch] = {"fit": fitted, "train": served}
            self.curves.append(curve)
        return Member(lambda part: NeuMF.fused(branches["gmf"][part], branches["mlp"][part], context.sizes,
                                               context.mean_rating, neumf),
                      batches, lambda: tf.keras.optimizers.SGD(neumf.pretrained_learning_rate), neumf.epochs,
                      neumf.patience)


def _adam(learning_rate: float) -> Callable[[], tf.keras.optimizers.Optimizer]:
    return lambda: tf.keras.optimizers.Adam(learning_rate)


def rating_models_to_train(config: TrainConfig, n_users: int, n_items: int) -> tuple[str, ...]:
    """The served model's members, without I-AutoRec on catalogs too large for its matrix."""
    names = tuple(config.rating_blend) if config.rating_model == "blend" else (config.rating_model,)
    if (n_users + 1) * (n_items + 1) > AUTOREC_MAX_CELLS and "autorec" in names:
        if len(names) == 1:
            raise ValueError(f"I-AutoRec cannot be served: {n_users} users x {n_items} items is more than its "
                             f"{AUTOREC_MAX_CELLS:,}-cell ratings matrix")
        log.info("I-AutoRec left out of the blend: %d users x %d items", n_users, n_items)
        names = tuple(name for name in names if name != "autorec")
    return names


def blend_name(names: list[str], weights: np.ndarray) -> str:
    """The report's name for a blend: its members with their weights."""
    return "blend (" + " + ".join(f"{name} x{weight:.2f}" for name, weight in zip(names, weights[1:], strict=True)) \
        + ")"


def train_rating_models(context: RatingContext, config: TrainConfig, rating_range: tuple[float, float]) -> Trained:
    """The served rating model and every model it is made of, with test metrics beside the global mean.
    A blend's weights are fitted by least squares on the validation predictions of the fitted members."""
    names = rating_models_to_train(config, len(context.vocab.users), len(context.vocab.items))
    members = _Members(context, config, rating_range)
    fitted, served, curves = {}, {}, []
    for name in names:
        member = members.get(name)
        fitted[name], served[name], curve = _fit_member(name, member, context, rating_range, config.seed,
                                                        config.refit)
        curves.append(curve)
    if "autorec" in served and not config.refit:
        served["autorec"].use_ratings(_ratings_matrix(context, "train"))  # test and serving read all training ratings
    if config.rating_model == "blend":
        validation = known(context.rated("validation"))
        weights = fit_blend({name: predict_ratings(model, context.fit_view, validation)
                             for name, model in fitted.items()}, validation["rating"].to_numpy(), rating_range)
        log.info("rating blend fitted on validation: intercept %.3f, %s", weights[0],
                 {name: round(float(weight), 3) for name, weight in zip(fitted, weights[1:], strict=True)})
        served_name = blend_name(list(served), weights)
        model = RatingEnsemble(served, weights, rating_range)
        fitted_model = RatingEnsemble(fitted, weights, rating_range) if config.refit else model
    else:
        served_name, model, fitted_model = names[0], served[names[0]], fitted[names[0]]
    metrics = {served_name: evaluate_rating_model(model, context, rating_range)}
    metrics.update({name: evaluate_rating_model(member, context, rating_range) for name, member in served.items()
                    if name != served_name})
    test_ratings = context.rated("test")["rating"].to_numpy()
    metrics["global_mean"] = {**rating_metrics(np.full(len(test_ratings), context.mean_rating), test_ratings,
                                               rating_range), "ratings": len(test_ratings)}
    return Trained(model=model, fitted=fitted_model, metrics=metrics, curves=[*members.curves, *curves],
                   served=served_name)
