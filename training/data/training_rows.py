"""The training part's indexed rows, written once to a Parquet file and read back a chunk (row group) at
a time: what the Keras fits stream their batches from. While a model trains, the process holds one chunk
and its order, not the training rows or a permutation of them, so this part of memory does not grow
with the log.

Order: each pass (epoch) reads the chunks in a new random order and the rows of each chunk in a new
random order, the same orders for the same seed. Rows that take more than one chunk are written in one
random order, so that every chunk, and so every batch, is a uniform sample of them; rows that fit in one
chunk are written in the log's order, and a pass is then one permutation of all of them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from training.data.split import FIT

TrainingPart = Literal["fit", "train"]  # train: fit + validation

# 13 bytes a row: a chunk of a million rows is 13 MB in memory, and a read of a few milliseconds per pass.
CHUNK_ROWS = 1_000_000
ROW_SIGNATURE = {"user_row": tf.TensorSpec([None], tf.int32), "item": tf.TensorSpec([None], tf.int32),
                 "rating": tf.TensorSpec([None], tf.float32)}


@dataclass(frozen=True)
class TrainingRows:
    """Training rows (user index, item index, rating: NaN when the interaction has none, and which part,
    fit or validation, each is in) in a Parquet file of one row group per chunk, in a temporary directory
    that lives as long as this object."""

    path: Path
    selected: dict[tuple[TrainingPart, bool], np.ndarray]  # (part, rated only) -> rows of each chunk
    directory: tempfile.TemporaryDirectory

    def count(self, part: TrainingPart, rated: bool = False) -> int:
        return int(self.selected[part, rated].sum())

    def columns(self, part: TrainingPart, rated: bool = False) -> dict[str, np.ndarray]:
        """All rows of a part, in the file's order: for what needs them at once (I-AutoRec's ratings matrix)."""
        reader = pq.ParquetFile(self.path)
        chunks = [self._chunk(reader, index, part, rated) for index in range(len(self.selected[part, rated]))]
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in ROW_SIGNATURE}

    def batches(self, part: TrainingPart, rated: bool, batch_size: int, seed: int,
                shard: slice = slice(None)) -> tf.data.Dataset:
        """Shuffled batches of ``user_row``, ``item`` and ``rating`` of a part (``rated``: only rows with a
        rating), a new order at each pass. ``shard``: the rows of the part, in the file's order, that this
        worker takes (``Cluster.shard``, a slice with a step), taken chunk by chunk."""
        before = np.concatenate([[0], np.cumsum(self.selected[part, rated])[:-1]])
        first, step = shard.start or 0, shard.step or 1

        def one_pass(pass_seed: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
            reader, held = pq.ParquetFile(self.path), None
            for index in np.random.default_rng(pass_seed.astype(np.uint64)).permutation(len(before)):
                rows = self._chunk(reader, index, part, rated)
                rows = {name: values[(first - before[index]) % step::step] for name, values in rows.items()}
                # Chunk 0 (in the file's order) is shuffled with the seed of a whole-part shuffle, so a part
                # of one chunk is shuffled as it was before the rows were streamed.
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(len(rows["item"]), dtype=tf.int64), seed=pass_seed + np.array([0, index])).numpy()
                rows = {name: values[order] for name, values in rows.items()}
                if held is not None:  # a batch may span two chunks, as it would span a shuffled table
                    rows = {name: np.concatenate([held[name], values]) for name, values in rows.items()}
                whole = len(rows["item"]) - len(rows["item"]) % batch_size
                for start in range(0, whole, batch_size):
                    yield {name: values[start:start + batch_size] for name, values in rows.items()}
                held = {name: values[whole:] for name, values in rows.items()}
            if held is not None and len(held["item"]):
                yield held

        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).take(1)
        return seeds.flat_map(lambda pass_seed: tf.data.Dataset.from_generator(
            one_pass, args=(pass_seed,), output_signature=ROW_SIGNATURE))

    def _chunk(self, reader: pq.ParquetFile, index: int, part: TrainingPart, rated: bool) -> dict[str, np.ndarray]:
        table = reader.read_row_group(int(index))
        keep = _selection(table.column("part").to_numpy(), table.column("rating").to_numpy(), part, rated)
        return {name: table.column(name).to_numpy()[keep] for name in ROW_SIGNATURE}


def _selection(parts: np.ndarray, ratings: np.ndarray, part: TrainingPart, rated: bool) -> np.ndarray:
    keep = parts == FIT if part == "fit" else np.ones(len(parts), bool)
    return keep & ~np.isnan(ratings) if rated else keep


def write_training_rows(user_rows: np.ndarray, items: np.ndarray, ratings: np.ndarray, parts: np.ndarray,
                        chunk_rows: int = CHUNK_ROWS, seed: int = 0) -> TrainingRows:
    """The training rows (``parts``: ``split.FIT`` or ``split.VALIDATION`` each) written to a temporary
    Parquet file, in chunks of ``chunk_rows``; in one random order (``seed``) when there is more than one."""
    directory = tempfile.TemporaryDirectory(prefix="recsys-training-rows-")
    path = Path(directory.name) / "rows.parquet"
    n_rows = len(items)
    order = np.random.default_rng(seed).permutation(n_rows) if n_rows > chunk_rows else None
    selected: dict[tuple[TrainingPart, bool], list[int]] = {
        (part, rated): [] for part in ("fit", "train") for rated in (False, True)}
    schema = pa.schema([("user_row", pa.int32()), ("item", pa.int32()), ("rating", pa.float32()),
                        ("part", pa.uint8())])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for start in range(0, max(n_rows, 1), chunk_rows):
            rows = slice(start, start + chunk_rows) if order is None else order[start:start + chunk_rows]
            chunk = [user_rows[rows], items[rows], ratings[rows], parts[rows]]
            writer.write_table(pa.Table.from_arrays(chunk, schema=schema), row_group_size=chunk_rows)
            for part, rated in selected:
                selected[part, rated].append(int(_selection(chunk[3], chunk[2], part, rated).sum()))
    return TrainingRows(path, {key: np.array(counts) for key, counts in selected.items()}, directory)
