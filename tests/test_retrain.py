"""The retrain loop: events logged through a running server become training data of a new version
(recsys-retrain runs recsys-train --events), which records its cut-off; the server follows LATEST
without a failed request, and applies only the events after the new cut-off on top of it."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from models import artifact_format as fmt
from tests.conftest import TINY_TRAINING
from tests.serving import Traffic, running_server
from tests.versions import copy_version
from training.retrain import due

TOKEN = "retrain-test-events-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_due_after_enough_events_or_on_schedule_with_anything_new():
    assert due(new_events=5, since_training_s=0, after_events=5, every_s=0)
    assert not due(new_events=4, since_training_s=10, after_events=5, every_s=0)
    assert due(new_events=1, since_training_s=3600, after_events=0, every_s=3600)
    assert not due(new_events=0, since_training_s=1e9, after_events=1, every_s=1)


def test_a_retrained_version_learns_the_logged_events_and_is_served_without_a_failed_request(trained_version,
                                                                                                tmp_path):
    root = tmp_path / "artifacts"
    root.mkdir()
    copy_version(trained_version, root, "v1")
    (root / fmt.LATEST).write_text("v1\n")
    events_url = f"sqlite:///{tmp_path}/events.db"
    items = fmt.read_vocab(trained_version / fmt.ITEM_VOCAB)
    with running_server(root, events_token=TOKEN, events_url=events_url, reload_poll_s="1") as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        logged = client.post("/events", headers=AUTH, json={"events": [
            {"user_id": "regular-1", "item_id": item, "type": "rating" if n % 2 else "purchase",
             "value": 4.0 if n % 2 else None} for n, item in enumerate(items[:12])]})
        assert logged.json()["accepted"] == 12
        assert client.get("/recommend/regular-1").json()["strategy"] == "history"

        with Traffic(server.url) as traffic:
            retrain = subprocess.run(
                [str(Path(sys.executable).parent / "recsys-retrain"), "--events", events_url, "--artifacts",
                 str(root), "--after-events", "10", "--once", "--",
                 *(argument for setting in TINY_TRAINING for argument in ("--set", setting))],
                capture_output=True, text=True, timeout=900)
            assert retrain.returncode == 0, retrain.stderr[-3000:]
            new_version = fmt.read_latest(root)
            deadline = time.monotonic() + 120
            while client.get("/models").json()["version"] != new_version and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(1)
        assert client.get("/models").json()["version"] == new_version != "v1"
        failed = [answer for answer in traffic.answers if answer.status != 200]
        assert traffic.answers and not failed, failed[:5]

        manifest = json.loads((root / new_version / fmt.MANIFEST).read_text())
        assert manifest[fmt.EVENTS]["cutoff_id"] == 12 and manifest[fmt.EVENTS]["events"] == 12
        assert "12 logged events up to id 12" in " ".join(manifest["data"]["ratings"]["checks"])
        # The user is part of the version now, from its training data, not from events on top of it.
        served = client.get("/recommend/regular-1", params={"k": 20}).json()
        assert served["strategy"] == "personalized" and not set(items[:12]) & {i["item_id"] for i in served["items"]}
        # Events after the cut-off are applied on top of the new version.
        later = served["items"][0]["item_id"]
        client.post("/events", headers=AUTH, json={"events": [{"user_id": "regular-1", "item_id": later,
                                                               "type": "view"}]})
        assert later not in {item["item_id"] for item in client.get("/recommend/regular-1").json()["items"]}
        nothing_new = subprocess.run([str(Path(sys.executable).parent / "recsys-retrain"), "--events", events_url,
                                      "--artifacts", str(root), "--after-events", "10", "--once"],
                                     capture_output=True, text=True, timeout=60)
        assert nothing_new.returncode == 0 and "not due" in nothing_new.stderr
