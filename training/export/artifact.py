"""Write one immutable artifact version: the files the server reads, from the trained models
(``training.export.publish`` makes it visible: staging, checksums, fsync, smoke test, LATEST)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models import artifact_format as fmt
from models import checksums, rating_head, user_autoencoder
from models.gru4rec import GRU4Rec
from models.narm import NARM
from models.ranking import RatingModel
from models.retrieval import TwoTowerModel
from models.selection import rows_of, top_columns
from models.serving import QueryServing, RankingServing, SessionServing, save
from models.session_mix import SessionMix
from models.two_stage import TwoStage
from training.data.examples import RatingContext, UserView
from training.data.sequences import SequenceSplit
from training.export.ann import build_searcher
from training.export.publish import publish


@dataclass(frozen=True)
class ExportBundle:
    context: RatingContext
    catalog: pd.DataFrame  # item_id, title, genres
    retrieval: TwoTowerModel
    ranking: RatingModel
    rating_range: tuple[float, float]
    order: TwoStage  # what /recommend serves, over the in-memory models (training.evaluate.two_stage)
    session_model: GRU4Rec | NARM
    session_split: SequenceSplit
    session_mix: SessionMix  # what /session/next serves on top of the session model


def new_version_name(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def _catalog(items: pd.DataFrame, item_ids: tuple[str, ...]) -> pd.DataFrame:
    """Title and genres of every vocabulary item ("" and [] where the data has no metadata)."""
    known = items.drop_duplicates("item_id").set_index("item_id").reindex(list(item_ids))
    return pd.DataFrame({
        "item_id": list(item_ids),
        "title": known["title"].fillna("").astype(str).to_numpy(),
        "genres": [genres if isinstance(genres, list) else [] for genres in known["genres"]],
    })


def _probes(bundle: ExportBundle, n_users: int = 3, n_items: int = 5, k: int = 10) -> dict[str, Any]:
    """Outputs of the in-memory models, computed from the training-side index encoding (not through the
    export wrappers), for the server to reproduce from raw ids after loading; ``recommendations`` are
    the evaluated two-stage top ``k`` (exact search, the default candidate count) of the probe users,
    ``session_next`` the served next items after the probe session."""
    import tensorflow as tf

    context = bundle.context
    user_rows = np.arange(min(n_users, len(context.vocab.users)))
    item_rows = np.arange(min(n_items, len(context.vocab.items)))
    features = context.train_view.tensors(user_rows + 1)
    query = bundle.retrieval.query_embedding(features).numpy()
    ratings = bundle.ranking({**features, "item": tf.constant(np.tile(item_rows + 1, (len(user_rows), 1)))}).numpy()
    order = bundle.order
    recommended = order.recommend(user_rows, [k] * len(user_rows))
    session = bundle.session_split.train.items[:3]
    session_scores = bundle.session_model.next_item_scores(tf.constant(session[np.newaxis, :]))[0, 1:].numpy()
    served_session = bundle.session_mix.scores(session_scores[np.newaxis, :], rows_of(session[-1:]))[0]
    next_rows = top_columns(served_session[np.newaxis, :], k)[0]
    return {
        "user_rows": user_rows.tolist(),
        "item_rows": item_rows.tolist(),
        "query_embeddings": query.tolist(),
        "ratings": np.clip(ratings, *bundle.rating_range).tolist(),
        "recommendations": {
            context.vocab.users[user]: {"item_ids": [context.vocab.items[row] for row in rows[:length].tolist()],
                                        "scores": scores[:length].tolist()}
            for user, rows, scores, length in zip(user_rows.tolist(), recommended.rows, recommended.scores,
                                                  recommended.lengths.tolist(), strict=True)},
        "recommend_candidates": order.candidates,
        "session_items": [bundle.session_split.item_ids[index - 1] for index in session.tolist()],
        "session_scores": session_scores[:50].tolist(),
        "session_next": {"item_ids": [bundle.session_split.item_ids[row] for row in next_rows.tolist()],
                         "scores": served_session[next_rows].tolist()},
    }


def users_table(view: UserView, item_ids: tuple[str, ...]) -> pa.Table:
    """The ``USERS`` file: each user's profile, then their recent items (ids) and ratings as lists; built
    from the history's arrays with Arrow, not a Python object per interaction."""
    offsets = view.history.offsets[1:] - view.history.offsets[1]  # user index 0, the unknown user, is no row
    ids = pa.array([fmt.PAD_ID, *item_ids], pa.string()).take(pa.array(view.history.items))
    table = pa.Table.from_pandas(view.frame, preserve_index=False)
    return table.append_column("recent_items", pa.LargeListArray.from_arrays(offsets, ids)).append_column(
        "recent_ratings", pa.LargeListArray.from_arrays(offsets, pa.array(view.history.ratings)))


