"""Metric definitions and the evaluation loops that apply them to any scorer.

Retrieval (per user with test items; the user's training items are excluded from the ranking):
  recall@K = |top-K ∩ test items| / |test items|, averaged over users;
  ndcg@K   = sum over hits of 1 / log2(rank + 1), divided by the ideal over min(|test items|, K).
Next item (per test event): the target's rank r among all items, ties counted against the target
  ("conservative", as GRU4Rec's evaluation): recall@K = mean(r <= K), mrr@K = mean(1/r if r <= K else 0).
Ratings: RMSE and MAE of predictions clipped to the rating range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from models.selection import SeenItems, indices_of, rows_of, top_columns
from training.data.sequences import NextItemEvents

# Scores every item index (column 0 is padding) for a batch of users or histories: (B, n_items + 1).
UserScorer = Callable[[np.ndarray], np.ndarray]
HistoryScorer = Callable[[np.ndarray], np.ndarray]


def rmse(predictions: np.ndarray, ratings: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predictions, np.float64) - ratings) ** 2)))


def mae(predictions: np.ndarray, ratings: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(predictions, np.float64) - ratings)))


def rating_metrics(predictions: np.ndarray, ratings: np.ndarray, rating_range: tuple[float, float]) -> dict:
    clipped = np.clip(predictions, *rating_range)
    return {"rmse": rmse(clipped, ratings), "mae": mae(clipped, ratings)}


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """(B, depth) bool, whether each ranked item is relevant, best first, and (B,) counts of relevant items
    -> (B,) recall@k."""
    return hits[:, :k].sum(axis=1) / n_relevant


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """The same inputs as ``recall_at_k`` -> (B,) ndcg@k."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return hits[:, :k] @ discounts[:hits[:, :k].shape[1]] / ideal


def conservative_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each target in its row; items tied with the target rank ahead of it."""
    target_scores = scores[np.arange(len(targets)), targets][:, np.newaxis]
    return (scores >= target_scores).sum(axis=1)


def next_item_metrics(ranks: np.ndarray, k: int = 20) -> dict[str, float]:
    hit = ranks <= k
    return {f"recall@{k}": float(hit.mean()), f"mrr@{k}": float(np.where(hit, 1.0 / ranks, 0.0).mean())}


def evaluate_next_item(scorer: HistoryScorer, events: NextItemEvents, k: int = 20, batch_size: int = 512,
                       label: str | None = None) -> dict[str, float]:
    ranks = np.empty(len(events), dtype=np.int64)
    batches = range(0, len(events), batch_size)
    for start in tqdm(batches, desc=label, disable=None if label else True, leave=False):
        stop = min(start + batch_size, len(events))
        scores = np.array(scorer(events.histories[start:stop]), dtype=np.float32)
        scores[:, 0] = -np.inf
        ranks[start:stop] = conservative_ranks(scores, events.targets[start:stop])
    return {**next_item_metrics(ranks, k), "events": len(events)}


def evaluate_retrieval(scorer: UserScorer, held_out: SeenItems, seen: SeenItems,
                       ks: Sequence[int] = (10, 100), ndcg_k: int = 10, batch_size: int = 256,
                       label: str | None = None) -> dict[str, float]:
    """``held_out``: user row -> the item rows held out for it (users with none are not scored); ``seen``:
    user row -> item rows to exclude from its ranking."""
    users = np.flatnonzero(held_out.counts)
    depth = max(*ks, ndcg_k)
    sums = {**{f"recall@{k}": 0.0 for k in ks}, f"ndcg@{ndcg_k}": 0.0}
    for start in tqdm(range(0, len(users), batch_size), desc=label, disable=None if label else True, leave=False):
        rows = users[start:start + batch_size]
        scores = np.array(scorer(indices_of(rows).astype(np.int32)), dtype=np.float32)
        scores[:, 0] = -np.inf
        seen.exclude(scores[:, 1:], rows)  # a view: column j + 1 is item row j
        ranked = top_columns(scores, depth)
        hits = (ranked > 0) & held_out.contains(rows, np.maximum(rows_of(ranked), 0))  # padding is never relevant
        n_relevant = held_out.counts_of(rows)
        for k in ks:
            sums[f"recall@{k}"] += float(recall_at_k(hits, n_relevant, k).sum())
        sums[f"ndcg@{ndcg_k}"] += float(ndcg_at_k(hits, n_relevant, ndcg_k).sum())
    return {**{name: total / max(len(users), 1) for name, total in sums.items()}, "users": len(users)}
