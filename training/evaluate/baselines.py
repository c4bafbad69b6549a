"""Non-neural baselines, each a scorer with the contract of ``training.evaluate.metrics``: a batch of user
indices or histories in, scores of every item index (column 0 is padding) out.

This module holds the retrieval baselines (popularity, item-kNN, EASE) and the sparse helpers that
the session baselines in ``training.evaluate.session_baselines`` share. Implicit feedback is binary: a user
who interacted with an item several times counts once. Item x item matrices are dense float32 (the
EASE inverse is float64), so they suit catalogues up to about 20k items (1.6 GB at 20k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.item_item import item_item_scores
from models.selection import SeenItems, range_positions, rows_of
from training.evaluate.metrics import UserScorer

# Item x item matrices are dense: item-kNN and EASE are fitted on catalogs up to this many items (1.6 GB each).
DENSE_MAX_ITEMS = 20_000
# Dense blocks (rows x columns) built at once while accumulating a gram matrix: 4M cells, 16 MB in float32.
_BLOCK_CELLS = 1 << 22
# A pair counted one by one (np.unique, ~100 ns) costs about as much as 1000 dense multiply-adds (~0.1 ns each).
_PAIR_COST = 1000


@dataclass(frozen=True)
class SparseRows:
    """A 0/1 matrix stored by rows (CSR without values, as scipy is not a dependency): row r holds the
    columns ``indices[indptr[r]:indptr[r + 1]]``, ascending."""

    indptr: np.ndarray  # (n_rows + 1,) int64
    indices: np.ndarray  # (nnz,) int64, or int32 (``SeenItems.indices``)

    @classmethod
    def from_pairs(cls, rows: np.ndarray, columns: np.ndarray, n_rows: int) -> SparseRows:
        """The distinct (row, column) pairs; a repeated pair is stored once."""
        rows, columns = np.asarray(rows, np.int64), np.asarray(columns, np.int64)
        order = np.lexsort((columns, rows))
        rows, columns = rows[order], columns[order]
        distinct = np.ones(len(rows), dtype=bool)
        distinct[1:] = (rows[1:] != rows[:-1]) | (columns[1:] != columns[:-1])
        rows, columns = rows[distinct], columns[distinct]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(rows, minlength=n_rows))
        return cls(indptr=indptr, indices=columns)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(length of each of ``rows``, their columns concatenated row after row)."""
        rows = np.asarray(rows, np.int64)
        lengths = self.indptr[rows + 1] - self.indptr[rows]
        return lengths, self.indices[range_positions(self.indptr[rows], lengths)]

    def scatter(self, rows: np.ndarray, owners: np.ndarray, weights: np.ndarray,
                shape: tuple[int, int]) -> np.ndarray:
        """Dense float64 ``shape`` sum: row ``rows[s]`` times ``weights[s]`` is added to output row ``owners[s]``."""
        lengths, columns = self.entries(rows)
        cells = np.repeat(np.asarray(owners, np.int64) * shape[1], lengths) + columns
        weights = np.repeat(np.asarray(weights, np.float64), lengths)
        return np.bincount(cells, weights=weights, minlength=shape[0] * shape[1]).reshape(shape)

    def keep_last(self, count: int) -> SparseRows:
        """Each row cut to its ``count`` last (highest) columns."""
        lengths = self.lengths
        rank_from_end = np.repeat(self.indptr[1:], lengths) - np.arange(len(self.indices))  # 1 = last entry
        kept = np.minimum(lengths, count)
        indptr = np.zeros_like(self.indptr)
        indptr[1:] = np.cumsum(kept)
        return SparseRows(indptr=indptr, indices=self.indices[rank_from_end <= count])

    def dense(self, rows: np.ndarray, n_columns: int) -> np.ndarray:
        """``rows`` as a dense float32 0/1 block: (len(rows), n_columns)."""
        block = self.scatter(rows, np.arange(len(rows)), np.ones(len(rows)), (len(rows), n_columns))
        return block.astype(np.float32)


