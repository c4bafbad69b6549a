"""A catalog of a million items, trained and served: load time and memory, /recommend latency at
concurrency 8, and the served ScaNN index's recall@100 against exact search over that catalog.

    python -m benchmarks.million_items [--items 1200000] [--users 5000] [--ratings-per-user 1000]
        [--concurrency 8] [--duration 30] [--set mf.epochs=2 ...] [--workdir DIR]
        [--out bench-results/million_items.json]
    python -m benchmarks.million_items --artifacts DIR/artifacts   # steps 3 and 4 on a kept version

1. The synthetic generator writes ``--items`` items and ``--users`` users with about ``--ratings-per-user``
   ratings each (``benchmarks.scaling.write_data``). Users choose within a pool of items drawn by
   popularity (``synthetic.choice_pool``) and successors are looked for among random items
   (``synthetic.neighbour_pool``), so generating stays O(users x pool); the popularity tail is shorter
   than the default's (``popularity_sigma``) so that most of the catalog is rated at all: the served
   catalog is the items of the training part.
2. ``recsys-train`` trains on it with ``TRAINING`` (the two-tower model and MF, a fixed epoch each, no
   refit; EASE and item-kNN skip themselves above 20,000 items) and publishes; its log gives each stage's
   time and peak memory.
3. ``recsys-serve`` loads the version: the seconds until ``/readyz`` answers 200 and the resident memory of
   its processes (API and model process) are measured, then ``/recommend`` is driven at ``--concurrency``
   (wrk when installed) for ``--duration`` seconds over every user in turn, 5% unknown.
4. With the server stopped, this process loads the version as the model process does
   (``app.backend.TensorFlowScorer``) and compares the served search (ScaNN) with exact search over the
   item embeddings for ``--queries`` users' query embeddings: recall@100.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from benchmarks import scaling, serve
from benchmarks.ann import exact_top_k, neighbor_recall
from benchmarks.loadgen import run_httpx, run_wrk, warm_up
from benchmarks.soak import children
from models import artifact_format as fmt
from training.data.synthetic import SyntheticConfig
from training.process_memory import status_mib

# The scaling benchmark's models (the two-tower model, served through ScaNN, and MF, the rating order of the
# candidates), one epoch each: later settings win. The two-tower batch is large here because Adam updates
# every row of its million-row tables at each step, which costs more than the batch's logits.
TRAINING = (*scaling.TRAINING, "retrieval.epochs=1", "retrieval.batch_size=4096", "mf.epochs=1")
TARGET_P99_MS = serve.MAX_P99_MS_AT_8
RECALL_K = 100


def synthetic_config(items: int, users: int, ratings_per_user: float, seed: int, sessions: int = 2000,
                     choice_pool: int = 20_000, neighbour_pool: int = 1000) -> SyntheticConfig:
    return replace(SyntheticConfig(), n_items=items, n_users=users, mean_interactions=ratings_per_user,
                   n_sessions=sessions, popularity_sigma=0.5, choice_pool=choice_pool,
                   neighbour_pool=neighbour_pool, seed=seed)


def process_tree_memory_mib(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and at its peak (VmHWM) of ``pid`` and its descendants, summed."""
    pids, pending = [], [pid]
    while pending:
        pids.append(pending.pop())
        pending.extend(children(pids[-1]))
    return {"rss_mib": round(sum(status_mib(p, "VmRSS") or 0 for p in pids)),
            "peak_rss_mib": round(sum(status_mib(p, "VmHWM") or 0 for p in pids)), "processes": len(pids)}


