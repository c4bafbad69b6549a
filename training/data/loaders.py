"""Loaders from the public data sets' files to the canonical form of ``training.data.dataset``.

Every file goes through ``_read_delimited``: pandas' C parser with explicit dtypes, then vectorized checks.
A ratings.csv of ml-25m's size (25 million rows) loads in 38 s with a 2.1 GB peak on two cores; reading
every field as text and converting afterwards took 93 s and 5.4 GB, so that way is kept for finding a
field that is not a number. Only once a check has failed is the offending line read again on its own,
to say exactly what is wrong with it.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pa_dataset

from training.data.dataset import (
    CLICK_COLUMNS,
    INTERACTION_COLUMNS,
    USER_COLUMNS,
    DataFormatError,
    RatingData,
    SessionData,
)
from training.data.validation import DataChecks, check_clicks, check_ratings

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

_ANY = (-math.inf, math.inf)
DEFAULT_CHECKS = DataChecks()
_ITEM_DTYPES = {"item_id": str, "title": str, "genres": object}
_USER_DTYPES = {"user_id": str, "age": "float64"}  # no user features
_SEPARATOR_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
_TOO_MANY_FIELDS = re.compile(r"Expected \d+ fields in line (\d+), saw \d+")


@dataclass(frozen=True)
class _Schema:
    """The shape of one delimited format.

    columns: our names for the fields we read; for a file without header row, all its fields in order.
    headers: for a file with a header row, its accepted spellings: the file's names for `columns`, in the
        same order. A shorter spelling leaves the remaining columns absent; other file columns are ignored.
    required: text columns that may not be empty. numbers: numeric columns (never empty, always finite)
        with their allowed range. times: columns of times, as Unix seconds or ISO-8601 (never empty).
    """

    sep: str
    columns: tuple[str, ...]
    headers: tuple[tuple[str, ...], ...] = ()
    required: tuple[str, ...] = ()
    numbers: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    times: tuple[str, ...] = ()
    # utf-8-sig also reads plain UTF-8, and drops the byte-order mark spreadsheets put before a header.
    encoding: str = "utf-8-sig"

    @property
    def quoting(self) -> int:
        # Only the comma formats quote ("American President, The (1995)"); elsewhere '"' is a character.
        return csv.QUOTE_MINIMAL if self.sep == "," else csv.QUOTE_NONE


_RATING = tuple(INTERACTION_COLUMNS)
_CLICK = tuple(CLICK_COLUMNS)
_DIGINETICA_COLUMNS = ("session_id", "user_id", "item_id", "timeframe", "eventdate")
_ML100K_FLAGS = tuple(f"genre_{position}" for position in range(len(ML100K_GENRES)))

_ML100K_RATINGS = _Schema(
    "\t", _RATING, required=_RATING[:2], numbers={"rating": (1.0, 5.0), "timestamp": _ANY}
)
_ML100K_ITEMS = _Schema(
    "|", ("item_id", "title", "release_date", "video_release_date", "imdb_url", *_ML100K_FLAGS),
    required=("item_id",), numbers=dict.fromkeys(_ML100K_FLAGS, (0.0, 1.0)), encoding="latin-1",
)
_ML100K_USERS = _Schema("|", (*USER_COLUMNS, "zip_code"), required=("user_id",), numbers={"age": _ANY})
_ML100K_GENRE_NAMES = _Schema(
    "|", ("genre", "position"), required=("genre",), numbers={"position": (0, len(ML100K_GENRES) - 1)}
)
_ML_LATEST_RATINGS = _Schema(
    ",", _RATING, headers=(("userId", "movieId", "rating", "timestamp"),), required=_RATING[:2],
    numbers={"rating": (0.5, 5.0), "timestamp": _ANY},
)
_ML_LATEST_MOVIES = _Schema(
    ",", ("item_id", "title", "genres"), headers=(("movieId", "title", "genres"),), required=("item_id",)
)
_RATINGS_CSV = _Schema(
    ",", _RATING, headers=(_RATING, _RATING[:3]), required=_RATING[:2], numbers={"rating": _ANY},
    times=("timestamp",),
)
_SESSIONS_CSV = _Schema(",", _CLICK, headers=(_CLICK,), required=_CLICK[:2], times=("timestamp",))
# Metadata for generic data: genres (or any categories) joined by "|".
_ITEMS_CSV = _Schema(
    ",", ("item_id", "title", "genres"),
    headers=(("item_id", "title", "genres"), ("item_id", "title", "categories"), ("item_id", "title")),
    required=("item_id",),
)
_USERS_CSV = _Schema(",", ("user_id",), required=("user_id",))  # the columns are the file's own
_DIGINETICA = _Schema(
    ";", _DIGINETICA_COLUMNS,
    headers=(("sessionId", "userId", "itemId", "timeframe", "eventdate"), _DIGINETICA_COLUMNS),
    required=("session_id", "item_id", "eventdate"), numbers={"timeframe": (0.0, math.inf)},
)
_GRU4REC = _Schema(
    "\t", _CLICK, headers=(("SessionId", "ItemId", "Time"),), required=_CLICK[:2], numbers={"timestamp": _ANY}
)


@dataclass(frozen=True)
class _Layout:
    """Where our columns are in one particular file."""

    path: Path
    schema: _Schema
    positions: dict[str, int]
    field_count: int
    header: list[str]

    @property
    def header_lines(self) -> int:
        return 1 if self.header else 0


def _seconds(text: pd.Series) -> pd.Series:
    """Unix seconds, or ISO-8601 times (UTC unless they say otherwise) -> float seconds; NaN if neither."""
    seconds = pd.to_numeric(text, errors="coerce")
    other = seconds.isna() & text.notna()
    if other.any():
        times = pd.to_datetime(text[other], format="ISO8601", utc=True, errors="coerce")
        seconds[other] = (times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return seconds.where(np.isfinite(seconds))


def _fail(path: Path, line: int, problem: str) -> DataFormatError:
    return DataFormatError(f"{path.name}:{line}: {problem}")


def _line_fields(path: Path, line: int, schema: _Schema) -> list[str]:
    """The fields of one line (1-based); [] past the end of the file."""
    with path.open(encoding=schema.encoding, newline="") as file:
        text = next(itertools.islice(file, line - 1, None), "")
    return next(csv.reader([text.rstrip("\r\n")], delimiter=schema.sep, quoting=schema.quoting))


def _layout(path: Path, schema: _Schema) -> _Layout:
    if not schema.headers:
        positions = {name: position for position, name in enumerate(schema.columns)}
        return _Layout(path, schema, positions, len(schema.columns), header=[])
    header = _line_fields(path, 1, schema)
    for spelling in schema.headers:
        if set(spelling) <= set(header):
            pairs = zip(schema.columns, spelling, strict=False)
            positions = {ours: header.index(theirs) for ours, theirs in pairs}
            return _Layout(path, schema, positions, len(header), header)
    expected = " or ".join(schema.sep.join(spelling) for spelling in schema.headers)
    raise _fail(path, 1, f"expected header {expected}, found {schema.sep.join(header)!r}")


def _parse(layout: _Layout, number_dtype: str | type) -> pd.DataFrame:
    """Our columns, empty fields as NaN, indexed by 1-based line number (no format puts line breaks in
    quotes, so row and line stay in step)."""
    schema = layout.schema
    dtypes: dict[int, str | type] = dict.fromkeys(range(layout.field_count), str)
    dtypes |= {layout.positions[name]: number_dtype for name in schema.numbers if name in layout.positions}
    frame = pd.read_csv(
        layout.path, sep=schema.sep, header=None, names=range(layout.field_count),
        skiprows=layout.header_lines, dtype=dtypes, encoding=schema.encoding, quoting=schema.quoting,
        # "NA" and "None" are ids and titles like any other; only an empty field is missing. Blank lines
        # stay as empty rows so that row numbers remain line numbers; they are dropped later.
        keep_default_na=False, na_values=[""], skip_blank_lines=False,
    )
    frame = frame.rename(columns={position: name for name, position in layout.positions.items()})
    frame = frame[list(layout.positions)]
    frame.index = frame.index + layout.header_lines + 1
    return frame


def _problem(layout: _Layout, line: int) -> str:
    """What is wrong with one line, read on its own."""
    schema = layout.schema
    fields = _line_fields(layout.path, line, schema)
    if len(fields) != layout.field_count:
        separator = _SEPARATOR_NAMES[schema.sep]
        return f"expected {layout.field_count} {separator}-separated fields, found {len(fields)}"
    for name, position in layout.positions.items():
        label, value = (layout.header[position] if layout.header else name), fields[position]
        if value == "" and (name in schema.required or name in schema.numbers or name in schema.times):
            return f"empty {label}"
        if name in schema.times and pd.isna(_seconds(pd.Series([value])).iloc[0]):
            return f"{label} {value!r} is neither Unix seconds nor an ISO-8601 time"
        if name in schema.numbers:
            low, high = schema.numbers[name]
            number = pd.to_numeric(value, errors="coerce")
            if not math.isfinite(number):
                return f"{label} {value!r} is not a number"
            if not low <= number <= high:
                return f"{label} {value!r} is outside {low:g}..{high:g}"
    return f"cannot read {schema.sep.join(fields)!r}"


def _read_delimited(path: Path, schema: _Schema) -> pd.DataFrame:
    """The rows of `path` under our column names (numbers float64, empty text NaN), checked against
    `schema`; the index holds each row's 1-based line number in the file."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    layout = _layout(path, schema)
    try:
        frame = _parse(layout, "float64")
    except pd.errors.ParserError as error:
        too_many = _TOO_MANY_FIELDS.search(str(error))
        if too_many is None:
            raise DataFormatError(f"{path.name}: {error}") from error
        line = int(too_many.group(1))
        raise _fail(path, line, _problem(layout, line)) from error
    except ValueError:
        # A field that is not a number stops the C parser without saying where; read numbers as text.
        frame = _parse(layout, str)
        numbers = [name for name in schema.numbers if name in layout.positions]
        frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce")
    frame = frame.dropna(how="all")
    if frame.empty:
        raise _fail(path, layout.header_lines + 1, "no data rows")
    # A missing trailing field leaves NaN just like an empty one; _problem tells them apart.
    required = [name for name in schema.required if name in frame]
    bad = frame[required].isna().any(axis=1)
    for name in schema.times:
        if name in frame:
            frame[name] = _seconds(frame[name])
            bad |= frame[name].isna()
    for name, (low, high) in schema.numbers.items():
        if name in frame:
            bad |= ~(np.isfinite(frame[name]) & frame[name].between(low, high))
    if bad.any():
        line = int(bad.idxmax())
        raise _fail(path, line, _problem(layout, line))
    return frame


