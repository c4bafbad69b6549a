"""ScaNN versus exact search on synthetic catalogs shaped like our item embeddings (issue 4).

    python -m benchmarks.ann [--sizes 10000,100000,1000000] [--dim 64] [--queries 1000] [--spread 0.1]
        [--out bench-results/ann.json]

Items are a mixture of about sqrt(n) Gaussian clusters of unequal size on the unit sphere (the candidate
tower's output is L2-normalised and 64 wide: ``RetrievalConfig.normalize``, ``RetrievalConfig.tower_widths``);
queries are drawn like users, near a cluster chosen in proportion to its size, a little farther out than items.
At ``--spread 0.1`` an item's nearest neighbour has cosine ~0.73 on average; item embeddings of our trained
two-tower model (784 items) have ~0.93, so the synthetic catalog is the less clustered, harder one.
Recall depends on it: at ``--spread 0.15`` (nearest neighbour ~0.59) the shipped settings measured
recall@100 0.989 / 0.934 / 0.922 at 10k / 100k / 1M items, against 0.998 / 0.995 / 0.987 at 0.1.

The searcher is built by ``training.export.ann.build_searcher`` (the export's function, default settings, which
are read back from the built searcher for the table) and queried as ``app/backend.py`` queries it:
``final_num_neighbors=100, pre_reorder_num_neighbors=max(100, 400)``. Recall@100 is the share of the exact
top 100 (numpy: one matrix product and ``np.argpartition``) that ScaNN returns, averaged over queries.

Timing, all on one core: ScaNN's ``search`` and ``search_batched`` run on the calling thread, and numpy's
BLAS is held to one thread as well (two BLAS threads on this 2-core machine were no faster per query, and
several times slower while anything else ran). Query rates are measured in this thread's CPU time, which counts the
search's own work whatever else the machine runs (on a busy shared machine wall-clock rates here swung 2-4x
between runs; the JSON keeps them, and the load average, beside the CPU figures). One-query-per-call rates
are 1 / median latency; batched rates are the best of ``BATCH_REPEATS`` passes over all queries in one call.
Index build is wall-clock time and uses every core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

if __name__ == "__main__":  # run as a command, not on import (tests): numpy reads this once, when it loads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # exact search on one core, like ScaNN

import numpy as np  # noqa: E402

from models.artifact_format import SCANN_REORDER  # noqa: E402
from training.export.ann import build_searcher  # noqa: E402

K = 100
SERVER_PRE_REORDER = SCANN_REORDER  # app/backend.py search: pre_reorder_num_neighbors=max(n, SCANN_REORDER)
CLUSTER_SPREAD = 0.1  # per-dimension noise around a unit-norm centre before normalising
QUERY_SPREAD_RATIO = 1.5  # users sit farther from a cluster's centre than its items
EXACT_CHUNK = 16  # queries per matrix product: 16 x 1M float32 scores = 64 MB (64 queries: 256 MB, slower)
BATCH_REPEATS = 3
SINGLE_QUERY_BUDGET_S = 10.0  # one-at-a-time timing stops after this long (exact search at 1M: ~50 queries/s)
MIN_SINGLE_QUERIES = 20
SEED = 0


@dataclass(frozen=True)
class SearcherSettings:
    """What a built searcher does per query, read from its ScaNN config."""

    num_leaves: int  # 0: no partitioning tree, every query scores all items
    leaves_to_search: int
    dims_per_block: int  # asymmetric hashing: dimensions per 4-bit code
    reorder: int  # candidates re-scored exactly (the builder's default; the server passes its own)


@dataclass(frozen=True)
class Latency:
    """One query per call: ``qps`` = 1 / median CPU time; CPU and wall-clock percentiles in microseconds."""

    queries: int
    qps: float
    cpu_p50_us: float
    cpu_p99_us: float
    wall_p50_us: float
    wall_p99_us: float


@dataclass(frozen=True)
class Throughput:
    """All queries in one call, the best of ``BATCH_REPEATS`` passes."""

    qps: float  # by CPU time
    wall_qps: float


@dataclass(frozen=True)
class SizeResult:
    n_items: int
    dim: int
    n_clusters: int
    n_queries: int
    settings: SearcherSettings
    build_s: float
    scann_single: Latency
    scann_batched: Throughput
    exact_single: Latency
    exact_batched: Throughput
    recall_at_100: float
    recall_at_100_p5: float  # 5% of queries get less than this
    recall_at_100_min: float


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def clustered_catalog(n_items: int, dim: int, n_queries: int, spread: float = CLUSTER_SPREAD,
                      seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(items (n_items, dim), queries (n_queries, dim)), unit-norm float32: round(sqrt(n)) clusters whose
    sizes follow a Dirichlet(1) draw (some genres are big, some small); queries pick clusters by size."""
    rng = np.random.default_rng(seed)
    n_clusters = max(1, round(math.sqrt(n_items)))
    centres = _normalise(rng.standard_normal((n_clusters, dim)))  # (clusters, dim)
    weights = rng.dirichlet(np.ones(n_clusters))
    item_cluster = rng.choice(n_clusters, size=n_items, p=weights)
    items = _normalise(centres[item_cluster] + spread * rng.standard_normal((n_items, dim), np.float32))
    query_cluster = rng.choice(n_clusters, size=n_queries, p=weights)
    query_noise = QUERY_SPREAD_RATIO * spread * rng.standard_normal((n_queries, dim), np.float32)
    return items, _normalise(centres[query_cluster] + query_noise)