def serve_version(artifacts: Path, concurrency: int, duration: int, requests: int, log_path: Path) -> dict[str, Any]:
    """Start recsys-serve on ``artifacts``, time its load, then drive /recommend at ``concurrency``."""
    vocab = serve.read_vocabulary(artifacts)
    traffic = serve.recommend_requests(np.array(vocab.users, dtype=object), serve.POOL_SIZE,
                                       np.random.default_rng(0))
    wrk = shutil.which("wrk")
    with serve.running_server(artifacts, 1, {}, log_path) as server:
        started = time.perf_counter()
        served = server.wait_ready(1, timeout_s=1800)
        load_seconds = time.perf_counter() - started
        if served != vocab.version:
            raise serve.ServerError(f"the server loaded version {served}, the traffic is from {vocab.version}")
        loaded = process_tree_memory_mib(server.process.pid)
        warm_up(server.url, "recommend", traffic, 200)
        before = stage_totals(server.url)
        measurement = (run_wrk(wrk, server.url, traffic, concurrency, duration) if wrk else
                       run_httpx(server.url, traffic, concurrency, requests, duration))
        server.check_alive()
        stages = stage_means(before, stage_totals(server.url))
        after = process_tree_memory_mib(server.process.pid)
    return {"version": vocab.version, "items": len(vocab.items), "users": len(vocab.users),
            "load_seconds": round(load_seconds, 1), "memory_after_load": loaded, "memory_after_traffic": after,
            "client": "wrk" if wrk else "httpx", "concurrency": concurrency, "duration_s": duration,
            "recommend": asdict(measurement), "stage_mean_ms": stages}


def stage_totals(url: str) -> dict[str, tuple[float, int]]:
    """The server's /metrics: seconds and observations so far of each /recommend stage (every request
    observes its batch's model stages) and, as "batch_size", of the requests per batch."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    totals: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("recsys_stage_seconds", "recsys_batch_size"):
            continue
        for sample in family.samples:
            if sample.labels.get("endpoint") != "recommend" or not sample.name.endswith(("_sum", "_count")):
                continue
            entry = totals.setdefault(sample.labels.get("stage", "batch_size"), [0.0, 0])
            entry[0 if sample.name.endswith("_sum") else 1] = sample.value
    return {stage: (float(seconds), int(count)) for stage, (seconds, count) in totals.items()}


def stage_means(before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]]) -> dict[str, float]:
    """Mean milliseconds of each stage (mean requests per batch for "batch_size") between two readings."""
    means = {}
    for stage, (total, count) in after.items():
        total_before, count_before = before.get(stage, (0.0, 0))
        if count > count_before:
            scale = 1 if stage == "batch_size" else 1000
            means[stage] = round(scale * (total - total_before) / (count - count_before), 2)
    return means


def served_recall(artifacts: Path, queries: int, seed: int = 0) -> dict[str, Any]:
    """recall@100 of the served search against exact search, for ``queries`` known users' query embeddings."""
    from app.artifacts import load_catalog
    from app.backend import TensorFlowScorer

    started = time.perf_counter()
    # model_threads=0: TensorFlow's own thread pools, which a process whose TensorFlow already runs (a test
    # session) cannot change
    scorer = TensorFlowScorer(load_catalog(artifacts / fmt.read_latest(artifacts)), model_threads=0)
    load_seconds = time.perf_counter() - started
    embeddings = scorer.known_users.query_embeddings
    users = np.random.default_rng(seed).choice(len(embeddings), size=min(queries, len(embeddings)), replace=False)
    found = scorer.items.search(embeddings[users], RECALL_K)
    recall = neighbor_recall(found, exact_top_k(scorer.items.item_embeddings, embeddings[users], RECALL_K))
    return {"queries": len(users), f"recall@{RECALL_K}": round(float(recall.mean()), 4),
            f"recall@{RECALL_K}_p5": round(float(np.percentile(recall, 5)), 4),
            f"recall@{RECALL_K}_min": round(float(recall.min()), 4), "in_process_load_seconds": round(load_seconds, 1)}


