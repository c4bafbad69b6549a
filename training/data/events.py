"""Logged events (``events.store``) as training data: ``recsys-train --events URL``.

Every event up to the log's last id when training starts (the cut-off, recorded in the manifest)
joins the rating data's interactions: a rating event with its value, any other event (view, click,
purchase) as an interaction without a rating (NaN), which the retrieval models and histories use and
the rating models skip. Each (user, item) pair is kept once, with its latest time and its latest
rating; the server applies only the events after the cut-off on top of the version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from events.store import EventStore, EventStoreError, describe
from training.data.dataset import INTERACTION_COLUMNS, DataFormatError, RatingData


@dataclass(frozen=True)
class EventCutoff:
    url: str  # without its password
    cutoff_id: int  # the last event id trained on: the server applies later events on top
    events: int

    def as_manifest(self) -> dict[str, object]:
        return {"url": self.url, "cutoff_id": self.cutoff_id, "events": self.events}


def with_events(ratings: RatingData, url: str) -> tuple[RatingData, EventCutoff]:
    """``ratings`` with the logged events up to the log's last id added to its (training) interactions."""
    try:
        store = EventStore(url)
        cutoff = store.last_id()
        rows = [(event.user_id, event.item_id, event.value if event.type == "rating" else np.nan, event.timestamp)
                for batch in store.read(cutoff) for event in batch]
    except EventStoreError as error:
        raise DataFormatError(f"--events: {error}") from error
    events = pd.DataFrame(rows, columns=INTERACTION_COLUMNS).astype({"rating": np.float64, "timestamp": np.float64})
    events["timestamp"] = events["timestamp"].astype(np.int64)
    combined = pd.concat([ratings.interactions.astype({"rating": np.float64}), events], ignore_index=True)
    # One row per pair: the latest time, and the latest rating (GroupBy.last skips NaN, so a view after
    # a rating keeps the rating).
    merged = (combined.sort_values("timestamp", kind="stable")
              .groupby(["user_id", "item_id"], sort=False, as_index=False)
              .agg(rating=("rating", "last"), timestamp=("timestamp", "max")))[INTERACTION_COLUMNS]
    rated = int(events["rating"].notna().sum())
    note = (f"{len(events):,} logged events up to id {cutoff} from {describe(url)} added ({rated:,} ratings, "
            f"{len(events) - rated:,} other interactions): {len(merged) - len(ratings.interactions):,} new "
            f"(user, item) pairs")
    cut = EventCutoff(describe(url), cutoff, len(events))
    return replace(ratings, interactions=merged, notes=(*ratings.notes, note)), cut
