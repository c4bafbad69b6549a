"""Holds the loaded model version and swaps it forward on reload; a failed load keeps the old one."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from app.artifacts import load_catalog, resolve_version
from app.batching import MicroBatcher
from app.config import Settings
from app.recommender import Recommender
from app.timing import StageTimes
from models.artifact_format import ArtifactError

log = logging.getLogger("recsys.service")
RecommenderFactory = Callable[[Path], Recommender]


def tensorflow_recommender(settings: Settings) -> RecommenderFactory:
    def build(version_dir: Path) -> Recommender:
        from app.backend import TensorFlowScorer  # TensorFlow loads here, not at import time

        catalog = load_catalog(version_dir)
        return Recommender(catalog, TensorFlowScorer(catalog, settings.model_threads), settings.candidates)

    return build


class ModelService:
    def __init__(self, artifacts: Path, build: RecommenderFactory) -> None:
        self.artifacts = artifacts
        self._build = build
        self._lock = threading.Lock()
        self.current: Recommender | None = None
        self.last_error: str | None = None

    def load(self, version: str | None = None) -> Recommender:
        """Load ``version`` (default: LATEST) and make it current; on failure keep serving the
        previous version and raise ``ArtifactError``."""
        with self._lock:
            try:
                version_dir = resolve_version(self.artifacts, version)
                if self.current is not None and self.current.path == version_dir:
                    return self.current
                recommender = self._build(version_dir)
            except Exception as error:
                self.last_error = str(error)
                log.error("loading a model version failed; still serving %s: %s",
                          self.current.version if self.current else "nothing", error)
                raise error if isinstance(error, ArtifactError) else ArtifactError(str(error)) from error
            self.current = recommender
            freeze_heap()
            self.last_error = None
            log.info("serving model version %s", recommender.version)
            return recommender


def freeze_heap() -> None:
    """Take everything alive now (models, vocabularies, TensorFlow's Python objects) out of the garbage
    collector's sight: full collections over that heap stalled every request for about 200 ms (the
    p99 of the serving benchmark). Unfreezing first lets a replaced version's cycles be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Batchers:
    """One micro-batcher, with its own batch thread, per model endpoint. Each queued request
    carries the Recommender it was accepted with, so a batch that straddles a reload answers every
    request from the version that request reports."""

    def __init__(self, settings: Settings) -> None:
        options = {"max_batch": settings.batch_max, "window_ms": settings.batch_window_ms,
                   "max_queue": settings.batch_queue}
        self.recommend = MicroBatcher(_by_version("recommend_batch"), "batch-recommend", **options)
        self.session = MicroBatcher(_by_version("next_items_batch"), "batch-session", **options)
        self.predict = MicroBatcher(_by_version("predict_batch"), "batch-predict", **options)

    def close(self) -> None:
        for batcher in (self.recommend, self.session, self.predict):
            batcher.close()


def _by_version(method: str) -> Callable[[Sequence[tuple[Recommender, object]], StageTimes], list]:
    """A batch function that calls ``method`` of the Recommender each request was accepted with (a
    local one, or a ``RemoteRecommender`` whose work runs in the model process)."""

    def run(entries: Sequence[tuple[Recommender, object]], times: StageTimes) -> list:
        results: list = [None] * len(entries)
        groups: dict[int, list[int]] = {}
        for position, (recommender, _) in enumerate(entries):
            groups.setdefault(id(recommender), []).append(position)
        for positions in groups.values():
            recommender = entries[positions[0]][0]
            batch = getattr(recommender, method)([entries[p][1] for p in positions], times)
            for position, result in zip(positions, batch, strict=True):
                results[position] = result
        return results

    return run
