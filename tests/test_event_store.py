"""The event log behaves the same on SQLite and on a real PostgreSQL server: appends are committed and
ordered, reads select a batch's users after a cut-off, forgetting deletes and leaves a tombstone, and
a committed append survives its process being killed."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from events.store import Event, EventStore, EventStoreError, Forgotten, Interaction, describe


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.db"
    return request.getfixturevalue("postgres_url")


def _events(user: str, items: list[str], start: float = 1000.0) -> list[Event]:
    return [Event(user, item, "rating" if position % 2 else "view", 4.0 if position % 2 else None,
                  start + position) for position, item in enumerate(items)]


def _all(store):
    return [event for batch in store.read(up_to_id=store.last_id()) for event in batch]


def test_appended_events_are_read_back_in_order_and_per_user_item_after_a_cutoff(store_url):
    store = EventStore(store_url)
    assert store.last_id() == 0 and store.interactions(["u1"]) == {}
    store.append(_events("u1", ["i1", "i2"]))
    cutoff = store.last_id()
    store.append(_events("u2", ["i3"]) + _events("u1", ["i4", "i5"], start=2000.0))

    assert store.last_id() == cutoff + 3
    stored = _all(store)
    assert [(event.user_id, event.item_id, event.type, event.value) for event in stored] == [
        ("u1", "i1", "view", None), ("u1", "i2", "rating", 4.0), ("u2", "i3", "view", None),
        ("u1", "i4", "view", None), ("u1", "i5", "rating", 4.0)]
    assert [event.id for event in stored] == [1, 2, 3, 4, 5] and stored[3].timestamp == 2000.0
    assert [event.item_id for batch in store.read(up_to_id=cutoff + 1, batch=2) for event in batch] == \
        ["i1", "i2", "i3"]
    later = store.interactions(["u1", "u2", "u3"], after_id=cutoff)
    assert later == {"u1": [Interaction("i4", 4, None), Interaction("i5", 5, 4.0)], "u2": [Interaction("i3", 3, None)]}
    assert store.counts_since(1500.0) == [("i4", 1), ("i5", 1)]


def test_interactions_keep_each_item_once_at_its_latest_event_with_its_latest_rating(store_url):
    store = EventStore(store_url)
    store.append([Event("u1", "i1", "rating", 2.0, 1.0), Event("u1", "i2", "view", None, 2.0),
                  Event("u1", "i1", "rating", 5.0, 3.0), Event("u1", "i1", "view", None, 4.0),
                  Event("u1", "i3", "purchase", None, 5.0), Event("u1", "i2", "click", None, 6.0)])
    assert store.interactions(["u1"])["u1"] == [Interaction("i1", 4, 5.0), Interaction("i3", 5, None),
                                                Interaction("i2", 6, None)]


def test_forgetting_a_user_deletes_their_events_and_leaves_a_tombstone(store_url):
    store = EventStore(store_url)
    store.append(_events("u1", ["i1", "i2"]) + _events("u2", ["i3"]))
    store.append(_events("u1", ["i4"]))
    assert store.forget("u1") == 3 and store.forget("nobody") == 0
    assert store.interactions(["u1", "u2"]).keys() == {"u2"}
    tombstone = store.forgotten(["u1", "u2"])
    assert tombstone == {"u1": Forgotten("u1", first_id=1, last_id=4, deleted_after=4)}
    # A version trained on the log up to id 0 or after the deletion never saw them; one cut at 2 did.
    assert [tombstone["u1"].taints(cutoff) for cutoff in (0, 1, 2, 3, 4)] == [False, True, True, True, False]
    store.append(_events("u1", ["i5"]))  # the user comes back: new ids, never reused
    assert store.interactions(["u1"])["u1"] == [Interaction("i5", 5, None)]


def test_bad_urls_are_refused_with_a_reason(tmp_path):
    with pytest.raises(EventStoreError, match="must start with sqlite:/// or postgresql://"):
        EventStore("mysql://x")
    with pytest.raises(EventStoreError, match="three slashes"):
        EventStore("sqlite://events.db")
    unreachable = EventStore("postgresql://u:secret@127.0.0.1:9/x", busy_timeout_s=2)  # connects on first use
    with pytest.raises(EventStoreError, match=r"cannot open the event store postgresql://u:\*\*\*@127.0.0.1:9/x"):
        unreachable.last_id()
    assert describe("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_a_committed_append_survives_kill_9(store_url, tmp_path):
    """The writer appends, says so, and is killed at once: the events are there afterwards."""
    script = textwrap.dedent(f"""
        import sys
        from events.store import Event, EventStore
        store = EventStore({store_url!r})
        store.append([Event("u9", f"i{{n}}", "view", None, 1.0 + n) for n in range(1000)])
        print("committed", flush=True)
        sys.stdin.read()  # wait to be killed
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert writer.stdout.readline().strip() == "committed"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    assert len(_all(EventStore(store_url))) == 1000
