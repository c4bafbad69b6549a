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


def _version_with(sources: str, tmp_path_factory, *overrides: str):
    from training.config import TrainConfig, apply_overrides
    from training.train import run

    root = tmp_path_factory.mktemp(f"{sources}-artifacts")
    return run(apply_overrides(TrainConfig(), [*TINY_TRAINING, f"candidate_sources={sources}", *overrides]), root,
               version=f"tiny-{sources}")


@pytest.fixture(scope="module")
def ease_version(tmp_path_factory):
    """A version whose /recommend candidates come from EASE's item-to-item source alone."""
    return _version_with("ease", tmp_path_factory)


@pytest.fixture(scope="module")
def autoencoder_version(tmp_path_factory):
    """The seed models served: /recommend's candidates come from the user autoencoder alone (Mult-VAE or
    DAE) and are ranked by NeuMF, initialised from its pre-trained GMF and MLP branches."""
    return _version_with("autoencoder", tmp_path_factory, "rating_model=neumf", "neumf.pretrain=true")


@pytest.mark.parametrize("version", ["trained_version", "ease_version", "autoencoder_version"])
def test_served_recommendations_are_the_evaluated_ones(version, request):
    version_dir = request.getfixturevalue(version)
    probes = json.loads((version_dir / fmt.PROBES).read_text())
    mix = Mix(**fmt.read_manifest(version_dir)["serving"][fmt.SERVING_MIX])
    assert (mix.item_item > 0) == (version_dir / fmt.ITEM_ITEM).exists()
    assert (mix.autoencoder > 0) == (version_dir / fmt.AUTOENCODER).exists()
    if version == "ease_version":
        assert mix.item_item > 0 and mix.two_tower == mix.autoencoder == 0
    if version == "autoencoder_version":
        assert mix.autoencoder > 0 and mix.two_tower == mix.item_item == 0
        report = json.loads((version_dir / fmt.REPORT_JSON).read_text())
        assert report["served"]["rating"] == "neumf" and set(report["rating"]) == {"neumf", "global_mean"}
        assert {"neumf_gmf", "neumf_mlp", "neumf", "mult_vae", "mult_dae"} <= set(report["training"])
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
