"""The serving benchmark's silent-failure points, without TensorFlow or a server: traffic generation,
latency math, wrk output parsing, and the shapes of the JSON and Markdown reports."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.loadgen import lua_string, parse_wrk, percentile, summarize
from benchmarks.serve import Run, build_traffic, markdown, read_vocabulary, results, verdicts

# Real `wrk --latency` output against recsys-serve (wrk 4.1.0): a run with 404s, one with socket timeouts.
WRK_NON_2XX = """Running 2s test @ http://127.0.0.1:8765/recommend/u1?k=0
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    47.50ms   55.77ms 312.03ms   91.16%
    Req/Sec   113.59    100.96   550.00     92.31%
  Latency Distribution
     50%   36.85ms
     75%   50.36ms
     90%   87.16ms
     99%  291.29ms
  446 requests in 2.09s, 155.48KB read
  Non-2xx or 3xx responses: 446
Requests/sec:    213.54
Transfer/sec:     74.44KB
"""
WRK_TIMEOUTS = """Running 3s test @ http://127.0.0.1:8765/recommend/u1?k=10
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   582.96ms  217.77ms 999.66ms   61.11%
    Req/Sec    64.80     52.01   150.00     60.00%
  Latency Distribution
     50%  498.56ms
     75%  811.83ms
     90%  979.27ms
     99%  999.37ms
  257 requests in 3.05s, 272.69KB read
  Socket errors: connect 0, read 0, write 0, timeout 59