def exact_top_k(items: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """(n_queries, k) row numbers of the k largest dot products per query, in no particular order."""
    first = len(items) - min(k, len(items))  # the top k sit at positions first.. after partitioning
    chunks = []
    for start in range(0, len(queries), EXACT_CHUNK):
        scores = queries[start:start + EXACT_CHUNK] @ items.T  # (chunk, n_items)
        chunks.append(np.argpartition(scores, first, axis=1)[:, first:])
    return np.concatenate(chunks)


def neighbor_recall(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per query (row), the share of its exact neighbours (k ids in ``exact``) among the ids ``found``."""
    k = exact.shape[1]
    return np.array([len(set(f.tolist()) & set(e.tolist())) / k for f, e in zip(found, exact, strict=True)])


def searcher_settings(searcher) -> SearcherSettings:
    """The tree, hashing and reorder settings of a ``scann_ops_pybind`` searcher, from its text config."""
    config = searcher.config()

    def field(name: str) -> int:
        match = re.search(rf"\b{name}: (\d+)", config)
        return int(match.group(1)) if match else 0

    return SearcherSettings(num_leaves=field("num_children"), leaves_to_search=field("max_spill_centers"),
                            dims_per_block=field("num_dims_per_block"), reorder=field("approx_num_neighbors"))


def _timed(function: Callable[[], object]) -> tuple[object, float, float]:
    """(result, seconds of this thread's CPU time, wall-clock seconds)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = function()
    return result, time.thread_time() - cpu, time.perf_counter() - wall


def one_per_call(search_one: Callable[[np.ndarray], object], queries: np.ndarray) -> Latency:
    """Each query in its own call, as a request makes it, over all queries or until the time budget runs out."""
    search_one(queries[0])  # the first call allocates; keep it out of the timings
    cpu, wall = [], []
    started = time.perf_counter()
    for query in queries:
        _, cpu_s, wall_s = _timed(lambda query=query: search_one(query))
        cpu.append(cpu_s * 1e6)
        wall.append(wall_s * 1e6)
        if len(cpu) >= MIN_SINGLE_QUERIES and time.perf_counter() - started > SINGLE_QUERY_BUDGET_S:
            break
    p50, p99 = np.percentile(cpu, [50, 99])
    wall_p50, wall_p99 = np.percentile(wall, [50, 99])
    return Latency(queries=len(cpu), qps=1e6 / p50, cpu_p50_us=p50, cpu_p99_us=p99, wall_p50_us=wall_p50,
                   wall_p99_us=wall_p99)


def batched(search_all: Callable[[], object], n_queries: int) -> tuple[object, Throughput]:
    """(the result of ``search_all``, its best rate over ``BATCH_REPEATS`` calls)."""
    runs = [_timed(search_all) for _ in range(BATCH_REPEATS)]
    return runs[-1][0], Throughput(qps=n_queries / min(run[1] for run in runs),
                                   wall_qps=n_queries / min(run[2] for run in runs))


def bench_size(n_items: int, dim: int, n_queries: int, spread: float = CLUSTER_SPREAD) -> SizeResult:
    items, queries = clustered_catalog(n_items, dim, n_queries, spread)
    begin = time.perf_counter()
    searcher = build_searcher(items, num_neighbors=K)
    build_s = time.perf_counter() - begin
    pre_reorder = max(K, SERVER_PRE_REORDER)

    def scann_one(query: np.ndarray) -> object:
        return searcher.search(query, final_num_neighbors=K, pre_reorder_num_neighbors=pre_reorder)

    def exact_one(query: np.ndarray) -> np.ndarray:
        return exact_top_k(items, query[None, :])

    scann_single = one_per_call(scann_one, queries)
    (found, _), scann_batched = batched(lambda: searcher.search_batched(
        queries, final_num_neighbors=K, pre_reorder_num_neighbors=pre_reorder), n_queries)
    exact_single = one_per_call(exact_one, queries)
    exact, exact_batched = batched(lambda: exact_top_k(items, queries), n_queries)
    recall = neighbor_recall(found, exact)
    return SizeResult(
        n_items=n_items, dim=dim, n_clusters=max(1, round(math.sqrt(n_items))), n_queries=n_queries,
        settings=searcher_settings(searcher), build_s=build_s, scann_single=scann_single,
        scann_batched=scann_batched, exact_single=exact_single, exact_batched=exact_batched,
        recall_at_100=float(recall.mean()), recall_at_100_p5=float(np.percentile(recall, 5)),
        recall_at_100_min=float(recall.min()))


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_gib, 1), "os": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "scann": metadata.version("scann"),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset (all cores)")}


def _describe(settings: SearcherSettings) -> str:
    index = (f"tree, {settings.leaves_to_search} of {settings.num_leaves} leaves" if settings.num_leaves
             else "no tree (scan all)")
    return f"{index}, AH {settings.dims_per_block} dims/block"


def markdown_table(results: list[SizeResult]) -> str:
    lines = ["| items | ScaNN index (shipped defaults) | build (s) | ScaNN q/s, 1 per call (p50 / p99 µs) "
             "| ScaNN q/s, batched | exact q/s, 1 per call | exact q/s, batched | recall@100 (p5, min) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        single = r.scann_single
        lines.append(f"| {r.n_items:,} | {_describe(r.settings)} | {r.build_s:.1f} "
                     f"| {single.qps:,.0f} ({single.cpu_p50_us:,.0f} / {single.cpu_p99_us:,.0f}) "
                     f"| {r.scann_batched.qps:,.0f} | {r.exact_single.qps:,.0f} | {r.exact_batched.qps:,.0f} "
                     f"| {r.recall_at_100:.3f} ({r.recall_at_100_p5:.2f}, {r.recall_at_100_min:.2f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ScaNN (training.export.ann.build_searcher) versus exact search.")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated catalog sizes")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=CLUSTER_SPREAD,
                        help="per-dimension noise around cluster centres; larger = less clustered, harder")
    parser.add_argument("--out", type=Path, default=Path("bench-results/ann.json"))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = []
    for n_items in (int(size) for size in args.sizes.split(",")):
        results.append(bench_size(n_items, args.dim, args.queries, args.spread))
        print(f"{n_items:,} items: recall@100 {results[-1].recall_at_100:.3f}", flush=True)
    table = markdown_table(results)
    print(table)
    report = {"machine": machine(), "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
              "k": K, "pre_reorder_num_neighbors": max(K, SERVER_PRE_REORDER), "seed": SEED,
              "cluster_spread": args.spread, "query_spread": round(QUERY_SPREAD_RATIO * args.spread, 6),
              "results": [asdict(result) for result in results], "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