def binary_gram(matrix: SparseRows, n_columns: int) -> np.ndarray:
    """XᵀX of a 0/1 matrix: (n_columns, n_columns) float32 counts of rows holding both columns (exact
    below 2^24). Rows go in blocks of ``_BLOCK_CELLS`` dense cells: a block of long rows (user histories)
    is one BLAS product; a block of short rows (sessions of a few clicks) has its pairs counted one by one,
    as its dense product would be mostly multiplications by zero."""
    n_rows, lengths = len(matrix.indptr) - 1, matrix.lengths
    gram = np.zeros(n_columns * n_columns, dtype=np.float32)
    step = max(1, _BLOCK_CELLS // max(n_columns, 1))
    for start in range(0, n_rows, step):
        rows = np.arange(start, min(start + step, n_rows))
        if _PAIR_COST * np.sum(lengths[rows] ** 2) > len(rows) * n_columns**2:
            block = matrix.dense(rows, n_columns)  # (rows, n_columns)
            gram += (block.T @ block).ravel()
        else:
            held, columns = matrix.entries(rows)
            partners_held, partners = matrix.entries(np.repeat(rows, held))  # each entry's whole row
            cells, counts = np.unique(np.repeat(columns.astype(np.int64), partners_held) * n_columns + partners,
                                      return_counts=True)
            gram[cells] += counts
    return gram.reshape(n_columns, n_columns)


def item_gram(seen: SeenItems) -> np.ndarray:
    """XᵀX of the users' seen items, in item rows: (n_items, n_items) float32 co-occurrence counts. It reads
    the users' own ``SeenItems`` (the view's), not a copy of their pairs."""
    return binary_gram(SparseRows(indptr=seen.indptr, indices=seen.indices), seen.n_columns)


def _padded(matrix: np.ndarray) -> np.ndarray:
    """An (n, n) matrix over item rows as (n + 1, n + 1) float32 over item indices: row and column 0, padding,
    are zero."""
    padded = np.zeros((len(matrix) + 1, len(matrix) + 1), dtype=np.float32)
    padded[1:, 1:] = matrix
    return padded


def popularity_scorer(counts: np.ndarray) -> UserScorer:
    """The same scores for everyone: the training interaction counts."""

    def score(batch: np.ndarray) -> np.ndarray:
        return np.broadcast_to(counts, (len(batch), len(counts)))

    return score


def item_knn_scorer(seen: SeenItems, neighbors: int | None = None) -> UserScorer:
    """Item-based kNN (Sarwar et al. 2001; Deshpande & Karypis 2004): score(u, j) = sum over the user's
    items i of sim(i, j), with sim the cosine between the items' binary user vectors,
    c_ij / sqrt(c_ii c_jj), and sim(i, i) = 0.

    ``seen``: the training interactions by user row (``SeenItems``: repeats count once).
    ``neighbors``: keep only each item i's ``neighbors`` most similar items j (Deshpande & Karypis' model
    size k; ties at the cut broken arbitrarily); None keeps every similarity.
    """
    counts = item_gram(seen)
    norms = np.sqrt(np.diag(counts))
    norms[norms == 0] = 1.0  # items nobody interacted with: all their similarities are 0 anyway
    similarity = counts / np.outer(norms, norms)
    np.fill_diagonal(similarity, 0.0)
    if neighbors is not None and neighbors < seen.n_columns:
        dropped = np.argpartition(-similarity, neighbors - 1, axis=1)[:, neighbors:]
        np.put_along_axis(similarity, dropped, 0.0, axis=1)
    return _row_scorer(seen, similarity)


def ease_weights(gram: np.ndarray, l2: float = 500.0) -> np.ndarray:
    """EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): the item-to-item weights
    B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹, i.e. B_ij = -P_ij / P_jj and diag(B) = 0, as an
    (n_items + 1, n_items + 1) float32 matrix over item indices (row and column 0, padding, are zero).

    ``gram``: XᵀX of the training interactions (``item_gram``), which a search over λ computes once.
    ``l2``: λ, Steck's default for ML-20M-sized data is 500. The inverse is dense float64:
    n_items² x 8 bytes and O(n_items³) time (about a minute at 20k items), so keep n_items below ~20k.
    """
    regularized = gram.astype(np.float64)
    regularized[np.diag_indices_from(regularized)] += l2
    precision = np.linalg.inv(regularized)
    weights = -precision / np.diag(precision)[np.newaxis, :]
    np.fill_diagonal(weights, 0.0)
    return _padded(weights)


def item_item_scorer(seen: SeenItems, weights: np.ndarray) -> UserScorer:
    """score(u, ·) = X_u · W over the users' training interactions (``seen``, by user row), for an
    (n_items + 1, n_items + 1) item-to-item weight matrix W over item indices (``ease_weights``): the
    served item-to-item scores (``models.item_item``), in index space."""
    return _row_scorer(seen, np.ascontiguousarray(weights[1:, 1:]))


def _row_scorer(seen: SeenItems, rows: np.ndarray) -> UserScorer:
    """``item_item_scorer`` for weights over item rows, (n_items, n_items): a matrix built in row space
    (item-kNN's similarities) is scored as it is, not padded and cut back."""
    n_items = seen.n_columns

    def score(batch: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(batch), n_items + 1), dtype=np.float32)
        scores[:, 1:] = item_item_scores(rows, seen, rows_of(batch))
        return scores

    return score


def ease_scorer(seen: SeenItems, l2: float = 500.0) -> UserScorer:
    """EASE's score(u, ·) = X_u · B (``ease_weights``)."""
    return item_item_scorer(seen, ease_weights(item_gram(seen), l2))
