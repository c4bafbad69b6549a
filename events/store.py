"""The event log: what users did after (and before) a model version was trained, stored durably.

One schema and one code path for two engines, chosen by URL: SQLite (``sqlite:///path/events.db``, the
embedded default, in WAL mode) and PostgreSQL (``postgresql://user:pass@host/db``, through psycopg 3),
for several servers sharing one truth. Both are DB-API drivers; the queries differ only in their
placeholder and the id column's DDL (``_Dialect``).

Ids grow with every append and are never reused (SQLite ``AUTOINCREMENT``, PostgreSQL identity): a
trained version records the last id it learned from (its cut-off), and serving applies only later
events on top of it. ``forget`` deletes a user's events and leaves a tombstone (``Forgotten``), so
that a server knows which versions learned from what was deleted.

The server writes (``append`` returns once the transaction is committed: with SQLite's
``synchronous=FULL`` that survives a power cut, with ``normal`` a killed process); the model
process reads a batch's users at a time, one row per (user, item) pair (``interactions``), so a user
with thousands of events costs no more than their distinct items; the trainer reads everything up to
a cut-off (``read``). Each thread gets its own connection. This package imports neither ``app`` nor
``training``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

Sync = Literal["full", "normal"]


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    type: str
    value: float | None  # the rating of a "rating" event; None for the others
    timestamp: float  # Unix seconds: when it happened (the client's time) or when it was received


@dataclass(frozen=True)
class StoredEvent(Event):
    id: int


@dataclass(frozen=True)
class Interaction:
    """What serving applies of a user's events on one item after a cut-off: the latest of them (by id) and
    the latest rating among them, as the trainer keeps one row per (user, item) pair."""

    item_id: str
    last_id: int
    rating: float | None  # the value of the latest rating event, None if the user did not rate it


@dataclass(frozen=True)
class Forgotten:
    """A user whose events were deleted: ids ``first_id``..``last_id`` are gone; versions whose cut-off
    lies in that range (and before ``deleted_after``, the log's last id when they were deleted) learned
    from some of them."""

    user_id: str
    first_id: int
    last_id: int
    deleted_after: int

    def taints(self, cutoff: int) -> bool:
        """Whether a version trained on the log up to ``cutoff`` learned from the deleted events."""
        return self.first_id <= cutoff < self.deleted_after


class EventStoreError(RuntimeError):
    """The store cannot be opened, read or written; the message says why (never a password)."""


@dataclass(frozen=True)
class _Dialect:
    name: str
    id_column: str
    placeholder: str
    greatest: str  # the larger of two values

    def sql(self, query: str) -> str:
        return query.replace("?", self.placeholder)


_SQLITE = _Dialect("sqlite", "id INTEGER PRIMARY KEY AUTOINCREMENT", "?", "max")
_POSTGRESQL = _Dialect("postgresql", "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "%s", "greatest")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        {id_column},
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        type TEXT NOT NULL,
        value DOUBLE PRECISION,
        timestamp DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, id)",
    # One row per (user, item): the latest event's id and the latest rating, kept with every append, so
    # that serving reads a user's distinct items without grouping their events.
    """CREATE TABLE IF NOT EXISTS user_items (
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        last_id BIGINT NOT NULL,
        rating DOUBLE PRECISION,
        PRIMARY KEY (user_id, item_id)
    )""",
    """CREATE TABLE IF NOT EXISTS forgotten (
        user_id TEXT PRIMARY KEY,
        first_id BIGINT NOT NULL,
        last_id BIGINT NOT NULL,
        deleted_after BIGINT NOT NULL
    )""",
)
_COLUMNS = "user_id, item_id, type, value, timestamp"
# The events appended between ids ? (excluded) and ? folded into user_items. Another writer's events
# that commit meanwhile may be folded twice, which changes nothing (the larger id, the newer rating).
_FOLD = """INSERT INTO user_items (user_id, item_id, last_id, rating)
SELECT user_id, item_id, last_id, (SELECT value FROM events AS rated WHERE rated.id = rating_id) FROM (
    SELECT user_id, item_id, max(id) AS last_id, max(CASE WHEN type = 'rating' THEN id END) AS rating_id
    FROM events WHERE id > ? AND id <= ? GROUP BY user_id, item_id) AS latest
WHERE true
ON CONFLICT (user_id, item_id) DO UPDATE SET last_id = {greatest}(user_items.last_id, excluded.last_id),
    rating = coalesce(excluded.rating, user_items.rating)"""


def describe(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class EventStore:
    def __init__(self, url: str, sync: Sync = "full", busy_timeout_s: float = 10.0) -> None:
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            self.dialect = _SQLITE
            path = url.removeprefix("sqlite://")
            if not path.startswith("/"):
                raise EventStoreError(f"{url!r}: a SQLite URL is sqlite:///path (three slashes, then the path)")
            self.path: Path | None = Path(path[1:] if path.startswith("//") else path)
        elif scheme in ("postgresql", "postgres"):
            self.dialect, self.path = _POSTGRESQL, None
        else:
            raise EventStoreError(f"{describe(url)!r}: the event store URL must start with sqlite:/// or "
                                  f"postgresql://")
        self.url, self.sync, self.busy_timeout_s = url, sync, busy_timeout_s
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"EventStore({describe(self.url)!r})"

    # --- connections ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        try:
            if self.dialect is _SQLITE:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                             check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(f"PRAGMA synchronous={self.sync.upper()}")
                return connection
            import psycopg  # only where PostgreSQL is used

            return psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.busy_timeout_s),
                                   prepare_threshold=None)
        except Exception as error:  # sqlite3.Error, psycopg.Error, OSError: all say the same to a caller
            raise EventStoreError(f"cannot open the event store {describe(self.url)}: "
                                  f"{type(error).__name__}: {describe(str(error))}") from error

    def _connection(self) -> Any:
        """This thread's connection; the first one also creates the tables (so that a store whose database
        is down can be made, and is used once the database answers)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            with self._schema_lock:
                if not self._schema_ready:
                    try:
                        for statement in _SCHEMA:
                            connection.execute(statement.format(id_column=self.dialect.id_column))
                    except Exception as error:
                        connection.close()
                        raise EventStoreError(f"cannot create the tables of the event store {describe(self.url)}: "
                                              f"{type(error).__name__}: {describe(str(error))}") from error
                    self._schema_ready = True
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Close this thread's connection (others close with their threads' end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction, committed on leaving (rolled back on an error)."""
        cursor = None
        try:
            cursor = self._connection().cursor()
            cursor.execute("BEGIN IMMEDIATE" if self.dialect is _SQLITE else "BEGIN")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        except EventStoreError:
            raise
        except Exception as error:  # sqlite3.Error, psycopg.Error, OSError
            self.close()  # a broken connection is not reused
            raise EventStoreError(f"writing the event store {describe(self.url)} failed: "
                                  f"{type(error).__name__}: {describe(str(error))}") from error
        finally:
            if cursor is not None:
                try:
                    cursor.close()
                except Exception:  # the connection is gone already
                    pass

    def _query(self, query: str, parameters: Sequence = ()) -> list[tuple]:
        try:
            cursor = self._connection().cursor()
            try:
                cursor.execute(self.dialect.sql(query), parameters)
                return cursor.fetchall()
            finally:
                cursor.close()
        except EventStoreError:
            raise
        except Exception as error:
            self.close()
            raise EventStoreError(f"reading the event store {describe(self.url)} failed: "
                                  f"{type(error).__name__}: {describe(str(error))}") from error

    # --- writing ----------------------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> None:
        """Store ``events`` in one transaction; on return they are committed."""
        if not events:
            return
        rows = [(event.user_id, event.item_id, event.type, event.value, event.timestamp) for event in events]
        with self._transaction() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM events")
            before = cursor.fetchone()[0]
            cursor.executemany(self.dialect.sql(f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"), rows)
            cursor.execute("SELECT max(id) FROM events")
            after = cursor.fetchone()[0]
            # Bounded on both sides, so that the planner reads the new ids through the primary key.
            cursor.execute(self.dialect.sql(_FOLD.format(greatest=self.dialect.greatest)), (before, after))

    def forget(self, user_id: str) -> int:
        """Delete every event of ``user_id`` and record a tombstone; the number deleted."""
        sql = self.dialect.sql
        with self._transaction() as cursor:
            cursor.execute(sql("SELECT min(id), max(id), count(*) FROM events WHERE user_id = ?"), (user_id,))
            first_id, last_id, count = cursor.fetchone()
            if not count:
                return 0
            cursor.execute("SELECT coalesce(max(id), 0) FROM events")
            deleted_after = cursor.fetchone()[0]
            cursor.execute(sql("DELETE FROM events WHERE user_id = ?"), (user_id,))
            cursor.execute(sql("DELETE FROM user_items WHERE user_id = ?"), (user_id,))
            cursor.execute(sql("DELETE FROM forgotten WHERE user_id = ?"), (user_id,))
            cursor.execute(sql("INSERT INTO forgotten (user_id, first_id, last_id, deleted_after) VALUES (?, ?, ?, ?)"),
                           (user_id, first_id, last_id, deleted_after))
        return int(count)

    # --- reading ----------------------------------------------------------------------------------

    def last_id(self) -> int:
        """The id of the newest event (0 for an empty log)."""
        return int(self._query("SELECT coalesce(max(id), 0) FROM events")[0][0])

    def interactions(self, user_ids: Sequence[str], after_id: int = 0) -> dict[str, list[Interaction]]:
        """Per user of ``user_ids`` with events newer than ``after_id``: one ``Interaction`` per item whose
        latest event is newer, in the order of those events."""
        found: dict[str, list[Interaction]] = {}
        for chunk in _chunks(user_ids):
            marks = ", ".join("?" * len(chunk))
            rows = self._query(f"SELECT user_id, item_id, last_id, rating FROM user_items WHERE user_id IN ({marks}) "
                               "AND last_id > ? ORDER BY last_id", (*chunk, after_id))
            for user_id, item_id, last_id, rating in rows:
                found.setdefault(user_id, []).append(Interaction(item_id, int(last_id), rating))
        return found

    def forgotten(self, user_ids: Sequence[str]) -> dict[str, Forgotten]:
        found = {}
        for chunk in _chunks(user_ids):
            marks = ", ".join("?" * len(chunk))
            rows = self._query("SELECT user_id, first_id, last_id, deleted_after FROM forgotten "
                               f"WHERE user_id IN ({marks})", chunk)
            found.update({row[0]: Forgotten(*row) for row in rows})
        return found

    def read(self, up_to_id: int, batch: int = 100_000) -> Iterator[list[StoredEvent]]:
        """Every event with an id up to ``up_to_id``, oldest first, in lists of at most ``batch``."""
        after = 0
        while True:
            rows = self._query(f"SELECT {_COLUMNS}, id FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                               (after, up_to_id, batch))
            if not rows:
                return
            events = [StoredEvent(*row) for row in rows]
            yield events
            after = events[-1].id

    def counts_since(self, timestamp: float, after_id: int = 0, limit: int = 1000) -> list[tuple[str, int]]:
        """(item id, events) of the items with the most events since ``timestamp`` among the events after
        ``after_id`` (which bounds the scan, by primary key), most first."""
        rows = self._query("SELECT item_id, count(*) AS n FROM events WHERE id > ? AND timestamp >= ? "
                           "GROUP BY item_id ORDER BY n DESC, item_id LIMIT ?", (after_id, timestamp, limit))
        return [(row[0], int(row[1])) for row in rows]


def _chunks(user_ids: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """The distinct ids, in slices that keep every query's parameter count small."""
    distinct = list(dict.fromkeys(user_ids))
    for start in range(0, len(distinct), size):
        yield distinct[start:start + size]
