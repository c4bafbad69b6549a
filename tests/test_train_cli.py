"""``recsys-train`` as a user runs it: early refusals, the publish gate, and what the output says."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models import artifact_format as fmt
from training.cli import main
from training.evaluate.gate import PublishRefused, check
from training.export.publish import training_lock

TINY_EPOCHS = ["retrieval.epochs=3", "ranking.epochs=3", "mf.epochs=3", "gru4rec.epochs=2", "gru4rec.n_sample=64",
               "gru4rec.batch_size=32", "narm.epochs=1", "autorec.epochs=3"]


def recsys_train(*arguments: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "recsys-train"), *arguments]
    for setting in TINY_EPOCHS:
        command += ["--set", setting]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def random_ratings(tmp_path_factory) -> Path:
    """Ratings with no signal at all: no model can beat the global mean on them."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("random") / "random.csv"
    rows = [f"u{user},i{item},{rng.integers(1, 6)},{rng.integers(1_600_000_000, 1_700_000_000)}"
            for user in range(300) for item in rng.choice(150, 30, replace=False)]
    path.write_text("user_id,item_id,rating,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_existing_version_is_refused_before_anything_trains(tmp_path, capsys):
    (tmp_path / "v1").mkdir()
    started = time.perf_counter()
    assert main(["--artifacts", str(tmp_path), "--version", "v1"]) == 2
    assert time.perf_counter() - started < 30  # training the default data takes minutes
    assert "artifact version v1 already exists" in capsys.readouterr().err


def test_a_second_training_into_the_same_artifacts_is_refused(tmp_path, capsys):
    with training_lock(tmp_path):
        assert main(["--artifacts", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "another recsys-train (pid " in error and f"is training into {tmp_path}" in error
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith(".")] == []


def test_a_version_that_loses_to_a_baseline_is_not_published_unless_asked(tmp_path, random_ratings):
    refused = recsys_train("--data", f"ratings-csv:{random_ratings}", "--artifacts", str(tmp_path), "--version", "r1")
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert "not published: on the test split, ratings (/predict-rating): blend (deep x" in refused.stderr
    assert "LOSES TO global_mean" in refused.stderr and "--publish-anyway" in refused.stderr
    assert not (tmp_path / "r1").exists() and not (tmp_path / fmt.LATEST).exists()

    published = recsys_train("--data", f"ratings-csv:{random_ratings}", "--artifacts", str(tmp_path),
                             "--version", "r2", "--publish-anyway")
    assert published.returncode == 0, published.stderr[-3000:]
    assert fmt.read_latest(tmp_path) == "r2"
    report = (tmp_path / "r2" / fmt.REPORT_MD).read_text(encoding="utf-8").splitlines()
    assert report[2].startswith("- ❌ ratings (/predict-rating): blend (deep x") and "LOSES TO global_mean" in report[2]
    # Quiet, informative output: no TensorFlow or ScaNN start-up noise, progress with estimates, a summary.
    for noise in ("cuInit", "absl::InitializeLog", "oneDNN", "WARNING:absl", "DeprecationWarning"):
        assert noise not in published.stderr
    assert "rating scale inferred as 1..5" in published.stderr
    assert "stage: session models" in published.stderr and "s left)" in published.stderr
    assert "Test metrics of r2 (* = served):" in published.stdout and "*blend (deep x" in published.stdout


def test_the_gate_compares_each_served_model_with_its_trivial_baseline():
    report = {"served": {"rating": "ranking", "retrieval": "two_stage", "session": "gru4rec"},
              "rating": {"ranking": {"rmse": 0.9}, "global_mean": {"rmse": 1.1}},
              "retrieval": {"two_stage": {"recall@10": 0.2}, "popularity": {"recall@10": 0.2}},
              "session": {"gru4rec": {"recall@20": 0.1}, "popularity": {"recall@20": 0.3}}}
    with pytest.raises(PublishRefused, match=r"sessions \(/session/next\): gru4rec recall@20 0.1000 LOSES TO "
                                             r"popularity 0.3000\. LATEST is unchanged"):
        check(report, publish_anyway=False)
    verdicts = check(report, publish_anyway=True)
    assert [verdict.wins for verdict in verdicts] == [True, True, False]  # a tie is not a loss
