"""Training on several workers (``training.fit.distribute``, ``recsys-train --workers N``): the shards,
the cluster read from ``TF_CONFIG``, and a real two-worker run whose version is served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from models import artifact_format as fmt
from tests.conftest import TINY_TRAINING
from tests.serving import running_server
from training.cli import _without_workers
from training.fit.distribute import Cluster, cluster_from_environment
from training.local_cluster import run_local_workers, tf_config


@pytest.mark.parametrize(("workers", "n_rows"), [(2, 1001), (3, 10), (4, 3), (2, 0)])
def test_the_workers_shards_are_disjoint_cover_the_rows_and_take_equal_steps(workers, n_rows):
    shards = [np.arange(n_rows)[Cluster(workers, index).shard(n_rows)] for index in range(workers)]
    rows = np.concatenate(shards)
    assert len(rows) == len(set(rows.tolist())) == n_rows  # disjoint, and together every row
    assert sorted(rows.tolist()) == list(range(n_rows))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    batch_size = 256
    local = Cluster(workers, 0).local_batch(batch_size)
    assert local * workers <= batch_size
    steps = {Cluster(workers, index).steps(n_rows, batch_size) for index in range(workers)}
    assert len(steps) == 1  # a step waits for every worker
    assert all(len(shard) <= local * min(steps) for shard in shards)  # every row is seen each epoch


def test_the_cluster_comes_from_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cluster_from_environment() == Cluster()
    assert Cluster().describe() == {"strategy": "default (one process)", "workers": 1}
    addresses = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    monkeypatch.setenv("TF_CONFIG", tf_config(addresses, 2))
    cluster = cluster_from_environment()
    assert cluster == Cluster(workers=3, index=2, addresses=tuple(addresses))
    assert not cluster.is_chief and cluster.distributed
    assert cluster.describe() == {"strategy": "MultiWorkerMirroredStrategy", "workers": 3}
    monkeypatch.setenv("TF_CONFIG", tf_config(addresses, 3))
    with pytest.raises(ValueError, match="one of the 3 workers"):
        cluster_from_environment()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": addresses}, "task": {"type": "chief"}}))
    with pytest.raises(ValueError, match="one of the 3 workers"):
        cluster_from_environment()


def test_a_kubernetes_indexed_job_names_its_workers_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("RECSYS_TRAIN_WORKERS", "train-0.workers:2222, train-1.workers:2222")
    with pytest.raises(ValueError, match="needs this worker's index"):
        cluster_from_environment()
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert cluster_from_environment() == Cluster(workers=2, index=1,
                                                 addresses=("train-0.workers:2222", "train-1.workers:2222"))
    assert "TF_CONFIG" not in os.environ  # read, never written: later runs in this process stay on one worker


def test_two_workers_learn_exactly_what_one_learns_from_the_same_rows(tmp_path):
    """The real MF model, three epochs with Adam and L2 penalties: on two workers, each with half of
    every batch, the losses and the weights equal those on one worker (``tests/distributed_step.py``)."""
    script = str(Path(__file__).with_name("distributed_step.py"))
    for workers in (1, 2):
        assert run_local_workers(workers, [sys.executable, script, str(tmp_path / f"{workers}.npz")]) == 0
    one, two = np.load(tmp_path / "1.npz"), np.load(tmp_path / "2.npz")
    assert one.files == two.files and len(one.files) > 3
    for name in one.files:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert one["arr_0"][-1] < one["arr_0"][0]  # the losses of the three epochs: it learned something


def test_a_failing_local_worker_stops_the_others_and_gives_its_status():
    # Worker 1 fails at once; the chief would otherwise wait for it (here: sleep) for a minute.
    script = ("import json, os, sys, time; index = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
              "sys.exit(5) if index == 1 else time.sleep(60)")
    started = time.monotonic()
    assert run_local_workers(2, [sys.executable, "-c", script]) == 5
    assert time.monotonic() - started < 30
    assert run_local_workers(2, [sys.executable, "-c", "pass"]) == 0


def test_each_local_worker_runs_the_command_without_workers():
    assert _without_workers(["--workers", "2", "--set", "a.b=1", "--workers=3", "--version", "v"]) == \
        ["--set", "a.b=1", "--version", "v"]


def test_two_workers_train_and_the_chiefs_version_is_served(tmp_path):
    command = [str(Path(sys.executable).parent / "recsys-train"), "--workers", "2", "--artifacts", str(tmp_path),
               "--version", "two-workers"]
    for setting in TINY_TRAINING:
        command += ["--set", setting]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert "worker 0 of 2 joined the cluster (chief: it exports)" in finished.stderr
    assert "starting 2 local training workers on 127.0.0.1:" in finished.stderr
    written = sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("."))
    assert written == sorted([fmt.LATEST, "two-workers"])  # the chief's version, once
    manifest = json.loads((tmp_path / "two-workers" / fmt.MANIFEST).read_text())
    assert manifest["training"] == {"strategy": "MultiWorkerMirroredStrategy", "workers": 2}
    report = json.loads((tmp_path / "two-workers" / fmt.REPORT_JSON).read_text())
    assert "s on 2 workers" in (tmp_path / "two-workers" / fmt.REPORT_MD).read_text()
    assert report["training"]["two_tower"]["best_epoch"] >= 1 and report["training"]["deep"]["best_epoch"] >= 1

    with running_server(tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        recommended = client.get("/recommend/u1?k=5")
        assert recommended.status_code == 200 and len(recommended.json()["items"]) == 5
        assert recommended.json()["model_version"] == "two-workers"
        rated = client.post("/predict-rating", json={"user_id": "u2", "item_id": "i3"})
        assert rated.status_code == 200 and 1 <= rated.json()["rating"] <= 5
        assert client.post("/session/next", json={"items": ["i1", "i2"], "k": 3}).status_code == 200
