"""The only module of the service that imports TensorFlow and ScaNN: it loads one artifact version's
SavedModels and ScaNN index and implements ``app.recommender.Scorer`` with them.

Requests never call ``model.predict`` (about 80 ms per call here). What depends on a known user
alone (the query embedding, the ranking model's user state) or on an item alone (its ranking state)
is computed once at load time with the SavedModels' signatures, in batches of 4,096; a /recommend or
/predict-rating request then runs only the ranking model's head, in numpy (``models.rating_head``:
about 0.2 ms for 100 candidates, against 1-2.5 ms for the same math through a TensorFlow call).
Users whose history changed since training (``users_from_features``) go through the same signatures
per batch. Session requests call the session SavedModel's signature.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import tensorflow as tf
from scann import scann_ops_pybind
from threadpoolctl import threadpool_limits

import models  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from app.artifacts import Catalog
from models import artifact_format as fmt
from models import rating_head, user_autoencoder
from models.features import to_tensor
from models.selection import SeenItems
from models.session_mix import SessionMix, Transitions
from models.two_stage import ItemSources, Users

log = logging.getLogger("recsys.backend")


def _inputs(features: dict[str, np.ndarray], rows: np.ndarray | slice) -> dict[str, tf.Tensor]:
    """Rows of the user features as signature inputs."""
    return {name: to_tensor(values[rows]) for name, values in features.items()}
_threads_configured = False


def configure_threads(threads: int) -> None:
    """Thread pools for model math: TensorFlow's (it accepts settings only before its runtime starts, so
    once per process) and numpy's BLAS (OpenBLAS threads spin while they wait for work, taking CPU from
    the event loop)."""
    global _threads_configured
    if threads and not _threads_configured:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        threadpool_limits(threads, user_api="blas")
    _threads_configured = True


def _signatures(catalog: Catalog, directory: str, *names: str) -> list:
    path = catalog.path / directory
    try:
        signatures = tf.saved_model.load(str(path)).signatures
        return [signatures[name] for name in names]
    except (OSError, KeyError, ValueError, tf.errors.OpError) as error:
        raise fmt.ArtifactError(f"cannot load signatures {names} from {fmt.where(catalog.path, directory)}: "
                                f"{type(error).__name__}") from error


class TensorFlowScorer:
    """``app.recommender.Scorer`` over one version's SavedModels, ScaNN index and numpy heads."""

    def __init__(self, catalog: Catalog, model_threads: int = 1, embed_batch: int = 4096) -> None:
        configure_threads(model_threads)
        self.catalog = catalog
        self._embed_batch = embed_batch
        [self._embed] = _signatures(catalog, fmt.QUERY_MODEL, fmt.QUERY_SIGNATURE)
        self._predict, self._encode_users, encode_items = _signatures(
            catalog, fmt.RANKING_MODEL, fmt.RANKING_SIGNATURE, fmt.RANKING_USER_SIGNATURE, fmt.RANKING_ITEM_SIGNATURE)
        [self._session] = _signatures(catalog, fmt.SESSION_MODEL, fmt.SESSION_SIGNATURE)
        try:
            self._searcher = scann_ops_pybind.load_searcher(str(catalog.path / fmt.SCANN_DIR))
        except (RuntimeError, ValueError, OSError) as error:
            raise fmt.ArtifactError(f"cannot load the ScaNN index {fmt.where(catalog.path, fmt.SCANN_DIR)}: "
                                    f"{type(error).__name__}") from error
        self.items = ItemSources(np.load(catalog.path / fmt.ITEM_EMBEDDINGS), self._search,
                                 self._item_item(catalog) if catalog.mix.item_item else None,
                                 self._autoencoder(catalog) if catalog.mix.autoencoder else None)
        transitions_weight = float(catalog.manifest["serving"].get(fmt.SESSION_TRANSITIONS_WEIGHT, 0.0))
        self.session_mix = SessionMix(transitions_weight,
                                      self._transitions(catalog) if transitions_weight else None)
        try:
            head = rating_head.load(catalog.path / fmt.RATING_HEAD)
        except (OSError, ValueError, KeyError) as error:
            raise fmt.ArtifactError(f"cannot read the rating head {fmt.where(catalog.path, fmt.RATING_HEAD)}: "
                                    f"{type(error).__name__}") from error
        # Everything that depends on a known user alone or on an item alone is computed here, once.
        item_ids = catalog.item_ids
        item_states = np.concatenate([
            encode_items(item_ids=to_tensor(item_ids[start:start + embed_batch]))["item_state"].numpy()
            for start in range(0, len(item_ids), embed_batch)])
        try:
            self._rate = rating_head.bind_clipped(head, item_states, catalog.rating_range)
            self.known_users = self.users_from_features(catalog.user_features, catalog.seen)
        except ValueError as error:
            raise fmt.ArtifactError(f"the rating head {fmt.where(catalog.path, fmt.RATING_HEAD)} does not fit its "
                                    f"model: {error}") from error
        self._verify(json.loads((catalog.path / fmt.PROBES).read_text(encoding="utf-8")))
        log.info("loaded model version %s: %d users, %d items, %d session items", catalog.version,
                 len(catalog.user_rows), len(catalog.item_ids), len(catalog.session_item_ids))

    def users_from_features(self, features: dict[str, np.ndarray], seen: SeenItems) -> Users:
        """Users from their signature inputs (``models.artifact_format.USER_FEATURES``), row r = input row r."""
        n_users = len(features["user_id"])
        chunks = [_inputs(features, slice(start, start + self._embed_batch))
                  for start in range(0, n_users, self._embed_batch)]
        if not chunks:
            chunks = [_inputs(features, slice(0, 0))]
        embeddings = np.concatenate([self._embed(**chunk)["embedding"].numpy() for chunk in chunks])
        states = np.concatenate([self._encode_users(**chunk)["user_state"].numpy() for chunk in chunks])
        return Users(embeddings, self._rate(states), seen)

    @staticmethod
    def _item_item(catalog: Catalog) -> np.ndarray:
        n_items = len(catalog.item_ids)
        try:
            weights = np.load(catalog.path / fmt.ITEM_ITEM, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise fmt.ArtifactError(f"the serving mix needs {fmt.where(catalog.path, fmt.ITEM_ITEM)}: "
                                    f"{type(error).__name__}") from error
        if weights.shape != (n_items, n_items):
            raise fmt.ArtifactError(f"{fmt.where(catalog.path, fmt.ITEM_ITEM)} is {weights.shape}, the catalog "
                                    f"has {n_items} items")
        return weights

    @staticmethod
    def _autoencoder(catalog: Catalog) -> user_autoencoder.UserAutoencoder:
        try:
            model = user_autoencoder.load(catalog.path / fmt.AUTOENCODER)
        except (OSError, ValueError, KeyError) as error:
            raise fmt.ArtifactError(f"the serving mix needs {fmt.where(catalog.path, fmt.AUTOENCODER)}: "
                                    f"{type(error).__name__}") from error
        if model.n_items != len(catalog.item_ids):
            raise fmt.ArtifactError(f"{fmt.where(catalog.path, fmt.AUTOENCODER)} scores {model.n_items} items, the "
                                    f"catalog has {len(catalog.item_ids)}")
        return model

    @staticmethod
    def _transitions(catalog: Catalog) -> Transitions:
        try:
            with np.load(catalog.path / fmt.SESSION_TRANSITIONS, allow_pickle=False) as arrays:
                transitions = Transitions.from_arrays(arrays)
        except (OSError, ValueError, KeyError) as error:
            raise fmt.ArtifactError(f"the session mix needs {fmt.where(catalog.path, fmt.SESSION_TRANSITIONS)}: "
                                    f"{type(error).__name__}") from error
        n_items = len(catalog.session_item_ids)
        if transitions.n_items != n_items or len(transitions.indptr) != n_items + 1:
            raise fmt.ArtifactError(f"{fmt.where(catalog.path, fmt.SESSION_TRANSITIONS)} does not fit the "
                                    f"{n_items} session items")
        return transitions

    def _verify(self, probes: dict) -> None:
        """Reproduce the trainer's probe outputs from raw ids; a mismatch means a wrong or corrupt export."""
        users, items = np.array(probes["user_rows"]), np.array(probes["item_rows"])
        item_ids = to_tensor(self.catalog.item_ids[np.tile(items, (len(users), 1))])
        known = self.known_users
        checks = {
            "query embeddings": (lambda: known.query_embeddings[users], probes["query_embeddings"]),
            "ratings": (lambda: known.ratings(users, np.tile(items, (len(users), 1))), probes["ratings"]),
            "ratings of the one-call signature": (
                lambda: self._predict(**_inputs(self.catalog.user_features, users), item_ids=item_ids)["rating"]
                .numpy(), probes["ratings"]),
            "session scores": (lambda: self._session_model_scores([probes["session_items"]])[0, :50],
                               probes["session_scores"]),
        }
        for name, (serve, expected) in checks.items():
            try:
                served = serve()
            except (ValueError, IndexError, tf.errors.OpError) as error:  # e.g. a head whose shapes do not fit
                raise fmt.ArtifactError(
                    f"{fmt.where(self.catalog.path)}: computing the exported {name} failed: {error}") from error
            if not np.allclose(served, np.asarray(expected, dtype=np.float32), atol=fmt.PROBE_TOLERANCE):
                raise fmt.ArtifactError(f"{fmt.where(self.catalog.path)}: the loaded models do not reproduce the "
                                        f"exported {name}; the version is corrupt or was written by different code")

    def _search(self, queries: np.ndarray, n: int) -> np.ndarray:
        neighbors, _ = self._searcher.search_batched(queries, final_num_neighbors=n,
                                                     pre_reorder_num_neighbors=max(n, fmt.SCANN_REORDER))
        return neighbors.astype(np.int64)

    def session_scores(self, sessions: list[list[str]]) -> np.ndarray:
        scores = self._session_model_scores(sessions)
        if not self.session_mix.weight:
            return scores
        last_rows = np.array([self.catalog.session_item_rows[session[-1]] for session in sessions])
        return self.session_mix.scores(scores, last_rows)

    def _session_model_scores(self, sessions: list[list[str]]) -> np.ndarray:
        width = max(len(session) for session in sessions)
        padded = [session + [fmt.PAD_ID] * (width - len(session)) for session in sessions]
        return self._session(item_ids=tf.constant(padded, dtype=tf.string))["scores"].numpy()
