"""Changing versions on a running server: reloads under load fail no request, every worker follows
LATEST when polling, an old version is unloaded once no request uses it, and a fresh server whose
LATEST cannot be served serves the newest stored version that can, and says so."""

import re
import threading
import time

import httpx
import pytest

from models import artifact_format as fmt
from tests.serving import ADMIN, Traffic, running_server
from tests.versions import copy_version


@pytest.fixture
def root(trained_version, tmp_path):
    copy_version(trained_version, tmp_path, "blue", created_at="2026-01-01T00:00:00+00:00")
    copy_version(trained_version, tmp_path, "green", created_at="2026-01-02T00:00:00+00:00")
    (tmp_path / fmt.LATEST).write_text("blue\n")
    return tmp_path


def _loaded_versions(url: str) -> float | None:
    match = re.search(r"^recsys_model_versions_loaded (\S+)$", httpx.get(f"{url}/metrics").text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_reloads_under_load_fail_no_request_and_free_the_old_version(root):
    with running_server(root, request_timeout_s="10") as server:
        reloads = []
        with Traffic(server.url, clients=3) as traffic:
            time.sleep(1)
            with httpx.Client(base_url=server.url, headers=ADMIN, timeout=120) as admin:
                for version in ["green", "blue", "green", "blue", "green"]:
                    answer = admin.post("/admin/reload", json={"version": version})
                    assert answer.status_code == 200, answer.text
                    reloads.append((time.monotonic(), version))
                    time.sleep(0.7)
            time.sleep(1)
        answers = traffic.answers
        failed = [answer for answer in answers if answer.status != 200]
        assert not failed, f"{len(failed)} of {len(answers)} requests failed during reloads: {failed[:3]}"
        assert {answer.model_version for answer in answers} == {"blue", "green"}
        last_swap = reloads[-1][0]
        assert {answer.model_version for answer in answers if answer.sent > last_swap + 0.2} == {"green"}
        # The model process drops a version once no request uses it.
        deadline = time.monotonic() + 15
        while _loaded_versions(server.url) != 1.0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _loaded_versions(server.url) == 1.0


def test_every_worker_follows_latest_when_polling(root):
    with running_server(root, workers="2", reload_poll_s="0.5") as server:
        def versions_seen() -> set[str]:
            seen = set()
            for _ in range(20):  # fresh connections land on either worker
                answer = httpx.get(f"{server.url}/readyz", timeout=5, headers={"connection": "close"})
                seen.add(answer.json().get("model_version"))
            return seen

        deadline = time.monotonic() + 120
        while versions_seen() != {"blue"} and time.monotonic() < deadline:
            time.sleep(0.5)
        assert versions_seen() == {"blue"}
        (root / ".LATEST.tmp").write_text("green\n")
        (root / ".LATEST.tmp").rename(root / fmt.LATEST)
        deadline = time.monotonic() + 60
        while (seen := versions_seen()) != {"green"} and time.monotonic() < deadline:
            time.sleep(0.5)
        assert seen == {"green"}


def test_a_fresh_server_serves_the_newest_version_that_passes(root):
    damaged = root / "green" / fmt.ITEM_EMBEDDINGS
    damaged.write_bytes(damaged.read_bytes()[:-8])
    (root / fmt.LATEST).write_text("green\n")
    with running_server(root) as server:
        body = httpx.get(f"{server.url}/models").json()
        assert body["version"] == "blue"
        fallback = body["serving_fallback"]
        assert fallback["latest"] == "green" and fallback["serving"] == "blue"
        assert "green/item_embeddings.npy has" in fallback["reason"] and str(root) not in fallback["reason"]


def test_a_fresh_server_without_any_servable_version_is_not_ready(root):
    for name in ("blue", "green"):
        damaged = root / name / fmt.SEEN
        damaged.write_bytes(b"")
    with running_server(root, ready=False) as server:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{server.url}/readyz", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            reason = answer.json()["error"]["details"]["reason"]
            if "tried green" in reason:  # the final reason: while green is tried, readiness names blue's alone
                break
            time.sleep(0.2)
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert "blue/seen.npz" in reason and "tried green" in reason
        refused = httpx.get(f"{server.url}/recommend/u1")
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"


def test_concurrent_reloads_are_serialized(root):
    with running_server(root) as server:
        def reload(version: str, answers: list) -> None:
            answers.append(httpx.post(f"{server.url}/admin/reload", json={"version": version}, headers=ADMIN,
                                      timeout=120).status_code)

        answers: list[int] = []
        threads = [threading.Thread(target=reload, args=(version, answers)) for version in ("green", "blue") * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200] * 4
        assert httpx.get(f"{server.url}/readyz").json()["model_version"] in ("blue", "green")
