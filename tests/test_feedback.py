"""Online feedback through the real server and its model process, on a version trained for real: the
very next request after POST /events reflects the events (seen items, history inputs, new users, the
trending popular items), DELETE undoes them, a 200 survives kill -9 of the server, and two servers
sharing one PostgreSQL database see each other's events."""

import os
import signal
import time

import httpx
import pytest

from models import artifact_format as fmt
from tests.serving import running_server

TOKEN = "feedback-test-events-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _events(*events: tuple[str, str, str, float | None]) -> dict:
    return {"events": [{"user_id": user, "item_id": item, "type": kind, "value": value}
                       for user, item, kind, value in events]}


def _ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


@pytest.fixture
def feedback_server(trained_version, tmp_path):
    with running_server(trained_version.parent, events_token=TOKEN,
                        events_url=f"sqlite:///{tmp_path}/events.db") as server:
        yield server


def test_the_next_request_reflects_a_known_users_events(feedback_server):
    with httpx.Client(base_url=feedback_server.url, timeout=30) as client:
        before = client.get("/recommend/u1", params={"k": 10}).json()
        rating_before = client.post("/predict-rating", json={"user_id": "u1", "item_id": _ids(before)[5]}).json()
        bought = _ids(before)[:3]
        answer = client.post("/events", headers=AUTH, json=_events(
            *((("u1", item, "purchase", None)) for item in bought), ("u1", _ids(before)[3], "rating", 1.0)))
        assert answer.status_code == 200 and answer.json() == {"accepted": 4, "rejected": []}

        after = client.get("/recommend/u1", params={"k": 10}).json()
        assert after["strategy"] == "personalized"
        assert not set(bought + [_ids(before)[3]]) & set(_ids(after))  # seen now: never offered again
        # The events entered the user's history, so the ranking model's view of the user moved too.
        rating_after = client.post("/predict-rating", json={"user_id": "u1", "item_id": _ids(before)[5]}).json()
        assert rating_after["rating"] != pytest.approx(rating_before["rating"], abs=1e-4)
        untouched = client.get("/recommend/u2", params={"k": 10}).json()
        assert untouched["strategy"] == "personalized"


def test_a_new_user_gets_recommendations_from_their_events_until_forgotten(feedback_server):
    with httpx.Client(base_url=feedback_server.url, timeout=30) as client:
        assert client.get("/recommend/visitor-1").json()["strategy"] == "popular"
        assert client.post("/predict-rating", json={"user_id": "visitor-1", "item_id": "i3"}).status_code == 404
        popular = _ids(client.get("/recommend/visitor-1", params={"k": 10}).json())
        clicked, rated = popular[:3], popular[3]
        answer = client.post("/events", headers=AUTH, json=_events(
            *(("visitor-1", item, "click", None) for item in clicked), ("visitor-1", rated, "rating", 5.0)))
        assert answer.json()["accepted"] == 4

        served = client.get("/recommend/visitor-1", params={"k": 10}).json()
        assert served["strategy"] == "history" and len(served["items"]) == 10
        assert not {*clicked, rated} & set(_ids(served))
        assert _ids(served) != popular[4:14]  # from their history, not the popular list minus what they saw
        rating = client.post("/predict-rating", json={"user_id": "visitor-1", "item_id": popular[5]})
        assert rating.status_code == 200 and 1.0 <= rating.json()["rating"] <= 5.0

        assert client.delete("/users/visitor-1/events", headers=AUTH).json()["deleted"] == 4
        assert client.get("/recommend/visitor-1").json()["strategy"] == "popular"
        assert client.post("/predict-rating", json={"user_id": "visitor-1", "item_id": popular[5]}).status_code == 404


def test_an_answered_event_survives_kill_9_of_the_server(trained_version, tmp_path):
    url = f"sqlite:///{tmp_path}/events.db"
    viewed = fmt.read_vocab(trained_version / fmt.ITEM_VOCAB)[:40]
    with running_server(trained_version.parent, events_token=TOKEN, events_url=url) as server:
        answer = httpx.post(f"{server.url}/events", headers=AUTH, timeout=30,
                            json=_events(*(("durable-1", item, "view", None) for item in viewed)))
        assert answer.json()["accepted"] == 40
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(timeout=30)
    with running_server(trained_version.parent, events_token=TOKEN, events_url=url) as restarted:
        served = httpx.get(f"{restarted.url}/recommend/durable-1", params={"k": 20}, timeout=30).json()
        assert served["strategy"] == "history"
        assert not set(viewed) & set(_ids(served))


def test_two_servers_sharing_postgresql_see_each_others_events(trained_version, postgres_url):
    settings = {"events_token": TOKEN, "events_url": postgres_url}
    with running_server(trained_version.parent, **settings) as first, \
            running_server(trained_version.parent, **settings) as second:
        before = _ids(httpx.get(f"{second.url}/recommend/u3", params={"k": 5}, timeout=30).json())
        written = httpx.post(f"{first.url}/events", headers=AUTH, timeout=30,
                             json=_events(*(("u3", item, "view", None) for item in before)))
        assert written.json()["accepted"] == 5
        after = httpx.get(f"{second.url}/recommend/u3", params={"k": 5}, timeout=30).json()
        assert not set(before) & set(_ids(after))
        new_user = httpx.post(f"{second.url}/events", headers=AUTH, timeout=30,
                              json=_events(("pg-visitor", before[0], "click", None)))
        assert new_user.json()["accepted"] == 1
        assert httpx.get(f"{first.url}/recommend/pg-visitor", timeout=30).json()["strategy"] == "history"


def test_the_popular_fallback_follows_the_trending_window(trained_version, tmp_path):
    with running_server(trained_version.parent, events_token=TOKEN, events_url=f"sqlite:///{tmp_path}/events.db",
                        trending_window_s="3600") as server, httpx.Client(base_url=server.url, timeout=30) as client:
        popular = _ids(client.get("/recommend/stranger", params={"k": 10}).json())
        rising = popular[-1]
        client.post("/events", headers=AUTH, json=_events(*((f"fan-{n}", rising, "view", None) for n in range(3))))
        time.sleep(5.5)  # the trending list is recounted at most every 5 s
        served = client.get("/recommend/stranger", params={"k": 10}).json()
        assert served["strategy"] == "popular"
        assert served["items"][0]["item_id"] == rising and served["items"][0]["score"] == 3.0
        assert _ids(served)[1:] == [item for item in popular if item != rising][:9]
