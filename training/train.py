"""One training run: load data, split it, train and evaluate every model against its baselines, and
publish one artifact version (SavedModels, ScaNN index, vocabularies, manifest, report). The command
line is ``training.cli``."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path

import pandas as pd

from models import artifact_format as fmt
from training.config import TrainConfig, as_json
from training.data.events import with_events
from training.data.sources import load_sources, public_spec, resolve_sessions
from training.data.validation import on_catalog
from training.evaluate import gate
from training.export.publish import check_new_version, training_lock
from training.process_memory import peak_rss_mib, release_free_pages, reset_peak_rss, return_freed_blocks

log = logging.getLogger("recsys.train")
LIBRARIES = ("tensorflow", "tf-keras", "tensorflow-recommenders", "scann", "numpy", "pandas")


def fingerprint(frame: pd.DataFrame) -> str:
    """Content hash of the interactions: two runs on the same data share it."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in LIBRARIES}


def run(config: TrainConfig, artifacts: Path, version: str | None = None, publish_anyway: bool = False) -> Path | None:
    """Train everything on ``config``'s data and publish a version under ``artifacts``; return its path.
    Raises PublishRefused, before anything is written, if a served model loses to its baseline. A
    training worker other than the chief (``training.fit.distribute``) trains along and writes nothing:
    it returns None."""
    from training.fit import distribute

    if not distribute.current().is_chief:
        return _run(config, None, version, publish_anyway)
    with training_lock(artifacts):
        return _run(config, artifacts, version, publish_anyway)


