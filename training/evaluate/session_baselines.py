"""Non-neural next-item baselines with the history-scorer contract of ``training.evaluate.metrics``: right-padded
histories (B, L) of item indices in (oldest first, 0 = padding), scores of every item index out.

Each is built from the training sequences (``SequenceSet``: sequences back to back in start-time order)
and ``n_items``. Transitions and co-occurrence are dense item x item matrices (fine up to ~20k items);
the session-kNN scorers keep sparse indexes (item -> sessions, session -> items) and are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.data.sequences import SequenceSet
from training.evaluate.baselines import SparseRows, binary_gram
from training.evaluate.metrics import HistoryScorer

# Cells (query rows x training sessions, plus the index entries they touch) handled at once by the
# session-kNN scorers: bounds their memory to a few hundred MB whatever the batch size.
_CHUNK_CELLS = 1 << 22
# Below this many cells (sessions x items) the session-kNN index is also kept as a dense matrix.
_DENSE_CELLS = 1 << 22
# V-SKNN's score decay looks this many clicks back at most (4^-500 is still a normal float64).
_DECAY_HORIZON = 500

# similarity(shared, query size, session size) of two item sets; ``shared`` is the size of the intersection.
_SET_SIMILARITIES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "cosine": lambda shared, a, b: shared / np.sqrt(a * b),
    "jaccard": lambda shared, a, b: shared / (a + b - shared),
}
# weight(steps back from the most recent click, history length) of a current-session item in V-SKNN.
_POSITION_WEIGHTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "div": lambda steps, length: (length - steps + 1) / length,  # i/L for the i-th of L clicks: session-rec's default
    "inverse": lambda steps, length: 1.0 / steps,
    "same": lambda steps, length: np.ones_like(steps),
}
# decay(steps back to the most recent current-session item that a neighbour holds) of its V-SKNN votes.
_SCORE_DECAYS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "div": lambda steps: 1.0 / steps,
    "same": lambda steps: np.ones_like(steps),
}


def _choice(table: dict, name: str, parameter: str):
    if name not in table:
        raise ValueError(f"{parameter}={name!r} is not one of {sorted(table)}")
    return table[name]


def _sequence_of_events(train: SequenceSet) -> np.ndarray:
    return np.repeat(np.arange(len(train.offsets) - 1), np.diff(train.offsets))


def last_items(histories: np.ndarray) -> np.ndarray:
    """The most recent item of each right-padded history (0 for an empty one)."""
    lengths = (histories > 0).sum(axis=1)
    return np.where(lengths > 0, histories[np.arange(len(histories)), np.maximum(lengths - 1, 0)], 0)


def _last_item_scorer(matrix: np.ndarray) -> HistoryScorer:
    """score(history, ·) = matrix[last item]; row 0 (padding) must be zero."""

    def score(histories: np.ndarray) -> np.ndarray:
        return matrix[last_items(np.asarray(histories))]

    return score


def transition_matrix(train: SequenceSet, n_items: int) -> np.ndarray:
    """(n_items + 1, n_items + 1) float32: row i is n(i→j) / n(i→·), counted over consecutive clicks within
    training sequences, repeats (i→i) included; row and column 0 (padding) are zero."""
    items = np.asarray(train.items, np.int64)
    within = np.ones(max(len(items) - 1, 0), dtype=bool)
    within[np.asarray(train.offsets[1:-1], np.int64) - 1] = False  # pairs across two sequences
    pairs = (items[:-1] * (n_items + 1) + items[1:])[within]
    counts = np.bincount(pairs, minlength=(n_items + 1) ** 2).reshape(n_items + 1, n_items + 1)
    return (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).astype(np.float32)


def transition_scorer(train: SequenceSet, n_items: int) -> HistoryScorer:
    """First-order transitions (a Markov chain on the last item, the "MC" baseline of Ludewig & Jannach
    2018): score(j) = n(i→j) / n(i→·) for the last item i (``transition_matrix``). Normalising a row keeps
    its ranking of raw counts and makes scores compare across histories. Items never seen right after i
    score 0, a tie that counts against them."""
    return _last_item_scorer(transition_matrix(train, n_items))


def cooccurrence_scorer(train: SequenceSet, n_items: int, repeats: bool = True) -> HistoryScorer:
    """Co-occurrence with the last item i: score(j) = number of training sequences that hold both i and j,
    in any order and at any distance; a sequence counts a pair once however often it repeats (the
    association rules "AR" of Ludewig & Jannach 2018 count every pair of clicks instead).

    ``repeats``: score(i) for the last item itself counts the sequences where i occurs at least twice
    (a pair of two clicks on i); False: an item never co-occurs with itself, score(i) = 0."""
    sequence, items = _sequence_of_events(train), np.asarray(train.items, np.int64)
    together = binary_gram(SparseRows.from_pairs(sequence, items, len(train.offsets) - 1), n_items + 1)
    distinct, clicks = np.unique(sequence * (n_items + 1) + items, return_counts=True)
    repeated = np.bincount(distinct[clicks >= 2] % (n_items + 1), minlength=n_items + 1)
    together[np.diag_indices_from(together)] = repeated if repeats else 0
    return _last_item_scorer(together)


@dataclass(frozen=True)
class _SessionIndex:
    """Training sessions for neighbour search; a higher session index is a more recent session."""

    session_items: SparseRows  # session -> its distinct items
    item_sessions: SparseRows  # item -> the ``sample_size`` most recent sessions holding it
    sample_size: int
    # (n_sessions, n_items + 1) 0/1 matrix when it has at most _DENSE_CELLS cells: few long sequences
    # (ML-100K users) overlap so much that BLAS products beat the sparse scatters ~10x.
    incidence: np.ndarray | None

    @classmethod
    def build(cls, train: SequenceSet, n_items: int, sample_size: int) -> _SessionIndex:
        sequence, items = _sequence_of_events(train), np.asarray(train.items, np.int64)
        session_items = SparseRows.from_pairs(sequence, items, len(train.offsets) - 1)
        # The sample_size most recent sessions sharing any item with a query are each among the
        # sample_size most recent of every item they share, so the cut loses no candidate nor overlap.
        item_sessions = SparseRows.from_pairs(items, sequence, n_items + 1).keep_last(sample_size)
        n_sessions = len(train.offsets) - 1
        incidence = None
        if n_sessions * (n_items + 1) <= _DENSE_CELLS:  # float64: V-SKNN sums powers down to 4^-500 with it
            incidence = session_items.dense(np.arange(n_sessions), n_items + 1).astype(np.float64)
        return cls(session_items, item_sessions, sample_size, incidence)

    @property
    def n_sessions(self) -> int:
        return len(self.session_items.indptr) - 1

    @property
    def n_columns(self) -> int:
        return len(self.item_sessions.indptr) - 1  # n_items + 1

    def overlaps(self, query: np.ndarray) -> np.ndarray:
        """(B, n_sessions) sums of the ``query`` item weights (B, n_items + 1) that each session holds; the
        sparse form leaves out sessions beyond an item's ``sample_size`` most recent (``neighbours`` does too)."""
        if self.incidence is not None:
            return query @ self.incidence.T
        rows, items = np.nonzero(query)
        return self.item_sessions.scatter(items, rows, query[rows, items], (len(query), self.n_sessions))

    def votes(self, owners: np.ndarray, sessions: np.ndarray, weights: np.ndarray, n_rows: int) -> np.ndarray:
        """(n_rows, n_items + 1): each session's items, times its weight, summed into its owner's row."""
        if self.incidence is not None:
            by_session = np.zeros((n_rows, self.n_sessions))
            by_session[owners, sessions] = weights  # (owner, session) pairs are distinct
            return by_session @ self.incidence
        return self.session_items.scatter(sessions, owners, weights, (n_rows, self.n_columns))

    def chunks(self, query: np.ndarray, k: int) -> list[slice]:
        """Consecutive query rows in groups of about ``_CHUNK_CELLS`` cells of work each."""
        votes = k * self.session_items.indices.size / max(self.n_sessions, 1)
        costs = self.n_sessions + votes + (query > 0) @ self.item_sessions.lengths
        bounds, total = [0], 0.0
        for row, cost in enumerate(costs):
            if total + cost > _CHUNK_CELLS and row > bounds[-1]:
                bounds.append(row)
                total = 0.0
            total += cost
        bounds.append(len(costs))
        return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]

    def neighbours(self, query: np.ndarray, similarity: Callable, k: int) -> tuple[np.ndarray, ...]:
        """(query row, session, similarity) of each row's ``k`` most similar sessions among the
        ``sample_size`` most recent that share an item with it; ties go to the more recent session.
        ``query``: (B, n_items + 1) item weights; ``similarity(weighted overlap, query size, session size)``."""
        overlap = self.overlaps(query)
        owners, sessions = np.nonzero(overlap)  # row by row, oldest session first
        from_latest = np.cumsum(np.bincount(owners, minlength=len(query)))[owners] - np.arange(len(owners))
        owners, sessions = owners[from_latest <= self.sample_size], sessions[from_latest <= self.sample_size]
        query_sizes = np.count_nonzero(query, axis=1)[owners]
        similarities = similarity(overlap[owners, sessions], query_sizes, self.session_items.lengths[sessions])
        # Rounded, so that the order of float summation (dense or sparse index) cannot split exact ties.
        order = np.lexsort((-sessions, -np.round(similarities, 9), owners))
        owners, sessions, similarities = owners[order], sessions[order], similarities[order]
        kept = np.arange(len(owners)) - np.searchsorted(owners, owners) < k
        return owners[kept], sessions[kept], similarities[kept]


