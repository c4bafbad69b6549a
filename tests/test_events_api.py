"""POST /events and DELETE /users/{user_id}/events through the ASGI app: authentication, per-event checks,
bounds, and the next request's answer with the events applied (a numpy fake behind the pipeline, a
real SQLite event log)."""

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.event_reader import EventReader
from app.main import create_app
from app.recommender import Recommender
from events.store import EventStore
from tests.fakes import FakeScorer, fake_catalog
from tests.test_api import _error, _publish, _wait_ready

TOKEN = "test-events-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _client(tmp_path, **settings):
    tmp_path.mkdir(exist_ok=True)
    _publish(tmp_path, "v1")
    url = f"sqlite:///{tmp_path}/events.db"

    def build(path):
        catalog = fake_catalog(path.name)
        return Recommender(catalog, FakeScorer(catalog), candidates=3, events=EventReader(EventStore(url), cutoff=0))

    settings = Settings(artifacts=tmp_path, events_url=url, **settings)
    client = TestClient(create_app(settings, build=build))
    client.store = EventStore(url)
    return client


@pytest.fixture
def client(tmp_path):
    with _client(tmp_path, events_token=TOKEN, events_max_batch=5) as client:
        _wait_ready(client)
        yield client


def _post(client, *events, headers=AUTH):
    return client.post("/events", json={"events": list(events)}, headers=headers)


def test_event_routes_need_the_events_token(client, tmp_path):
    event = {"user_id": "u1", "item_id": "i3", "type": "view"}
    _error(_post(client, event, headers={}), 401, "unauthorized")
    _error(_post(client, event, headers={"Authorization": "Bearer wrong-token-0123456789"}), 401, "unauthorized")
    _error(client.delete("/users/u1/events"), 401, "unauthorized")
    assert client.store.last_id() == 0
    with _client(tmp_path / "off") as disabled:
        _wait_ready(disabled)
        assert "RECSYS_EVENTS_TOKEN" in _error(_post(disabled, event), 403, "disabled")["message"]


def test_each_refused_event_is_named_with_its_reason_and_the_others_are_stored(client):
    answer = _post(client,
                   {"user_id": "u1", "item_id": "i3", "type": "view"},
                   {"user_id": "u1", "item_id": "nope", "type": "view"},
                   {"user_id": "u1", "item_id": "i4", "type": "like"},
                   {"user_id": "u1", "item_id": "i4", "type": "rating", "value": 7},
                   {"user_id": "new", "item_id": "i4", "type": "rating", "value": 4.5,
                    "timestamp": "2026-12-01T10:00:00+01:00"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "reason": "unknown item 'nope'"},
        {"index": 2, "reason": "unknown type 'like'; one of view, click, rating, purchase"},
        {"index": 3, "reason": "value 7 is outside the rating scale 1..5"}]
    stored = [event for batch in client.store.read(up_to_id=10) for event in batch]
    assert [(event.user_id, event.item_id, event.type, event.value) for event in stored] == [
        ("u1", "i3", "view", None), ("new", "i4", "rating", 4.5)]
    assert stored[1].timestamp == 1796115600.0  # 09:00 UTC


@pytest.mark.parametrize("body", [
    {"events": []},
    {"events": [{"user_id": "u1", "item_id": "i1", "type": "view"}] * 6},  # above events_max_batch
    {"events": [{"user_id": "", "item_id": "i1", "type": "view"}]},
    {"events": [{"user_id": "u1", "item_id": "i1", "type": "view", "extra": 1}]},
    {"events": [{"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": "yesterday"}]},
    {"events": [{"user_id": "u1", "item_id": "i1", "type": "rating", "value": "NaN"}]},
])
def test_malformed_batches_are_refused_whole_and_nothing_is_stored(client, body):
    _error(client.post("/events", json=body, headers=AUTH), 422, "invalid_request")
    _error(client.post("/events", content=b"{not json", headers={**AUTH, "content-type": "application/json"}),
           422, "invalid_request")
    assert client.store.last_id() == 0


def test_the_next_recommendation_reflects_the_events(client):
    before = client.get("/recommend/u1", params={"k": 3}).json()
    assert before["strategy"] == "personalized" and "i6" in [item["item_id"] for item in before["items"]]
    assert _post(client, {"user_id": "u1", "item_id": "i6", "type": "purchase"}).json()["accepted"] == 1
    after = client.get("/recommend/u1", params={"k": 3}).json()
    assert "i6" not in [item["item_id"] for item in after["items"]]  # seen now
    # The fake rates users encoded from their history by its length: u1's two items plus the event.
    assert after["items"][0]["rating"] == pytest.approx(1.0 + 0.3 + 0.4)


def test_a_new_user_is_served_from_their_events_and_forgetting_them_undoes_it(client):
    assert client.get("/recommend/newcomer").json()["strategy"] == "popular"
    _error(client.post("/predict-rating", json={"user_id": "newcomer", "item_id": "i1"}), 404, "unknown_user")
    _post(client, {"user_id": "newcomer", "item_id": "i1", "type": "click"},
          {"user_id": "newcomer", "item_id": "i2", "type": "rating", "value": 5})
    served = client.get("/recommend/newcomer", params={"k": 4}).json()
    assert served["strategy"] == "history"
    assert not {"i1", "i2"} & {item["item_id"] for item in served["items"]}
    assert client.post("/predict-rating", json={"user_id": "newcomer", "item_id": "i3"}).json()["rating"] == \
        pytest.approx(1.0 + 0.2 + 0.2)

    deleted = client.delete("/users/newcomer/events", headers=AUTH)
    assert deleted.json() == {"user_id": "newcomer", "deleted": 2}
    assert client.get("/recommend/newcomer").json()["strategy"] == "popular"
    assert client.delete("/users/newcomer/events", headers=AUTH).json()["deleted"] == 0


def test_popular_items_follow_the_trending_window(tmp_path):
    with _client(tmp_path, events_token=TOKEN) as plain:
        _wait_ready(plain)
        _post(plain, *[{"user_id": f"x{n}", "item_id": "i6", "type": "view"} for n in range(3)])
        assert plain.get("/recommend/nobody", params={"k": 2}).json()["items"][0]["item_id"] == "i1"

    def build(path):
        catalog = fake_catalog(path.name)
        store = EventStore(f"sqlite:///{tmp_path}/events.db")
        return Recommender(catalog, FakeScorer(catalog), 3, EventReader(store, 0, trending_window_s=3600))

    app = create_app(Settings(artifacts=tmp_path, events_url=f"sqlite:///{tmp_path}/events.db"), build=build)
    with TestClient(app) as trending:
        _wait_ready(trending)
        items = trending.get("/recommend/nobody", params={"k": 2}).json()["items"]
        assert [(item["item_id"], item["score"]) for item in items] == [("i6", 3.0), ("i1", 50.0)]
