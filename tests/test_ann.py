"""The shipped ScaNN settings against exact search, and the benchmark's recall on hand-checked examples."""

import numpy as np
import pytest
from scann import scann_ops_pybind

from benchmarks.ann import clustered_catalog, exact_top_k, neighbor_recall, searcher_settings
from training.export.ann import build_searcher


def test_neighbor_recall_is_the_share_of_exact_neighbours_found():
    found = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    exact = np.array([[4, 3, 2, 1], [5, 6, 0, 0], [0, 1, 2, 3]])  # order does not matter; row 2 counts 5 and 6
    assert neighbor_recall(found, exact).tolist() == [1.0, 0.5, 0.0]


def test_exact_top_k_returns_the_largest_dot_products():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0], [0.8, 0.6]], dtype=np.float32)
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    top = exact_top_k(items, queries, k=2)  # dot products: [1, 0, .6, -1, .8] and [0, 1, .8, 0, .6]
    assert [sorted(row) for row in top.tolist()] == [[0, 4], [1, 2]]


def test_the_shipped_searcher_finds_95_percent_of_the_exact_top_100():
    items, queries = clustered_catalog(n_items=2_000, dim=64, n_queries=200)
    searcher = build_searcher(items)
    # queried as app/backend.py queries it for a user with no seen items
    found, _ = searcher.search_batched(queries, final_num_neighbors=100, pre_reorder_num_neighbors=400)
    assert neighbor_recall(found, exact_top_k(items, queries, k=100)).mean() >= 0.95


def test_clustered_catalog_is_unit_norm_and_seeded():
    items, queries = clustered_catalog(n_items=500, dim=8, n_queries=10)
    assert items.shape == (500, 8) and queries.shape == (10, 8)
    assert np.allclose(np.linalg.norm(items, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1, atol=1e-5)
    assert np.array_equal(items, clustered_catalog(n_items=500, dim=8, n_queries=10)[0])


@pytest.mark.parametrize("tree", [True, False])
def test_searcher_settings_are_read_back_from_the_built_index(tree):
    items, _ = clustered_catalog(n_items=1_000, dim=16, n_queries=1)
    builder = scann_ops_pybind.builder(items, 10, "dot_product")
    if tree:
        builder = builder.tree(num_leaves=20, num_leaves_to_search=3, training_sample_size=1_000)
    settings = searcher_settings(builder.score_ah(1, anisotropic_quantization_threshold=0.2).reorder(50).build())
    assert (settings.num_leaves, settings.leaves_to_search) == ((20, 3) if tree else (0, 0))
    assert (settings.dims_per_block, settings.reorder) == (1, 50)
