"""The order GET /recommend serves, in numpy: retrieve -> drop seen items -> rank -> cut to k.

One implementation, run by the server (``app.recommender``, with ScaNN and the exported rating head)
and by the trainer when it chooses the mix and evaluates the served order (``training.evaluate.two_stage``,
exact search over the in-memory models), so that what is measured is what is served. It sees the
catalog (``ItemSources``: item embeddings, an index, the item-to-item and autoencoder sources) and a
set of users (``Users``: query embeddings, the rating head bound to their states, seen items) apart:
the server keeps one ``Users`` for the users known at training time and makes one per batch for users
whose history changed since (``app.recommender``). Three candidate sources are mixed (``Mix``):

    retrieval(u, i) = two_tower x <query_u, item_i> / temperature     (the two-tower model)
                    + item_item x (X_u . W)_i                          (EASE, ``models.item_item``)
                    + autoencoder x log pi_i(X_u)                      (Mult-VAE / DAE, ``models.user_autoencoder``)
    score(u, i)     = retrieval(u, i) + rating x predicted rating (clipped to the scale)

over the ``candidates`` unseen items with the best retrieval score. With only the two-tower source
the candidates come from the ANN index; with an item-to-item or autoencoder source, retrieval
scores the whole catalog exactly (those sources are only trained and served on catalogs small
enough for it). Ordering by predicted rating alone ranks what a user would rate highly *if* they saw
it, not what they will pick; the trainer chooses every weight on validation data.

This module imports numpy only: the serving path must not need TensorFlow for it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np

from models.item_item import item_item_scores
from models.rating_head import PairScores
from models.selection import SeenItems, top_columns
from models.user_autoencoder import UserAutoencoder

Stage = Callable[[str], AbstractContextManager]  # names a step, for timing


def _untimed(name: str) -> AbstractContextManager:
    return nullcontext()


Search = Callable[[np.ndarray, int], np.ndarray]  # (B, d) queries, n -> (B, n) item rows, best first
SEARCH_MARGIN = 2  # the index's first search asks for this many times the candidates it must find


@dataclass(frozen=True)
class ItemSources:
    """The catalog side: what the candidate sources know of every item, in item rows."""

    item_embeddings: np.ndarray  # (n_items, d): the two-tower model's candidate tower
    search: Search  # nearest item embeddings by dot product: ScaNN in the server, exact in the trainer
    item_item: np.ndarray | None = None  # (n_items, n_items) EASE weights, where the mix uses them
    autoencoder: UserAutoencoder | None = None  # where the mix uses it


def exact_search(item_embeddings: np.ndarray) -> Search:
    return lambda queries, n: top_columns(queries @ item_embeddings.T, n)


@dataclass(frozen=True)
class Users:
    """A set of users as the order sees them; row r is user r."""

    query_embeddings: np.ndarray  # (U, d): the two-tower model's query tower
    ratings: PairScores  # (B,) user rows, (B, N) item rows -> predicted ratings, clipped to the scale
    seen: SeenItems  # user row -> item rows the user interacted with: never recommended


@dataclass(frozen=True)
class Mix:
    """Weights of the candidate sources and of the predicted rating in the served score."""

    two_tower: float = 1.0
    item_item: float = 0.0
    autoencoder: float = 0.0
    rating: float = 0.0

    def describe(self, autoencoder: str = "autoencoder") -> str:
        """E.g. "two-tower x1 + EASE x10 + rating x0.3"; ``autoencoder`` names that source (Mult-VAE...)."""
        parts = [f"{label} x{weight:g}" for label, weight in (
            ("two-tower", self.two_tower), ("EASE", self.item_item), (autoencoder, self.autoencoder),
            ("rating", self.rating)) if weight]
        return " + ".join(parts) or "nothing"

    @property
    def exact(self) -> bool:
        """Whether a source without an index is on: retrieval then scores the whole catalog."""
        return bool(self.item_item or self.autoencoder)


@dataclass(frozen=True)
class Ranked:
    """Per user, the chosen item rows best first with their scores and predicted ratings; row j has
    ``lengths[j]`` real entries, the rest is padding."""

    rows: np.ndarray  # (B, K)
    scores: np.ndarray  # (B, K)
    ratings: np.ndarray  # (B, K)
    lengths: np.ndarray  # (B,)


@dataclass(frozen=True)
class TwoStage:
    items: ItemSources
    users: Users
    popular_rows: np.ndarray  # item rows, most popular first: tops up users with too few candidates
    mix: Mix
    temperature: float
    candidates: int = 100

    def recommend(self, user_rows: np.ndarray, ks: list[int], stage: Stage = _untimed) -> Ranked:
        """The best ``ks[j]`` unseen items for user row ``user_rows[j]``."""
        wanted = max(self.candidates, *ks)
        items, users = self.items, self.users
        n_items = users.seen.n_columns
        # Enough neighbours that `wanted` remain after removing the seen ones, row by row.
        needed = np.minimum(n_items, wanted + users.seen.counts_of(user_rows))
        mix, logit = self.mix, self.mix.two_tower / self.temperature
        queries = None
        if logit or not mix.exact:  # the two-tower source, or the index that finds candidates without one
            with stage("embed"):
                queries = users.query_embeddings[user_rows]
        catalog = None
        if mix.exact:  # no index for these sources: every item is scored exactly
            with stage("retrieve"):
                catalog = np.zeros((len(user_rows), n_items), dtype=np.float32)
                if mix.item_item:
                    catalog += mix.item_item * item_item_scores(items.item_item, users.seen, user_rows)
                if mix.autoencoder:
                    catalog += mix.autoencoder * items.autoencoder.scores(users.seen, user_rows)
                if logit:
                    catalog += logit * (queries @ items.item_embeddings.T)
                retrieved = top_columns(catalog, int(needed.max()))
            with stage("filter"):
                matrix, lengths = self._first_unseen(user_rows, retrieved, wanted)
        else:
            matrix, lengths = self._search_unseen(queries, user_rows, wanted, needed, stage)
        with stage("filter"):
            self._top_up(user_rows, matrix, lengths, ks)
        with stage("rank"):
            ratings = users.ratings(user_rows, matrix)
            if catalog is not None:
                retrieval = np.take_along_axis(catalog, matrix, axis=1)
            elif not logit:  # candidates from the index, ordered by the rating alone
                retrieval = np.zeros(matrix.shape, dtype=np.float32)
            else:
                retrieval = logit * np.einsum("bd,bnd->bn", queries, items.item_embeddings[matrix])
            scores = retrieval + mix.rating * ratings
        with stage("select"):
            scores[np.arange(scores.shape[1]) >= lengths[:, np.newaxis]] = -np.inf  # padding never wins
            best = top_columns(scores, max(ks))
            return Ranked(np.take_along_axis(matrix, best, axis=1), np.take_along_axis(scores, best, axis=1),
                          np.take_along_axis(ratings, best, axis=1), np.minimum(lengths, max(ks)))

    def _search_unseen(self, queries: np.ndarray, user_rows: np.ndarray, wanted: int, needed: np.ndarray,
                       stage: Stage) -> tuple[np.ndarray, np.ndarray]:
        """``_first_unseen`` of the index's neighbours. Most users' nearest neighbours are mostly unseen, and
        an index search costs more the more neighbours it returns: the batch asks for ``SEARCH_MARGIN`` x
        ``wanted`` first, and only the rows short of ``wanted`` unseen ones ask again for all they may need
        (``needed``: ``wanted`` + the row's seen count)."""
        first = np.minimum(needed, SEARCH_MARGIN * wanted)
        with stage("retrieve"):
            retrieved = self.items.search(queries, int(first.max()))
        with stage("filter"):
            matrix, lengths = self._first_unseen(user_rows, retrieved, wanted)
        again = np.flatnonzero((lengths < wanted) & (first < needed))
        if len(again):
            with stage("retrieve"):
                retrieved = self.items.search(queries[again], int(needed[again].max()))
            with stage("filter"):
                matrix[again], lengths[again] = self._first_unseen(user_rows[again], retrieved, wanted)
        return matrix, lengths

    def _first_unseen(self, user_rows: np.ndarray, retrieved: np.ndarray,
                      wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """(B, wanted) of each row's first ``wanted`` unseen ``retrieved`` items, and how many of each row
        there are (the rest is padding: row 0)."""
        unseen = ~self.users.seen.contains(user_rows, retrieved)  # (B, n)
        position = np.cumsum(unseen, axis=1) - 1
        keep = unseen & (position < wanted)
        matrix = np.zeros((len(user_rows), wanted), dtype=np.int64)
        matrix[np.nonzero(keep)[0], position[keep]] = retrieved[keep]
        return matrix, keep.sum(axis=1)

    def _top_up(self, user_rows: np.ndarray, matrix: np.ndarray, lengths: np.ndarray, ks: list[int]) -> None:
        """Rows with fewer than k candidates (tiny catalogs, heavy users) get popular unseen items up to k,
        in place."""
        for position in np.flatnonzero(lengths < np.array(ks)):
            have = matrix[position, :lengths[position]]
            seen = self.users.seen.of(int(user_rows[position]))
            extra = self.popular_rows[~np.isin(self.popular_rows, np.concatenate([seen, have]))]
            extra = extra[:ks[position] - len(have)]
            matrix[position, len(have):len(have) + len(extra)] = extra
            lengths[position] += len(extra)
