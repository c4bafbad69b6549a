"""The scaling benchmark's path, small: synthetic data written as Parquet and CSV files, then a real
``recsys-train --data ratings-parquet:...`` whose log names every stage with its time and peak memory."""

from __future__ import annotations

import json

from benchmarks import scaling
from tests.conftest import TINY_TRAINING


def test_training_from_a_parquet_file_publishes_and_logs_each_stage(tmp_path):
    data = scaling.write_data(tmp_path, scaling.synthetic_config(ratings=6000, items=150, seed=3, sessions=1500))
    tiny = [setting for setting in TINY_TRAINING if not setting.startswith("synthetic.")]
    result = scaling.train(tmp_path, [*scaling.TRAINING, *tiny])

    assert list(result["stages"]) == ["load and check the data",
                                      "rating models: two-tower retrieval, ranking blend, baselines",
                                      "session models: GRU4Rec, NARM, baselines", "export, smoke test and publish"]
    assert all(stage["peak_rss_mib"] > 100 for stage in result["stages"].values())  # TensorFlow alone is more
    assert result["peak_rss_mib"] == max(stage["peak_rss_mib"] for stage in result["stages"].values())
    [version] = (tmp_path / "artifacts").glob("2*")
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["data"]["ratings"]["name"] == "Ratings Parquet (ratings.parquet)"
    assert manifest["data"]["ratings"]["interactions"] == data["ratings"]
    assert manifest["data"]["ratings"]["users"] == data["users"]
    assert manifest["config"]["data"] == "ratings-parquet:ratings.parquet"
    assert manifest["served"]["rating"] == "mf"


def test_fixed_users_get_more_ratings_each_as_the_size_grows():
    from training.data.synthetic import generate

    sizes = {}
    for ratings in (4000, 12000):
        config = scaling.synthetic_config(ratings, items=1000, seed=3, sessions=100, users=100)
        interactions = generate(config)[0].interactions
        sizes[ratings] = (interactions["user_id"].nunique(), len(interactions))
    assert sizes[4000][0] == sizes[12000][0] == 100
    assert 0.8 < sizes[4000][1] / 4000 < 1.2 and 0.8 < sizes[12000][1] / 12000 < 1.2
