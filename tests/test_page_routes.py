"""The demo page's routes through the ASGI app (a numpy fake behind the pipeline, a real SQLite event log):
the page and its files need no external asset, the read-only routes answer as documented, and all of
it is off unless RECSYS_DEMO_PAGE asks for it."""

import re

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.event_reader import EventReader
from app.main import create_app
from app.recommender import Recommender
from events.store import Event, EventStore
from tests.fakes import FakeScorer, fake_catalog
from tests.test_api import _error, _publish, _wait_ready


@pytest.fixture
def client(tmp_path):
    _publish(tmp_path, "v1")
    url = f"sqlite:///{tmp_path}/events.db"

    def build(path):
        catalog = fake_catalog(path.name)
        return Recommender(catalog, FakeScorer(catalog), candidates=3, events=EventReader(EventStore(url), cutoff=0))

    with TestClient(create_app(Settings(artifacts=tmp_path, events_url=url, demo_page=True), build=build)) as client:
        _wait_ready(client)
        client.store = EventStore(url)
        yield client


def test_the_page_and_its_files_are_served_without_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    script, style = client.get("/static/page.js"), client.get("/static/page.css")
    assert script.status_code == style.status_code == 200 and "showUser" in script.text
    for text in (page.text, script.text, style.text):
        assert not re.search(r"(src|href)=\"(https?:)?//", text) and "cdn" not in text.lower()
    assert {"/items", "/users/examples", "/users/{user_id}/history", "/models/plots/{name}"} <= \
        set(client.get("/openapi.json").json()["paths"])


def test_items_are_found_by_title_or_id_most_popular_first(client):
    assert [item["item_id"] for item in client.get("/items").json()["items"]] == ["i1", "i2", "i3", "i4", "i5", "i6"]
    assert client.get("/items", params={"q": "TITLE I3"}).json()["items"] == [{"item_id": "i3", "title": "Title i3"}]
    assert client.get("/items", params={"q": "i6"}).json()["items"] == [{"item_id": "i6", "title": None}]
    assert client.get("/items", params={"q": "nothing like it", "limit": 3}).json()["items"] == []
    _error(client.get("/items", params={"limit": 0}), 422, "invalid_request")


def test_a_users_history_shows_events_since_the_cutoff_then_training_history(client):
    assert client.get("/users/examples", params={"limit": 2}).json()["users"] == ["u1", "u2"]
    history = client.get("/users/u1/history").json()
    assert history["known"] and [(item["item_id"], item["rating"], item["source"]) for item in history["items"]] == [
        ("i2", 2.0, "training"), ("i1", 4.0, "training")]
    client.store.append([Event("u1", "i5", "rating", 3.0, 1.0), Event("nobody", "i4", "view", None, 2.0)])
    history = client.get("/users/u1/history", params={"limit": 2}).json()
    assert [(item["item_id"], item["title"], item["source"]) for item in history["items"]] == [
        ("i5", "Title i5", "event"), ("i2", "Title i2", "training")]
    new = client.get("/users/nobody/history").json()
    assert not new["known"] and [item["item_id"] for item in new["items"]] == ["i4"]
    assert client.get("/users/absent/history").json() == {"user_id": "absent", "model_version": "v1",
                                                          "known": False, "items": []}


def test_a_plot_the_version_does_not_have_is_a_404(client):
    _error(client.get("/models/plots/metrics.png"), 404, "not_found")  # the fake version has no files
    _error(client.get("/models/plots/other.png"), 422, "invalid_request")


def test_the_page_is_off_by_default(tmp_path):
    _publish(tmp_path, "v1")
    with TestClient(create_app(Settings(artifacts=tmp_path), build=lambda path: None)) as client:
        for path in ("/", "/static/page.js", "/items", "/users/u1/history", "/users/examples"):
            assert client.get(path).status_code == 404, path
