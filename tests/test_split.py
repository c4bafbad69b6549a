"""Held-out splits as one part label per interaction, and the indexed columns cut from the log with them:
the parts are disjoint and cover the log, temporal parts follow time, and every row keeps its ids."""

import numpy as np
import pandas as pd
import pytest

from training.data.dataset import RatingData
from training.data.examples import prepare_ratings
from training.data.split import split_ratings


def _data(n: int = 500, test: pd.DataFrame | None = None) -> RatingData:
    rng = np.random.default_rng(5)
    users = [f"u{value}" for value in rng.integers(0, 40, n - 30)] + [f"once{value}" for value in range(30)]
    interactions = pd.DataFrame({"user_id": users,
                                 "item_id": [f"i{value}" for value in rng.integers(0, 60, n)],
                                 "rating": rng.choice([1.0, 3.0, 5.0, np.nan], n).astype(np.float32),
                                 "timestamp": rng.permutation(n).astype(np.int64)})
    empty = pd.DataFrame(columns=["user_id"])
    return RatingData("test", interactions, pd.DataFrame(columns=["item_id", "title", "genres"]), empty, (1.0, 5.0),
                      test_interactions=test)


@pytest.mark.parametrize("method", ["random", "temporal"])
def test_parts_are_disjoint_cover_the_log_and_have_the_asked_sizes(method):
    data = _data()
    split = split_ratings(data, method, test_fraction=0.2, validation_fraction=0.1, seed=7)
    masks = {part: split.mask(part) for part in ("train", "test", "fit", "validation")}
    assert (masks["fit"].astype(int) + masks["validation"] + masks["test"] == 1).all()
    assert (masks["train"] == masks["fit"] | masks["validation"]).all()
    assert split.describe() == {"train": 400, "test": 100, "fit": 360, "validation": 40,
                                "test_users": data.interactions["user_id"][masks["test"]].nunique()}
    assert (split.parts == split_ratings(data, method, seed=7).parts).all()
    times = data.interactions["timestamp"].to_numpy()
    if method == "temporal":
        assert times[masks["train"]].max() < times[masks["test"]].min()
        assert times[masks["fit"]].max() < times[masks["validation"]].min()
    else:
        assert (split.parts != split_ratings(data, method, seed=8).parts).any()


def test_a_split_that_ships_with_the_data_is_kept():
    data = _data()
    shipped = _data(50).interactions.assign(user_id=lambda frame: frame["user_id"] + "-new")
    data = RatingData("test", data.interactions, data.items, data.users, (1.0, 5.0), test_interactions=shipped)
    split = split_ratings(data)
    assert (split.mask("test") == (np.arange(550) >= 500)).all()
    assert split.describe()["validation"] == 50 and split.test_users == shipped["user_id"].nunique()


def test_indexed_parts_keep_each_rows_ids_in_log_order_and_unknown_ids_map_to_zero():
    data = _data()
    split = split_ratings(data, seed=3)
    context = prepare_ratings(data, split, history_length=5)
    log = data.interactions
    assert context.vocab.users == tuple(sorted(log["user_id"][split.mask("train")].unique()))
    users, items = np.array(("", *context.vocab.users)), np.array(("", *context.vocab.items))
    training = {part: context.training_rows.columns(part) for part in ("fit", "train")}  # one chunk: the log's order
    parts = {**{part: {"user_index": rows["user_row"], "item_index": rows["item"], "rating": rows["rating"]}
                for part, rows in training.items()}, **context.held_out}
    for part, frame in parts.items():
        rows = log[split.mask(part)]
        known = np.isin(rows["user_id"], context.vocab.users)
        assert (users[frame["user_index"]] == np.where(known, rows["user_id"], "")).all()
        known = np.isin(rows["item_id"], context.vocab.items)
        assert (items[frame["item_index"]] == np.where(known, rows["item_id"], "")).all()
        assert np.array_equal(frame["rating"], rows["rating"], equal_nan=True)
    assert (context.held_out["test"]["user_index"] == 0).any()  # test users unseen in training exist here
    assert context.mean_rating == pytest.approx(log["rating"][split.mask("fit")].mean())