def _write_files(directory: Path, bundle: ExportBundle) -> None:
    context = bundle.context
    vocab = context.vocab
    fmt.write_vocab(directory / fmt.USER_VOCAB, list(vocab.users))
    fmt.write_vocab(directory / fmt.ITEM_VOCAB, list(vocab.items))
    fmt.write_vocab(directory / fmt.SESSION_ITEM_VOCAB, list(bundle.session_split.item_ids))
    _catalog(bundle.catalog, vocab.items).to_parquet(directory / fmt.ITEMS, index=False)
    pq.write_table(users_table(context.train_view, vocab.items), directory / fmt.USERS)
    np.save(directory / fmt.POPULARITY, context.counts[1:].astype(np.float32))
    np.save(directory / fmt.SESSION_POPULARITY, bundle.session_split.counts[1:].astype(np.float32))
    if bundle.session_mix.weight:
        np.savez(directory / fmt.SESSION_TRANSITIONS, **bundle.session_mix.transitions.arrays())
    np.savez(directory / fmt.SEEN, indptr=context.train_view.seen.indptr, indices=context.train_view.seen.indices)

    sources = bundle.order.items
    if bundle.order.mix.item_item:
        np.save(directory / fmt.ITEM_ITEM, np.ascontiguousarray(sources.item_item, dtype=np.float32))
    if bundle.order.mix.autoencoder:
        user_autoencoder.save(directory / fmt.AUTOENCODER, sources.autoencoder)
    embeddings = sources.item_embeddings
    np.save(directory / fmt.ITEM_EMBEDDINGS, embeddings.astype(np.float32))
    (directory / fmt.SCANN_DIR).mkdir()
    build_searcher(embeddings).serialize(str(directory / fmt.SCANN_DIR), relative_path=True)

    _write_json(directory / fmt.PROBES, _probes(bundle))
    save(QueryServing(context.encoder, bundle.retrieval), (fmt.QUERY_SIGNATURE,), str(directory / fmt.QUERY_MODEL))
    save(RankingServing(context.encoder, bundle.ranking, bundle.rating_range),
         (fmt.RANKING_SIGNATURE, fmt.RANKING_USER_SIGNATURE, fmt.RANKING_ITEMS_SIGNATURE, fmt.RANKING_ITEM_SIGNATURE),
         str(directory / fmt.RANKING_MODEL))
    rating_head.save(directory / fmt.RATING_HEAD, bundle.ranking.head())
    save(SessionServing(bundle.session_split.item_ids, bundle.session_model), (fmt.SESSION_SIGNATURE,),
         str(directory / fmt.SESSION_MODEL))


def export_version(root: Path, bundle: ExportBundle, manifest: dict[str, Any],
                   extra_files: dict[str, Any] | None = None, version: str | None = None) -> Path:
    """Write ``root/<version>/`` and point ``root/LATEST`` at it (``training.export.publish``). ``manifest``
    gains the format version, the version name, the creation time and every file's checksum.
    ``extra_files`` maps a relative path to JSON-able content or to a callable that writes that path
    (reports, plots)."""
    version = fmt.check_version_name(version or new_version_name())

    def write(staging: Path) -> None:
        _write_files(staging, bundle)
        for relative, content in (extra_files or {}).items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            content(target) if callable(content) else _write_json(target, content)

    def write_manifest(staging: Path) -> None:
        _write_json(staging / fmt.MANIFEST, {"format_version": fmt.FORMAT_VERSION, "version": version,
                                             "created_at": datetime.now(UTC).isoformat(), **manifest,
                                             fmt.FILES: checksums.file_digests(staging)})

    return publish(root, version, write, write_manifest)
