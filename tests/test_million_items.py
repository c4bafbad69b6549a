"""The million-item benchmark's path, at 40,000 items: the pooled generator, a real ``recsys-train`` that
skips the dense item x item baselines above their limit, ``recsys-serve`` with its model process under
/recommend traffic, and the served ScaNN index checked against exact search."""

from __future__ import annotations

import json

from benchmarks import million_items
from training.evaluate.baselines import DENSE_MAX_ITEMS


def test_a_catalog_above_the_dense_limit_trains_serves_and_is_searched(tmp_path):
    out = tmp_path / "million.json"
    assert million_items.main(["--items", "40000", "--users", "300", "--ratings-per-user", "300", "--sessions", "500",
                               "--choice-pool", "3000", "--neighbour-pool", "200", "--set", "gru4rec.n_sample=128",
                               "--duration", "2", "--queries", "100", "--workdir", str(tmp_path / "work"),
                               "--out", str(out)]) == 0

    result = json.loads(out.read_text())
    serving, recall = result["serving"], result["recall"]
    assert serving["items"] > DENSE_MAX_ITEMS  # so EASE and item-kNN skipped themselves
    assert set(result["training"]["stages"]) >= {"load and check the data", "export, smoke test and publish"}
    assert serving["load_seconds"] > 0
    assert serving["memory_after_load"]["processes"] >= 2  # the API process and its model process
    assert serving["memory_after_load"]["rss_mib"] > 300  # TensorFlow and the models are in there
    assert serving["recommend"]["requests"] > 0 and serving["recommend"]["errors"] == 0
    stages = serving["stage_mean_ms"]  # the server's own account of the measured traffic
    assert {"queue", "retrieve", "filter", "rank", "serialize"} <= set(stages) and stages["batch_size"] >= 1
    assert 0 < stages["retrieve"] < serving["recommend"]["p99_ms"]
    assert recall["queries"] == 100
    assert 0.5 < recall["recall@100"] <= 1.0
    assert recall["recall@100_min"] <= recall["recall@100_p5"] <= recall["recall@100"]

    again = tmp_path / "again.json"  # the kept version served and checked again, without training
    assert million_items.main(["--artifacts", str(tmp_path / "work" / "artifacts"), "--duration", "1",
                               "--queries", "50", "--out", str(again)]) == 0
    result = json.loads(again.read_text())
    assert result["data"] is None and result["training"] is None
    assert result["serving"]["version"] == serving["version"] and result["serving"]["recommend"]["errors"] == 0
    assert result["recall"]["queries"] == 50
