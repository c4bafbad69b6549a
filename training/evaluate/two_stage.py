"""The served ``/recommend`` order, evaluated: ``models.two_stage`` (the server's own code) over the
in-memory models, with exact search, the exported numpy rating head and the clipping the server applies.

The trainer tunes the rating weight with it on validation (``tune_two_stage``) and reports it on test.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import tensorflow as tf

from models import rating_head
from models.selection import indices_of, rows_of, top_columns
from models.two_stage import TwoStage
from training.data.examples import RatingContext, UserView
from training.evaluate.metrics import UserScorer, evaluate_retrieval

log = logging.getLogger(__name__)

# Weights of the predicted rating in the final order of GET /recommend.
RATING_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
RATING_ONLY_WEIGHT = 100.0  # a weight at which the predicted rating alone decides the order


def item_embeddings(retrieval: Any, n_items: int) -> np.ndarray:
    """(n_items + 1, d) candidate embeddings; row 0 is the padding index."""
    return retrieval.candidate_embedding(tf.range(n_items + 1, dtype=tf.int32)).numpy()


def _per_user(compute: Any, view: UserView, batch: int = 4096) -> np.ndarray:
    """``compute(features)`` for every known user, row r = user index r + 1."""
    n_users = len(next(iter(view.indices.values()))) - 1
    chunks = []
    for start in range(1, n_users + 1, batch):
        stop = min(start + batch, n_users + 1)
        chunks.append(compute({name: tf.constant(values[start:stop]) for name, values in view.indices.items()}).numpy())
    return np.concatenate(chunks)


class InMemoryScorer:
    """``models.two_stage.CandidateScorer`` over the trained models, in user and item rows."""

    def __init__(self, retrieval: Any, ranking: Any, view: UserView, rating_range: tuple[float, float]) -> None:
        n_items = view.seen.n_columns
        self.user_embeddings = _per_user(retrieval.query_embedding, view)
        self.item_embeddings = item_embeddings(retrieval, n_items)[1:]
        item_states = ranking.item_state(tf.range(1, n_items + 1, dtype=tf.int32)).numpy()
        self._ratings = rating_head.bind_clipped(ranking.head(), _per_user(ranking.user_state, view), item_states,
                                                 rating_range)

    def query_embeddings(self, user_rows: np.ndarray) -> np.ndarray:
        return self.user_embeddings[user_rows]

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        return top_columns(queries @ self.item_embeddings.T, n)

    def similarities(self, queries: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return np.einsum("bd,bnd->bn", queries, self.item_embeddings[item_rows])

    def rank(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self._ratings(user_rows, item_rows)


def served_order(retrieval: Any, ranking: Any, view: UserView, counts: np.ndarray, rating_range: tuple[float, float],
                 rating_weight: float, candidates: int = 100) -> TwoStage:
    """What the server builds from the exported version (``app.recommender``), from the models in memory;
    ``counts`` (n_items + 1,) are the training interactions per item index."""
    return TwoStage(InMemoryScorer(retrieval, ranking, view, rating_range), view.seen,
                    popular_rows=np.argsort(-counts[1:], kind="stable"), rating_weight=rating_weight,
                    temperature=retrieval.config.temperature, candidates=candidates)


def as_user_scorer(order: TwoStage) -> UserScorer:
    """The served order as scores over every item index: its chosen items carry their served scores,
    every other item -inf."""

    def score(users: np.ndarray) -> np.ndarray:
        ranked = order.recommend(rows_of(users), [order.candidates] * len(users))
        scores = np.full((len(users), order.seen.n_columns + 1), -np.inf, dtype=np.float32)
        real = np.arange(ranked.rows.shape[1]) < ranked.lengths[:, np.newaxis]
        batch_rows = np.repeat(np.arange(len(users)), real.sum(axis=1))
        scores[batch_rows, indices_of(ranked.rows[real])] = ranked.scores[real]
        return scores

    return score


def tune_two_stage(context: RatingContext, retrieval: Any, ranking: Any, rating_range: tuple[float, float],
                   candidates: int = 100) -> tuple[float, dict[float, float]]:
    """The rating weight with the best validation ndcg@10 (models fitted on the fit part)."""
    validation_items = context.held_out_items("validation")
    order = served_order(retrieval, ranking, context.fit_view, context.counts, rating_range, 0.0, candidates)
    by_weight = {}
    for weight in RATING_WEIGHTS:
        scorer = as_user_scorer(replace(order, rating_weight=weight))
        by_weight[weight] = evaluate_retrieval(scorer, validation_items, context.fit_view.seen)["ndcg@10"]
    best = max(by_weight, key=by_weight.get)
    log.info("two-stage rating weight %s chosen on validation (ndcg@10 by weight: %s)", best,
             {weight: round(float(value), 4) for weight, value in by_weight.items()})
    return best, by_weight
