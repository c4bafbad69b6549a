"""Epoch loops with early stopping on a validation metric, a progress bar and a recorded curve.

The validation metric is the one the report uses (recall@K, RMSE), computed on the validation part,
so the epoch that is kept is chosen the way the model will be judged, and never on test data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from training.fit import distribute
from training.fit.distribute import TrainingBatches, WorkerBatches

log = logging.getLogger(__name__)


@dataclass
class TrainingCurve:
    """Per epoch: mean training loss and the validation metric (for plots and the report)."""

    model: str
    metric: str
    higher_is_better: bool
    loss: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    refit_seconds: float = 0.0  # retraining on all training data for best_epoch epochs (0: not refitted)

    def record(self, loss: float, value: float) -> bool:
        """Add one epoch; True when it is the best so far."""
        self.loss.append(float(loss))
        self.validation.append(float(value))
        best = self.validation[self.best_epoch - 1] if self.best_epoch else None
        improved = best is None or (value > best if self.higher_is_better else value < best)
        if improved:
            self.best_epoch = len(self.validation)
        return improved

    @property
    def best_value(self) -> float:
        return self.validation[self.best_epoch - 1] if self.best_epoch else float("nan")

    def should_stop(self, patience: int) -> bool:
        return len(self.validation) - self.best_epoch >= patience

    def as_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "loss": self.loss, "validation": self.validation,
                "best_epoch": self.best_epoch, "seconds": round(self.seconds, 2),
                "refit_seconds": round(self.refit_seconds, 2)}


@dataclass
class Trained:
    """What fitting one stage's models gives the pipeline."""

    model: Any  # the served model: refitted on the training part, or the fitted one without refit
    fitted: Any  # fitted on the fit part: what choices on validation data are made with
    metrics: dict[str, dict[str, float]]  # model name -> test metrics (the model and its baselines)
    curves: list[TrainingCurve]
    served: str = ""  # the row of ``metrics`` that is the served model, where the stage knows it


def run_epochs(curve: TrainingCurve, epochs: int, patience: int, train_epoch: Callable[[], float],
               validate: Callable[[], float], get_weights: Callable[[], list[np.ndarray]],
               set_weights: Callable[[list[np.ndarray]], None]) -> TrainingCurve:
    """Train up to ``epochs`` epochs; stop after ``patience`` epochs without improvement and restore
    the weights of the best epoch."""
    best_weights, started = None, time.perf_counter()
    with tqdm(range(epochs), desc=f"train {curve.model}", unit="epoch", disable=None) as bar:
        for _ in bar:
            loss = train_epoch()
            value = validate()
            if curve.record(loss, value):
                best_weights = get_weights()
            bar.set_postfix(loss=f"{loss:.4f}", **{curve.metric: f"{value:.4f}"})
            # A line per epoch with the time left, for logs that are not a terminal (no progress bar there);
            # early stopping can only shorten the estimate.
            elapsed = time.perf_counter() - started
            log.info("%s epoch %d/%d: loss %.4f, validation %s %.4f (%.0f s, at most %.0f s left)", curve.model,
                     len(curve.loss), epochs, loss, curve.metric, value, elapsed,
                     elapsed / len(curve.loss) * (epochs - len(curve.loss)))
            if curve.should_stop(patience):
                break
    if best_weights is not None:
        set_weights(best_weights)
    log.info("%s: kept epoch %d of %d (validation %s %.4f)", curve.model, curve.best_epoch, len(curve.loss),
             curve.metric, curve.best_value)
    return curve


def refit_epochs(curve: TrainingCurve, train_epoch: Callable[[], float]) -> None:
    """Retrain a fresh model on all training data (fit + validation) for the epochs that validation
    chose (``curve.best_epoch``): the served model then learns from every interaction it can, and
    nothing is left to validate it on, so no epoch is judged here."""
    started = time.perf_counter()
    epochs = max(curve.best_epoch, 1)
    for epoch in tqdm(range(epochs), desc=f"refit {curve.model}", unit="epoch", disable=None):
        loss = train_epoch()
        log.info("%s refit on all training data, epoch %d/%d: loss %.4f (%.0f s)", curve.model, epoch + 1, epochs,
                 loss, time.perf_counter() - started)
    curve.refit_seconds = time.perf_counter() - started


def keras_epoch(model: tf.keras.Model, dataset: TrainingBatches) -> Callable[[], float]:
    data, steps = (dataset.data, dataset.steps) if isinstance(dataset, WorkerBatches) else (dataset, None)

    def train_epoch() -> float:
        return model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0).history["loss"][-1]

    return train_epoch


def compiled(build: Callable[[], tf.keras.Model],
             optimizer: Callable[[], tf.keras.optimizers.Optimizer]) -> tf.keras.Model:
    """A fresh model from ``build``, compiled, on the training strategy where there is one
    (``training.fit.distribute``)."""
    with distribute.scope():
        model = build()
        model.compile(optimizer=optimizer())
    return model


def refit_keras(build: Callable[[], tf.keras.Model], optimizer: Callable[[], tf.keras.optimizers.Optimizer],
                dataset: TrainingBatches, curve: TrainingCurve, seed: int) -> tf.keras.Model:
    """``refit_epochs`` for a fresh Keras model from ``build``, seeded like the fitted one."""
    tf.keras.utils.set_random_seed(seed)
    model = compiled(build, optimizer)
    refit_epochs(curve, keras_epoch(model, dataset))
    return model


def fit_keras(model: tf.keras.Model, dataset: TrainingBatches, curve: TrainingCurve, epochs: int, patience: int,
              validate: Callable[[], float]) -> TrainingCurve:
    """``run_epochs`` for a compiled Keras model, one ``fit`` call per epoch."""
    return run_epochs(curve, epochs, patience, keras_epoch(model, dataset), validate, model.get_weights,
                      model.set_weights)
