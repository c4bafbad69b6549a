"""The real `recsys-serve` process on a free port, called over HTTP."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server(NamedTuple):
    url: str
    pid: int


def _model_process(server_pid: int) -> int:
    """The server's model process: its child started by multiprocessing's spawn."""
    children = " ".join(Path(path).read_text() for path in Path(f"/proc/{server_pid}/task").glob("*/children"))
    spawned = [int(pid) for pid in children.split()
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(spawned) == 1, f"expected one model process, found {spawned}"
    return spawned[0]


@pytest.fixture
def server(trained_version):
    port = _free_port()
    serve = Path(sys.executable).parent / "recsys-serve"
    env = {**os.environ, "RECSYS_ARTIFACTS": str(trained_version.parent), "RECSYS_LOG_LEVEL": "warning"}
    process = subprocess.Popen([str(serve), "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"recsys-serve exited: {process.stdout.read()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            pytest.fail("recsys-serve did not become ready within 120 s")
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_real_server_answers_every_endpoint(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        body = client.get("/recommend/u1", params={"k": 5}).json()
        assert body["strategy"] == "personalized" and len(body["items"]) == 5
        scores = [item["score"] for item in body["items"]]
        assert scores == sorted(scores, reverse=True) and all(1.0 <= s <= 5.0 for s in scores)
        assert all(item["title"] for item in body["items"])

        session = client.post("/session/next", json={"items": ["i1", "i2", "unknown"], "k": 7}).json()
        assert session["strategy"] == "personalized" and len(session["items"]) == 7
        assert session["unknown_items"] == ["unknown"]

        rating = client.post("/predict-rating", json={"user_id": "u1", "item_id": "i2"}).json()
        assert 1.0 <= rating["rating"] <= 5.0
        batch = client.post("/predict-rating", json={"pairs": [{"user_id": "u1", "item_id": "i2"},
                                                               {"user_id": "u2", "item_id": "i3"}]}).json()
        assert batch["ratings"][0] == pytest.approx(rating["rating"], abs=1e-5)

        missing = client.post("/predict-rating", json={"user_id": "u1", "item_id": "nope"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_item"
        assert client.get("/models").json()["version"] == "tiny-1"
        assert client.get("/healthz").json()["status"] == "ok"
        assert "recsys_requests_total" in client.get("/metrics").text


def test_a_crashed_model_process_is_replaced(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/recommend/u1").json()["strategy"] == "personalized"
        crashed = _model_process(server.pid)
        os.kill(crashed, signal.SIGKILL)
        failed = client.get("/recommend/u1")
        assert failed.status_code == 503 and failed.json()["error"]["code"] == "model_unavailable"
        assert client.get("/healthz").status_code == 200  # the HTTP side never went down
        assert client.get("/readyz").json()["error"]["details"]["reason"] == "the model process is restarting"
        deadline = time.monotonic() + 120
        while (answer := client.get("/recommend/u1")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert answer.status_code == 200 and answer.json()["strategy"] == "personalized"
        assert _model_process(server.pid) != crashed


def test_a_version_the_model_process_refuses_leaves_the_old_one_serving(server, trained_version):
    broken = trained_version.parent / "tiny-broken"
    shutil.copytree(trained_version, broken)
    try:
        probes = json.loads((broken / "probes.json").read_text())
        probes["ratings"][0][0] += 0.5  # the model process checks these before it serves a version
        (broken / "probes.json").write_text(json.dumps(probes))
        with httpx.Client(base_url=server.url, timeout=120) as client:
            refused = client.post("/admin/reload", json={"version": "tiny-broken"})
            assert refused.status_code == 409, refused.text
            assert "do not reproduce the exported ratings" in refused.json()["error"]["message"]
            answer = client.get("/recommend/u1").json()
            assert answer["model_version"] == "tiny-1" and answer["strategy"] == "personalized"
    finally:
        shutil.rmtree(broken)
