"""Every endpoint's success and error paths through the ASGI app, with a numpy fake behind the pipeline."""

import threading
import time

import pytest
from fastapi.testclient import TestClient

from app import schemas
from app.config import Settings
from app.main import create_app
from models.artifact_format import ArtifactError
from tests.fakes import fake_recommender


def _publish(root, version):
    (root / version).mkdir(exist_ok=True)
    (root / "LATEST").write_text(version + "\n")


def _wait_ready(client, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200:
            return response
        time.sleep(0.01)
    raise AssertionError(f"not ready: {response.json()}")


def _build(path):
    if path.name == "broken":
        raise ArtifactError(f"{path}: incomplete")
    return fake_recommender(path.name)


ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(tmp_path):
    _publish(tmp_path, "v1")
    with TestClient(create_app(Settings(artifacts=tmp_path, admin_token=ADMIN_TOKEN), build=_build)) as client:
        _wait_ready(client)
        client.artifacts = tmp_path
        yield client


def _error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_recommend_ranks_unseen_candidates(client):
    body = client.get("/recommend/u1", params={"k": 2}).json()
    assert body["strategy"] == "personalized" and body["model_version"] == "v1" and body["user_id"] == "u1"
    # u1 saw i1 and i2; the fake ranks higher rows higher; i6 has no title
    assert [item["item_id"] for item in body["items"]] == ["i6", "i5"]
    assert [item["score"] for item in body["items"]] == pytest.approx([1.5, 1.4])
    assert body["items"][0]["title"] is None and body["items"][1]["title"] == "Title i5"


@pytest.mark.parametrize(("method", "path", "payload", "model"), [
    ("GET", "/recommend/u1", None, schemas.RecommendResponse),
    ("GET", "/recommend/stranger", None, schemas.RecommendResponse),
    ("POST", "/session/next", {"items": ["i1", "zz"]}, schemas.SessionResponse),
    ("POST", "/predict-rating", {"user_id": "u1", "item_id": "i3"}, schemas.RatingResponse),
    ("POST", "/predict-rating", {"pairs": [{"user_id": "u1", "item_id": "i3"}]}, schemas.RatingResponse),
])
def test_bodies_have_the_documented_shape(client, method, path, payload, model):
    """The routes serialize plain dicts with orjson; this keeps them and the OpenAPI models in step."""
    body = client.request(method, path, json=payload).json()
    model.model_validate(body)
    assert set(body) <= set(model.model_fields)
    for item in body.get("items", []):
        assert set(item) == set(schemas.RecommendedItem.model_fields)


def test_responses_say_where_the_time_went(client):
    response = client.get("/recommend/u1")
    stages = {part.split(";")[0] for part in response.headers["server-timing"].split(", ")}
    assert {"queue", "embed", "retrieve", "filter", "rank", "serialize", "batch"} <= stages
    metrics = client.get("/metrics").text
    assert 'recsys_stage_seconds_count{endpoint="recommend",stage="rank"} 1.0' in metrics
    assert 'recsys_batch_size_count{endpoint="recommend"} 1.0' in metrics


def test_recommend_unknown_user_gets_popular_items(client):
    body = client.get("/recommend/stranger", params={"k": 3}).json()
    assert body["strategy"] == "popular"
    assert [item["item_id"] for item in body["items"]] == ["i1", "i2", "i3"]


@pytest.mark.parametrize("k", ["0", "101", "ten"])
def test_recommend_rejects_k_out_of_range(client, k):
    error = _error(client.get("/recommend/u1", params={"k": k}), 422, "invalid_request")
    assert error["details"][0]["location"] == ["query", "k"]


def test_session_next_skips_unknown_items_and_reads_the_latest_ones(client):
    response = client.post("/session/next", json={"items": ["i1", "zz", "i2", "i3", "i4"], "k": 2})
    body = response.json()
    assert body["strategy"] == "personalized" and body["unknown_items"] == ["zz"]
    assert [item["item_id"] for item in body["items"]] == ["i3", "i4"]
    scorer = client.app.state.models.current.scorer
    assert scorer.sessions == [["i2", "i3", "i4"]]  # session_max_history = 3


@pytest.mark.parametrize("items", [[], ["nope", "nada"]])
def test_session_next_without_known_items_gets_popular_items(client, items):
    body = client.post("/session/next", json={"items": items, "k": 2}).json()
    assert body["strategy"] == "popular"
    assert [item["item_id"] for item in body["items"]] == ["i2", "i1"]
    assert body["unknown_items"] == items


def test_session_next_rejects_bad_bodies(client):
    _error(client.post("/session/next", json={"items": ["i1"] * 201}), 422, "invalid_request")
    _error(client.post("/session/next", json={"items": ["i1"], "k": 0}), 422, "invalid_request")
    _error(client.post("/session/next", json={"items": "i1"}), 422, "invalid_request")
    _error(client.post("/session/next", json={"items": [], "extra": 1}), 422, "invalid_request")
    _error(client.post("/session/next", content=b"{not json", headers={"content-type": "application/json"}),
           422, "invalid_request")


def test_predict_rating_single_and_batch(client):
    assert client.post("/predict-rating", json={"user_id": "u2", "item_id": "i3"}).json() == {
        "model_version": "v1", "rating": pytest.approx(2.2)}
    body = client.post("/predict-rating", json={"pairs": [{"user_id": "u1", "item_id": "i1"},
                                                          {"user_id": "u3", "item_id": "i6"}]}).json()
    assert body["ratings"] == pytest.approx([1.0, 3.5]) and "rating" not in body


def test_predict_rating_names_the_unknown_id(client):
    error = _error(client.post("/predict-rating", json={"user_id": "ghost", "item_id": "i1"}), 404, "unknown_user")
    assert error["details"] == {"user_id": "ghost"}
    error = _error(client.post("/predict-rating", json={"pairs": [{"user_id": "u1", "item_id": "i1"},
                                                                  {"user_id": "u1", "item_id": "x"}]}),
                   404, "unknown_item")
    assert error["details"] == {"item_id": "x"}


@pytest.mark.parametrize("body", [
    {"user_id": "u1"},
    {"user_id": "u1", "item_id": "i1", "pairs": [{"user_id": "u1", "item_id": "i1"}]},
    {"pairs": []},
    {"pairs": [{"user_id": "u1", "item_id": "i1"}] * 1001},
    {"user_id": "", "item_id": "i1"},
])
def test_predict_rating_rejects_malformed_requests(client, body):
    _error(client.post("/predict-rating", json=body), 422, "invalid_request")


def test_health_models_metrics_and_unknown_routes(client):
    assert client.get("/healthz").json() == {"status": "ok", "model_version": None}
    assert client.get("/models").json()["version"] == "v1"
    client.get("/recommend/u1")
    metrics = client.get("/metrics").text
    assert 'recsys_requests_total{route="/recommend/{user_id}",status="200"}' in metrics
    _error(client.get("/nowhere"), 404, "not_found")
    _error(client.delete("/healthz"), 405, "method_not_allowed")
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommend/{user_id}", "/session/next", "/predict-rating", "/readyz", "/models"} <= set(paths)


def test_reload_swaps_forward_and_a_failed_reload_keeps_the_old_version(client):
    _publish(client.artifacts, "v2")
    assert client.post("/admin/reload", headers=ADMIN).json() == {"status": "ready", "model_version": "v2"}
    assert client.get("/recommend/u1").json()["model_version"] == "v2"
    _publish(client.artifacts, "broken")
    error = _error(client.post("/admin/reload", headers=ADMIN), 409, "reload_failed")
    assert error["details"] == {"serving": "v2"}
    assert client.get("/readyz").json()["model_version"] == "v2"


@pytest.mark.parametrize("version", ["../etc", "v1\n", "", ".hidden", "a" * 129, "v1/x"])
def test_reload_refuses_version_names_that_are_not_matched_in_full(client, version):
    _error(client.post("/admin/reload", json={"version": version}, headers=ADMIN), 422, "invalid_request")
    assert client.get("/readyz").json()["model_version"] == "v1"


def test_reload_of_a_version_that_does_not_exist_names_it_without_server_paths(client):
    error = _error(client.post("/admin/reload", json={"version": "v9"}, headers=ADMIN), 409, "reload_failed")
    assert "'v9' does not exist" in error["message"] and str(client.artifacts) not in error["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": ADMIN_TOKEN}, {"Authorization": f"Basic {ADMIN_TOKEN}"},
                                     {"Authorization": f"Bearer {ADMIN_TOKEN}x"}])
