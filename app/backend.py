"""The only module of the service that imports TensorFlow and ScaNN: it loads one artifact version's
SavedModels and ScaNN index and implements ``app.recommender.Scorer`` with them.

Requests never call ``model.predict`` (about 80 ms per call here): they call the SavedModels'
serving signatures (about 1.7 ms). What depends on a known user alone (the query embedding, the
ranking model's user state) is computed once at load time, in batches of 4,096 users, so a request
only runs the item side of the ranking model.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import tensorflow as tf
from scann import scann_ops_pybind

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from app.artifacts import Catalog
from models import artifact_format as fmt

log = logging.getLogger("recsys.backend")
_threads_configured = False


def configure_threads(threads: int) -> None:
    """TensorFlow accepts thread settings only before its runtime starts, so once per process."""
    global _threads_configured
    if threads and not _threads_configured:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    _threads_configured = True


def _signatures(catalog: Catalog, directory: str, *names: str) -> list:
    path = catalog.path / directory
    try:
        signatures = tf.saved_model.load(str(path)).signatures
        return [signatures[name] for name in names]
    except (OSError, KeyError, ValueError, tf.errors.OpError) as error:
        raise fmt.ArtifactError(f"cannot load signatures {names} from {path}: {error}") from error


def _tensor(values: np.ndarray) -> tf.Tensor:
    """numpy -> tensor; object arrays of ids become string tensors."""
    return tf.constant(values.astype(str).tolist() if values.dtype == object else values)


class TensorFlowScorer:
    def __init__(self, catalog: Catalog, tf_threads: int = 1, embed_batch: int = 4096) -> None:
        configure_threads(tf_threads)
        self.catalog = catalog
        [embed] = _signatures(catalog, fmt.QUERY_MODEL, fmt.QUERY_SIGNATURE)
        self._predict, encode, score = _signatures(
            catalog, fmt.RANKING_MODEL, fmt.RANKING_SIGNATURE, fmt.RANKING_USER_SIGNATURE, fmt.RANKING_ITEMS_SIGNATURE)
        [self._session] = _signatures(catalog, fmt.SESSION_MODEL, fmt.SESSION_SIGNATURE)
        try:
            self._searcher = scann_ops_pybind.load_searcher(str(catalog.path / fmt.SCANN_DIR))
        except (RuntimeError, ValueError, OSError) as error:
            raise fmt.ArtifactError(f"cannot load the ScaNN index in {catalog.path}: {error}") from error
        self.item_embeddings = np.load(catalog.path / fmt.ITEM_EMBEDDINGS)
        n_users = len(catalog.user_rows)
        chunks = [self._user_inputs(np.arange(start, min(start + embed_batch, n_users)))
                  for start in range(0, n_users, embed_batch)]
        # Everything that depends on the user alone is computed here, once, not per request.
        self.user_embeddings = np.concatenate([embed(**chunk)["embedding"].numpy() for chunk in chunks])
        self._score = score
        self.user_states = tf.constant(np.concatenate([encode(**chunk)["user_state"].numpy() for chunk in chunks]))
        self._item_ids = tf.constant(catalog.item_ids.astype(str).tolist())  # gathered in C, not built per call
        self._verify(json.loads((catalog.path / fmt.PROBES).read_text(encoding="utf-8")))
        log.info("loaded model version %s: %d users, %d items, %d session items", catalog.version, n_users,
                 len(catalog.item_ids), len(catalog.session_item_ids))

    def _verify(self, probes: dict) -> None:
        """Reproduce the trainer's probe outputs from raw ids; a mismatch means a wrong or corrupt export."""
        users, items = np.array(probes["user_rows"]), np.array(probes["item_rows"])
        item_ids = _tensor(self.catalog.item_ids[np.tile(items, (len(users), 1))])
        checks = {
            "query embeddings": (self.user_embeddings[users], probes["query_embeddings"]),
            "ratings": (self.rank(users, np.tile(items, (len(users), 1))), probes["ratings"]),
            "ratings of the one-call signature": (
                self._predict(**self._user_inputs(users), item_ids=item_ids)["rating"].numpy(), probes["ratings"]),
            "session scores": (self.session_scores([probes["session_items"]])[0, :50], probes["session_scores"]),
        }
        for name, (served, expected) in checks.items():
            if not np.allclose(served, np.asarray(expected, dtype=np.float32), atol=fmt.PROBE_TOLERANCE):
                raise fmt.ArtifactError(f"{self.catalog.path}: the loaded models do not reproduce the exported "
                                        f"{name}; the version is corrupt or was written by different code")

    def _user_inputs(self, user_rows: np.ndarray) -> dict[str, tf.Tensor]:
        return {name: _tensor(values[user_rows]) for name, values in self.catalog.user_features.items()}

    def query_embeddings(self, user_rows: np.ndarray) -> np.ndarray:
        return self.user_embeddings[user_rows]

    def similarities(self, queries: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return np.einsum("bd,bnd->bn", queries, self.item_embeddings[item_rows])

    def search(self, queries: np.ndarray, n: int) -> np.ndarray:
        neighbors, _ = self._searcher.search_batched(queries, final_num_neighbors=n,
                                                     pre_reorder_num_neighbors=max(n, fmt.SCANN_REORDER))
        return neighbors.astype(np.int64)

    def rank(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self._score(user_state=tf.gather(self.user_states, user_rows),
                           item_ids=tf.gather(self._item_ids, item_rows))["rating"].numpy()

    def session_scores(self, sessions: list[list[str]]) -> np.ndarray:
        width = max(len(session) for session in sessions)
        padded = [session + [fmt.PAD_ID] * (width - len(session)) for session in sessions]
        return self._session(item_ids=tf.constant(padded, dtype=tf.string))["scores"].numpy()
