"""Checks that change what trains: the rating scale, refused rows, duplicates, times, metadata files, the
served catalog of the session model. Every message names the file and a line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.config import TrainConfig
from training.data.dataset import DataFormatError, SessionData
from training.data.loaders import load_items_csv, load_ratings_csv, load_sessions_csv, load_users_csv
from training.data.sources import load_sources, resolve_sessions
from training.data.validation import DataChecks, on_catalog, parse_range

HEADER = "user_id,item_id,rating,timestamp\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_out_of_range_ratings_without_a_declared_scale_fail_naming_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", HEADER + "u1,i1,4,1\nu1,i2,1000,2\nu2,i1,-7,3\nu2,i2,3,4\n")
    with pytest.raises(DataFormatError) as error:
        load_ratings_csv(path)
    message = str(error.value)
    assert "r.csv: ratings span -7 (line 4) to 1000 (line 3)" in message and "--rating-range" in message


def test_a_declared_scale_refuses_rows_outside_it_and_counts_them(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", HEADER + "u1,i1,4,1\nu1,i2,1000,2\nu2,i1,-7,3\nu2,i2,3,4\n")
    data = load_ratings_csv(path, DataChecks(rating_range=(1.0, 5.0)))
    assert data.rating_range == (1.0, 5.0)
    assert data.interactions["rating"].tolist() == [4.0, 3.0]
    assert data.notes == ("r.csv: 2 rows with a rating outside 1..5 refused (the first at line 3)",)
    with pytest.raises(DataFormatError, match="every rating lies outside the declared range 10..20"):
        load_ratings_csv(path, DataChecks(rating_range=(10.0, 20.0)))


def test_a_few_ratings_off_the_scale_of_all_others_are_named(tmp_path: Path) -> None:
    rows = "".join(f"u{n},i1,{1 + n % 5},{n}\n" for n in range(300)) + "u1,i2,50,9\n"
    with pytest.raises(DataFormatError, match=r"r.csv: 1 rating\(s\) lie outside 1..5, the scale of the other 300 "
                                              r"\(the first at line 302: 50\); declare the scale with --rating-range"):
        load_ratings_csv(write(tmp_path / "r.csv", HEADER + rows))


@pytest.mark.parametrize("ratings, scale", [([0, 1, 1], (0.0, 1.0)), ([1, 3, 5], (1.0, 5.0)),
                                            ([0.5, 4.5], (0.5, 5.0)), ([1, 8, 10], (1.0, 10.0))])
def test_the_scale_is_inferred_as_the_narrowest_usual_one(tmp_path: Path, ratings, scale) -> None:
    rows = "".join(f"u{n},i1,{rating},{n}\n" for n, rating in enumerate(ratings))
    data = load_ratings_csv(write(tmp_path / "r.csv", HEADER + rows))
    assert data.rating_range == scale
    assert data.notes == (f"r.csv: rating scale inferred as {scale[0]:g}..{scale[1]:g} (declare it with "
                          "--rating-range)",)


def test_duplicates_keep_the_last_by_time_or_their_mean(tmp_path: Path) -> None:
    # u1/i1 three times, out of time order in the file; u2/i1 once.
    path = write(tmp_path / "r.csv", HEADER + "u1,i1,5,30\nu1,i1,1,10\nu2,i1,3,5\nu1,i1,2,20\n")
    last = load_ratings_csv(path, DataChecks(rating_range=(1.0, 5.0)))
    assert last.interactions.to_dict("list") == {"user_id": ["u1", "u2"], "item_id": ["i1", "i1"],
                                                 "rating": [5.0, 3.0], "timestamp": [30, 5]}
    assert last.notes == ("r.csv: 2 repeated ratings of 1 (user, item) pairs merged, one per pair (kept the last "
                          "by timestamp; the first repeat at line 3)",)
    mean = load_ratings_csv(path, DataChecks(rating_range=(1.0, 5.0), duplicates="mean"))
    assert mean.interactions["rating"].tolist() == [pytest.approx(8 / 3), 3.0]
    assert mean.interactions["timestamp"].tolist() == [30, 5]


def test_times_may_be_iso_8601_and_a_bad_one_is_named_with_its_line(tmp_path: Path) -> None:
    good = write(tmp_path / "r.csv", HEADER + "u1,i1,4,2024-03-01T12:00:00Z\nu1,i2,3,1709294400\n"
                                              "u2,i1,5,2024-03-01 13:00:00+01:00\n")
    assert load_ratings_csv(good).interactions["timestamp"].tolist() == [1709294400] * 3
    bad = write(tmp_path / "bad.csv", HEADER + "u1,i1,4,1\nu1,i2,3,yesterday\n")
    with pytest.raises(DataFormatError, match="bad.csv:3: timestamp 'yesterday' is neither Unix seconds nor an "
                                              "ISO-8601 time"):
        load_ratings_csv(bad)
    sessions = write(tmp_path / "s.csv", "session_id,item_id,timestamp\ns1,i1,1\ns1,i2,\n")
    with pytest.raises(DataFormatError, match="s.csv:3: empty timestamp"):
        load_sessions_csv(sessions)


def test_empty_ids_are_named_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="r.csv:3: empty item_id"):
        load_ratings_csv(write(tmp_path / "r.csv", HEADER + "u1,i1,4,1\nu1,,3,2\n"))
    with pytest.raises(DataFormatError, match="s.csv:2: empty session_id"):
        load_sessions_csv(write(tmp_path / "s.csv", "session_id,item_id,timestamp\n,i1,1\n"))


def test_a_click_logged_twice_is_kept_once(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "session_id,item_id,timestamp\ns1,i1,1\ns1,i1,1\ns1,i2,2\ns1,i1,3\n")
    data = load_sessions_csv(path)
    assert data.clicks["item_id"].tolist() == ["i1", "i2", "i1"]  # a later re-click is a click
    assert data.notes == ("s.csv: 1 repeated rows (same session, item and time) dropped (the first at line 3)",)


def test_item_and_user_metadata_files(tmp_path: Path) -> None:
    items = load_items_csv(write(tmp_path / "items.csv", 'item_id,title,genres\ni1,"Heat, the film",Crime|Drama\n'
                                                         "i2,,\n"))
    assert items.to_dict("list") == {"item_id": ["i1", "i2"], "title": ["Heat, the film", ""],
                                     "genres": [["Crime", "Drama"], []]}
    categories = load_items_csv(write(tmp_path / "c.csv", "item_id,title,categories\ni1,Lamp,home|light\n"))
    assert categories["genres"].tolist() == [["home", "light"]]
    users = load_users_csv(write(tmp_path / "users.csv", "user_id,age,gender,occupation,zip\nu1,31,F,nurse,1\n"
                                                         "u2,,,,2\n"))
    assert users["user_id"].tolist() == ["u1", "u2"] and users["occupation"].tolist() == ["nurse", ""]
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip"]  # every column a feature
    assert users["zip"].tolist() == ["1", "2"]  # a category, even if it looks like a number
    assert users["age"].iloc[0] == 31 and pd.isna(users["age"].iloc[1])
    with pytest.raises(DataFormatError, match=r"users.csv:3: age 'old' is not a number"):
        load_users_csv(write(tmp_path / "users.csv", "user_id,age\nu1,3\nu2,old\n"))
    with pytest.raises(DataFormatError, match=r"items.csv:3: item_id 'i1' again \(first at line 2\)"):
        load_items_csv(write(tmp_path / "items.csv", "item_id,title\ni1,A\ni1,B\n"))


def test_metadata_files_reach_the_loaded_data(tmp_path: Path) -> None:
    ratings = write(tmp_path / "r.csv", HEADER + "u1,i1,4,1\nu1,i2,3,2\nu2,i1,5,3\n")
    write(tmp_path / "items.csv", "item_id,title,genres\ni1,First,A\ni2,Second,B|C\n")
    write(tmp_path / "users.csv", "user_id,gender\nu1,F\n")
    config = TrainConfig(data=f"ratings-csv:{ratings}", items=str(tmp_path / "items.csv"),
                         users=str(tmp_path / "users.csv"))
    loaded, sessions, protocol = load_sources(config)
    assert loaded.items["title"].tolist() == ["First", "Second"] and loaded.users["gender"].tolist() == ["F"]
    assert loaded.users["age"].isna().all()  # no age column: unknown
    assert protocol.kind == "user-sequences" and set(sessions.clicks["session_id"]) == {"u1", "u2"}


def test_sessions_follow_the_data_unless_given() -> None:
    assert resolve_sessions("synthetic", "auto") == "synthetic"
    assert resolve_sessions("ratings-csv:x.csv", "auto") == "from-data"
    assert resolve_sessions("ml-100k:x", "sessions-csv:s.csv") == "sessions-csv:s.csv"


def test_a_session_model_learns_only_the_served_catalog() -> None:
    clicks = pd.DataFrame({"session_id": ["s1", "s1", "s2", "s2"], "item_id": ["i1", "x9", "i2", "i1"],
                           "timestamp": [1.0, 2.0, 3.0, 4.0]})
    kept = on_catalog(SessionData("log", clicks), pd.Index(["i1", "i2"]))
    assert kept.clicks["item_id"].tolist() == ["i1", "i2", "i1"]
    assert kept.notes == ("log: 1 clicks dropped, on 1 item(s) outside the served catalog",)
    with pytest.raises(DataFormatError, match="only 25% of the clicks are on items of the rating data's catalog"):
        on_catalog(SessionData("log", clicks), pd.Index(["i2"]))


def test_separate_sessions_of_another_catalog_fail_before_training(tmp_path: Path) -> None:
    ratings = write(tmp_path / "r.csv", HEADER + "u1,i1,4,1\nu1,i2,3,2\n")
    sessions = write(tmp_path / "s.csv", "session_id,item_id,timestamp\ns1,a,1\ns1,b,2\ns2,i1,3\ns2,c,4\n")
    with pytest.raises(DataFormatError, match="Give the sessions of the same catalog"):
        load_sources(TrainConfig(data=f"ratings-csv:{ratings}", sessions=f"sessions-csv:{sessions}"))


@pytest.mark.parametrize("text, message", [("5", "expected LOW,HIGH"), ("5,1", "LOW must be below HIGH"),
                                           ("a,b", "expected LOW,HIGH")])
def test_rating_range_flag_is_checked(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_range(text)
    assert parse_range("0.5,5") == (0.5, 5.0)


def test_any_user_feature_columns_reach_the_models_inputs():
    import tensorflow as tf

    from models.features import FeatureEncoder
    from models.vocabulary import build_vocabularies, user_feature_columns
    from training.data.examples import user_profile_frame

    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "age": [30.0, None, 50.0],
                          "plan": ["gold", "free", ""], "country": ["fr", "de", "fr"]})
    catalog = pd.DataFrame(columns=["item_id", "title", "genres"])
    vocab = build_vocabularies(["u1", "u2", "u3"], ["i1", "i2"], catalog, users)
    assert vocab.user_features == ("plan", "country")
    assert vocab.user_categories == ("country=de", "country=fr", "plan=free", "plan=gold")
    frame = user_profile_frame(users, ("u1", "u2", "u3", "new"))
    categories = frame[list(user_feature_columns(frame))].to_numpy(dtype=object)
    assert categories.tolist() == [["gold", "fr"], ["free", "de"], ["", "fr"], ["", ""]]
    encoded = FeatureEncoder(vocab).profile({"user_id": tf.constant(frame["user_id"].tolist()),
                                             "age": frame["age"].to_numpy(),
                                             "categories": tf.constant(categories.tolist())})
    # index = position in user_categories + 1; 0 for unknown ("" or a user the data has no row for)
    assert encoded["categories"].numpy().tolist() == [[4, 2], [3, 1], [0, 2], [0, 0]]
