"""Read and verify the plain-data part of an artifact version (no TensorFlow here).

The backend (``app.backend``) loads the SavedModels and the ScaNN index of the same version; this
module gives the pipeline everything else: vocabularies, titles, popularity, seen items, user features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models import artifact_format as fmt
from models import checksums
from models.selection import SeenItems
from models.two_stage import Mix


@dataclass(frozen=True)
class Catalog:
    version: str
    path: Path
    manifest: dict[str, Any]
    item_ids: np.ndarray  # (n_items,) object: row -> id
    item_rows: dict[str, int]
    titles: dict[str, str]  # item id -> title, for every catalog item
    popular_rows: np.ndarray  # item rows, most popular first
    popularity: np.ndarray  # (n_items,) training interaction counts
    user_rows: dict[str, int]
    user_features: dict[str, np.ndarray]  # signature inputs, one row per user row
    seen: SeenItems  # user row -> item rows interacted with in training
    session_item_ids: np.ndarray
    session_item_rows: dict[str, int]
    session_popular_rows: np.ndarray
    session_popularity: np.ndarray
    rating_range: tuple[float, float]
    mix: Mix  # the /recommend order's weights (models.two_stage)


def _rows(ids: list[str]) -> dict[str, int]:
    return {value: row for row, value in enumerate(ids)}


def _check_length(name: str, array: np.ndarray, expected: int, version_dir: Path) -> None:
    if len(array) != expected:
        raise fmt.ArtifactError(f"{fmt.where(version_dir, name)} has {len(array)} rows, the vocabulary {expected}")


def resolve_version(root: Path, version: str | None = None) -> Path:
    """The directory of ``version``, or of the one named in LATEST."""
    return fmt.version_dir(root, version if version is not None else fmt.read_latest(root))


def load_catalog(version_dir: Path) -> Catalog:
    """Everything but the models, after every file of the version (models included) matched its
    checksum; checked for completeness and consistency."""
    manifest = fmt.read_manifest(version_dir)
    checksums.verify(version_dir, manifest)
    try:
        users = fmt.read_vocab(version_dir / fmt.USER_VOCAB)
        items = fmt.read_vocab(version_dir / fmt.ITEM_VOCAB)
        session_items = fmt.read_vocab(version_dir / fmt.SESSION_ITEM_VOCAB)
        item_frame = pd.read_parquet(version_dir / fmt.ITEMS)
        user_frame = pd.read_parquet(version_dir / fmt.USERS)
        popularity = np.load(version_dir / fmt.POPULARITY)
        session_popularity = np.load(version_dir / fmt.SESSION_POPULARITY)
        seen = np.load(version_dir / fmt.SEEN)
        seen_indptr, seen_indices = seen["indptr"], seen["indices"]
    except (OSError, ValueError, KeyError) as error:
        raise fmt.ArtifactError(f"{fmt.where(version_dir)}: unreadable artifact file: {error}") from error
    _check_length(fmt.POPULARITY, popularity, len(items), version_dir)
    _check_length(fmt.SESSION_POPULARITY, session_popularity, len(session_items), version_dir)
    _check_length(fmt.USERS, user_frame, len(users), version_dir)
    _check_length(f"{fmt.SEEN} indptr", seen_indptr, len(users) + 1, version_dir)
    if list(user_frame["user_id"]) != users:
        raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.USERS)} rows are not in {fmt.USER_VOCAB} order")
    low, high = manifest["serving"]["rating_range"]
    try:
        mix = Mix(**{key: float(value) for key, value in manifest["serving"][fmt.SERVING_MIX].items()})
    except (KeyError, TypeError, ValueError) as error:
        raise fmt.ArtifactError(f"{fmt.where(version_dir, fmt.MANIFEST)}: no valid serving mix: {error}") from error
    return Catalog(
        version=manifest["version"],
        path=version_dir,
        manifest=manifest,
        item_ids=np.array(items, dtype=object),
        item_rows=_rows(items),
        titles=dict(zip(item_frame["item_id"], item_frame["title"], strict=True)),
        popular_rows=np.argsort(-popularity, kind="stable"),
        popularity=popularity,
        user_rows=_rows(users),
        user_features=fmt.user_feature_arrays(user_frame),
        seen=SeenItems.from_csr(seen_indptr, seen_indices, len(items)),
        session_item_ids=np.array(session_items, dtype=object),
        session_item_rows=_rows(session_items),
        session_popular_rows=np.argsort(-session_popularity, kind="stable"),
        session_popularity=session_popularity,
        rating_range=(float(low), float(high)),
        mix=mix,
    )
