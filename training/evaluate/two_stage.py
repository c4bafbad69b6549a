"""The served ``/recommend`` order, evaluated: ``models.two_stage`` (the server's own code) over the
in-memory models, with exact search, the exported numpy rating head and the clipping the server applies.

The trainer chooses the mix of candidate sources and the rating weight with it on validation
(``choose_mix``) and reports it on test.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import tensorflow as tf

from models import rating_head
from models.selection import indices_of, rows_of
from models.two_stage import ItemSources, Mix, TwoStage, Users, exact_search
from models.user_autoencoder import UserAutoencoder
from training.data.examples import INFERENCE_BATCH, RatingContext, UserView
from training.evaluate.metrics import UserScorer, evaluate_retrieval

log = logging.getLogger(__name__)

# The mix is chosen on validation greedily: each candidate source alone, then the others added one at
# a time at these weights relative to the first (the sources' scales differ: an EASE score difference
# of 0.1 is about one two-tower logit unit at weight 10), while that improves; then the predicted
# rating's weight on top.
SOURCES = {"two-tower": "two_tower", "ease": "item_item", "autoencoder": "autoencoder"}  # setting -> Mix field
ADDED_WEIGHTS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
RATING_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
RATING_ONLY = Mix(two_tower=0.0, item_item=0.0, rating=1.0)  # two-tower candidates ordered by rating alone


def item_embeddings(retrieval: Any, n_items: int) -> np.ndarray:
    """(n_items + 1, d) candidate embeddings; row 0 is the padding index."""
    return retrieval.candidate_embedding(tf.range(n_items + 1, dtype=tf.int32)).numpy()


def _per_user(compute: Any, view: UserView, batch: int = INFERENCE_BATCH) -> np.ndarray:
    """``compute(features)`` for every known user, row r = user index r + 1."""
    chunks = []
    for start in range(1, view.n_users + 1, batch):
        chunks.append(compute(view.tensors(np.arange(start, min(start + batch, view.n_users + 1)))).numpy())
    return np.concatenate(chunks)


def served_order(retrieval: Any, ranking: Any, view: UserView, counts: np.ndarray, rating_range: tuple[float, float],
                 mix: Mix, item_item: np.ndarray | None = None, autoencoder: UserAutoencoder | None = None,
                 candidates: int = 100) -> TwoStage:
    """What the server builds from the exported version (``app.recommender``), from the models in memory
    with exact search; ``counts`` (n_items + 1,) are the training interactions per item index,
    ``item_item`` EASE's weight matrix over item indices (``training.fit.retrieval.EaseFit``)."""
    n_items = view.seen.n_columns
    embeddings = item_embeddings(retrieval, n_items)[1:]
    items = ItemSources(embeddings, exact_search(embeddings),
                        None if item_item is None else np.ascontiguousarray(item_item[1:, 1:]), autoencoder)
    item_states = ranking.item_state(tf.range(1, n_items + 1, dtype=tf.int32)).numpy()
    rate = rating_head.bind_clipped(ranking.head(), item_states, rating_range)
    users = Users(_per_user(retrieval.query_embedding, view), rate(_per_user(ranking.user_state, view)), view.seen)
    return TwoStage(items, users, popular_rows=np.argsort(-counts[1:], kind="stable"), mix=mix,
                    temperature=retrieval.config.temperature, candidates=candidates)


def as_user_scorer(order: TwoStage) -> UserScorer:
    """The served order as scores over every item index: its chosen items carry their served scores,
    every other item -inf."""

    def score(users: np.ndarray) -> np.ndarray:
        ranked = order.recommend(rows_of(users), [order.candidates] * len(users))
        scores = np.full((len(users), order.users.seen.n_columns + 1), -np.inf, dtype=np.float32)
        real = np.arange(ranked.rows.shape[1]) < ranked.lengths[:, np.newaxis]
        batch_rows = np.repeat(np.arange(len(users)), real.sum(axis=1))
        scores[batch_rows, indices_of(ranked.rows[real])] = ranked.scores[real]
        return scores

    return score


def choose_mix(context: RatingContext, retrieval: Any, ranking: Any, rating_range: tuple[float, float],
               item_item: np.ndarray | None, autoencoder: UserAutoencoder | None,
               sources: tuple[str, ...] = tuple(SOURCES), candidates: int = 100) -> tuple[Mix, dict[str, float]]:
    """The mix with the best validation ndcg@10, every model fitted on the fit part: the candidate
    sources among ``sources`` that are given (EASE where ``item_item`` is, the autoencoder where
    ``autoencoder`` is), chosen greedily (``ADDED_WEIGHTS``), then the rating weight on top."""
    validation_items = context.held_out_items("validation")
    order = served_order(retrieval, ranking, context.fit_view, context.counts, rating_range, Mix(), item_item,
                         autoencoder, candidates)
    given = {"two-tower": True, "ease": item_item is not None, "autoencoder": autoencoder is not None}
    available = [field for source, field in SOURCES.items() if source in sources and given[source]]
    if not available:
        raise ValueError(f"no candidate source can be served: asked for {', '.join(sources)}; trained: "
                         f"{', '.join(source for source, trained in given.items() if trained)}")
    tried: dict[Mix, float] = {}

    def best_of(mixes: list[Mix]) -> Mix:
        for mix in mixes:
            if mix not in tried:
                scorer = as_user_scorer(replace(order, mix=mix))
                tried[mix] = evaluate_retrieval(scorer, validation_items, context.fit_view.seen)["ndcg@10"]
        return max(mixes, key=tried.get)

    nothing = Mix(two_tower=0.0)
    best = best_of([replace(nothing, **{source: 1.0}) for source in available])
    while True:
        added = [replace(best, **{source: weight}) for source in available if not getattr(best, source)
                 for weight in ADDED_WEIGHTS]
        if not added:
            break
        candidate = best_of(added)
        if tried[candidate] <= tried[best]:
            break
        best = candidate
    best = best_of([replace(best, rating=weight) for weight in RATING_WEIGHTS])
    by_mix = {mix.describe(): round(float(value), 4) for mix, value in tried.items()}
    log.info("served /recommend mix chosen on validation: %s (ndcg@10 by mix: %s)", best.describe(), by_mix)
    return best, by_mix
