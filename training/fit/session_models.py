"""Train the session models (GRU4Rec, NARM), pick the one to serve on validation, and evaluate both
beside the neighbourhood and popularity baselines on the test events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.gru4rec import GRU4Rec, GRU4RecConfig
from models.narm import NARM, NARMConfig
from training.data.sequences import SequenceSplit
from training.evaluate.baselines import popularity_scorer
from training.evaluate.metrics import HistoryScorer, evaluate_next_item
from training.evaluate.session_baselines import cooccurrence_scorer, sknn_scorer, transition_scorer, vsknn_scorer
from training.fit.gru4rec import fit_gru4rec, history_scorer
from training.fit.loop import TrainingCurve
from training.fit.narm import fit_narm, narm_scorer

SessionChoice = Literal["auto", "gru4rec", "narm"]


@dataclass
class SessionResult:
    served: str
    model: GRU4Rec | NARM
    metrics: dict[str, dict[str, float]]  # served model first, then the other model and the baselines
    curves: list[TrainingCurve]


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
    """Both models are chosen and compared on validation as fitted there (the curves' best values),
    then refitted on the whole training part for their chosen epochs (``refit``) and tested."""
    gru4rec, gru4rec_curve = fit_gru4rec(split, validation, gru4rec_config, seed, refit)
    narm, narm_curve = fit_narm(split, validation, narm_config, seed, refit)
    trained = {"gru4rec": (gru4rec, history_scorer(gru4rec), gru4rec_curve),
               "narm": (narm, narm_scorer(narm), narm_curve)}
    if serve == "auto":  # chosen on validation, like every other choice
        serve = max(trained, key=lambda name: trained[name][2].best_value)
    order = [serve, *(name for name in trained if name != serve)]
    metrics = {name: evaluate_next_item(trained[name][1], split.test, label=f"evaluate {name}") for name in order}
    for name, scorer in baseline_scorers(split).items():
        metrics[name] = evaluate_next_item(scorer, split.test, label=f"evaluate {name}")
    return SessionResult(served=serve, model=trained[serve][0], metrics=metrics,
                         curves=[gru4rec_curve, narm_curve])