Requests/sec:     84.25
Transfer/sec:     89.39KB
"""


@pytest.fixture
def artifacts(tmp_path):
    """A fake version: 50 users, 30 items (the last 10 never interacted with), 10 session items of which
    only s0 and s1 ever occurred."""
    version = tmp_path / "v1"
    (version / "vocab").mkdir(parents=True)
    (tmp_path / "LATEST").write_text("v1\n")
    for name, ids in (("users", [f"u{i}" for i in range(50)]), ("items", [f"i{i}" for i in range(30)]),
                      ("session_items", [f"s{i}" for i in range(10)])):
        (version / "vocab" / f"{name}.txt").write_text("".join(f"{value}\n" for value in ids))
    np.save(version / "popularity.npy", np.r_[np.arange(20, 0, -1), np.zeros(10)].astype(np.float32))
    np.save(version / "session_popularity.npy", np.array([5, 1, 0, 0, 0, 0, 0, 0, 0, 0], np.float32))
    return tmp_path


def test_traffic_is_repeatable_and_realistic(artifacts):
    vocab = read_vocabulary(artifacts)
    traffic = build_traffic(vocab, size=2000, seed=3)
    assert vocab.version == "v1" and traffic == build_traffic(vocab, size=2000, seed=3)
    assert [len(traffic[name]) for name in ("healthz", "recommend", "session", "predict")] == [1, 2000, 2000, 2000]

    users = [request.path.split("/")[2].split("?")[0] for request in traffic["recommend"]]
    assert all(r.method == "GET" and r.path.endswith("?k=10") for r in traffic["recommend"])
    assert {user for user in users if user.startswith("u")} == set(vocab.users)  # every known user asked
    assert 0.03 < sum(user.startswith("bench-unknown") for user in users) / len(users) < 0.07

    sessions = [json.loads(request.body)["items"] for request in traffic["session"]]
    assert {len(items) for items in sessions} == set(range(1, 21))
    items = [item for session in sessions for item in session]
    assert {item for item in items if not item.startswith("bench-unknown")} == {"s0", "s1"}  # by popularity
    assert 0.03 < sum(item.startswith("bench-unknown") for item in items) / len(items) < 0.07

    bodies = [json.loads(request.body) for request in traffic["predict"]]
    batches = [body["pairs"] for body in bodies if "pairs" in body]
    assert 0.17 < len(batches) / len(bodies) < 0.23 and {len(pairs) for pairs in batches} == set(range(2, 21))
    pairs = [pair for body in bodies for pair in body.get("pairs", [body])]
    assert {pair["user_id"] for pair in pairs} <= set(vocab.users)
    assert {pair["item_id"] for pair in pairs} == {f"i{i}" for i in range(20)}  # never an unpopular item


def test_nearest_rank_percentiles_and_summary():
    latencies = [float(ms) for ms in range(100, 0, -1)]
    assert [percentile(sorted(latencies), p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert percentile([7.0], 99) == 7 and math.isnan(percentile([], 50))
    summary = summarize(latencies, errors=3, elapsed_s=2.0)
    assert (summary.requests, summary.rps, summary.p50_ms, summary.p99_ms, summary.errors) == (100, 50, 50, 99, 3)


def test_wrk_output_is_parsed():
    non_2xx = parse_wrk(WRK_NON_2XX)
    assert (non_2xx.requests, non_2xx.rps, non_2xx.errors) == (446, 213.54, 446)
    assert (non_2xx.p50_ms, non_2xx.p90_ms, non_2xx.p99_ms) == (36.85, 87.16, 291.29)
    timeouts = parse_wrk(WRK_TIMEOUTS)
    assert (timeouts.requests, timeouts.errors, timeouts.p50_ms, timeouts.p99_ms) == (257, 59, 498.56, 999.37)
    assert parse_wrk(WRK_TIMEOUTS.replace("999.37ms", "1.20s")).p99_ms == 1200
    assert parse_wrk(WRK_TIMEOUTS.replace("498.56ms", "812.00us")).p50_ms == pytest.approx(0.812)
    with pytest.raises(ValueError, match="Requests/sec"):
        parse_wrk(WRK_NON_2XX.replace("Requests/sec", "Req"))
    assert lua_string('{"a":"\\é"}') == '"{\\034a\\034:\\034\\092\\195\\169\\034}"'


def test_report_shapes_and_verdicts():
    runs = [Run("healthz", 32, 30000, 1000.0, 5.0, 8.0, 12.0, 0), Run("recommend", 32, 18000, 600.0, 9, 15, 20, 0),
            Run("session", 32, 12000, 400.0, 9, 15, 20, 2), Run("healthz", 1, 9000, 300.0, 1, 2, 3, 0),
            Run("recommend", 1, 3000, 100.0, 2.5, 4, 9, 0)]
    payload = json.loads(json.dumps(results({"client": "wrk"}, runs)))
    assert list(payload) == ["machine", "runs"] and payload["runs"][1] == {
        "endpoint": "recommend", "concurrency": 32, "requests": 18000, "rps": 600.0, "p50_ms": 9, "p90_ms": 15,
        "p99_ms": 20, "errors": 0}
    assert verdicts(runs) == [
        "FAIL  c=32 rps >= 50% of healthz: recommend 60%, session 40%",
        "n/a   c=8 p99 <= 25 ms: not measured",
        "PASS  c=1 /recommend p50 <= 3 ms: 2.50 ms",
        "FAIL  zero errors: 2 errors in 5 runs; session@c=32: 2"]
    machine = {"artifact_version": "v1", "client": "wrk", "server_workers": 1, "cpu": "cpu", "cores": 2,
               "memory_gib": 4.0, "python": "3.11", "date": "today", "load_average_1m": 0.1, "duration_s": 10,
               "server_env": {}}
    table = markdown(machine, runs)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| endpoint | concurrency | requests | rps | % of healthz rps | p50 ms")
    assert rows[1:] == ["| healthz | 1 | 9000 | 300 | 100% | 1.00 | 2.00 | 3.00 | 0 |",
                        "| recommend | 1 | 3000 | 100 | 33% | 2.50 | 4.00 | 9.00 | 0 |",
                        "| healthz | 32 | 30000 | 1000 | 100% | 5.00 | 8.00 | 12.00 | 0 |",
                        "| recommend | 32 | 18000 | 600 | 60% | 9.00 | 15.00 | 20.00 | 0 |",
                        "| session | 32 | 12000 | 400 | 40% | 9.00 | 15.00 | 20.00 | 2 |"]


def test_benchmark_never_imports_tensorflow():
    check = "import sys, benchmarks.serve; assert 'tensorflow' not in sys.modules, 'TensorFlow imported'"
    subprocess.run([sys.executable, "-c", check], cwd=Path(__file__).resolve().parents[1], check=True)


def test_soak_mixes_the_endpoints_and_judges_memory_growth(artifacts):
    from collections import Counter

    from benchmarks.loadgen import Measurement
    from benchmarks.soak import MIX, mixed_pool, report
    from benchmarks.soak import markdown as soak_markdown

    traffic = build_traffic(read_vocabulary(artifacts), size=100, seed=0)
    pool = mixed_pool(traffic, size=1000)
    kinds = Counter("healthz" if r.path == "/healthz" else "recommend" if r.path.startswith("/recommend")
                    else "session" if r.path == "/session/next" else "predict" for r in pool)
    assert kinds == {endpoint: 100 * share for endpoint, share in MIX.items()}
    assert {r for r in pool if r.path.startswith("/recommend")} == set(traffic["recommend"])  # cycled through

    machine = {"duration_s": 300, "concurrency": 64, "artifact_version": "v1", "client": "wrk", "cpu": "x",
               "cores": 2, "date": "d", "warmup_s": 30}
    samples = [{"t_s": 0, "server": 140.0, "model_process": 800.0},
               {"t_s": 150, "server": 190.0, "model_process": 805.0},
               {"t_s": 300, "server": 150.0, "model_process": 840.0}]
    judged = report(machine, Measurement(1000, 100.0, 1.0, 2.0, 3.0, 0), samples, bound_mib=32)
    assert judged["growth_mib"] == {"server": 10.0, "model_process": 40.0}
    assert judged["rss_mib_peak"] == {"server": 190.0, "model_process": 840.0}
    assert judged["verdicts"] == {"zero errors": True, "growth <= 32 MiB per process": False}
    assert "| model_process | 800.0 | 840.0 | 840.0 | +40.0 |" in soak_markdown(judged)
