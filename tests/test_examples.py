"""The per-user tables the rating models train on, built from index arrays, against the rule they follow
(``models.history``): each user's latest items, oldest first, with unrated ones at the window's mean."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from models.artifact_format import user_feature_arrays
from models.history import fill_unrated
from models.selection import SeenItems
from training.data.examples import UserView, recent_history, user_profile_frame
from training.export.artifact import users_table


def _reference(users, items, ratings, timestamps, n_users, length, rating_range):
    """One user at a time, the way the rule reads."""
    frame = pd.DataFrame({"user": users, "item": items, "rating": ratings, "timestamp": timestamps})
    frame = frame.sort_values(["user", "timestamp"], kind="stable")
    result = []
    for user in range(n_users):
        rows = frame[frame["user"] == user].iloc[-length:]
        result.append((rows["item"].tolist(), fill_unrated(rows["rating"].astype(float).tolist(), rating_range)))
    return result


def test_recent_history_keeps_each_users_latest_items_in_time_order_and_fills_unrated_ones():
    rng = np.random.default_rng(3)
    n, n_users, length = 400, 9, 6
    users = rng.integers(0, n_users - 1, n)  # the last user has no interaction
    items = rng.integers(0, 20, n).astype(np.int32)  # 0: an item outside the vocabulary, kept in place
    ratings = rng.choice([1.0, 2.5, 4.0, np.nan], n).astype(np.float32)
    ratings[users == 3] = np.nan  # a user with no rating in the window: the mid-scale
    timestamps = rng.integers(0, 30, n)  # many ties: they keep the log's order
    n_few = 3
    users[users == 7] = 6
    users[:n_few] = 7  # a user with fewer interactions than the window
    history = recent_history(users, items, ratings, timestamps, n_users, length, (1.0, 5.0))
    expected = _reference(users, items, ratings, timestamps, n_users, length, (1.0, 5.0))
    lengths = history.lengths[1:]  # user index 0 is the unknown user: no history
    assert history.lengths[0] == 0 and history.width == length
    assert lengths.tolist() == [len(expected_items) for expected_items, _ in expected]
    assert lengths[7] == n_few and lengths[8] == 0
    dense_items, dense_ratings = history.dense(np.arange(1, n_users + 1))
    assert dense_items.shape == dense_ratings.shape == (n_users, length)
    for row, (expected_items, expected_ratings) in enumerate(expected):
        kept = lengths[row]
        assert dense_items[row, :kept].tolist() == expected_items
        np.testing.assert_allclose(dense_ratings[row, :kept], expected_ratings, rtol=1e-6)
        assert not dense_items[row, kept:].any() and not dense_ratings[row, kept:].any()
    assert np.allclose(dense_ratings[3, :lengths[3]], 3.0)
    some = np.array([4, 0, 8, 4])  # any user indices, repeats and the unknown user included
    assert np.array_equal(history.dense(some)[0], np.concatenate([np.zeros((1, length), np.int32),
                                                                  dense_items])[some])
    ragged_items, ragged_ratings = history.ragged()
    np.testing.assert_array_equal(ragged_items.to_tensor(shape=[None, length]).numpy()[1:], dense_items)
    np.testing.assert_array_equal(ragged_ratings.to_tensor(shape=[None, length]).numpy()[1:], dense_ratings)


def test_the_users_file_gives_the_server_the_tables_the_models_trained_on(tmp_path):
    item_ids = ("i1", "i2", "i3")
    history = recent_history(np.array([0, 0, 2, 0]), np.array([2, 1, 3, 0], np.int32),
                             np.array([4.0, np.nan, 5.0, 2.0], np.float32), np.array([1, 2, 3, 4]), 3, 2, (1.0, 5.0))
    frame = user_profile_frame(pd.DataFrame({"user_id": ["a", "c"], "age": [30.0, 40.0], "plan": ["x", "y"]}),
                               ("a", "b", "c"))
    view = UserView(frame=frame, profile={}, history=history, seen=SeenItems.from_lists([], 3))
    pq.write_table(users_table(view, item_ids), tmp_path / "users.parquet")
    raw = user_feature_arrays(pd.read_parquet(tmp_path / "users.parquet"))
    # user a's latest two: i1 (unrated: the window's mean, 2.0) then an item outside the vocabulary
    items, ratings = view.history.dense(np.arange(1, 4))
    assert items.tolist() == [[1, 0], [0, 0], [3, 0]]
    np.testing.assert_array_equal(raw["recent_ratings"], ratings)
    assert raw["recent_items"].tolist() == [["i1", ""], ["", ""], ["i3", ""]]
    np.testing.assert_allclose(raw["recent_ratings"], [[2.0, 2.0], [0.0, 0.0], [5.0, 0.0]])
    assert raw["user_id"].tolist() == ["a", "b", "c"] and raw["categories"].tolist() == [["x"], [""], ["y"]]