def _interactions(frame: pd.DataFrame) -> pd.DataFrame:
    interactions = frame[INTERACTION_COLUMNS].astype({"rating": "float32", "timestamp": "int64"})
    return interactions.reset_index(drop=True)


def _clicks(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted by session, then time; ties keep file order, the order in which a log records clicks."""
    clicks = frame[CLICK_COLUMNS].astype({"timestamp": "float64"})
    return clicks.sort_values(["session_id", "timestamp"], kind="stable").reset_index(drop=True)


def _items(frame: pd.DataFrame, genres: pd.Series) -> pd.DataFrame:
    """`genres` holds each item's genre names joined by "|", "" for none."""
    items = pd.DataFrame({"item_id": frame["item_id"], "title": frame["title"].fillna("")})
    return items.assign(genres=genres.str.findall("[^|]+")).reset_index(drop=True)


def _empty(dtypes: Mapping[str, str | type]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _ml100k_genre_names(path: Path) -> tuple[str, ...]:
    frame = _read_delimited(path, _ML100K_GENRE_NAMES).sort_values("position")
    if len(frame) != len(ML100K_GENRES):
        raise _fail(path, int(frame.index.max()), f"expected {len(ML100K_GENRES)} genres, found {len(frame)}")
    return tuple(frame["genre"])


def _ml100k_items(folder: Path) -> pd.DataFrame:
    frame = _read_delimited(folder / "u.item", _ML100K_ITEMS)
    genre_file = folder / "u.genre"
    genre_names = _ml100k_genre_names(genre_file) if genre_file.is_file() else ML100K_GENRES
    genres = pd.Series("", index=frame.index, dtype=str)
    for flag, genre in zip(_ML100K_FLAGS, genre_names, strict=True):
        genres = genres + np.where(frame[flag] == 1, f"{genre}|", "")
    return _items(frame, genres)


def _ratings(path: Path, schema: _Schema, scale: tuple[float, float] | None,
             checks: DataChecks) -> tuple[pd.DataFrame, tuple[float, float], list[str]]:
    """The checked interactions of one file, its rating scale and the notes of what the checks did."""
    frame = _read_delimited(path, schema)
    if "timestamp" not in frame:
        frame["timestamp"] = 0
    frame, scale, notes = check_ratings(frame, path.name, scale, checks)
    return _interactions(frame), scale, notes


def _session_data(path: Path, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    frame, notes = check_clicks(frame, path.name)
    return _clicks(frame), notes


def load_movielens_100k(folder: Path, checks: DataChecks = DEFAULT_CHECKS) -> RatingData:
    """MovieLens 100K: the canonical split ``u1.base``/``u1.test`` when both exist, else all of ``u.data``;
    items from ``u.item`` (genres named by ``u.genre`` if present), users from ``u.user``."""
    base, test = folder / "u1.base", folder / "u1.test"
    if base.is_file() and test.is_file():
        interactions, scale, notes = _ratings(base, _ML100K_RATINGS, (1.0, 5.0), checks)
        test_interactions, _, test_notes = _ratings(test, _ML100K_RATINGS, (1.0, 5.0), checks)
        notes += test_notes
    else:
        interactions, scale, notes = _ratings(folder / "u.data", _ML100K_RATINGS, (1.0, 5.0), checks)
        test_interactions = None
    users = _read_delimited(folder / "u.user", _ML100K_USERS)[USER_COLUMNS]
    users = users.fillna({"gender": "", "occupation": ""}).reset_index(drop=True)
    items = _ml100k_items(folder)
    return RatingData(f"MovieLens 100K ({folder.name})", interactions, items, users, scale, test_interactions,
                      tuple(notes))


def load_movielens_latest(folder: Path, checks: DataChecks = DEFAULT_CHECKS) -> RatingData:
    """The format of ml-latest(-small), ml-25m and ml-32m: ``ratings.csv`` and ``movies.csv``."""
    interactions, scale, notes = _ratings(folder / "ratings.csv", _ML_LATEST_RATINGS, (0.5, 5.0), checks)
    movies = _read_delimited(folder / "movies.csv", _ML_LATEST_MOVIES)
    genres = movies["genres"].fillna("").replace("(no genres listed)", "")
    items, users = _items(movies, genres), _empty(_USER_DTYPES)
    return RatingData(f"MovieLens {folder.name}", interactions, items, users, scale, notes=tuple(notes))


def load_ratings_csv(path: Path, checks: DataChecks = DEFAULT_CHECKS) -> RatingData:
    """A CSV with header ``user_id,item_id,rating[,timestamp]`` (more columns are ignored; times as Unix
    seconds or ISO-8601; without them every rating gets 0). The rating scale is the declared one, else
    the narrowest usual scale holding every rating (``training.data.validation``)."""
    interactions, scale, notes = _ratings(path, _RATINGS_CSV, None, checks)
    items, users = _empty(_ITEM_DTYPES), _empty(_USER_DTYPES)
    return RatingData(f"Ratings CSV ({path.name})", interactions, items, users, scale, notes=tuple(notes))


PARQUET_BATCH_ROWS = 1_000_000


def _parquet_batch(batch: pa.RecordBatch, first_row: int, source: str) -> pa.Table:
    """One record batch, checked, as a compact table of the canonical columns: ids as dictionary-encoded
    text, ratings float32, times as Unix seconds (from integer, float or Arrow timestamp columns; 0 without
    a timestamp column)."""
    times = batch.column("timestamp") if "timestamp" in batch.schema.names else pa.array(np.zeros(batch.num_rows))
    if pa.types.is_timestamp(times.type):
        times = pc.cast(pc.cast(times, pa.timestamp("s")), pa.int64())
    table = pa.table({"user_id": pc.cast(batch.column("user_id"), pa.string()),
                      "item_id": pc.cast(batch.column("item_id"), pa.string()),
                      "rating": pc.cast(batch.column("rating"), pa.float64()),
                      "timestamp": pc.cast(times, pa.float64())})
    bad = pc.or_(pc.or_(pc.is_null(table["user_id"]), pc.is_null(table["item_id"])),
                 pc.invert(pc.and_(pc.is_finite(table["rating"]), pc.is_finite(table["timestamp"]))))
    bad = pc.fill_null(bad, True)  # a null rating or time is not finite either
    if pc.any(bad).as_py():
        at = pc.index(bad, True).as_py()
        fields = ", ".join(f"{name}={column[at].as_py()!r}" for name, column in zip(table.column_names, table.columns,
                                                                                    strict=True))
        raise DataFormatError(f"{source}: row {first_row + at + 1}: every row needs a user_id, an item_id and a "
                              f"finite rating and timestamp, got {fields}")
    return pa.table({"user_id": pc.dictionary_encode(table["user_id"]),
                     "item_id": pc.dictionary_encode(table["item_id"]),
                     "rating": pc.cast(table["rating"], pa.float32()),
                     "timestamp": pc.cast(pc.floor(table["timestamp"]), pa.int64())})


def load_ratings_parquet(path: Path, checks: DataChecks = DEFAULT_CHECKS,
                         batch_rows: int = PARQUET_BATCH_ROWS) -> RatingData:
    """A Parquet file, or a folder of them (one data set), with columns ``user_id``, ``item_id``,
    ``rating`` and optionally ``timestamp`` (more are ignored). It is read ``batch_rows`` rows at a time
    (pyarrow.dataset), each batch checked and made compact before the next is read. The ids become pandas
    categoricals, each distinct id's text held once (20 bytes a row in all, where text ids take about 40),
    with the categories sorted, so that ordering by id is the text's order, as it is for the CSV loaders."""
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    try:
        data = pa_dataset.dataset(path, format="parquet")
    except (pa.ArrowInvalid, OSError) as error:
        raise DataFormatError(f"{path.name}: not a Parquet file or folder of Parquet files: {error}") from None
    missing = [name for name in ("user_id", "item_id", "rating") if name not in data.schema.names]
    if missing:
        raise DataFormatError(f"{path.name}: no column {', '.join(missing)}; expected user_id, item_id, rating "
                              f"and optionally timestamp, found {', '.join(data.schema.names) or 'none'}")
    wanted = [name for name in INTERACTION_COLUMNS if name in data.schema.names]
    tables, rows = [], 0
    for batch in data.to_batches(columns=wanted, batch_size=batch_rows):
        tables.append(_parquet_batch(batch, rows, path.name))
        rows += batch.num_rows
    if not rows:
        raise DataFormatError(f"{path.name}: no data rows")
    frame = pa.concat_tables(tables).unify_dictionaries().to_pandas()
    del tables
    for name in ("user_id", "item_id"):
        frame[name] = frame[name].cat.reorder_categories(frame[name].cat.categories.sort_values())
    frame.index = pd.RangeIndex(1, rows + 1)  # rows numbered from 1, as the checks' notes name them
    interactions, scale, notes = check_ratings(frame, path.name, None, checks)
    items, users = _empty(_ITEM_DTYPES), _empty(_USER_DTYPES)
    return RatingData(f"Ratings Parquet ({path.name})", interactions.reset_index(drop=True), items, users, scale,
                      notes=tuple(notes))


def load_items_csv(path: Path) -> pd.DataFrame:
    """Item metadata: header ``item_id,title[,genres]`` (or ``categories``), several joined by "|"."""
    frame = _read_delimited(path, _ITEMS_CSV)
    _refuse_repeated_ids(frame, "item_id", path)
    genres = frame["genres"].fillna("") if "genres" in frame else pd.Series("", index=frame.index)
    return _items(frame.assign(title=frame["title"].fillna("") if "title" in frame else ""), genres)


def load_users_csv(path: Path) -> pd.DataFrame:
    """User features: a header with ``user_id`` and any feature columns. ``age`` (years) is bucketed into
    age groups; every other column is a category (its values are labels, numbers included). An empty
    field is unknown."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    header = tuple(_line_fields(path, 1, _USERS_CSV))
    if "user_id" not in header or len(set(header)) != len(header):
        raise _fail(path, 1, f"expected a header with user_id and distinct feature names, found {','.join(header)!r}")
    frame = _read_delimited(path, replace(_USERS_CSV, columns=header, headers=(header,)))
    _refuse_repeated_ids(frame, "user_id", path)
    if "age" in frame:
        age = pd.to_numeric(frame["age"], errors="coerce")
        if (age.isna() & frame["age"].notna()).any():
            line = int((age.isna() & frame["age"].notna()).idxmax())
            raise _fail(path, line, f"age {frame.at[line, 'age']!r} is not a number")
        frame["age"] = age.astype("float64")
    else:
        frame.insert(1, "age", np.nan)
    categories = [column for column in frame if column not in ("user_id", "age")]
    return frame.fillna(dict.fromkeys(categories, "")).reset_index(drop=True)


def _refuse_repeated_ids(frame: pd.DataFrame, column: str, path: Path) -> None:
    repeated = frame[column].duplicated()
    if repeated.any():
        line = int(repeated.idxmax())
        first = int(frame.index[frame[column] == frame.at[line, column]][0])
        raise _fail(path, line, f"{column} {frame.at[line, column]!r} again (first at line {first})")


def load_sessions_csv(path: Path) -> SessionData:
    """A CSV with header ``session_id,item_id,timestamp`` (Unix seconds or ISO-8601; more columns are
    ignored)."""
    clicks, notes = _session_data(path, _read_delimited(path, _SESSIONS_CSV))
    return SessionData(f"Sessions CSV ({path.name})", clicks, notes=tuple(notes))


def load_diginetica(path: Path) -> SessionData:
    """DIGINETICA's ``train-item-views.csv`` (the file, or a folder holding it); user ids are ignored."""
    file = path / "train-item-views.csv" if path.is_dir() else path
    frame = _read_delimited(file, _DIGINETICA)
    dates = pd.to_datetime(frame["eventdate"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        line = int(dates.isna().idxmax())
        raise _fail(file, line, f"eventdate {frame.at[line, 'eventdate']!r} is not a date YYYY-MM-DD")
    # timeframe counts milliseconds since the session started: it orders the views within a session.
    frame["timestamp"] = (dates - pd.Timestamp(0)) / pd.Timedelta(seconds=1) + frame["timeframe"] / 1000
    clicks, notes = _session_data(file, frame)
    return SessionData(f"DIGINETICA ({file.name})", clicks, notes=tuple(notes))


def load_gru4rec(path_or_prefix: str | Path) -> SessionData:
    """GRU4Rec's tab-separated ``SessionId, ItemId, Time`` files: the prepared split
    ``{prefix}_train_full.txt`` + ``{prefix}_test.txt`` when both exist, else the single file given."""
    prefix = str(path_or_prefix)
    train, test = Path(f"{prefix}_train_full.txt"), Path(f"{prefix}_test.txt")
    name = f"GRU4Rec sessions ({Path(prefix).name})"
    if train.is_file() and test.is_file():
        (train_clicks, notes), (test_clicks, test_notes) = (_session_data(file, _read_delimited(file, _GRU4REC))
                                                            for file in (train, test))
        return SessionData(name, train_clicks, test_clicks, tuple(notes + test_notes))
    if Path(prefix).is_file():
        clicks, notes = _session_data(Path(prefix), _read_delimited(Path(prefix), _GRU4REC))
        return SessionData(name, clicks, notes=tuple(notes))
    raise FileNotFoundError(f"neither a prepared split {train} + {test} nor a file {prefix}")


def sessions_from_ratings(data: RatingData) -> SessionData:
    """One sequence per user (session id = user id) of all their ratings, including a predefined test
    split, ordered by time; ties keep file order."""
    clicks = data.all_interactions().rename(columns={"user_id": "session_id"})
    return SessionData(name=f"{data.name} sequences", clicks=_clicks(clicks))
