"""Loaders on tiny hand-written files with exact expected values; real-data counts when available."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.data.dataset import DataFormatError, RatingData
from training.data.examples import index_log
from training.data.loaders import (
    ML100K_GENRES,
    load_diginetica,
    load_gru4rec,
    load_movielens_100k,
    load_movielens_latest,
    load_ratings_csv,
    load_ratings_parquet,
    load_sessions_csv,
    sessions_from_ratings,
)
from training.data.split import split_ratings

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DIGINETICA_HEADERS = (
    "sessionId;userId;itemId;timeframe;eventdate",  # the CIKM Cup 2016 release
    "session_id;user_id;item_id;timeframe;eventdate",  # the SR-GNN sample
)
ML_LATEST_HEADER = "userId,movieId,rating,timestamp\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def item_line(item_id: int, title: str, genres: set[str]) -> str:
    flags = "|".join("1" if genre in genres else "0" for genre in ML100K_GENRES)
    return f"{item_id}|{title}|01-Jan-1995||http://imdb/{item_id}|{flags}\n"


def write_ml100k(folder: Path, split: bool) -> None:
    write(folder / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n")
    if split:
        write(folder / "u1.base", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
        write(folder / "u1.test", "196\t302\t5\t881250950\n")
    items = item_line(242, "Kolya (1996)", {"Comedy"}) + item_line(302, "Café (1997)", {"Crime", "Film-Noir"})
    write(folder / "u.item", items + item_line(303, "Nothing (1998)", set()), encoding="latin-1")
    write(folder / "u.user", "186|39|F|executive|00000\n196|49|M|writer|55105\n")


def assert_canonical_ids(frame: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        assert all(isinstance(value, str) for value in frame[column]), column


def test_movielens_100k_uses_the_canonical_split_when_present(tmp_path: Path) -> None:
    write_ml100k(tmp_path, split=True)
    data = load_movielens_100k(tmp_path)
    assert data.interactions.to_dict("list") == {
        "user_id": ["196", "186"],
        "item_id": ["242", "302"],
        "rating": [3.0, 3.0],
        "timestamp": [881250949, 891717742],
    }
    assert data.test_interactions is not None
    assert data.test_interactions.to_dict("records") == [
        {"user_id": "196", "item_id": "302", "rating": 5.0, "timestamp": 881250950}
    ]
    assert data.interactions["timestamp"].dtype == "int64"
    assert data.rating_range == (1.0, 5.0)
    assert data.items.to_dict("list") == {
        "item_id": ["242", "302", "303"],
        "title": ["Kolya (1996)", "Café (1997)", "Nothing (1998)"],
        "genres": [["Comedy"], ["Crime", "Film-Noir"], []],
    }
    assert data.users.to_dict("list") == {
        "user_id": ["186", "196"],
        "age": [39.0, 49.0],
        "gender": ["F", "M"],
        "occupation": ["executive", "writer"],
    }
    assert_canonical_ids(data.all_interactions(), ["user_id", "item_id"])


def test_movielens_100k_without_split_reads_u_data_and_names_genres_from_u_genre(tmp_path: Path) -> None:
    write_ml100k(tmp_path, split=False)
    renamed = ["Noir" if genre == "Film-Noir" else genre for genre in ML100K_GENRES]
    write(tmp_path / "u.genre", "".join(f"{genre}|{i}\n" for i, genre in enumerate(renamed)) + "\n")
    data = load_movielens_100k(tmp_path)
    assert data.test_interactions is None
    assert list(data.interactions["item_id"]) == ["242", "302", "302"]
    assert list(data.items["genres"]) == [["Comedy"], ["Crime", "Noir"], []]


def test_movielens_latest_reads_half_stars_quoted_titles_and_no_genres(tmp_path: Path) -> None:
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n")
    write(
        tmp_path / "movies.csv",
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,"American President, The (1995)",'
        "(no genres listed)\n",
    )
    data = load_movielens_latest(tmp_path)
    assert data.interactions.to_dict("list") == {
        "user_id": ["1", "1"],
        "item_id": ["1", "3"],
        "rating": [4.0, 0.5],
        "timestamp": [964982703, 964981247],
    }
    assert data.items.to_dict("list") == {
        "item_id": ["1", "3"],
        "title": ["Toy Story (1995)", "American President, The (1995)"],
        "genres": [["Adventure", "Animation"], []],
    }
    assert list(data.users.columns) == ["user_id", "age"] and data.users.empty  # no user features
    assert data.rating_range == (0.5, 5.0)
    assert data.name == f"MovieLens {tmp_path.name}"  # no server path: the name reaches the manifest


def test_ratings_csv_ignores_extra_columns_and_defaults_timestamps_to_zero(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "user_id,item_id,rating,comment\n007,i1,2,ok\nu2,NA,7,\n")
    data = load_ratings_csv(path)
    assert data.interactions.to_dict("list") == {
        "user_id": ["007", "u2"], "item_id": ["i1", "NA"], "rating": [2.0, 7.0], "timestamp": [0, 0]
    }
    assert data.rating_range == (1.0, 10.0)  # the narrowest usual scale holding 2 and 7
    assert data.items.empty and data.users.empty and data.test_interactions is None


def test_ratings_parquet_is_read_in_batches_into_the_canonical_frame(tmp_path: Path) -> None:
    """Integer ids become text, Arrow times Unix seconds; the batches of a folder of files join in order,
    and the checks (duplicates, scale) see all of them: a repeat across two batches is merged."""
    folder = tmp_path / "ratings"
    folder.mkdir()
    times = pa.array([1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000], pa.timestamp("ms"))
    pq.write_table(pa.table({"user_id": [7, 7, 8], "item_id": ["a", "b", "a"], "rating": [4, 2, 5],
                             "timestamp": times, "comment": ["x", "y", "z"]}), folder / "part-0.parquet")
    later = pa.array([1_700_000_180_000], pa.timestamp("ms"))
    pq.write_table(pa.table({"user_id": [7], "item_id": ["a"], "rating": [1], "timestamp": later}),
                   folder / "part-1.parquet")
    data = load_ratings_parquet(folder, batch_rows=2)
    assert data.interactions.to_dict("list") == {
        "user_id": ["7", "8", "7"], "item_id": ["b", "a", "a"], "rating": [2.0, 5.0, 1.0],
        "timestamp": [1_700_000_060, 1_700_000_120, 1_700_000_180]}
    assert data.rating_range == (1.0, 5.0)
    assert any("1 repeated ratings of 1 (user, item) pairs merged" in note for note in data.notes), data.notes


def test_ratings_parquet_ids_are_categoricals_that_behave_as_the_csv_loaders_text(tmp_path: Path) -> None:
    """Dictionary-encoded ids (each distinct id's text once) give what text ids give: the same rows, ordering
    by id (session sequences), vocabularies and indexed columns."""
    rows = pd.DataFrame({"user_id": ["u2", "u10", "u1", "u10", "u2", "u1"], "item_id": ["b", "a", "c", "b", "a", "b"],
                         "rating": [4.0, 2.0, 5.0, 1.0, 3.0, 4.0], "timestamp": [5, 3, 3, 1, 2, 7]})
    rows.to_csv(tmp_path / "r.csv", index=False)
    rows.to_parquet(tmp_path / "r.parquet", index=False)
    text, coded = load_ratings_csv(tmp_path / "r.csv"), load_ratings_parquet(tmp_path / "r.parquet", batch_rows=4)
    assert all(isinstance(coded.interactions[name].dtype, pd.CategoricalDtype) for name in ("user_id", "item_id"))
    assert coded.interactions.astype({"user_id": str, "item_id": str}).equals(text.interactions)
    assert sessions_from_ratings(coded).clicks.astype({"session_id": str, "item_id": str}).equals(
        sessions_from_ratings(text).clicks)
    split = split_ratings(text, seed=1)
    assert np.array_equal(split_ratings(coded, seed=1).parts, split.parts)
    by_text, by_code = index_log(text, split), index_log(coded, split)
    assert by_code.vocab.users == by_text.vocab.users == ("u1", "u10", "u2")
    assert by_code.vocab.items == by_text.vocab.items and by_code.columns.equals(by_text.columns)


def test_ratings_parquet_names_the_problem_and_the_row(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user_id": ["u1", "u2"], "item": ["i1", "i2"], "rating": [1.0, 2.0]}), path)
    with pytest.raises(DataFormatError, match="r.parquet: no column item_id; .*found user_id, item, rating"):
        load_ratings_parquet(path)
    pq.write_table(pa.table({"user_id": ["u1", "u2", "u3"], "item_id": ["i1", "i2", "i3"],
                             "rating": [1.0, 2.0, float("nan")]}), path)
    with pytest.raises(DataFormatError, match="r.parquet: row 3: .*finite rating"):
        load_ratings_parquet(path, batch_rows=2)
    pq.write_table(pa.table({"user_id": ["u1", None], "item_id": ["i1", "i2"], "rating": [1.0, 2.0]}), path)
    with pytest.raises(DataFormatError, match="row 2: every row needs a user_id.*user_id=None"):
        load_ratings_parquet(path)
    (tmp_path / "text.parquet").write_text("user_id,item_id\n")
    with pytest.raises(DataFormatError, match="text.parquet: not a Parquet file"):
        load_ratings_parquet(tmp_path / "text.parquet")
    with pytest.raises(FileNotFoundError):
        load_ratings_parquet(tmp_path / "missing.parquet")


def test_sessions_csv_sorts_by_session_then_time_and_keeps_file_order_for_ties(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "session_id,item_id,timestamp\nb,x,5\na,y,2\nb,z,1\na,w,2\na,v,1.5\n")
    clicks = load_sessions_csv(path).clicks
    assert clicks.to_dict("list") == {
        "session_id": ["a", "a", "a", "b", "b"],
        "item_id": ["v", "y", "w", "z", "x"],
        "timestamp": [1.5, 2.0, 2.0, 1.0, 5.0],
    }
    assert clicks["timestamp"].dtype == "float64"


@pytest.mark.parametrize("header", DIGINETICA_HEADERS)
def test_diginetica_orders_views_within_a_session_by_timeframe(tmp_path: Path, header: str) -> None:
    rows = ["1;NA;81766;526309;2016-05-09", "1;;31331;1031;2016-05-09", "2;7;32118;0;2016-01-03"]
    write(tmp_path / "train-item-views.csv", "\n".join([header, *rows]) + "\n")
    clicks = load_diginetica(tmp_path).clicks  # the folder is enough
    may_9 = pd.Timestamp("2016-05-09").timestamp()
    assert clicks.to_dict("list") == {
        "session_id": ["1", "1", "2"],
        "item_id": ["31331", "81766", "32118"],
        "timestamp": [may_9 + 1.031, may_9 + 526.309, pd.Timestamp("2016-01-03").timestamp()],
    }


def test_gru4rec_detects_a_prepared_split_else_reads_the_single_file(tmp_path: Path) -> None:
    header = "SessionId\tItemId\tTime\n"
    train_rows = "3\t214716935\t1396437466.94\n3\t214832672\t1396438212.5\n"
    write(tmp_path / "clicks_train_full.txt", header + train_rows)
    write(tmp_path / "clicks_test.txt", header + "1\t214536502\t1396860669.277\n")
    split = load_gru4rec(tmp_path / "clicks")
    assert list(split.clicks["item_id"]) == ["214716935", "214832672"]
    assert split.test_clicks is not None and split.test_clicks.to_dict("list") == {
        "session_id": ["1"], "item_id": ["214536502"], "timestamp": [1396860669.277]
    }
    single = load_gru4rec(str(tmp_path / "clicks_test.txt"))
    assert single.test_clicks is None and len(single.clicks) == 1
    with pytest.raises(FileNotFoundError, match="other_train_full.txt"):
        load_gru4rec(tmp_path / "other")


def test_sessions_from_ratings_orders_each_users_ratings_by_time_including_the_test_split() -> None:
    def frame(rows: list[tuple[str, str, float, int]]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])

    train = frame([("u2", "a", 1.0, 30), ("u1", "b", 2.0, 20), ("u1", "c", 3.0, 10), ("u1", "d", 4.0, 20)])
    data = RatingData("toy", train, pd.DataFrame(), pd.DataFrame(), (1.0, 5.0), frame([("u1", "e", 5.0, 15)]))
    sessions = sessions_from_ratings(data)
    assert sessions.name == "toy sequences" and sessions.test_clicks is None
    assert sessions.clicks.to_dict("list") == {
        "session_id": ["u1", "u1", "u1", "u1", "u2"],
        "item_id": ["c", "e", "b", "d", "a"],
        "timestamp": [10.0, 15.0, 20.0, 20.0, 30.0],
    }


MALFORMED: list[tuple[str, str, Callable[[Path], object], str]] = [
    ("u.data", "1\t2\t3\t4\n1\t2\t3\n", load_movielens_100k,
     "u.data:2: expected 4 tab-separated fields, found 3"),
    ("u.data", "1\t2\t3\t4\n\n1\t2\t3\t4\t5\n", load_movielens_100k,  # a blank line still counts
     "u.data:3: expected 4 tab-separated fields, found 5"),
    ("u.data", "1\t2\t3\t4\n1\t2\t6\t4\n", load_movielens_100k, "u.data:2: rating '6' is outside 1..5"),
    ("u.data", "1\t\t3\t4\n", load_movielens_100k, "u.data:1: empty item_id"),
    ("u.data", "", load_movielens_100k, "u.data:1: no data rows"),
    ("ratings.csv", ML_LATEST_HEADER + "1,1,4,5\n1,2,abc,5\n", load_movielens_latest,
     "ratings.csv:3: rating 'abc' is not a number"),
    ("ratings.csv", ML_LATEST_HEADER + "1,1,4,5\n1,2,4,\n", load_movielens_latest,
     "ratings.csv:3: empty timestamp"),
    ("ratings.csv", ML_LATEST_HEADER + "1,1,0,5\n", load_movielens_latest,
     "ratings.csv:2: rating '0' is outside 0.5..5"),
    ("ratings.csv", ML_LATEST_HEADER, load_movielens_latest, "ratings.csv:2: no data rows"),
    ("ratings.csv", "user,movie,rating\n1,1,4\n", load_movielens_latest,
     "ratings.csv:1: expected header userId,movieId,rating,timestamp, found 'user,movie,rating'"),
    ("train-item-views.csv", "session;item\n1;2\n", load_diginetica,
     "train-item-views.csv:1: expected header sessionId;userId;itemId;timeframe;eventdate or session_id;"),
    ("train-item-views.csv", DIGINETICA_HEADERS[0] + "\n1;NA;2;0;2016-13-01\n", load_diginetica,
     "train-item-views.csv:2: eventdate '2016-13-01' is not a date"),
    ("c.txt", "SessionId\tItemId\tTime\n1\t2\t3\n1\t2\tsoon\n", lambda folder: load_gru4rec(folder / "c.txt"),
     "c.txt:3: Time 'soon' is not a number"),
    ("s.csv", "session_id,item_id,timestamp\n,2,3\n", lambda folder: load_sessions_csv(folder / "s.csv"),
     "s.csv:2: empty session_id"),
]


@pytest.mark.parametrize(("name", "text", "load", "message"), MALFORMED)
def test_malformed_files_name_file_line_and_problem(
    tmp_path: Path, name: str, text: str, load: Callable[[Path], object], message: str
) -> None:
    write(tmp_path / name, text)
    with pytest.raises(DataFormatError) as raised:
        load(tmp_path)
    assert str(raised.value).startswith(message)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="u.data"):
        load_movielens_100k(tmp_path)


def real_data(folder: str) -> Path:
    path = REAL_DATA / folder
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/data/README.md)")
    return path


def test_real_movielens_100k_counts() -> None:
    data = load_movielens_100k(real_data("ml-100k"))
    assert (len(data.interactions), len(data.test_interactions)) == (80_000, 20_000)
    summary = data.describe()
    assert (summary["interactions"], summary["users"], summary["items"]) == (100_000, 943, 1_682)
    counts = data.all_interactions()["rating"].value_counts().sort_index()
    assert counts.to_dict() == {1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    assert (len(data.items), len(data.users)) == (1_682, 943)


def test_real_diginetica_counts() -> None:
    summary = load_diginetica(real_data("diginetica-sample")).describe()
    # The README's 12,390 is `wc -l` minus the header; the last view has no line break after it.
    assert (summary["clicks"], summary["sessions"], summary["items"]) == (12_391, 2_986, 7_139)


def test_real_yoochoose_counts() -> None:
    data = load_gru4rec(real_data("yoochoose-100k") / "yoochoose-clicks-100k")
    assert data.test_clicks is not None
    sessions = data.clicks["session_id"].nunique()
    # One click of the sample is logged twice (same session, item and time): kept once.
    assert (len(data.clicks), sessions, len(data.test_clicks)) == (70_277, 17_794, 13_568)
    assert data.notes == ("yoochoose-clicks-100k_train_full.txt: 1 repeated rows (same session, item and time) "
                          "dropped (the first at line 67134)",)