def report(result: dict[str, Any]) -> str:
    data, training, serving, recall = result["data"], result["training"], result["serving"], result["recall"]
    recommend, memory = serving["recommend"], serving["memory_after_load"]
    verdict = "PASS" if recommend["p99_ms"] <= TARGET_P99_MS and not recommend["errors"] else "FAIL"
    made = [] if data is None else [
        f"data: {data['items']:,} items, {data['users']:,} users, {data['ratings']:,} ratings "
        f"(generated in {data['generate_seconds']} s)",
        f"training: {training['total_seconds']:.0f} s, peak RSS {training['peak_rss_mib']:,} MiB"]
    return "\n".join([
        *made,
        f"version {serving['version']}: {serving['items']:,} items (those rated in the training part), "
        f"{serving['users']:,} users",
        f"load: /readyz after {serving['load_seconds']} s; {memory['rss_mib']:,} MiB resident in "
        f"{memory['processes']} processes (peak {memory['peak_rss_mib']:,} MiB); after the traffic "
        f"{serving['memory_after_traffic']['rss_mib']:,} MiB",
        f"/recommend at concurrency {serving['concurrency']} ({serving['client']}, {serving['duration_s']} s): "
        f"{recommend['rps']:.0f} rps, p50 {recommend['p50_ms']:.2f} ms, p90 {recommend['p90_ms']:.2f} ms, "
        f"p99 {recommend['p99_ms']:.2f} ms, {recommend['errors']} errors",
        "  mean ms per stage: " + ", ".join(f"{stage} {ms}" for stage, ms in serving["stage_mean_ms"].items()
                                            if stage != "batch_size")
        + f"; {serving['stage_mean_ms'].get('batch_size', 0)} requests per batch",
        f"ScaNN recall@{RECALL_K} against exact search, {recall['queries']} users: {recall[f'recall@{RECALL_K}']} "
        f"(5% of users below {recall[f'recall@{RECALL_K}_p5']}, lowest {recall[f'recall@{RECALL_K}_min']})",
        f"{verdict}  p99 <= {TARGET_P99_MS:g} ms at concurrency {serving['concurrency']}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_200_000, help="catalog size of the generator")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--ratings-per-user", type=float, default=1000.0, help="mean ratings per user")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--choice-pool", type=int, default=20_000, help="synthetic.choice_pool")
    parser.add_argument("--neighbour-pool", type=int, default=1000, help="synthetic.neighbour_pool")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="training settings beyond (or replacing) those of TRAINING")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=int, default=30, help="seconds of /recommend traffic")
    parser.add_argument("--requests", type=int, default=20_000, help="request cap (httpx client only)")
    parser.add_argument("--queries", type=int, default=1000, help="users whose ScaNN neighbours are checked")
    parser.add_argument("--out", type=Path, default=Path("bench-results/million_items.json"))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the data and the trained version are written and kept (default: a temporary "
                             "folder, deleted at the end)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="serve and check the LATEST version of this artifact root (e.g. WORKDIR/artifacts of "
                             "an earlier run) instead of generating and training one")
    args = parser.parse_args(argv)
    config = synthetic_config(args.items, args.users, args.ratings_per_user, args.seed, args.sessions,
                              args.choice_pool, args.neighbour_pool)
    overrides = [*TRAINING, *args.overrides]
    machine = serve.machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recsys-million-") as temporary:
        data = training = None
        artifacts = args.artifacts
        if artifacts is None:
            folder = args.workdir or Path(temporary)
            folder.mkdir(parents=True, exist_ok=True)
            data = scaling.write_data(folder, config)
            print(f"{data['ratings']:,} ratings of {data['users']:,} users on {data['items']:,} items "
                  f"(generated in {data['generate_seconds']} s): training...", flush=True)
            training = scaling.train(folder, overrides)
            print(f"  trained in {training['total_seconds']:.0f} s; serving...", flush=True)
            artifacts = folder / "artifacts"
        serving = serve_version(artifacts, args.concurrency, args.duration, args.requests,
                                args.out.with_suffix(".server.log"))
        print("  served; checking the index against exact search...", flush=True)
        recall = served_recall(artifacts, args.queries, args.seed)
    settings = None if args.artifacts else {"synthetic": asdict(config), "training": overrides}
    result = {"machine": machine, "settings": settings,
              "data": data, "training": training, "serving": serving, "recall": recall}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
