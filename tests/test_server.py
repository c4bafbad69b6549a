"""The real `recsys-serve` process on a free port, called over HTTP."""

import json
import select
import shutil
import socket

import httpx
import pytest

from models import artifact_format as fmt
from tests.serving import ADMIN, running_server
from tests.versions import copy_version, rewrite
from training.process_memory import status_mib


@pytest.fixture
def server(trained_version):
    with running_server(trained_version.parent) as server:
        yield server


def test_real_server_answers_every_endpoint(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        body = client.get("/recommend/u1", params={"k": 5}).json()
        assert body["strategy"] == "personalized" and len(body["items"]) == 5
        scores = [item["score"] for item in body["items"]]
        assert scores == sorted(scores, reverse=True)
        assert all(1.0 <= item["rating"] <= 5.0 for item in body["items"])  # the scale's, clipped
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


def test_a_version_the_model_process_refuses_leaves_the_old_one_serving(server, trained_version):
    broken = copy_version(trained_version, trained_version.parent, "tiny-broken")
    try:
        probes = json.loads((broken / fmt.PROBES).read_text())
        probes["ratings"][0][0] += 0.5  # the model process checks these before it serves a version
        rewrite(broken, fmt.PROBES, json.dumps(probes).encode(), record_checksum=True)
        with httpx.Client(base_url=server.url, timeout=120, headers=ADMIN) as client:
            refused = client.post("/admin/reload", json={"version": "tiny-broken"})
            assert refused.status_code == 409, refused.text
            message = refused.json()["error"]["message"]
            assert "tiny-broken: the loaded models do not reproduce the exported ratings" in message
            assert str(trained_version.parent) not in refused.text
            answer = client.get("/recommend/u1").json()
            assert answer["model_version"] == "tiny-1" and answer["strategy"] == "personalized"
    finally:
        shutil.rmtree(broken)


def test_stored_versions_are_listed_for_the_admin(server, trained_version):
    incomplete = trained_version.parent / "tiny-0-incomplete"
    incomplete.mkdir()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/models/versions").status_code == 401
            body = client.get("/models/versions", headers=ADMIN).json()
    finally:
        incomplete.rmdir()
    assert body["loaded"] == "tiny-1" and body["latest"] == "tiny-1"
    listed = {entry["version"]: entry for entry in body["versions"]}
    tiny = listed["tiny-1"]
    assert tiny["loaded"] and tiny["latest"] and tiny["created_at"] and tiny["data"] == "synthetic"
    assert tiny["metrics"]["rating"]["model"].startswith("blend (") and tiny["metrics"]["rating"]["rmse"] < 1.2
    assert tiny["metrics"]["retrieval"]["model"].startswith("two_stage (")
    assert body["versions"][-1]["version"] == "tiny-0-incomplete"
    assert "is incomplete" in listed["tiny-0-incomplete"]["problem"]
    assert str(trained_version.parent) not in json.dumps(body)


@pytest.mark.parametrize("page, asset", [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_api_docs_need_no_internet(server, page, asset):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        html = client.get(page)
        assert html.status_code == 200 and f"/static-offline-docs/{asset}" in html.text
        assert "https://" not in html.text.replace("https://fastapi.tiangolo.com", "")  # no CDN, no fonts
        script = client.get(f"/static-offline-docs/{asset}")
        assert script.status_code == 200 and len(script.content) > 500_000


def _raw_post(url: str, headers: bytes, body_chunks) -> tuple[bytes, int]:
    """Send a POST over a plain socket, stopping as soon as the server answers; (answer, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(headers)
        for chunk in body_chunks:
            if select.select([connection], [], [], 0)[0]:
                break
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        connection.settimeout(30)
        answer = b""
        while True:  # the answer may come in several packets; the server closes the connection after it
            try:
                part = connection.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            answer += part
        return answer, sent


def test_an_oversized_body_is_refused_before_it_is_buffered(server):
    before = status_mib(server.pid)
    head = b"POST /session/next HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    declared, sent = _raw_post(server.url, head + b"Content-Length: 104857600\r\n\r\n", [])
    assert declared.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in declared
    piece = b'{"items": [' + b'"i1", ' * 10_000
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    streamed, sent = _raw_post(server.url, head + b"Transfer-Encoding: chunked\r\n\r\n",
                               (chunk for _ in range(100 * 2**20 // len(piece))))  # 100 MB, unless refused
    assert streamed.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in streamed
    assert sent < 8 * 2**20, f"{sent} bytes went in before the refusal"
    assert status_mib(server.pid) - before < 40, (before, status_mib(server.pid))
    assert httpx.get(f"{server.url}/recommend/u1").status_code == 200
