"""/recommend answers with the order the trainer evaluated and reported: one implementation
(models.two_stage) runs in both. The exporter writes the evaluated top 10 of a few users, computed
from the in-memory models with exact search; the real server must return the same items with the
same scores. ScaNN re-scores every item exactly on catalogs this small, so search is exact too."""

import json

import httpx
import pytest

from app.config import Settings
from models import artifact_format as fmt
from models.two_stage import Mix
from tests.conftest import TINY_TRAINING
from tests.serving import running_server


@pytest.fixture(scope="module")
def ease_version(tmp_path_factory):
    """A version whose /recommend mix includes EASE's item-to-item source (chosen among such mixes)."""
    from training.config import TrainConfig, apply_overrides
    from training.train import run

    root = tmp_path_factory.mktemp("ease-artifacts")
    return run(apply_overrides(TrainConfig(), [*TINY_TRAINING, "candidate_sources=with-ease"]), root,
               version="tiny-ease")


@pytest.mark.parametrize("version", ["trained_version", "ease_version"])
def test_served_recommendations_are_the_evaluated_ones(version, request):
    version_dir = request.getfixturevalue(version)
    probes = json.loads((version_dir / fmt.PROBES).read_text())
    mix = Mix(**fmt.read_manifest(version_dir)["serving"][fmt.SERVING_MIX])
    if version == "ease_version":
        assert mix.item_item > 0 and (version_dir / fmt.ITEM_ITEM).exists()
    assert len(fmt.read_vocab(version_dir / fmt.ITEM_VOCAB)) <= fmt.SCANN_REORDER
    assert probes["recommend_candidates"] == Settings.model_fields["candidates"].default
    assert len(probes["recommendations"]) == 3
    with running_server(version_dir.parent) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for user, expected in probes["recommendations"].items():
            body = client.get(f"/recommend/{user}", params={"k": len(expected["item_ids"])}).json()
            assert [item["item_id"] for item in body["items"]] == expected["item_ids"]
            assert [item["score"] for item in body["items"]] == pytest.approx(expected["scores"], abs=1e-3)
        expected = probes["session_next"]
        body = client.post("/session/next", json={"items": probes["session_items"], "k": 10}).json()
        assert [item["item_id"] for item in body["items"]] == expected["item_ids"]
        assert [item["score"] for item in body["items"]] == pytest.approx(expected["scores"], abs=1e-4)
