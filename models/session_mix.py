"""The served next-item scores, in numpy: the session model's scores, or, where validation chose it, a
mix of its softmax with first-order transitions from the session's last item (the Markov-chain
baseline that often ranks the very next click well):

    score(j) = (1 - w) x softmax(model scores)_j + w x P(j follows the last item)

One implementation for the trainer's evaluation and the server (``app.backend``). With w = 0 the
model's own scores are served unchanged; w = 1 serves the transitions alone.

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transitions:
    """P(next item | last item) as CSR arrays over item rows: row i holds the items seen right after i."""

    indptr: np.ndarray  # (n_items + 1,) int64
    indices: np.ndarray  # (nnz,) int32 item rows
    probabilities: np.ndarray  # (nnz,) float32, each row sums to 1 (or is empty)
    n_items: int

    @classmethod
    def from_dense(cls, matrix: np.ndarray) -> Transitions:
        rows, columns = np.nonzero(matrix)
        indptr = np.zeros(len(matrix) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(rows, minlength=len(matrix)))
        return cls(indptr, columns.astype(np.int32), matrix[rows, columns].astype(np.float32), matrix.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"indptr": self.indptr, "indices": self.indices, "probabilities": self.probabilities,
                "n_items": np.int64(self.n_items)}

    @classmethod
    def from_arrays(cls, arrays) -> Transitions:
        return cls(arrays["indptr"], arrays["indices"], arrays["probabilities"], int(arrays["n_items"]))

    def following(self, last_rows: np.ndarray) -> np.ndarray:
        """(B,) last item rows -> (B, n_items) dense transition probabilities."""
        dense = np.zeros((len(last_rows), self.n_items), dtype=np.float32)
        for position, row in enumerate(last_rows):
            start, stop = self.indptr[row], self.indptr[row + 1]
            dense[position, self.indices[start:stop]] = self.probabilities[start:stop]
        return dense


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SessionMix:
    """What /session/next serves on top of the session model: its scores alone (``weight`` 0), or mixed
    with ``transitions`` (over session item rows, from the whole training part)."""

    weight: float = 0.0
    transitions: Transitions | None = None

    def __post_init__(self) -> None:
        if self.weight and self.transitions is None:
            raise ValueError(f"a transitions weight of {self.weight} needs the transitions")

    def scores(self, model_scores: np.ndarray, last_rows: np.ndarray) -> np.ndarray:
        """(B, n_items) model scores and (B,) last item rows -> (B, n_items) served scores."""
        if not self.weight:
            return model_scores
        return ((1.0 - self.weight) * softmax(model_scores.astype(np.float32))
                + self.weight * self.transitions.following(last_rows)).astype(np.float32)
