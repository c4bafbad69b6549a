"""The two training stages, shared by ``recsys-train`` and the quality benchmark.

split_log: split rating data and index it once (ids -> int32 columns); index_ratings: that and the rating
context built from the indexed columns.
rating_stage: train the candidate sources (two-tower retrieval, EASE, the user autoencoders) and the
rating models, choose the two-stage order on validation, evaluate everything beside the baselines on
the test part.
session_stage: split sessions under their protocol, train GRU4Rec and NARM, pick the one to serve on
validation, evaluate beside the baselines on the test events.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from models.item_item import SERVE_MAX_ITEMS
from models.two_stage import Mix, TwoStage
from training.config import TrainConfig, as_json
from training.data.dataset import RatingData, SessionData
from training.data.examples import IndexedLog, RatingContext, index_log, rating_context
from training.data.sequences import SequenceProtocol, SequenceSplit, split_sequences
from training.data.split import RatingSplit, split_ratings
from training.evaluate.metrics import evaluate_retrieval
from training.evaluate.two_stage import RATING_ONLY, as_user_scorer, choose_mix, served_order
from training.fit.autoencoder import train_autoencoder
from training.fit.loop import Trained, TrainingCurve
from training.fit.rating_models import train_rating_models
from training.fit.retrieval import fit_ease, train_retrieval
from training.fit.session_models import SessionResult, train_session_models

log = logging.getLogger(__name__)


@dataclass
class RatingOutcome:
    split: RatingSplit
    context: RatingContext
    retrieval: Trained
    autoencoder: Trained | None
    rating: Trained
    order: TwoStage  # what /recommend serves (models.two_stage), over the training part: tested and exported
    seconds: dict[str, float]

    @property
    def mix(self) -> Mix:
        return self.order.mix

    @property
    def autoencoder_kind(self) -> str | None:
        """"vae" or "dae" where the served order uses a user autoencoder."""
        return self.order.items.autoencoder.kind if self.mix.autoencoder else None

    @property
    def served_retrieval(self) -> str:
        """The report's name for the order ``/recommend`` serves."""
        return two_stage_name(self.mix, self.autoencoder_kind)

    @property
    def curves(self) -> list[TrainingCurve]:
        return [*self.retrieval.curves, *(self.autoencoder.curves if self.autoencoder else []), *self.rating.curves]


@dataclass
class SessionOutcome:
    split: SequenceSplit
    validation: SequenceSplit
    protocol: SequenceProtocol
    result: SessionResult
    seconds: float

    def describe(self) -> dict[str, Any]:
        return {"train_events": self.split.train.n_events, "validation_events": len(self.validation.test),
                "test_events": len(self.split.test), "protocol": as_json(self.protocol)}


def two_stage_name(mix: Mix, autoencoder_kind: str | None = None) -> str:
    return f"two_stage ({mix.describe(f'Mult-{autoencoder_kind.upper()}' if autoencoder_kind else 'autoencoder')})"


def split_log(ratings: RatingData, config: TrainConfig) -> tuple[RatingSplit, IndexedLog]:
    """The held-out split of the log and its indexed columns: all that is read of the log, so that a caller
    can let the loaded log (its string ids) go before the rating context is built from them."""
    split = split_ratings(ratings, config.split, seed=config.seed)
    log.info("rating split %s", split.describe())
    return split, index_log(ratings, split)


def index_ratings(ratings: RatingData, config: TrainConfig) -> tuple[RatingSplit, RatingContext]:
    """``split_log`` and the rating context: what ``rating_stage`` trains from."""
    split, indexed = split_log(ratings, config)
    return split, rating_context(indexed, split, ratings, config.history_length)


def rating_stage(split: RatingSplit, context: RatingContext, rating_range: tuple[float, float],
                 config: TrainConfig) -> RatingOutcome:
    started = time.perf_counter()
    ease = fit_ease(context)
    retrieval = train_retrieval(context, config.retrieval, config.seed, config.refit, ease)
    autoencoder = None
    if "autoencoder" in config.candidate_sources:
        autoencoder = train_autoencoder(context, config.autoencoder, config.seed, config.refit)
    retrieval_seconds = time.perf_counter() - started
    rating = train_rating_models(context, config, rating_range)
    servable = ease if ease is not None and len(context.vocab.items) <= SERVE_MAX_ITEMS else None
    if ease is not None and servable is None:
        log.info("EASE is not a candidate source of /recommend: %d items, more than %d", len(context.vocab.items),
                 SERVE_MAX_ITEMS)
    mix, _ = choose_mix(context, retrieval.fitted, rating.fitted, rating_range,
                        servable.fit if servable is not None else None,
                        autoencoder.fitted if autoencoder is not None else None, config.candidate_sources)
    order = served_order(retrieval.model, rating.model, context.train_view, context.counts, rating_range,
                         mix, servable.train if mix.item_item else None,
                         autoencoder.model if mix.autoencoder else None)
    test_items, seen = context.held_out_items("test"), context.train_view.seen
    kind = autoencoder.model.kind if mix.autoencoder else None
    two_stage = {two_stage_name(mix, kind): order, "two_stage (rating only)": replace(order, mix=RATING_ONLY)}
    retrieval.metrics = {"two_tower": retrieval.metrics.pop("two_tower"), **{
        name: evaluate_retrieval(as_user_scorer(two_stage_order), test_items, seen)
        for name, two_stage_order in two_stage.items()}, **(autoencoder.metrics if autoencoder else {}),
        **retrieval.metrics}
    seconds = {"retrieval_seconds": round(retrieval_seconds, 1),
               "rating_seconds": round(time.perf_counter() - started - retrieval_seconds, 1)}
    return RatingOutcome(split, context, retrieval, autoencoder, rating, order, seconds)


def session_stage(sessions: SessionData, protocol: SequenceProtocol, config: TrainConfig) -> SessionOutcome:
    started = time.perf_counter()
    split, validation = split_sequences(sessions, protocol)
    log.info("session events: train %d, validation %d, test %d", split.train.n_events, len(validation.test),
             len(split.test))
    result = train_session_models(split, validation, config.gru4rec, config.narm, config.session_model, config.seed,
                                  config.refit)
    return SessionOutcome(split, validation, protocol, result, round(time.perf_counter() - started, 1))
