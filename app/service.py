"""Holds the loaded model version and swaps it forward on reload; a failed load keeps the old one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from app.artifacts import load_catalog, resolve_version
from app.config import Settings
from app.recommender import Recommender
from models.artifact_format import ArtifactError

log = logging.getLogger("recsys.service")
RecommenderFactory = Callable[[Path], Recommender]


def tensorflow_recommender(settings: Settings) -> RecommenderFactory:
    def build(version_dir: Path) -> Recommender:
        from app.backend import TensorFlowScorer  # TensorFlow loads here, not at import time

        catalog = load_catalog(version_dir)
        return Recommender(catalog, TensorFlowScorer(catalog, settings.tf_threads), settings.candidates)

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
                if self.current is not None and self.current.catalog.path == version_dir:
                    return self.current
                recommender = self._build(version_dir)
            except Exception as error:
                self.last_error = str(error)
                log.error("loading a model version failed; still serving %s: %s",
                          self.current.version if self.current else "nothing", error)
                raise error if isinstance(error, ArtifactError) else ArtifactError(str(error)) from error
            self.current = recommender
            self.last_error = None
            log.info("serving model version %s", recommender.version)
            return recommender
