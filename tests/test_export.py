"""The export/load round trip: a fresh process loads the published version from raw ids and must
reproduce what the in-memory models computed at export (the probes), and ScaNN must find the exact
nearest items."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from models import artifact_format as fmt
from models.two_stage import Mix
from tests.conftest import REPO
from tests.versions import copy_version, rewrite

LOAD_AND_CHECK = """
import json, sys
import numpy as np
from pathlib import Path
from app.artifacts import load_catalog
from app.backend import TensorFlowScorer
catalog = load_catalog(Path(sys.argv[1]))
scorer = TensorFlowScorer(catalog)  # raises when the probes are not reproduced
users = np.arange(len(catalog.user_rows))
embeddings = np.load(catalog.path / "item_embeddings.npy")
queries = scorer.known_users.query_embeddings[users]
exact = np.argsort(-(queries @ embeddings.T), axis=1)[:, :100]
approximate = scorer.items.search(queries, 100)
overlap = np.mean([len(set(a) & set(e)) / 100 for a, e in zip(approximate, exact)])
print(json.dumps({"recall_at_100": overlap, "version": catalog.version}))
"""


def _load_in_fresh_process(version_dir):
    return subprocess.run([sys.executable, "-c", LOAD_AND_CHECK, str(version_dir)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_fresh_process_reproduces_the_in_memory_models(trained_version):
    result = _load_in_fresh_process(trained_version)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["version"] == "tiny-1"
    assert measured["recall_at_100"] >= 0.95


def test_published_version_is_complete_and_named_by_latest(trained_version):
    root = trained_version.parent
    assert fmt.read_latest(root) == "tiny-1"
    assert not [path for path in root.iterdir() if path.name.startswith(".staging")]
    manifest = fmt.read_manifest(trained_version)
    assert {"version", "created_at", "data", "config", "libraries", "serving"} <= set(manifest)
    assert manifest["data"]["ratings"]["fingerprint"]
    report = json.loads((trained_version / fmt.REPORT_JSON).read_text())
    assert {"recall@10", "ndcg@10", "recall@100"} <= set(report["retrieval"]["two_tower"])
    assert {"rmse", "mae"} <= set(report["rating"]["global_mean"])
    assert {"recall@20", "mrr@20"} <= set(report["session"]["popularity"])
    assert (trained_version / fmt.REPORT_MD).read_text().startswith("# Model report: tiny-1")
    assert manifest["served"] == report["served"]
    for plot in ("training_curves.png", "metrics.png"):
        assert (trained_version / fmt.PLOTS_DIR / plot).read_bytes()[:4] == b"\x89PNG"
    vocab = fmt.read_vocab(trained_version / fmt.ITEM_VOCAB)
    assert np.load(trained_version / fmt.ITEM_EMBEDDINGS).shape[0] == len(vocab)
    # /session/next recommends only items that the rest of the service serves (titles, /recommend).
    assert set(fmt.read_vocab(trained_version / fmt.SESSION_ITEM_VOCAB)) <= set(vocab)


def test_the_report_says_what_is_served_and_how_it_was_measured(trained_version, trained_report):
    served = trained_report["served"]
    assert served["rating"].startswith("blend (deep x") and served["session"].split(" + ")[0] in ("gru4rec", "narm")
    serving = fmt.read_manifest(trained_version)["serving"]
    mix, kind = Mix(**serving[fmt.SERVING_MIX]), serving["autoencoder_kind"]
    assert served["retrieval"] == f"two_stage ({mix.describe(f'Mult-{kind.upper()}' if kind else 'autoencoder')})"
    assert (trained_version / fmt.ITEM_ITEM).exists() == (mix.item_item > 0)
    assert (trained_version / fmt.AUTOENCODER).exists() == (mix.autoencoder > 0) == (kind is not None)
    lines = (trained_version / fmt.REPORT_MD).read_text(encoding="utf-8").splitlines()
    assert [line[:4] for line in lines[2:5]] == ["- ✅ "] * 3  # the tiny models beat the trivial baselines
    assert lines[3].startswith("- ✅ recommendations (/recommend): two_stage (")
    text = "\n".join(lines)
    assert f"| **{served['retrieval']}** (served) |" in text and "| two_tower |" in text
    assert f"| **{served['rating']}** (served) |" in text and "blend of the deep ranking model, MF" in text
    assert "## The models" in text and "- **mult_vae**: Mult-VAE (Liang et al. 2018)" in text
    assert "| users with test ratings | 300 |" in text and "recall@K: the share" in text


def test_a_tampered_version_is_refused(trained_version, tmp_path):
    """Even with its checksum recorded anew, a probe the loaded models do not reproduce is refused."""
    tampered = copy_version(trained_version, tmp_path, "tampered")
    probes = json.loads((tampered / fmt.PROBES).read_text())
    probes["ratings"][0][0] += 0.5
    rewrite(tampered, fmt.PROBES, json.dumps(probes).encode(), record_checksum=True)
    result = _load_in_fresh_process(tampered)
    assert result.returncode != 0 and "do not reproduce the exported ratings" in result.stderr


@pytest.mark.parametrize("missing", [fmt.SCANN_DIR, fmt.RANKING_MODEL, fmt.USERS])
def test_an_incomplete_version_is_refused(trained_version, tmp_path, missing):
    broken = tmp_path / "broken"
    shutil.copytree(trained_version, broken)
    target = broken / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(fmt.ArtifactError, match="incomplete"):
        fmt.read_manifest(broken)