def test_admin_routes_need_the_token(client, headers):
    _publish(client.artifacts, "v2")
    response = client.post("/admin/reload", headers=headers)
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/readyz").json()["model_version"] == "v1"  # nothing changed


def test_admin_routes_are_disabled_without_a_configured_token(tmp_path):
    _publish(tmp_path, "v1")
    with TestClient(create_app(Settings(artifacts=tmp_path), build=_build)) as client:
        _wait_ready(client)
        error = _error(client.post("/admin/reload", headers=ADMIN), 403, "disabled")
        assert "RECSYS_ADMIN_TOKEN" in error["message"]


def test_short_or_doubly_given_admin_tokens_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings(artifacts=tmp_path, admin_token="short")
    token_file = tmp_path / "token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    assert Settings(admin_token_file=token_file).admin_secret() == ADMIN_TOKEN
    with pytest.raises(ValueError, match="not both"):
        Settings(admin_token=ADMIN_TOKEN, admin_token_file=token_file)


def test_models_shows_no_checksums_or_paths(client):
    body = client.get("/models").json()
    assert body["version"] == "v1" and "files" not in body and "serving_fallback" not in body
    assert str(client.artifacts) not in client.get("/models").text


def test_an_oversized_body_is_refused_before_it_is_read(tmp_path):
    _publish(tmp_path, "v1")
    settings = Settings(artifacts=tmp_path, admin_token=ADMIN_TOKEN, max_body_bytes=1000)
    with TestClient(create_app(settings, build=_build)) as client:
        _wait_ready(client)
        declared = client.post("/session/next", content=b"x" * 1001, headers={"content-type": "application/json"})
        error = _error(declared, 413, "payload_too_large")
        assert error["details"] == {"limit_bytes": 1000, "declared_bytes": 1001}

        def chunks():  # no Content-Length: counted while it streams
            for _ in range(100):
                yield b" " * 100

        streamed = client.post("/predict-rating", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        _error(streamed, 413, "payload_too_large")
        _publish(tmp_path, "v2")
        _error(client.post("/admin/reload", content=b'{"version": "v2"}' + b" " * 1000,
                           headers={**ADMIN, "content-type": "application/json"}), 413, "payload_too_large")
        assert client.get("/readyz").json()["model_version"] == "v1"
        within = client.post("/session/next", content=b'{"items": ["i1"]}' + b" " * 900,
                             headers={"content-type": "application/json"})
        assert within.status_code == 200


@pytest.mark.parametrize("items", [["i1", "x" * 129], ["i1", ""]])
def test_every_id_in_a_body_has_a_length_limit(client, items):
    _error(client.post("/session/next", json={"items": items}), 422, "invalid_request")


def test_a_request_whose_model_work_overruns_the_deadline_gets_504(tmp_path):
    release = threading.Event()

    def slow_build(path):
        recommender = fake_recommender(path.name)
        answer = recommender.recommend_batch

        def hang(requests, times):
            release.wait(5)
            return answer(requests, times)

        recommender.recommend_batch = hang
        return recommender

    _publish(tmp_path, "v1")
    with TestClient(create_app(Settings(artifacts=tmp_path, request_timeout_s=0.3), build=slow_build)) as client:
        _wait_ready(client)
        started = time.monotonic()
        error = _error(client.get("/recommend/u1"), 504, "timeout")
        assert 0.3 <= time.monotonic() - started < 2 and error["details"] == {"deadline_s": 0.3}
        release.set()
        assert client.app.state.models.current.in_flight == 0


def test_not_ready_until_a_version_loads(tmp_path):
    release = threading.Event()

    def slow_build(path):
        release.wait(5)
        return fake_recommender(path.name)

    _publish(tmp_path, "v1")
    with TestClient(create_app(Settings(artifacts=tmp_path), build=slow_build)) as client:
        assert client.get("/healthz").status_code == 200
        assert _error(client.get("/readyz"), 503, "not_ready")
        not_ready = client.get("/recommend/u1")
        _error(not_ready, 503, "not_ready")
        assert not_ready.headers["retry-after"] == "5"
        release.set()
        assert _wait_ready(client).json()["model_version"] == "v1"


def test_missing_artifacts_are_reported_by_readyz(tmp_path):
    with TestClient(create_app(Settings(artifacts=tmp_path / "empty"), build=_build)) as client:
        time.sleep(0.2)
        error = _error(client.get("/readyz"), 503, "not_ready")
        assert "no LATEST file" in error["details"]["reason"]
