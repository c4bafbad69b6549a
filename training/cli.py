"""``recsys-train``: load data, split it, train and evaluate every model against its baselines, and
publish one artifact version (SavedModels, ScaNN index, vocabularies, manifest, report).

Exit status: 0 published; 2 bad arguments, data or artifacts (the message says which file and line);
3 not published because a served model lost to its baseline (see --publish-anyway).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from training.data.validation import parse_range


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    # Defaults of training settings live in training.config.TrainConfig: None here means "not given".
    parser = argparse.ArgumentParser(prog="recsys-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data",
                        help="synthetic (default) | ml-100k:PATH | ml-latest:PATH | ratings-csv:PATH | "
                             "ratings-parquet:PATH  [env RECSYS_DATA]")
    parser.add_argument("--sessions",
                        help="auto (default: synthetic for synthetic data, else from-data) | synthetic | "
                             "sessions-csv:PATH | diginetica:PATH | gru4rec:PREFIX | from-data  [env RECSYS_SESSIONS]")
    parser.add_argument("--items", metavar="CSV",
                        help="item metadata: item_id,title[,genres] (genres joined by |)  [env RECSYS_ITEMS]")
    parser.add_argument("--users", metavar="CSV",
                        help="user features: user_id plus any columns (age in years; the others categories)"
                             "  [env RECSYS_USERS]")
    parser.add_argument("--rating-range", type=_rating_range, metavar="LOW,HIGH",
                        help="the rating scale; rows outside it are refused and counted (default: the format's "
                             "own scale, else the narrowest usual one holding every rating)")
    parser.add_argument("--duplicates", choices=("last", "mean"),
                        help="repeated (user, item) ratings: keep the last by timestamp (default) or the mean")
    parser.add_argument("--events", metavar="URL",
                        help="also train on the event log (sqlite:///path or postgresql://...) up to its last event, "
                             "recorded as the version's cut-off  [env RECSYS_EVENTS_URL]")
    parser.add_argument("--split", choices=("random", "temporal"),
                        help="held-out split for data without one of its own (default random, seed 42)")
    parser.add_argument("--artifacts", type=Path, default=Path(os.environ.get("RECSYS_ARTIFACTS", "artifacts")),
                        help="artifact root; the new version goes to ARTIFACTS/<version>/  [env RECSYS_ARTIFACTS]")
    parser.add_argument("--version", help="version name (default: the UTC time)")
    parser.add_argument("--publish-anyway", action="store_true",
                        help="publish even if a served model loses to its baseline on the test split")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override any training setting, e.g. gru4rec.loss=bpr-max or synthetic.n_users=200"
                             "  [env RECSYS_SECTION__FIELD, e.g. RECSYS_GRU4REC__LOSS]")
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="train on N local worker processes (tf.distribute.MultiWorkerMirroredStrategy); on a "
                             "cluster, give each worker its TF_CONFIG (or RECSYS_TRAIN_WORKERS and "
                             "RECSYS_WORKER_INDEX) and run the command without --workers")
    parser.add_argument("--log-level", default=os.environ.get("RECSYS_LOG_LEVEL", "INFO"),
                        help="INFO (default) | DEBUG (also TensorFlow's and ScaNN's own messages) | WARNING"
                             "  [env RECSYS_LOG_LEVEL]")
    return parser.parse_args(argv)


def _rating_range(text: str) -> tuple[float, float]:
    try:
        return parse_range(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return int(text)


def _without_workers(argv: list[str]) -> list[str]:
    """The command line a worker runs: the same, without ``--workers``."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--workers":
            skip = True
        elif not argument.startswith("--workers="):
            kept.append(argument)
    return kept


def quiet_libraries(debug: bool) -> None:
    """TensorFlow's C++ start-up lines (a CUDA error on machines without a GPU), absl's export warnings
    and library deprecation warnings say nothing a user can act on; ``--log-level debug`` keeps them.
    Runs before TensorFlow is imported, which reads its level once."""
    if debug:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in ("absl", "tensorflow", "h5py", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="(tf_keras|keras|tensorflow)")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_libraries(args.log_level.upper() == "DEBUG")
    if args.workers > 1:
        from training.local_cluster import run_local_workers

        worker = _without_workers(sys.argv[1:] if argv is None else argv)
        return run_local_workers(args.workers, [sys.executable, "-m", "training.cli", *worker])
    from training.fit import distribute

    try:
        distribute.start()  # before any other TensorFlow operation
    except ValueError as error:
        print(f"recsys-train: error: {error}", file=sys.stderr)
        return 2
    from models import artifact_format as fmt
    from training.config import ConfigError, load_config
    from training.data.dataset import DataFormatError
    from training.data.sources import SpecError, check_specs
    from training.evaluate.gate import PublishRefused
    from training.train import run

    given = {"data": args.data, "sessions": args.sessions, "items": args.items, "users": args.users,
             "rating_range": args.rating_range, "duplicates": args.duplicates, "split": args.split,
             "events_url": args.events}
    try:
        config = load_config({key: value for key, value in given.items() if value is not None}, args.overrides)
        check_specs(config.data, config.sessions)
        run(config, args.artifacts, version=args.version, publish_anyway=args.publish_anyway)
    except (SpecError, ConfigError, DataFormatError, FileNotFoundError, fmt.ArtifactError) as error:
        print(f"recsys-train: error: {error}", file=sys.stderr)
        return 2
    except PublishRefused as error:
        print(f"recsys-train: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
