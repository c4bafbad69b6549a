"""Choosing items for a batch of users, in numpy: one implementation, shared by the trainer's evaluation
and the server, of the vocabulary-index <-> row shift, top-k selection and the items a user has seen.

Vocabulary indices (what the models embed) start at 1; index 0 is padding and unknown ids. Exported
arrays and the server's rows have no padding: row r is index r + 1.

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PADDING_INDEX = 0
MASK_MAX_CELLS = 200_000_000  # a dense users x items bitmap up to 200 MB; the CSR arrays alone above


def rows_of(indices: np.ndarray) -> np.ndarray:
    """Vocabulary indices (>= 1) -> rows of exported arrays."""
    return np.asarray(indices) - 1


def indices_of(rows: np.ndarray) -> np.ndarray:
    """Rows of exported arrays -> vocabulary indices."""
    return np.asarray(rows) + 1


def range_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``starts[i], ..., starts[i] + lengths[i] - 1`` for every i, concatenated: the positions of many
    CSR rows (or any ranges) at once, without a Python loop."""
    lengths = np.asarray(lengths, np.int64)
    ends = np.cumsum(lengths)
    return np.repeat(np.asarray(starts, np.int64) - ends + lengths, lengths) + np.arange(ends[-1] if len(ends) else 0)


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """(B, n) -> (B, min(k, n)): each row's columns with the highest scores, best first, for the whole
    batch in a few numpy calls; ties keep column order."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.zeros((len(scores), 0), dtype=np.int64)
    top = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


@dataclass(frozen=True)
class SeenItems:
    """The columns (items) each row (user) has interacted with, as CSR arrays (each row's columns sorted),
    with a dense bitmap beside them when it is small enough (``MASK_MAX_CELLS``): lookups are vectorized
    over a whole batch either way, and without the bitmap they cost 4 bytes a pair, no more."""

    indptr: np.ndarray  # (n_rows + 1,) int64
    indices: np.ndarray  # (nnz,) column numbers, sorted within each row
    n_columns: int
    mask: np.ndarray | None = None  # (n_rows, n_columns) bool

    @classmethod
    def from_csr(cls, indptr: np.ndarray, indices: np.ndarray, n_columns: int,
                 mask_max_cells: int = MASK_MAX_CELLS) -> SeenItems:
        """``indices``: each row's columns, sorted within the row when there is no bitmap."""
        n_rows = len(indptr) - 1
        if n_rows * n_columns > mask_max_cells:
            return cls(indptr, indices, n_columns)
        mask = np.zeros((n_rows, n_columns), dtype=bool)
        mask[np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr)), indices] = True
        return cls(indptr, indices, n_columns, mask=mask)

    @classmethod
    def from_pairs(cls, rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int,
                   mask_max_cells: int = MASK_MAX_CELLS) -> SeenItems:
        """Row r's columns are the ``columns[i]`` where ``rows[i] == r`` (repeats count once)."""
        keys = np.asarray(rows, np.int64) * n_columns
        keys += columns
        keys.sort()  # in place: np.unique would sort a copy
        if len(keys):
            keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        indptr = np.searchsorted(keys, np.arange(n_rows + 1, dtype=np.int64) * n_columns)
        return cls.from_csr(indptr, (keys % n_columns).astype(np.int32), n_columns, mask_max_cells)

    @classmethod
    def from_lists(cls, lists: Sequence[np.ndarray], n_columns: int,
                   mask_max_cells: int = MASK_MAX_CELLS) -> SeenItems:
        """Row r's columns are ``lists[r]``."""
        indptr = np.zeros(len(lists) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(columns) for columns in lists])
        indices = (np.concatenate([np.sort(np.asarray(columns, np.int64)) for columns in lists]).astype(np.int32)
                   if len(lists) else np.zeros(0, np.int32))
        return cls.from_csr(indptr, indices, n_columns, mask_max_cells)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    def counts_of(self, rows: np.ndarray) -> np.ndarray:
        """``counts[rows]`` without computing every row's."""
        return self.indptr[rows + 1] - self.indptr[rows]

    def of(self, row: int) -> np.ndarray:
        return self.indices[self.indptr[row]:self.indptr[row + 1]]

    def contains(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """(B,) rows and (B, n) columns -> (B, n) bool: has the row seen the column?"""
        if self.mask is not None:
            return self.mask[rows[:, np.newaxis], columns]
        # The batch's pairs as sorted keys (position in the batch x n_columns + column), made for this call
        # from the rows' CSR segments, so that one searchsorted answers the whole batch.
        counts = self.counts_of(rows)
        keys = np.repeat(np.arange(len(rows), dtype=np.int64) * self.n_columns, counts) + \
            self.indices[range_positions(self.indptr[rows], counts)]
        if not len(keys):
            return np.zeros(np.shape(columns), dtype=bool)
        wanted = np.arange(len(rows), dtype=np.int64)[:, np.newaxis] * self.n_columns + columns
        found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return keys[found] == wanted

    def exclude(self, scores: np.ndarray, rows: np.ndarray) -> None:
        """Set each row's seen columns of a (B, n_columns) score matrix to -inf, in place."""
        if self.mask is not None:
            scores[self.mask[rows]] = -np.inf
            return
        for position, row in enumerate(rows):
            scores[position, self.of(int(row))] = -np.inf
