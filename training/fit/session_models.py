"""Train the session models (GRU4Rec, NARM), choose on validation what to serve: one of them, alone or
mixed with first-order transitions (``models.session_mix``), and evaluate it beside both models and the
neighbourhood and popularity baselines on the test events."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from models.gru4rec import GRU4Rec, GRU4RecConfig
from models.narm import NARM, NARMConfig
from models.session_mix import SessionMix, Transitions
from training.data.sequences import SequenceSplit
from training.evaluate.baselines import popularity_scorer
from training.evaluate.metrics import HistoryScorer, evaluate_next_item
from training.evaluate.session_baselines import (
    cooccurrence_scorer,
    last_items,
    sknn_scorer,
    transition_matrix,
    transition_scorer,
    vsknn_scorer,
)
from training.fit.gru4rec import fit_gru4rec, history_scorer
from training.fit.loop import TrainingCurve
from training.fit.narm import fit_narm, narm_scorer

log = logging.getLogger(__name__)
SessionChoice = Literal["auto", "gru4rec", "narm"]


TRANSITION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)


@dataclass
class SessionResult:
    served: str  # the report row of what /session/next serves
    model_name: str  # "gru4rec" or "narm": the session model exported
    model: GRU4Rec | NARM
    mix: SessionMix  # with the transitions of the whole training part, where validation chose them
    metrics: dict[str, dict[str, float]]  # served row first, then both models alone and the baselines
    curves: list[TrainingCurve]


def served_name(model_name: str, weight: float) -> str:
    return f"{model_name} + transitions x{weight:g}" if weight else model_name


def mixed_scorer(scorer: HistoryScorer, mix: SessionMix) -> HistoryScorer:
    """A history scorer (over item indices) of ``models.session_mix.SessionMix.scores``."""
    if not mix.weight:
        return scorer

    def score(histories: np.ndarray) -> np.ndarray:
        model_scores = np.asarray(scorer(histories), dtype=np.float32)[:, 1:]
        mixed = mix.scores(model_scores, last_items(np.asarray(histories)) - 1)
        return np.concatenate([np.full((len(mixed), 1), -np.inf, np.float32), mixed], axis=1)

    return score


def _memoized(scorer: HistoryScorer) -> HistoryScorer:
    """The same histories are scored once per weight tried: keep each batch's model scores."""
    cache: dict[bytes, np.ndarray] = {}

    def score(histories: np.ndarray) -> np.ndarray:
        key = histories.tobytes() + bytes(str(histories.shape), "ascii")
        if key not in cache:
            cache[key] = np.asarray(scorer(histories), dtype=np.float32)
        return cache[key]

    return score


def _transitions(split: SequenceSplit) -> Transitions:
    return Transitions.from_dense(transition_matrix(split.train, split.n_items)[1:, 1:])


def baseline_scorers(split: SequenceSplit) -> dict[str, HistoryScorer]:
    train, n_items = split.train, split.n_items
    return {
        "sknn": sknn_scorer(train, n_items),
        "vsknn": vsknn_scorer(train, n_items),
        "transitions": transition_scorer(train, n_items),
        "cooccurrence": cooccurrence_scorer(train, n_items),
        "popularity": popularity_scorer(split.counts),
    }


def train_session_models(split: SequenceSplit, validation: SequenceSplit, gru4rec_config: GRU4RecConfig,
                         narm_config: NARMConfig, serve: SessionChoice = "auto", seed: int = 42,
                         refit: bool = True) -> SessionResult:
    """Both models are fitted on the validation split's training part; the served model and its
    transitions weight are chosen there by recall@20 + mrr@20 (the two metrics reported), then the
    models are refitted on the whole training part for their chosen epochs (``refit``) and tested."""
    gru4rec, gru4rec_fitted, gru4rec_curve = fit_gru4rec(split, validation, gru4rec_config, seed, refit)
    narm, narm_fitted, narm_curve = fit_narm(split, validation, narm_config, seed, refit)
    trained = {"gru4rec": (gru4rec, history_scorer), "narm": (narm, narm_scorer)}
    fitted = {"gru4rec": _memoized(history_scorer(gru4rec_fitted)), "narm": _memoized(narm_scorer(narm_fitted))}
    validation_transitions = _transitions(validation)
    choices = {}
    for name in (fitted if serve == "auto" else [serve]):
        for weight in TRANSITION_WEIGHTS:
            mix = SessionMix(weight, validation_transitions)
            metrics = evaluate_next_item(mixed_scorer(fitted[name], mix), validation.test)
            choices[(name, weight)] = metrics["recall@20"] + metrics["mrr@20"]
    model_name, weight = max(choices, key=choices.get)
    log.info("served session model chosen on validation: %s (recall@20 + mrr@20 by choice: %s)",
             served_name(model_name, weight),
             {served_name(*choice): round(float(value), 4) for choice, value in choices.items()})
    mix = SessionMix(weight, _transitions(split) if weight else None)
    scorers = {name: scorer(model) for name, (model, scorer) in trained.items()}
    served = served_name(model_name, weight)
    metrics = {served: evaluate_next_item(mixed_scorer(scorers[model_name], mix), split.test,
                                          label=f"evaluate {served}")}
    for name, scorer in scorers.items():
        if name != served:
            metrics[name] = evaluate_next_item(scorer, split.test, label=f"evaluate {name}")
    for name, scorer in baseline_scorers(split).items():
        metrics[name] = evaluate_next_item(scorer, split.test, label=f"evaluate {name}")
    return SessionResult(served=served, model_name=model_name, model=trained[model_name][0],
                         mix=mix, metrics=metrics,
                         curves=[gru4rec_curve, narm_curve])