def _run(config: TrainConfig, artifacts: Path | None, version: str | None, publish_anyway: bool) -> Path | None:
    # Heavy imports here, not at module level, so `recsys-train --help` and bad arguments answer at once.
    from training.data.examples import rating_context
    from training.evaluate.report import markdown, plot_metrics, plot_training_curves, summary
    from training.export.artifact import ExportBundle, export_version, new_version_name
    from training.fit import distribute
    from training.pipeline import rating_stage, session_stage, split_log

    started = time.perf_counter()
    return_freed_blocks()  # before the log's arrays: the peaks then count what is alive
    cluster = distribute.current()
    if artifacts is not None:
        version = check_new_version(artifacts, version or new_version_name())  # before hours of training
    config = config.model_copy(update={"sessions": resolve_sessions(config.data, config.sessions)})
    stage = Stages(started)
    stage.begin("load and check the data")
    ratings, sessions, protocol = load_sources(config)
    cutoff = None
    if config.events_url:
        ratings, cutoff = with_events(ratings, config.events_url)
    for note in (*ratings.notes, *sessions.notes):
        log.warning("data check: %s", note)
    rating_description = {**ratings.describe(), "fingerprint": fingerprint(ratings.all_interactions())}
    log.info("ratings: %s; sessions: %s", _sizes(rating_description), _sizes(sessions.describe()))
    stage.begin("rating models: two-tower retrieval, ranking blend, baselines")
    split, indexed = split_log(ratings, config)
    # From here on the indexed columns stand for the log: let it go (20 to 40 bytes a rating, as its ids are
    # dictionary-encoded or text) before the user views, the peak of indexing, are built.
    ratings = replace(ratings, interactions=ratings.interactions.iloc[:0].copy(), test_interactions=None)
    release_free_pages()
    context = rating_context(indexed, split, ratings, config.history_length)
    del indexed  # the context holds what training reads: the per-row columns go
    release_free_pages()
    rating = rating_stage(split, context, ratings.rating_range, config)
    # The session model recommends only items that the rest of the service serves.
    served_sessions = on_catalog(sessions, pd.Index(rating.context.vocab.items))
    for note in served_sessions.notes[len(sessions.notes):]:
        log.warning("data check: %s", note)
    sessions = served_sessions
    stage.begin("session models: GRU4Rec, NARM, baselines")
    session = session_stage(sessions, protocol, config)
    served = session.result.served

    data_description = {
        "ratings": rating_description,
        "sessions": sessions.describe(),
        "rating_split": rating.split.describe(),
        "session_split": session.describe(),
    }
    curves = [*rating.curves, *session.result.curves]
    report = {"version": version, "data": data_description,
              "served": {"rating": rating.rating.served, "retrieval": rating.served_retrieval, "session": served},
              "rating": rating.rating.metrics,
              "retrieval": rating.retrieval.metrics, "session": session.result.metrics,
              "training": {curve.model: curve.as_dict() for curve in curves},
              "timings": {**rating.seconds, "session_seconds": session.seconds,
                          "total_seconds": round(time.perf_counter() - started, 1), "workers": cluster.workers}}
    manifest = {
        "data": data_description,
        "config": {**as_json(config), **{key: public_spec(getattr(config, key))
                                         for key in ("data", "sessions", "items", "users")},
                   "events_url": cutoff.url if cutoff else ""},
        "libraries": library_versions(),
        "serving": {"rating_range": list(ratings.rating_range), "history_length": config.history_length,
                    fmt.SERVING_MIX: asdict(rating.mix), "autoencoder_kind": rating.autoencoder_kind,
                    "retrieval_temperature": config.retrieval.temperature,
                    "session_model": session.result.model_name,
                    "session_max_history": getattr(config, session.result.model_name).max_history,
                    fmt.SESSION_TRANSITIONS_WEIGHT: session.result.mix.weight,
                    "embedding_dim": int(config.retrieval.tower_widths[-1]),
                    "user_features": list(rating.context.vocab.user_features),
                    "rating_uses_history": rating_uses_history(config, rating.rating.metrics)},
        "served": report["served"],
        "metrics": {task: report[task] for task in ("rating", "retrieval", "session")},
        fmt.EVENTS: cutoff.as_manifest() if cutoff else {"cutoff_id": 0},
        "training": cluster.describe(),
    }
    verdicts = gate.check(report, publish_anyway)  # raises before anything is written
    report["verdicts"] = [{"task": verdict.task, "wins": verdict.wins, "line": verdict.line()} for verdict in verdicts]
    for verdict in verdicts:
        (log.info if verdict.wins else log.warning)("verdict: %s", verdict.line())
    if artifacts is None:
        stage.end()
        log.info("worker %d of %d done in %.0f s: the chief publishes", cluster.index, cluster.workers,
                 time.perf_counter() - started)
        return None
    stage.begin("export, smoke test and publish")
    bundle = ExportBundle(context=rating.context, catalog=ratings.items, retrieval=rating.retrieval.model,
                          ranking=rating.rating.model, rating_range=ratings.rating_range, order=rating.order,
                          session_model=session.result.model, session_split=session.split,
                          session_mix=session.result.mix)
    version_dir = export_version(artifacts, bundle, manifest, version=version, extra_files={
        fmt.REPORT_JSON: report,
        fmt.REPORT_MD: lambda path: path.write_text(markdown(report), "utf-8"),
        f"{fmt.PLOTS_DIR}/training_curves.png": lambda path: plot_training_curves(report, path),
        f"{fmt.PLOTS_DIR}/metrics.png": lambda path: plot_metrics(report, path),
    })
    stage.end()
    print(summary(report), flush=True)
    log.info("published %s in %.0f s: serve it with recsys-serve --artifacts %s", version,
             time.perf_counter() - started, artifacts)
    return version_dir


def rating_uses_history(config: TrainConfig, rating_metrics: dict) -> bool:
    """Whether the served rating model reads the user's history (the deep model does, MF, NeuMF and
    I-AutoRec know users by id alone): only then can the server rate for a user it knows by events."""
    encoder = config.ranking.encoder
    return "deep" in rating_metrics and (encoder.use_history or encoder.use_history_ratings)


def _sizes(description: dict) -> str:
    counts = {key: description[key] for key in ("interactions", "clicks", "sessions", "users", "items")
              if key in description}
    return f"{description['name']}: " + ", ".join(f"{value:,} {key}" for key, value in counts.items())


class Stages:
    """Logs where a run is, how long each stage took and the most memory it held."""

    def __init__(self, started: float) -> None:
        self.started, self.current, self.since = started, "", started

    def begin(self, name: str) -> None:
        self.end()
        self.current, self.since = name, time.perf_counter()
        release_free_pages()  # what the last stage let go, so that this stage's peak is what it holds
        reset_peak_rss()
        log.info("stage: %s (%.0f s since start)", name, self.since - self.started)

    def end(self) -> None:
        if self.current:
            log.info("stage done: %s in %.0f s, peak RSS %.0f MiB", self.current, time.perf_counter() - self.since,
                     peak_rss_mib())
            self.current = ""
