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
from app.event_reader import EventReader
from app.recommender import Recommender
from app.timing import StageTimes
from events.store import EventStore
from models import artifact_format as fmt
from models.artifact_format import ArtifactError

log = logging.getLogger("recsys.service")
RecommenderFactory = Callable[[Path], Recommender]


def tensorflow_recommender(settings: Settings) -> RecommenderFactory:
    """Versions with their models loaded in this process, reading the event log (one connection per
    thread, shared by the versions) after each version's cut-off."""
    store = EventStore(settings.event_store_url(), settings.events_sync)  # connects on first use

    def build(version_dir: Path) -> Recommender:
        from app.backend import TensorFlowScorer  # TensorFlow loads here, not at import time

        catalog = load_catalog(version_dir)
        events = EventReader(store, int(catalog.manifest.get(fmt.EVENTS, {}).get("cutoff_id", 0)),
                             settings.trending_window_s)
        return Recommender(catalog, TensorFlowScorer(catalog, settings.model_threads), settings.candidates, events)

    return build


class ModelService:
    def __init__(self, artifacts: Path, build: RecommenderFactory) -> None:
        self.artifacts = artifacts
        self._build = build
        self._lock = threading.Lock()
        self.current: Recommender | None = None
        self.last_error: str | None = None
        # Set when a fresh start could not serve LATEST and serves an older version instead.
        self.fallback: dict[str, str | None] | None = None

    def load(self, version: str | None = None) -> Recommender:
        """Load ``version`` (default: LATEST) and make it current; on failure keep serving the
        previous version and raise ``ArtifactError``. At startup (nothing served yet), a LATEST that
        cannot be served gives way to the newest stored version that can (``fallback``)."""
        with self._lock:
            try:
                return self._swap(resolve_version(self.artifacts, version))
            except ArtifactError as error:
                failure = self._failed(error, version)
                if self.current is not None or version is not None:
                    raise failure from error
            return self._serve_fallback(failure)

    def _swap(self, version_dir: Path) -> Recommender:
        if self.current is not None and self.current.path == version_dir:
            return self.current
        try:
            recommender = self._build(version_dir)
        except ArtifactError:
            raise
        except Exception as error:  # a bug or a library error while loading: the old version stays
            log.exception("loading %s failed", version_dir.name)
            raise ArtifactError(f"{version_dir.name}: {type(error).__name__}: {error}") from error
        previous, self.current = self.current, recommender
        if previous is not None:
            previous.retire()
        freeze_heap()
        self.last_error = None
        if self.fallback is not None and version_dir.name == self.fallback.get("latest"):
            self.fallback = None
        log.info("serving model version %s", recommender.version)
        return recommender

    def _failed(self, error: Exception, version: str | None) -> ArtifactError:
        """The error as clients see it: no absolute server path, whatever library wrote the message."""
        message = str(error)
        for root in {str(self.artifacts.resolve()), str(self.artifacts)}:
            message = message.replace(root + "/", "").replace(root, "<artifacts>")
        self.last_error = message
        log.error("loading model version %s failed; still serving %s: %s", version or "LATEST",
                  self.current.version if self.current else "nothing", message)
        return ArtifactError(message)

    def _serve_fallback(self, failure: ArtifactError) -> Recommender:
        try:
            latest: str | None = fmt.read_latest(self.artifacts)
        except ArtifactError:
            latest = None
        tried = []
        for name in newest_first(self.artifacts, exclude=latest):
            try:
                recommender = self._swap(fmt.version_dir(self.artifacts, name))
            except ArtifactError as error:
                log.warning("fallback: version %s cannot serve either: %s", name, self._failed(error, name))
                tried.append(name)
                continue
            self.fallback = {"latest": latest, "serving": name, "reason": str(failure)}
            self.last_error = None
            log.warning("LATEST (%s) cannot be served; serving %s, the newest stored version that can: %s",
                        latest, name, failure)
            return recommender
        if tried:
            failure = ArtifactError(f"{failure} (no other stored version can serve either; tried {', '.join(tried)})")
        self.last_error = str(failure)
        raise failure


def _stored_manifests(root: Path) -> dict[str, dict | ArtifactError]:
    """Every version directory in ``root``, newest ``created_at`` first, with its manifest or the reason
    it has none that this build can read (those last)."""
    found: dict[str, dict | ArtifactError] = {}
    for name in fmt.list_versions(root):
        try:
            found[name] = fmt.read_manifest(root / name)
        except ArtifactError as error:
            found[name] = error

    def newest(name: str) -> tuple:
        manifest = found[name]
        readable = isinstance(manifest, dict)
        return readable, str(manifest.get("created_at", "")) if readable else "", name

    return {name: found[name] for name in sorted(found, key=newest, reverse=True)}


def newest_first(root: Path, exclude: str | None = None) -> list[str]:
    """Stored versions with a readable manifest, newest ``created_at`` first."""
    return [name for name, manifest in _stored_manifests(root).items()
            if isinstance(manifest, dict) and name != exclude]


def latest_or_none(root: Path) -> str | None:
    """The version LATEST names, or None if there is none (yet) or it is unreadable."""
    try:
        return fmt.read_latest(root)
    except ArtifactError:
        return None


def _headline(manifest: dict) -> dict[str, dict]:
    """Per task, the served model's test metrics (manifests before "served" existed list it first)."""
    served = manifest.get("served", {})
    headline = {}
    for task, results in manifest.get("metrics", {}).items():
        model = served.get(task) or next(iter(results), None)
        if model in results:
            headline[task] = {"model": model, **results[model]}
    return headline


def stored_versions(root: Path, loaded: str | None, latest: str | None) -> list[dict]:
    """Every version directory in ``root`` as ``GET /models/versions`` lists it."""
    found = []
    for name, manifest in _stored_manifests(root).items():
        entry = {"version": name, "loaded": name == loaded, "latest": name == latest}
        if isinstance(manifest, ArtifactError):
            found.append({**entry, "problem": str(manifest)})
            continue
        config = manifest.get("config", {})
        found.append({**entry, "created_at": manifest.get("created_at"), "data": config.get("data"),
                      "sessions": config.get("sessions"), "metrics": _headline(manifest)})
    return found


def public_manifest(manifest: dict) -> dict:
    """The manifest as ``GET /models`` shows it: the file checksums (verified at load) as a count."""
    return {**{key: value for key, value in manifest.items() if key != fmt.FILES},
            "checksummed_files": len(manifest.get(fmt.FILES, {}))}


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
        self.deadline_s = settings.request_timeout_s
        self.recommend = MicroBatcher(_by_version("recommend_batch"), "batch-recommend", **options)
        self.session = MicroBatcher(_by_version("next_items_batch"), "batch-session", **options)
        self.predict = MicroBatcher(_by_version("predict_batch"), "batch-predict", **options)
        # The demo page's read-only lookups (app.page_routes).
        self.history = MicroBatcher(_by_version("history_batch"), "batch-history", **options)
        self.items = MicroBatcher(_by_version("items_batch"), "batch-items", **options)

    def close(self) -> None:
        for batcher in (self.recommend, self.session, self.predict, self.history, self.items):
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
