"""GRU4Rec's session-parallel mini-batches and its popularity-based negative sampler (numpy only).

Session-parallel mini-batches (Hidasi et al. 2016, section 3.1.1): ``batch_size`` slots each play one
session from start to end, one event per step; the input of a slot is its current item and the target
its next item. When a slot's session ends, the next session (in start-time order) takes the slot and
that slot's hidden state is reset. When no sessions are left, finished slots are dropped and the
mini-batch shrinks until every session has been played.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParallelStep:
    inputs: np.ndarray  # (B,) item index each slot reads now
    targets: np.ndarray  # (B,) the item that follows it
    keep: np.ndarray  # (B,) rows of the previous step's hidden state that these slots continue
    reset: np.ndarray  # (B,) bool: the slot starts a new session, so its hidden state restarts at zero


def session_parallel_steps(items: np.ndarray, offsets: np.ndarray, batch_size: int) -> Iterator[ParallelStep]:
    """``items`` holds every session's item indices back to back, sessions in the order to play them
    (start time); session s is ``items[offsets[s]:offsets[s + 1]]`` and has at least two items."""
    n_sessions = len(offsets) - 1
    lengths = np.diff(offsets)
    if n_sessions and lengths.min() < 2:
        raise ValueError(f"sessions need at least 2 items; session {int(lengths.argmin())} has {lengths.min()}")
    slots = np.arange(min(batch_size, n_sessions))
    position = offsets[slots].copy()
    end = offsets[slots + 1].copy()
    next_session = len(slots)
    keep = np.arange(len(slots))
    reset = np.ones(len(slots), dtype=bool)
    while len(slots):
        yield ParallelStep(inputs=items[position], targets=items[position + 1], keep=keep, reset=reset)
        position += 1
        finished = np.flatnonzero(position + 1 >= end)
        refilled = finished[: max(0, min(len(finished), n_sessions - next_session))]
        new_sessions = np.arange(next_session, next_session + len(refilled))
        next_session += len(refilled)
        slots[refilled] = new_sessions
        position[refilled] = offsets[new_sessions]
        end[refilled] = offsets[new_sessions + 1]
        alive = np.ones(len(slots), dtype=bool)
        alive[finished[len(refilled):]] = False
        reset = np.zeros(len(slots), dtype=bool)
        reset[refilled] = True
        keep = np.flatnonzero(alive)
        slots, position, end, reset = slots[keep], position[keep], end[keep], reset[keep]


class PopularitySampler:
    """Draws item indices with probability proportional to ``counts ** alpha`` (GRU4Rec's
    ``sample_alpha``: 0 is uniform, 1 is popularity). Index 0 (padding) must have count 0."""

    def __init__(self, counts: np.ndarray, alpha: float, rng: np.random.Generator) -> None:
        if counts[0] != 0:
            raise ValueError("the padding index 0 must have count 0")
        weights = np.where(counts > 0, counts.astype(np.float64) ** alpha, 0.0)
        self.probabilities = weights / weights.sum()
        self._cdf = np.cumsum(self.probabilities)
        self._cdf[-1] = 1.0
        self._rng = rng

    def sample(self, n: int) -> np.ndarray:
        return np.searchsorted(self._cdf, self._rng.random(n), side="right").astype(np.int32)
