"""Training on one and on several workers (``recsys-train --workers N``): quality and time on ML-100K u1.

    python -m benchmarks.distributed --ml100k ../shared/data/ml-100k [--workers 1 2] [--set seed=43]
        [--out bench-results/distributed.json]

Each run is the rating stage of ``recsys-train`` on the u1 split (the two-tower model and the rating
models, which train on ``tf.distribute.MultiWorkerMirroredStrategy`` with N workers, and EASE, the
autoencoder and the served ``/recommend`` order, which every worker computes alike) with N local worker
processes. It prints, per N, the test metrics of the distributed models and of what is served, the
seconds each distributed model took to fit and refit, the stage's wall time and the chief's peak RSS.
All workers of a local run share this machine's cores, so on a small machine the figures show the
strategy's overhead more than a speed-up; on a cluster each worker has its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DISTRIBUTED_MODELS = ("two_tower", "deep", "mf", "autorec")


def run_worker(ml100k: Path, overrides: list[str], out: Path) -> int:
    """One worker of a run: the rating stage; the chief writes what it measured to ``out``."""
    from training.fit import distribute

    cluster = distribute.start()
    from training.config import TrainConfig, apply_overrides
    from training.data import loaders
    from training.pipeline import index_ratings, rating_stage

    config = apply_overrides(TrainConfig(), overrides)
    started = time.perf_counter()
    ratings = loaders.load_movielens_100k(ml100k)
    outcome = rating_stage(*index_ratings(ratings, config), ratings.rating_range, config)
    if not cluster.is_chief:
        return 0
    curves = {curve.model: curve for curve in outcome.curves}
    rating, retrieval = outcome.rating.metrics, outcome.retrieval.metrics
    result = {
        "workers": cluster.workers,
        "served rating": {"model": outcome.rating.served, **rating[outcome.rating.served]},
        "served /recommend": {"model": outcome.served_retrieval, **retrieval[outcome.served_retrieval]},
        "two_tower": retrieval["two_tower"],
        **{name: rating[name] for name in ("deep", "mf", "autorec") if name in rating},
        "seconds": {**{name: {"fit": round(curves[name].seconds, 1), "refit": round(curves[name].refit_seconds, 1),
                              "epochs": curves[name].best_epoch}
                       for name in DISTRIBUTED_MODELS if name in curves},
                    "rating stage": round(time.perf_counter() - started, 1)},
        "chief peak rss MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = ["| workers | served rating RMSE | deep | MF | AutoRec | two-tower recall@10 | served /recommend "
             "recall@10 / NDCG@10 | fit + refit s: two-tower, deep, MF, AutoRec | rating stage s | chief RSS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        seconds = run["seconds"]
        fits = ", ".join(f"{seconds[name]['fit']:.0f} + {seconds[name]['refit']:.0f}"
                         for name in DISTRIBUTED_MODELS if name in seconds)
        served = run["served /recommend"]
        lines.append(
            f"| {run['workers']} | {run['served rating']['rmse']:.4f} | {run['deep']['rmse']:.4f} | "
            f"{run['mf']['rmse']:.4f} | {run.get('autorec', {}).get('rmse', float('nan')):.4f} | "
            f"{run['two_tower']['recall@10']:.4f} | {served['recall@10']:.4f} / {served['ndcg@10']:.4f} | {fits} | "
            f"{seconds['rating stage']:.0f} | {run['chief peak rss MiB']} MiB |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ml100k", type=Path, required=True, help="MovieLens 100K folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--out", type=Path, default=Path("bench-results/distributed.json"))
    parser.add_argument("--run-worker", type=Path, help=argparse.SUPPRESS)  # a worker of a run: writes its result
    args = parser.parse_args(argv)
    # The workers other than the chief get RECSYS_LOG_LEVEL=WARNING from run_local_workers.
    logging.basicConfig(level=os.environ.get("RECSYS_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.run_worker:
        return run_worker(args.ml100k, args.overrides, args.run_worker)

    from training.local_cluster import run_local_workers

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for workers in args.workers:
            out = Path(scratch) / f"workers-{workers}.json"
            command = [sys.executable, "-m", "benchmarks.distributed", "--ml100k", str(args.ml100k),
                       "--run-worker", str(out), *[f"--set={setting}" for setting in args.overrides]]
            started = time.perf_counter()
            if run_local_workers(workers, command) != 0:
                print(f"the run with {workers} workers failed", file=sys.stderr)
                return 1
            runs.append({**json.loads(out.read_text()), "wall seconds": round(time.perf_counter() - started, 1)})
    results = {"runs": runs, "machine": {"platform": platform.platform(), "processor": platform.processor(),
                                        "date": datetime.now(UTC).isoformat(), "overrides": args.overrides}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
