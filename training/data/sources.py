"""Data source specs of the command line (``--data`` and ``--sessions``) -> loaded data + protocol.

--data:     synthetic | ml-100k:PATH | ml-latest:PATH | ratings-csv:PATH | ratings-parquet:PATH
--sessions: auto | synthetic | sessions-csv:PATH | diginetica:PATH | gru4rec:PREFIX | from-data

``auto`` follows the data: the synthetic sessions for synthetic data, else each user's sequence of
``--data``, so that the session model learns the same catalog as the others.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from training.config import TrainConfig
from training.data import loaders as loaders
from training.data.dataset import RatingData, SessionData
from training.data.sequences import SequenceProtocol
from training.data.synthetic import generate
from training.data.validation import DataChecks, checked_range, on_catalog

DATA_KINDS = ("synthetic", "ml-100k", "ml-latest", "ratings-csv", "ratings-parquet")
SESSION_KINDS = ("auto", "synthetic", "sessions-csv", "diginetica", "gru4rec", "from-data")


# The NARM / SR-GNN protocol: sessions of length >= 2 over items seen >= 5 times; the last 7 days are test.
DIGINETICA_PROTOCOL = SequenceProtocol(test_days=7.0, min_item_support=5)
# Each user's history ordered by time; interactions after the 90th percentile of timestamps are test.
USER_SEQUENCE_PROTOCOL = SequenceProtocol(kind="user-sequences", test_fraction=0.1)


class SpecError(ValueError):
    """A data spec that names no known source or lacks its path."""


def _parse(spec: str, kinds: tuple[str, ...], option: str) -> tuple[str, str | None]:
    kind, _, path = spec.partition(":")
    if kind not in kinds:
        raise SpecError(f"{option} {spec!r}: unknown source {kind!r}; expected one of {', '.join(kinds)}")
    needs_path = kind not in ("auto", "synthetic", "from-data")
    if needs_path and not path:
        raise SpecError(f"{option} {spec!r}: {kind} needs a path, as in {kind}:PATH")
    if not needs_path and path:
        raise SpecError(f"{option} {spec!r}: {kind} takes no path")
    return kind, path or None


def public_spec(spec: str) -> str:
    """A data spec as artifacts record it: the source kind and the file or folder name, not the path
    (manifests and reports reach API clients; the data's fingerprint identifies it)."""
    kind, _, path = spec.partition(":")
    return f"{kind}:{Path(path).name}" if path else kind


def resolve_sessions(data_spec: str, sessions_spec: str) -> str:
    """``auto`` -> the session source it stands for; any other spec as given."""
    if sessions_spec != "auto":
        return sessions_spec
    return "synthetic" if data_spec == "synthetic" else "from-data"


def check_specs(data_spec: str, sessions_spec: str) -> None:
    """Fail fast, before anything slow runs."""
    _parse(data_spec, DATA_KINDS, "--data")
    _parse(sessions_spec, SESSION_KINDS, "--sessions")


def _checks(config: TrainConfig) -> DataChecks:
    if not config.rating_range:
        return DataChecks(None, config.duplicates)
    try:
        declared = checked_range(config.rating_range, f"rating_range {','.join(map(str, config.rating_range))}")
    except ValueError as error:
        raise SpecError(str(error)) from None
    return DataChecks(declared, config.duplicates)


def _with_metadata(ratings: RatingData, config: TrainConfig) -> RatingData:
    items = loaders.load_items_csv(Path(config.items)) if config.items else ratings.items
    users = loaders.load_users_csv(Path(config.users)) if config.users else ratings.users
    return replace(ratings, items=items, users=users)


def load_sources(config: TrainConfig) -> tuple[RatingData, SessionData, SequenceProtocol]:
    """The rating data with its metadata, the session data (only clicks on the rating data's items when
    it comes from a source of its own) and the protocol to split the sessions by."""
    data_kind, data_path = _parse(config.data, DATA_KINDS, "--data")
    session_kind, session_path = _parse(resolve_sessions(config.data, config.sessions), SESSION_KINDS, "--sessions")
    generated = generate(config.synthetic) if "synthetic" in (data_kind, session_kind) else None
    checks = _checks(config)
    if data_kind == "synthetic":
        ratings = generated[0]
    elif data_kind == "ml-100k":
        ratings = loaders.load_movielens_100k(Path(data_path), checks)
    elif data_kind == "ml-latest":
        ratings = loaders.load_movielens_latest(Path(data_path), checks)
    elif data_kind == "ratings-parquet":
        ratings = loaders.load_ratings_parquet(Path(data_path), checks)
    else:
        ratings = loaders.load_ratings_csv(Path(data_path), checks)
    ratings = _with_metadata(ratings, config)

    protocol = SequenceProtocol()
    if session_kind == "synthetic":
        sessions = generated[1]
    elif session_kind == "sessions-csv":
        sessions = loaders.load_sessions_csv(Path(session_path))
    elif session_kind == "diginetica":
        sessions = loaders.load_diginetica(Path(session_path))
        protocol = DIGINETICA_PROTOCOL
    elif session_kind == "gru4rec":
        sessions = loaders.load_gru4rec(session_path)
    else:
        sessions = loaders.sessions_from_ratings(ratings)
        protocol = USER_SEQUENCE_PROTOCOL
    if session_kind not in ("synthetic", "from-data"):
        # Fail before training if the sessions are of another catalog; the trainer keeps the served part.
        sessions = on_catalog(sessions, pd.Index(ratings.all_interactions()["item_id"].unique()))
    return ratings, sessions, protocol

