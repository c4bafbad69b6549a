"""What the model process reads of the event log for one version (``events.store``): each batch's
users' events after the version's cut-off, who must be served as new because their trained state
learned from events they deleted, and the trending items of the popular fallback.

A batch costs two indexed queries. If the store cannot be read, requests are served from the
trained state alone and the failure is logged (at most once a minute): availability over freshness.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from events.store import EventStore, EventStoreError, Interaction

log = logging.getLogger("recsys.events")
_TRENDING_SCAN = 100_000  # the trending window counts at most this many latest events (a bounded scan)
_WARN_EVERY_S = 60.0


@dataclass(frozen=True)
class Feedback:
    events: dict[str, list[Interaction]] = field(default_factory=dict)  # user -> their items after the cut-off
    from_scratch: frozenset[str] = frozenset()  # users whose trained state learned from deleted events


class EventReader:
    def __init__(self, store: EventStore, cutoff: int, trending_window_s: float = 0.0,
                 trending_ttl_s: float = 5.0) -> None:
        self.store, self.cutoff = store, cutoff
        self.trending_window_s, self.trending_ttl_s = trending_window_s, trending_ttl_s
        self._trending: tuple[float, list[tuple[str, int]]] = (float("-inf"), [])
        self._lock = threading.Lock()
        self._warned = float("-inf")

    def _failed(self, what: str, error: EventStoreError) -> None:
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY_S:
            self._warned = now
            log.error("%s without the event log: %s", what, error)

    def feedback(self, users: Sequence[str]) -> Feedback:
        try:
            events = self.store.interactions(users, after_id=self.cutoff)
            forgotten = self.store.forgotten(users)
        except EventStoreError as error:
            self._failed("serving from the trained state", error)
            return Feedback()
        return Feedback(events, frozenset(user for user, tombstone in forgotten.items()
                                          if tombstone.taints(self.cutoff)))

    def trending(self) -> list[tuple[str, int]]:
        """(item id, events) within the trending window, most first; empty when the window is off.
        Recounted at most every ``trending_ttl_s``."""
        if self.trending_window_s <= 0:
            return []
        with self._lock:
            counted_at, items = self._trending
            if time.monotonic() - counted_at < self.trending_ttl_s:
                return items
            try:
                after = max(0, self.store.last_id() - _TRENDING_SCAN)
                items = self.store.counts_since(time.time() - self.trending_window_s, after_id=after)
            except EventStoreError as error:
                self._failed("popular items", error)
            self._trending = (time.monotonic(), items)
            return items
