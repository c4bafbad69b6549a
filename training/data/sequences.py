"""Held-out next-item prediction for session models.

Every protocol reduces to one mechanism: sequences (sessions, or users' histories ordered by time)
and, per sequence, the position from which events are test targets. Each test event is predicted
from everything before it in its sequence (training part included); items never seen in training
are dropped first, since no model can score them. Protocols:

- ``sessions``: sessions ending after a cutoff are test sessions; every prefix predicts the next item
  (the NARM / SR-GNN protocol for Diginetica with ``test_days=7`` and ``min_item_support=5``).
- ``user-sequences``: a global time cutoff (``1 - test_fraction`` quantile of timestamps); each
  interaction after it is a test event predicted from that user's whole earlier history.
- a prepared split (``SessionData.test_clicks``, as GRU4Rec's ``_test`` files) is used as given.

Validation events come from applying the same protocol to the training part, so model selection never
looks at test events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from training.data.dataset import SessionData


@dataclass(frozen=True)
class SequenceProtocol:
    kind: Literal["sessions", "user-sequences"] = "sessions"
    test_days: float | None = None  # sessions ending in the last days are test; None: use test_fraction
    test_fraction: float = 0.1
    validation_fraction: float = 0.1
    min_item_support: int = 1  # items seen fewer times are removed before splitting
    max_history: int = 200  # most recent items a model reads per prediction
    max_validation_events: int = 3000  # a fixed random subset keeps per-epoch early stopping cheap


@dataclass(frozen=True)
class NextItemEvents:
    histories: np.ndarray  # (N, L) int32 item indices, right-padded with 0
    targets: np.ndarray  # (N,) int32

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class SequenceSet:
    """Training sequences, back to back in start-time order: sequence s is items[offsets[s]:offsets[s+1]]."""

    items: np.ndarray
    offsets: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class SequenceSplit:
    item_ids: tuple[str, ...]  # vocabulary: index r + 1 is item_ids[r]
    train: SequenceSet
    test: NextItemEvents
    counts: np.ndarray  # (n_items + 1,) training occurrences per index (0 for padding)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def _filter_support(clicks: pd.DataFrame, min_item_support: int) -> pd.DataFrame:
    if min_item_support > 1:
        counts = clicks["item_id"].map(clicks["item_id"].value_counts())
        clicks = clicks[counts >= min_item_support]
    lengths = clicks.groupby("session_id")["item_id"].transform("size")
    return clicks[lengths >= 2]


def _mark_test(clicks: pd.DataFrame, kind: str, fraction: float, days: float | None = None) -> np.ndarray:
    """Boolean per click: is it a test target? The cutoff is ``days`` before the end, else a quantile."""
    if kind == "user-sequences":
        return (clicks["timestamp"] > clicks["timestamp"].quantile(1.0 - fraction)).to_numpy()
    session_end = clicks.groupby("session_id")["timestamp"].transform("max")
    if days is not None:
        cutoff = clicks["timestamp"].max() - days * 86400.0
    else:
        cutoff = session_end.drop_duplicates().quantile(1.0 - fraction)
    return (session_end > cutoff).to_numpy()


def _sequences(clicks: pd.DataFrame, column: str = "item_index") -> list[np.ndarray]:
    """Per session, its ``column`` values in time order; sessions ordered by start time."""
    ordered = clicks.sort_values(["session_id", "timestamp"], kind="stable")
    starts = ordered.groupby("session_id", sort=False)["timestamp"].transform("min")
    ordered = ordered.assign(_start=starts).sort_values(["_start", "session_id", "timestamp"], kind="stable")
    boundaries = np.flatnonzero(ordered["session_id"].to_numpy()[1:] != ordered["session_id"].to_numpy()[:-1]) + 1
    return np.split(ordered[column].to_numpy(np.int32), boundaries) if len(ordered) else []


def _events(sequences: list[np.ndarray], first_test: list[int], max_history: int) -> NextItemEvents:
    histories, targets = [], []
    for sequence, start in zip(sequences, first_test, strict=True):
        for position in range(max(start, 1), len(sequence)):
            histories.append(sequence[max(0, position - max_history):position])
            targets.append(sequence[position])
    padded = np.zeros((len(histories), max((len(h) for h in histories), default=1)), dtype=np.int32)
    for row, history in enumerate(histories):
        padded[row, : len(history)] = history
    return NextItemEvents(histories=padded, targets=np.asarray(targets, dtype=np.int32))


def _build(train_clicks: pd.DataFrame, test_clicks: pd.DataFrame, protocol: SequenceProtocol,
           item_ids: tuple[str, ...]) -> SequenceSplit:
    """``test_clicks`` holds whole sequences whose clicks flagged ``is_test`` are targets."""
    index = pd.Series(np.arange(1, len(item_ids) + 1, dtype=np.int32), index=list(item_ids))
    train_clicks = train_clicks.assign(item_index=train_clicks["item_id"].map(index))
    train_sequences = [s for s in _sequences(train_clicks) if len(s) >= 2]
    offsets = np.zeros(len(train_sequences) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in train_sequences])
    items = np.concatenate(train_sequences) if train_sequences else np.zeros(0, dtype=np.int32)

    known = test_clicks[test_clicks["item_id"].isin(index.index)]
    known = known.assign(item_index=known["item_id"].map(index))
    if protocol.kind == "sessions":
        known = known[known.groupby("session_id")["item_id"].transform("size") >= 2]
    test_sequences, first_test = [], []
    for sequence, flags in zip(_sequences(known), _sequences(known, "is_test"), strict=True):
        if flags.any():
            test_sequences.append(sequence)
            first_test.append(int(np.argmax(flags)))
    counts = np.bincount(items, minlength=len(item_ids) + 1).astype(np.float32)
    return SequenceSplit(item_ids=item_ids, train=SequenceSet(items=items, offsets=offsets),
                         test=_events(test_sequences, first_test, protocol.max_history), counts=counts)


def _separate(clicks: pd.DataFrame, is_test: np.ndarray, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training clicks, test sequences with their ``is_test`` flags)."""
    clicks = clicks.assign(is_test=is_test)
    train = clicks[~clicks["is_test"]]
    return train, (clicks if kind == "user-sequences" else clicks[clicks["is_test"]])


def split_sequences(data: SessionData, protocol: SequenceProtocol) -> tuple[SequenceSplit, SequenceSplit]:
    """(the held-out split of ``data`` under ``protocol``, a validation split carved from its training
    part with ``validation_fraction``). Prepared splits are used as given. Both use the vocabulary of
    the whole training part, so a model selected on validation can be evaluated on test."""
    clicks = _filter_support(data.clicks, protocol.min_item_support)
    if data.test_clicks is not None:
        train, test = clicks, data.test_clicks.assign(is_test=True)
    else:
        is_test = _mark_test(clicks, protocol.kind, protocol.test_fraction, protocol.test_days)
        train, test = _separate(clicks, is_test, protocol.kind)
    is_validation = _mark_test(train, protocol.kind, protocol.validation_fraction)
    validation_train, validation = _separate(train, is_validation, protocol.kind)
    item_ids = tuple(sorted(train["item_id"].unique()))
    validation_split = _build(validation_train, validation, protocol, item_ids)
    events = validation_split.test
    if len(events) > protocol.max_validation_events:
        keep = np.sort(np.random.default_rng(0).choice(len(events), protocol.max_validation_events, replace=False))
        validation_split = replace(validation_split, test=NextItemEvents(events.histories[keep], events.targets[keep]))
    return _build(train, test, protocol, item_ids), validation_split
