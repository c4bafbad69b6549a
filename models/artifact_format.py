"""The artifact directory contract: the one place that names files, signatures and manifest keys.

The trainer writes ``<root>/<version>/`` and then ``<root>/LATEST``; the server reads them. Both
import this module, so writer and reader cannot drift apart. It imports nothing heavy.

Item rows: every per-item array (``item_embeddings.npy``, ``popularity.npy``, session scores,
ScaNN neighbour ids) is indexed by the row of the item in ``vocab/items.txt``. Users likewise
follow ``vocab/users.txt``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.vocabulary import user_feature_columns

# 2: the ranking model's item side and numpy head (RATING_HEAD); 3: a sha256 of every file (FILES);
# 4: categorical user features as one input; 5: the /recommend mix (SERVING_MIX) and ITEM_ITEM, the
# /session/next mix (SESSION_TRANSITIONS); 6: the user autoencoder source (AUTOENCODER), NeuMF heads
FORMAT_VERSION = 6

LATEST = "LATEST"
MANIFEST = "manifest.json"
# Manifest key: relative path -> {"sha256": hex, "bytes": size} of every file of the version but the
# manifest itself (models.checksums); the server verifies them all before it serves the version.
FILES = "files"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PLOTS_DIR = "plots"

USER_VOCAB = "vocab/users.txt"
ITEM_VOCAB = "vocab/items.txt"
ITEMS = "items.parquet"  # item_id, title, genres (list of str): the catalog, at least the ITEM_VOCAB items
USERS = "users.parquet"  # user features, in USER_VOCAB order; see user_feature_arrays
POPULARITY = "popularity.npy"  # float32 (n_items,): training interaction counts
SEEN = "seen.npz"  # CSR of items each user interacted with in training: indptr (n_users+1,), indices
ITEM_EMBEDDINGS = "item_embeddings.npy"  # float32 (n_items, dim): candidate tower output
SCANN_DIR = "scann"  # scann_ops_pybind searcher over ITEM_EMBEDDINGS (dot product)
SCANN_REORDER = 400  # neighbours re-scored exactly; the index is built and queried with it
# float32 (n_items, n_items): EASE's item-to-item weights (models.item_item), written only when the
# served mix uses them (manifest serving[SERVING_MIX]["item_item"] > 0)
ITEM_ITEM = "item_item.npy"
# models.user_autoencoder.UserAutoencoder's layers (Mult-VAE or Mult-DAE, numpy), written only when the
# served mix uses them (manifest serving[SERVING_MIX]["autoencoder"] > 0)
AUTOENCODER = "autoencoder.npz"
# manifest serving key: models.two_stage.Mix as {"two_tower", "item_item", "autoencoder", "rating"}
SERVING_MIX = "mix"
# manifest key: {"url": the event log read (no password), "cutoff_id": the last event id trained on};
# the server applies the events after the cut-off on top of the version (absent: cut-off 0)
EVENTS = "events"

QUERY_MODEL = "saved_models/query"
RANKING_MODEL = "saved_models/ranking"
SESSION_MODEL = "saved_models/session"
# The ranking model's head, (user_state, item_state) -> rating, as numpy weights (models.rating_head):
# clipped to the manifest's rating range, it equals RANKING_ITEMS_SIGNATURE.
RATING_HEAD = "rating_head.npz"

# Serving signatures. User features travel explicitly so that a user's recent items or
# demographics can change without retraining; catalog features live inside the models.
#   QUERY_SIGNATURE:   USER_FEATURES                      -> {"embedding": float32 (B, dim)}
#   RANKING_SIGNATURE: USER_FEATURES + item_ids (B, N)    -> {"rating": float32 (B, N)}
#     and the same in two halves, so a server can compute each known user's half once:
#   RANKING_USER_SIGNATURE:  USER_FEATURES                  -> {"user_state": float32 (B, S)}
#   RANKING_ITEMS_SIGNATURE: user_state (B, S) + item_ids (B, N) -> {"rating": float32 (B, N)}
#     and the item half alone, for a server that runs the head itself (RATING_HEAD):
#   RANKING_ITEM_SIGNATURE:  item_ids (N,)                   -> {"item_state": float32 (N, S_item)}
#   SESSION_SIGNATURE: item_ids (B, T), right-padded "" -> {"scores": float32 (B, n_session_items)}
QUERY_SIGNATURE = "embed_users"
RANKING_SIGNATURE = "predict_ratings"
RANKING_USER_SIGNATURE = "encode_users"
RANKING_ITEMS_SIGNATURE = "score_items"
RANKING_ITEM_SIGNATURE = "encode_items"
SESSION_SIGNATURE = "next_item_scores"
# name -> dtype and rank of each user feature input; strings are raw ids, "" means unknown.
USER_FEATURES: dict[str, tuple[str, int]] = {
    "user_id": ("string", 1),
    "age": ("float32", 1),
    "categories": ("string", 2),  # (B, F) the categorical user features, in the columns' order of USERS
    "recent_items": ("string", 2),  # (B, H) the user's latest training items, right-padded ""
    "recent_ratings": ("float32", 2),  # (B, H) the user's ratings of those items, 0 where padded
}
PAD_ID = ""

# Inputs and the outputs the in-memory models gave for them at export; the server recomputes them
# with the loaded SavedModels and refuses a version that disagrees (a wrong or corrupt export).
PROBES = "probes.json"
PROBE_TOLERANCE = 1e-3
SESSION_ITEM_VOCAB = "vocab/session_items.txt"  # the session model's own item vocabulary
SESSION_POPULARITY = "session_popularity.npy"  # float32 (n_session_items,): training occurrence counts
# models.session_mix.Transitions over session item rows, written when the manifest's serving
# SESSION_TRANSITIONS_WEIGHT is above 0: /session/next then mixes them with the session model
SESSION_TRANSITIONS = "session_transitions.npz"
SESSION_TRANSITIONS_WEIGHT = "session_transitions_weight"

REQUIRED_FILES = (
    MANIFEST, USER_VOCAB, ITEM_VOCAB, ITEMS, USERS, POPULARITY, SEEN, ITEM_EMBEDDINGS, RATING_HEAD,
    SESSION_ITEM_VOCAB, SESSION_POPULARITY, PROBES,
    f"{SCANN_DIR}/scann_config.pb",
    f"{QUERY_MODEL}/saved_model.pb", f"{RANKING_MODEL}/saved_model.pb", f"{SESSION_MODEL}/saved_model.pb",
)

VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"  # matched in full: "v1\n" is not a version name
STAGING_PREFIX = ".staging-"  # <root>/.staging-<version>-<pid>: an export in progress, never served


class ArtifactError(RuntimeError):
    """Artifacts that are missing, incomplete or inconsistent. The message names versions and files
    relative to the artifact root (``where``), never absolute server paths: it reaches API clients."""


def where(version_dir: Path, relative: str = "") -> str:
    """How messages name a version or one of its files: relative to the artifact root."""
    return f"{version_dir.name}/{relative}" if relative else version_dir.name


def check_version_name(version: str) -> str:
    if not isinstance(version, str) or re.fullmatch(VERSION_PATTERN, version) is None:
        raise ArtifactError(f"invalid model version name {version!r}")
    return version


def read_latest(root: Path) -> str:
    try:
        version = (root / LATEST).read_text(encoding="utf-8").removesuffix("\n")
    except FileNotFoundError as error:
        raise ArtifactError(f"no {LATEST} file in the artifact root: train a model first (recsys-train)") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ArtifactError(f"unreadable {LATEST} file: {error.__class__.__name__}") from error
    return check_version_name(version)


def version_dir(root: Path, version: str) -> Path:
    """``root/version``, refused unless it is a directory inside the root (a symlink leading outside is)."""
    path = root / check_version_name(version)
    if not path.is_dir():
        raise ArtifactError(f"model version {version!r} does not exist in the artifact root")
    if not path.resolve().is_relative_to(root.resolve()):
        raise ArtifactError(f"model version {version!r} is a link leading outside the artifact root; refused")
    return path


def list_versions(root: Path) -> list[str]:
    """Names of the version directories in ``root`` (complete or not), oldest name first."""
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir()
                  if path.is_dir() and re.fullmatch(VERSION_PATTERN, path.name))


def read_vocab(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def write_vocab(path: Path, ids: list[str]) -> None:
    for value in ids:
        if "\n" in value or value == PAD_ID:
            raise ValueError(f"id {value!r} cannot be stored in a vocabulary file")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{value}\n" for value in ids), encoding="utf-8")


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """Check that every required file exists and the format is ours, and return the manifest."""
    missing = [name for name in REQUIRED_FILES if not (version_dir / name).exists()]
    if missing:
        raise ArtifactError(f"artifact version {where(version_dir)} is incomplete; missing: {', '.join(missing)}")
    try:
        manifest = json.loads((version_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ArtifactError(f"unreadable {where(version_dir, MANIFEST)}: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{where(version_dir)} has artifact format {found!r}; this build reads {FORMAT_VERSION} "
                            f"(train again to upgrade)")
    return manifest


def user_feature_arrays(users: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows of ``USERS`` (user_id, age, the categorical feature columns, recent_items, recent_ratings) ->
    the user inputs of the query and ranking signatures (``USER_FEATURES``), one row per frame row."""
    width = max(1, max((len(items) for items in users["recent_items"]), default=1))
    recent = np.full((len(users), width), PAD_ID, dtype=object)
    ratings = np.zeros((len(users), width), dtype=np.float32)
    for row, (items, values) in enumerate(zip(users["recent_items"], users["recent_ratings"], strict=True)):
        recent[row, : len(items)] = list(items)
        ratings[row, : len(values)] = values
    return {
        "user_id": users["user_id"].to_numpy(dtype=object),
        "age": users["age"].to_numpy(dtype=np.float32),
        "categories": users[list(user_feature_columns(users))].to_numpy(dtype=object),
        "recent_items": recent,
        "recent_ratings": ratings,
    }
