"""``recsys-train``: load data, split it, train and evaluate every model against its baselines, and
publish one artifact version (SavedModels, ScaNN index, vocabularies, manifest, report)."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from models import artifact_format as fmt
from training.config import ConfigError, TrainConfig, apply_overrides, as_json
from training.dataset import DataFormatError
from training.publish import check_new_version
from training.sources import SpecError, check_specs, load_sources, public_spec

log = logging.getLogger("recsys.train")
LIBRARIES = ("tensorflow", "tf-keras", "tensorflow-recommenders", "scann", "numpy", "pandas")


def fingerprint(frame: pd.DataFrame) -> str:
    """Content hash of the interactions: two runs on the same data share it."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in LIBRARIES}


def run(config: TrainConfig, artifacts: Path, version: str | None = None) -> Path:
    """Train everything on ``config``'s data and publish a version under ``artifacts``; return its path."""
    # Heavy imports here, not at module level, so `recsys-train --help` and bad arguments answer at once.
    from training.export import ExportBundle, export_version, new_version_name
    from training.pipeline import rating_stage, session_stage
    from training.report import markdown, plot_metrics, plot_training_curves

    started = time.perf_counter()
    version = check_new_version(artifacts, version or new_version_name())  # before hours of training
    ratings, sessions, protocol = load_sources(config.data, config.sessions, config.synthetic)
    log.info("loaded %s and %s", ratings.describe(), sessions.describe())
    rating = rating_stage(ratings, config)
    session = session_stage(sessions, protocol, config)
    served = session.result.served

    data_description = {
        "ratings": {**ratings.describe(), "fingerprint": fingerprint(ratings.all_interactions())},
        "sessions": sessions.describe(),
        "rating_split": rating.split.describe(),
        "session_split": session.describe(),
    }
    curves = [*rating.curves, *session.result.curves]
    report = {"version": version, "data": data_description, "rating": rating.rating.metrics,
              "retrieval": rating.retrieval.metrics, "session": session.result.metrics,
              "training": {curve.model: curve.as_dict() for curve in curves},
              "timings": {**rating.seconds, "session_seconds": session.seconds,
                          "total_seconds": round(time.perf_counter() - started, 1)}}
    manifest = {
        "data": data_description,
        "config": {**as_json(config), "data": public_spec(config.data), "sessions": public_spec(config.sessions)},
        "libraries": library_versions(),
        "serving": {"rating_range": list(ratings.rating_range), "history_length": config.history_length,
                    "rating_weight": rating.rating_weight, "retrieval_temperature": config.retrieval.temperature,
                    "session_model": served, "session_max_history": getattr(config, served).max_history,
                    "embedding_dim": int(config.retrieval.tower_widths[-1])},
        "metrics": {task: report[task] for task in ("rating", "retrieval", "session")},
    }
    bundle = ExportBundle(context=rating.context, catalog=ratings.items, retrieval=rating.retrieval.model,
                          ranking=rating.rating.model, rating_range=ratings.rating_range,
                          session_model=session.result.model, session_split=session.split)
    version_dir = export_version(artifacts, bundle, manifest, version=version, extra_files={
        fmt.REPORT_JSON: report,
        fmt.REPORT_MD: lambda path: path.write_text(markdown(report), "utf-8"),
        f"{fmt.PLOTS_DIR}/training_curves.png": lambda path: plot_training_curves(report, path),
        f"{fmt.PLOTS_DIR}/metrics.png": lambda path: plot_metrics(report, path),
    })
    log.info("done in %.0f s: %s", time.perf_counter() - started, version_dir)
    return version_dir


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recsys-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("RECSYS_DATA", TrainConfig.data),
                        help="synthetic (default) | ml-100k:PATH | ml-latest:PATH | ratings-csv:PATH"
                             "  [env RECSYS_DATA]")
    parser.add_argument("--sessions", default=os.environ.get("RECSYS_SESSIONS", TrainConfig.sessions),
                        help="synthetic (default) | sessions-csv:PATH | diginetica:PATH | gru4rec:PREFIX | from-data"
                             "  [env RECSYS_SESSIONS]")
    parser.add_argument("--artifacts", type=Path, default=Path(os.environ.get("RECSYS_ARTIFACTS", "artifacts")),
                        help="artifact root; the new version goes to ARTIFACTS/<version>/  [env RECSYS_ARTIFACTS]")
    parser.add_argument("--split", choices=("random", "temporal"), default=TrainConfig.split,
                        help="held-out split for data without one of its own (default random, seed 42)")
    parser.add_argument("--version", help="version name (default: the UTC time)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override any training setting, e.g. gru4rec.loss=bpr-max or synthetic.n_users=200")
    parser.add_argument("--log-level", default=os.environ.get("RECSYS_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_specs(args.data, args.sessions)
        config = apply_overrides(TrainConfig(data=args.data, sessions=args.sessions, split=args.split),
                                 args.overrides)
        run(config, args.artifacts, version=args.version)
    except (SpecError, ConfigError, DataFormatError, FileNotFoundError, fmt.ArtifactError) as error:
        print(f"recsys-train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

