"""Model quality on real data, under fixed protocols, beside the baselines and the peers of issue #3.

    python -m benchmarks.quality --ml100k ../shared/data/ml-100k \\
        --yoochoose ../shared/data/yoochoose-100k/yoochoose-clicks-100k \\
        --diginetica ../shared/data/diginetica-sample [--out bench-results/quality.json] [--set k=v ...]

Protocols (training/README): ML-100K u1.base/u1.test for ratings and retrieval; ML-100K user
sequences with a global time split at the 90th percentile; YOOCHOOSE's prepared split as given;
Diginetica with the NARM/SR-GNN filtering and the last 7 days as test. Every choice (epochs, EASE's
lambda, the /recommend mix, the served session model and its transitions weight) is made on
validation data carved out of the training part. Writes JSON and prints the Markdown tables the
README's Quality section shows; ``--set seed=N`` repeats it with another seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from training.config import TrainConfig, apply_overrides
from training.data import loaders as loaders
from training.data.examples import prepare_ratings
from training.data.sequences import SequenceProtocol
from training.data.sources import DIGINETICA_PROTOCOL, USER_SEQUENCE_PROTOCOL
from training.fit.rating_models import train_rating_models
from training.pipeline import index_ratings, rating_stage, session_stage

# Measured by the author on this machine (November 2026), same protocols.
PEERS: dict[str, dict[str, dict[str, float]]] = {
    "ml100k_ratings": {
        "global mean": {"rmse": 1.154, "mae": 0.968},
        "seed: Keras MF with biases": {"rmse": 1.127, "mae": 0.945},
        "seed: deep model 2048-256-1": {"rmse": 0.955, "mae": 0.757},
        "Surprise BaselineOnly": {"rmse": 0.960, "mae": 0.762},
        "Surprise SVD": {"rmse": 0.951, "mae": 0.750},
        "Surprise KNNBaseline (item, pearson_baseline)": {"rmse": 0.936, "mae": 0.734},
        "Surprise SVD++": {"rmse": 0.933, "mae": 0.733},
        "published: GC-MC with side features": {"rmse": 0.905},
        "published: GLocal-K": {"rmse": 0.889},
    },
    "ml100k_retrieval": {
        "popularity": {"recall@10": 0.097, "ndcg@10": 0.325, "recall@100": 0.402},
        "Surprise SVD scores": {"recall@10": 0.032, "ndcg@10": 0.150, "recall@100": 0.200},
        "item-kNN, cosine": {"recall@10": 0.164, "ndcg@10": 0.485, "recall@100": 0.550},
        "EASE (lambda 500)": {"recall@10": 0.192, "ndcg@10": 0.565, "recall@100": 0.657},
        "TFRS tutorial retrieval, 3 epochs": {"recall@10": 0.071, "ndcg@10": 0.195, "recall@100": 0.427},
        "TFRS tutorial retrieval, 60 epochs": {"recall@10": 0.053, "ndcg@10": 0.103, "recall@100": 0.426},
    },
    "ml100k_sequences": {
        "popularity": {"recall@20": 0.071, "mrr@20": 0.015},
        "session-kNN (cosine, k=100)": {"recall@20": 0.100, "mrr@20": 0.015},
        "item co-occurrence with the last item": {"recall@20": 0.144, "mrr@20": 0.031},
        "first-order transitions": {"recall@20": 0.154, "mrr@20": 0.039},
    },
    "yoochoose": {
        "popularity": {"recall@20": 0.089, "mrr@20": 0.026},
        "item co-occurrence with the last item": {"recall@20": 0.413, "mrr@20": 0.187},
        "first-order transitions": {"recall@20": 0.586, "mrr@20": 0.348},
        "session-kNN (cosine, k=100, 500 recent sessions)": {"recall@20": 0.645, "mrr@20": 0.321},
        "published, full RSC15: official GRU4Rec": {"recall@20": 0.728, "mrr@20": 0.321},
    },
    "diginetica": {},
}
TABLES = {
    "ml100k_ratings": ("ML-100K u1 ratings", ["rmse", "mae"]),
    "ml100k_retrieval": ("ML-100K u1 retrieval", ["recall@10", "ndcg@10", "recall@100"]),
    "ml100k_sequences": ("ML-100K sequences", ["recall@20", "mrr@20"]),
    "yoochoose": ("YOOCHOOSE 100k sample, prepared split", ["recall@20", "mrr@20"]),
    "diginetica": ("Diginetica sample (pipeline check; too small to rank models)", ["recall@20", "mrr@20"]),
}


def ml100k(path: Path, config: TrainConfig) -> dict[str, Any]:
    ratings = loaders.load_movielens_100k(path)
    outcome = rating_stage(*index_ratings(ratings, config), ratings.rating_range, config)
    # The same split and models, the occupation column removed from the user features.
    without = prepare_ratings(replace(ratings, users=ratings.users.drop(columns="occupation")), outcome.split,
                              config.history_length)
    occupation = train_rating_models(without, config.model_copy(update={"rating_model": "deep"}),
                                     ratings.rating_range)
    # NeuMF served alone, as `--set rating_model=neumf` would, without and with the paper's pre-training.
    neumf = {}
    for label, pretrain in (("neumf", False), ("neumf (pre-trained GMF + MLP)", True)):
        variant = config.model_copy(update={"rating_model": "neumf",
                                            "neumf": replace(config.neumf, pretrain=pretrain)})
        neumf[label] = train_rating_models(outcome.context, variant, ratings.rating_range).metrics["neumf"]
    sequences = session_stage(loaders.sessions_from_ratings(ratings), USER_SEQUENCE_PROTOCOL, config)
    return {
        "ml100k_ratings": {**outcome.rating.metrics, **neumf},
        "ml100k_retrieval": outcome.retrieval.metrics,
        "ml100k_sequences": sequences.result.metrics,
        "occupation_experiment": {"with occupation": outcome.rating.metrics["deep"],
                                  "without occupation": occupation.metrics["deep"]},
        "served": {"retrieval": outcome.served_retrieval, "session_model": sequences.result.served},
        "seconds": {**outcome.seconds, "ml100k_sequences_seconds": sequences.seconds},
    }


def sessions(name: str, data, protocol: SequenceProtocol, config: TrainConfig) -> dict[str, Any]:
    outcome = session_stage(data, protocol, config)
    return {name: outcome.result.metrics, f"{name}_served": outcome.result.served,
            f"{name}_events": outcome.describe(), f"{name}_seconds": outcome.seconds}


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for key, (title, metrics) in TABLES.items():
        if key not in results:
            continue
        lines += [f"#### {title}", "", "| model | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        for model, values in results[key].items():
            lines.append(f"| **ours: {model}** | " + " | ".join(f"{values.get(m, float('nan')):.3f}" for m in metrics)
                         + " |")
        for model, values in PEERS[key].items():
            lines.append(f"| {model} | " + " | ".join(f"{values[m]:.3f}" if m in values else "" for m in metrics)
                         + " |")
        lines.append("")
    if "occupation_experiment" in results:
        lines += ["#### Occupation experiment (ML-100K u1, deep ranking model alone)", "",
                  "| deep ranking model | rmse | mae |",
                  "|---|---|---|"]
        for variant, values in results["occupation_experiment"].items():
            lines.append(f"| {variant} | {values['rmse']:.4f} | {values['mae']:.4f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ml100k", type=Path, help="MovieLens 100K folder")
    parser.add_argument("--yoochoose", help="prefix of the prepared GRU4Rec-format split")
    parser.add_argument("--diginetica", type=Path, help="train-item-views.csv or its folder")
    parser.add_argument("--out", type=Path, default=Path("bench-results/quality.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = apply_overrides(TrainConfig(), args.overrides)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    if args.ml100k:
        results.update(ml100k(args.ml100k, config))
    if args.yoochoose:
        results.update(sessions("yoochoose", loaders.load_gru4rec(args.yoochoose), SequenceProtocol(), config))
    if args.diginetica:
        results.update(sessions("diginetica", loaders.load_diginetica(args.diginetica), DIGINETICA_PROTOCOL, config))
    results["machine"] = {"platform": platform.platform(), "processor": platform.processor(),
                          "python": platform.python_version(), "date": datetime.now(UTC).isoformat(),
                          "total_seconds": round(time.perf_counter() - started, 1), "overrides": args.overrides}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
