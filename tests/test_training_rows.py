"""The training rows on disk, streamed back a chunk at a time: every pass gives each row of the part once
(each worker's shard once), in a new order, the same orders for the same seed, and no chunk holds a
batch back from being a uniform sample."""

import gc
from pathlib import Path

import numpy as np
import pytest

from training.data.split import FIT, VALIDATION
from training.data.training_rows import write_training_rows
from training.fit.distribute import Cluster

N_ROWS = 1003


def _rows(chunk_rows: int):
    rng = np.random.default_rng(0)
    items = np.arange(1, N_ROWS + 1, dtype=np.int32)  # each row's item names the row
    ratings = np.where(rng.random(N_ROWS) < 0.2, np.nan, rng.integers(1, 6, N_ROWS)).astype(np.float32)
    parts = np.where(rng.random(N_ROWS) < 0.1, VALIDATION, FIT).astype(np.uint8)
    users = rng.integers(1, 50, N_ROWS).astype(np.int32)
    return write_training_rows(users, items, ratings, parts, chunk_rows=chunk_rows), items, ratings, parts


def _passes(rows, part, rated, n_passes, seed=7, batch_size=64, shard=slice(None)) -> list[np.ndarray]:
    """The items of each pass (iteration of one dataset), in order; every batch but a pass's last is full."""
    dataset, passes = rows.batches(part, rated, batch_size, seed, shard), []
    for _ in range(n_passes):
        batches = [batch["item"] for batch in dataset.as_numpy_iterator()]
        assert all(len(batch) == batch_size for batch in batches[:-1]) and 0 < len(batches[-1]) <= batch_size
        passes.append(np.concatenate(batches))
    return passes


@pytest.mark.parametrize("chunk_rows", [100_000, 100])
@pytest.mark.parametrize(("part", "rated"), [("fit", False), ("train", True)])
def test_each_pass_gives_every_row_of_the_part_once_in_a_new_order_and_the_same_orders_for_a_seed(
        chunk_rows, part, rated):
    rows, items, ratings, parts = _rows(chunk_rows)
    wanted = (parts == FIT if part == "fit" else np.ones(N_ROWS, bool)) & (~np.isnan(ratings) if rated else True)
    dataset = rows.batches(part, rated, 64, seed=7).repeat(3)
    flat = np.concatenate([batch["item"] for batch in dataset.as_numpy_iterator()])
    n = int(wanted.sum())
    assert rows.count(part, rated) == n and len(flat) == 3 * n
    passes = [flat[index * n:(index + 1) * n] for index in range(3)]
    assert all(np.array_equal(np.sort(order), items[wanted]) for order in passes)
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[1], passes[2])
    assert all(np.array_equal(a, b) for a, b in zip(_passes(rows, part, rated, 2), passes[:2], strict=True))
    assert not np.array_equal(_passes(rows, part, rated, 1, seed=8)[0], passes[0])
    assert np.array_equal(rows.columns(part, rated)["item"] if chunk_rows > N_ROWS else
                          np.sort(rows.columns(part, rated)["item"]), items[wanted])


def test_several_chunks_are_written_in_one_random_order_so_a_batch_is_a_sample_of_all_rows():
    rows, *_ = _rows(100)
    assert len(rows.selected["train", False]) == 11
    first_batch = next(rows.batches("train", False, 64, seed=7).as_numpy_iterator())["item"]
    # In the log's order a chunk would hold 100 consecutive rows; written shuffled, a batch spans the log.
    assert np.ptp(first_batch) > 500


@pytest.mark.parametrize("chunk_rows", [100_000, 100])
def test_the_workers_shards_are_disjoint_and_cover_the_part_at_every_pass(chunk_rows):
    rows, items, _, parts = _rows(chunk_rows)
    workers = [Cluster(workers=3, index=index) for index in range(3)]
    by_shard = [_passes(rows, "fit", False, 2, shard=worker.shard(rows.count("fit"))) for worker in workers]
    for shards in zip(*by_shard, strict=True):
        assert max(len(shard) for shard in shards) - min(len(shard) for shard in shards) <= 1
        assert np.array_equal(np.sort(np.concatenate(shards)), items[parts == FIT])


def test_the_file_goes_when_the_rows_do():
    rows, *_ = _rows(100)
    path = Path(rows.path)
    assert path.stat().st_size > 13 * N_ROWS
    del rows
    gc.collect()
    assert not path.exists()
