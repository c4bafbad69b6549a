"""Metric definitions on hand-computed examples."""

import math

import numpy as np
import pytest

from models.selection import SeenItems
from training.data.sequences import NextItemEvents
from training.evaluate.metrics import (
    conservative_ranks,
    evaluate_next_item,
    evaluate_retrieval,
    ndcg_at_k,
    next_item_metrics,
    rating_metrics,
    recall_at_k,
)


def _hits(ranked, relevant):
    return np.isin(ranked, list(relevant))[np.newaxis, :], np.array([len(relevant)])


def test_recall_counts_hits_over_all_relevant_items():
    assert recall_at_k(*_hits([5, 3, 9, 1], {3, 1, 7}), k=2).tolist() == pytest.approx([1 / 3])
    assert recall_at_k(*_hits([5, 3, 9, 1], {3, 1, 7}), k=4).tolist() == pytest.approx([2 / 3])


def test_ndcg_uses_binary_gains_and_an_ideal_over_min_relevant_k():
    # hits at ranks 2 and 4: 1/log2(3) + 1/log2(5); ideal for 3 relevant items: ranks 1..3
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at_k(*_hits([5, 3, 9, 1], {3, 1, 7}), k=4).tolist() == pytest.approx([expected])
    assert ndcg_at_k(*_hits([3, 1], {3, 1}), k=10).tolist() == pytest.approx([1.0])  # ideal over 2 = min(|relevant|, k)


def test_conservative_ranks_count_ties_against_the_target():
    scores = np.array([[-np.inf, 0.5, 0.9, 0.5, 0.1]])
    assert conservative_ranks(scores, np.array([1])).tolist() == [3]  # 0.9, and the tie at 0.5
    assert conservative_ranks(scores, np.array([2])).tolist() == [1]


def test_next_item_metrics():
    metrics = next_item_metrics(np.array([1, 4, 25, 2]), k=20)
    assert metrics["recall@20"] == pytest.approx(0.75)
    assert metrics["mrr@20"] == pytest.approx((1 + 1 / 4 + 0 + 1 / 2) / 4)


def test_rating_metrics_clip_predictions_to_the_range():
    metrics = rating_metrics(np.array([6.0, 2.0]), np.array([5.0, 3.0]), (1.0, 5.0))
    assert metrics["rmse"] == pytest.approx(math.sqrt(0.5))
    assert metrics["mae"] == pytest.approx(0.5)


def test_evaluate_retrieval_excludes_seen_items_and_padding():
    scores = np.array([[9.0, 0.9, 0.8, 0.7, 0.1]])  # column 0 is padding and must never count

    def scorer(users):
        return np.repeat(scores, len(users), axis=0)

    seen = SeenItems.from_lists([np.array([0])], n_columns=4)  # user row 0 (index 1) saw item row 0 (index 1)
    held_out = SeenItems.from_lists([np.array([2])], n_columns=4)  # user index 1 holds out item index 3
    metrics = evaluate_retrieval(scorer, held_out, seen, ks=(1, 2), ndcg_k=2)
    # item 1 is seen, so the ranking is 2, 3, 4: item 3 is second
    assert metrics["recall@1"] == 0.0
    assert metrics["recall@2"] == 1.0
    assert metrics["ndcg@2"] == pytest.approx(1 / math.log2(3))


def test_evaluate_next_item_over_events():
    events = NextItemEvents(histories=np.array([[1, 0], [2, 3]]), targets=np.array([2, 1]))

    def scorer(histories):
        return np.array([[0.0, 0.2, 0.9, 0.1]] * len(histories))

    metrics = evaluate_next_item(scorer, events, k=1)
    assert metrics["recall@1"] == 0.5  # target 2 ranks first, target 1 second
    assert metrics["mrr@1"] == 0.5


def test_evaluate_retrieval_agrees_with_a_user_at_a_time_reference():
    rng = np.random.default_rng(4)
    n_users, n_items = 40, 30
    held = [rng.choice(n_items, rng.integers(0, 4), replace=False) for _ in range(n_users)]  # some users: none
    seen_lists = [np.setdiff1d(rng.choice(n_items, rng.integers(0, 25), replace=False), items) for items in held]
    table = rng.normal(size=(n_users + 1, n_items + 1))

    def scorer(users):
        return table[users]

    metrics = evaluate_retrieval(scorer, SeenItems.from_lists(held, n_items),
                                 SeenItems.from_lists(seen_lists, n_items, mask_max_cells=0), ks=(5, 40), batch_size=7)
    expected = {"recall@5": [], "recall@40": [], "ndcg@10": []}
    for row, items in enumerate(held):
        if not len(items):
            continue
        scores = table[row + 1, 1:].copy()
        scores[seen_lists[row]] = -np.inf
        ranked = np.argsort(-scores, kind="stable").tolist()
        relevant = set(items.tolist())
        for k in (5, 40):
            expected[f"recall@{k}"].append(len(set(ranked[:k]) & relevant) / len(relevant))
        gains = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:10]) if item in relevant)
        expected["ndcg@10"].append(gains / sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), 10))))
    assert metrics["users"] == len(expected["ndcg@10"]) < n_users
    for name, values in expected.items():
        assert metrics[name] == pytest.approx(np.mean(values))