def _last_positions(histories: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """((B, n_items + 1) 1-based position of each item's latest click in its row, 0 if absent; (B,) lengths)."""
    histories = np.asarray(histories, np.int64)
    batch, width = histories.shape
    positions = np.zeros((batch, n_items + 1))
    rows = np.repeat(np.arange(batch), width)
    np.maximum.at(positions, (rows, histories.ravel()), np.tile(np.arange(1.0, width + 1), batch))
    positions[:, 0] = 0.0
    return positions, (histories > 0).sum(axis=1)


def sknn_scorer(train: SequenceSet, n_items: int, k: int = 100, sample_size: int = 500,
                similarity: str = "cosine") -> HistoryScorer:
    """Session-based kNN (SKNN; Jannach & Ludewig 2017, "When recurrent neural networks meet the
    neighborhood for session-based recommendation"; evaluated in Ludewig & Jannach 2018). The whole
    history, as a set of items, is compared with the ``sample_size`` most recent training sessions that
    share an item with it (recency = start-time order; session-rec uses a session's last click, which
    orders sessions almost alike); score(j) = sum of the similarities of the ``k`` most similar of them
    that hold j. Items of the history are scored too, as in session-rec.

    ``similarity``: "cosine" |a∩b| / sqrt(|a||b|) or "jaccard" |a∩b| / |a∪b|, on distinct items.
    (session-rec's cosine computes |a∩b|·sqrt(|a|)/sqrt(|b|) with a the history; it differs from the
    true cosine by a factor per history, so it ranks neighbours and items alike.)"""
    measure = _choice(_SET_SIMILARITIES, similarity, "similarity")
    index = _SessionIndex.build(train, n_items, sample_size)

    def score(histories: np.ndarray) -> np.ndarray:
        query = (_last_positions(histories, n_items)[0] > 0).astype(np.float64)  # (B, n_items + 1)
        scores = np.zeros(query.shape, dtype=np.float32)
        for rows in index.chunks(query, k):
            owners, sessions, similarities = index.neighbours(query[rows], measure, k)
            scores[rows] = index.votes(owners, sessions, similarities, len(query[rows]))
        return scores

    return score


def vsknn_scorer(train: SequenceSet, n_items: int, k: int = 100, sample_size: int = 500, weighting: str = "div",
                 score_decay: str = "div", idf_weight: float = 0.0) -> HistoryScorer:
    """Vector multiplication session kNN (V-SKNN; Ludewig & Jannach 2018, "Evaluation of session-based
    recommendation algorithms"), with the defaults of session-rec's ``VMContextKNN``. The history is a
    vector of position weights (more recent clicks weigh more; a repeated item takes its latest click);
    its similarity to a training session is the dot product with that session's binary item vector (no
    cosine normalisation; session-rec divides by the number of distinct history items, a factor per
    history that changes no ranking). Candidates and the choice of the ``k`` nearest are as in
    ``sknn_scorer``; score(j) = sum over neighbours holding j of similarity x decay x (1 + idf_weight·idf(j)).

    ``weighting``: "div" — the i-th of L clicks weighs i/L (session-rec's default), "inverse" — 1/p for
    the p-th most recent, "same" — 1. ``score_decay``: "div" — a neighbour's votes are divided by p, the
    steps back to the most recent history item it holds (session-rec's ``weighting_score``); "same" — no
    decay. ``idf_weight``: 0 turns IDF off; idf(j) = log(training sessions / sessions holding j)."""
    weigh = _choice(_POSITION_WEIGHTS, weighting, "weighting")
    decay = _choice(_SCORE_DECAYS, score_decay, "score_decay")
    index = _SessionIndex.build(train, n_items, sample_size)
    holding = np.bincount(index.session_items.indices, minlength=n_items + 1)
    idf = np.log(index.n_sessions / np.maximum(holding, 1)) * (holding > 0)

    def dot(shared: np.ndarray, query_sizes: np.ndarray, session_sizes: np.ndarray) -> np.ndarray:
        return shared

    def score(histories: np.ndarray) -> np.ndarray:
        positions, lengths = _last_positions(histories, n_items)  # (B, n_items + 1), (B,)
        steps = lengths[:, np.newaxis] - positions + 1  # 1 = the most recent click
        query = np.where(positions > 0, weigh(steps, np.maximum(lengths, 1)[:, np.newaxis]), 0.0)
        # The steps back to the most recent item a session shares, s, from one more overlap product:
        # distinct items have distinct steps, so Σ 4^-step over shared items lies in [4^-s, 4^-s·4/3),
        # whose binary exponent is 1 - 2s. Items beyond _DECAY_HORIZON steps (4^-step underflows) are left
        # out, and a neighbour sharing only those gets the decay of _DECAY_HORIZON steps.
        recent = (positions > 0) & (steps <= _DECAY_HORIZON)
        recency = np.where(recent, 4.0 ** -np.minimum(steps, _DECAY_HORIZON), 0.0)
        scores = np.zeros(query.shape, dtype=np.float32)
        for rows in index.chunks(query, k):
            owners, sessions, similarities = index.neighbours(query[rows], dot, k)
            nearest = index.overlaps(recency[rows])[owners, sessions]
            shared_steps = np.where(nearest > 0, (1 - np.frexp(nearest)[1]) // 2, _DECAY_HORIZON)
            votes = similarities * decay(shared_steps.astype(np.float64))
            scores[rows] = index.votes(owners, sessions, votes, len(query[rows]))
        return scores * (1.0 + idf_weight * idf).astype(np.float32)

    return score
