"""Top-k selection and seen-item lookups: the numpy steps the trainer's evaluation and the server share."""

import numpy as np

from models.selection import SeenItems, indices_of, range_positions, rows_of, top_columns


def test_top_columns_best_first_short_rows_and_ties_in_column_order():
    assert top_columns(np.array([[0.1, 0.7, 0.3]]), 2).tolist() == [[1, 2]]
    assert top_columns(np.array([[0.1, 0.7]]), 5).tolist() == [[1, 0]]
    assert top_columns(np.array([[0.5, 0.9, 0.5, 0.5]]), 3).tolist() == [[1, 0, 2]]


def test_rows_and_indices_are_one_apart_and_invert_each_other():
    assert rows_of(np.array([1, 5])).tolist() == [0, 4]
    assert indices_of(rows_of(np.array([3, 1, 2]))).tolist() == [3, 1, 2]


def test_range_positions_concatenate_ranges_and_skip_empty_ones():
    assert range_positions(np.array([5, 0, 9, 2]), np.array([3, 0, 1, 2])).tolist() == [5, 6, 7, 9, 2, 3]
    assert range_positions(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []


def _both_paths(lists, n_columns):
    dense = SeenItems.from_lists(lists, n_columns)
    keyed = SeenItems.from_lists(lists, n_columns, mask_max_cells=0)  # no bitmap: CSR alone, as large catalogs have
    assert dense.mask is not None and keyed.mask is None
    return dense, keyed


def test_seen_lookup_agrees_between_the_bitmap_and_the_csr_arrays_alone():
    users, items = np.array([0, 1, 2, 2]), np.array([[0, 1, 2], [0, 1, 2], [2, 3, 5], [0, 5, 1]])
    expected = [[True, True, False], [False, False, False], [True, False, True], [False, True, False]]
    for seen in _both_paths([np.array([1, 0]), np.array([], np.int64), np.array([5, 2])], 6):  # rows unsorted
        assert seen.contains(users, items).tolist() == expected
        assert seen.counts.tolist() == [2, 0, 2] and seen.of(0).tolist() == [0, 1]
    for seen in _both_paths([np.array([], np.int64)], 3):  # nobody has seen anything
        assert not seen.contains(np.array([0]), np.array([[0, 2]])).any()


def test_exclude_sets_seen_columns_to_minus_infinity_in_place_even_through_a_view():
    for seen in _both_paths([np.array([1]), np.array([0, 2])], 3):
        scores = np.zeros((2, 4))
        seen.exclude(scores[:, 1:], np.array([1, 0]))  # batch rows are users 1 and 0
        assert np.isneginf(scores).tolist() == [[False, True, False, True], [False, False, True, False]]


def test_item_item_scores_sum_the_weight_rows_of_the_seen_items():
    from models.item_item import item_item_scores

    weights = np.arange(9, dtype=np.float32).reshape(3, 3)
    seen = SeenItems.from_lists([np.array([0, 2]), np.array([], np.int64)], 3)
    assert item_item_scores(weights, seen, np.array([1, 0])).tolist() == [[0, 0, 0], [6, 8, 10]]


def test_seen_from_pairs_counts_repeats_once_and_keeps_empty_rows():
    rows, columns = np.array([2, 0, 2, 2, 0]), np.array([5, 1, 2, 5, 0])
    for mask_max_cells in (10**6, 0):
        seen = SeenItems.from_pairs(rows, columns, 4, 6, mask_max_cells=mask_max_cells)
        assert [seen.of(row).tolist() for row in range(4)] == [[0, 1], [], [2, 5], []]
        assert seen.counts.tolist() == [2, 0, 2, 0]
        assert seen.counts_of(np.array([2, 1])).tolist() == [2, 0]
        assert seen.contains(np.array([2, 0]), np.array([[5, 3], [0, 4]])).tolist() == [[True, False], [True, False]]
