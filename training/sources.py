"""Data source specs of the command line (``--data`` and ``--sessions``) -> loaded data + protocol.

--data:     synthetic | ml-100k:PATH | ml-latest:PATH | ratings-csv:PATH
--sessions: synthetic | sessions-csv:PATH | diginetica:PATH | gru4rec:PREFIX | from-data
"""

from __future__ import annotations

from pathlib import Path

from training import data as loaders
from training.dataset import RatingData, SessionData
from training.sequences import SequenceProtocol
from training.synthetic import SyntheticConfig, generate

DATA_KINDS = ("synthetic", "ml-100k", "ml-latest", "ratings-csv")
SESSION_KINDS = ("synthetic", "sessions-csv", "diginetica", "gru4rec", "from-data")


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
    needs_path = kind not in ("synthetic", "from-data")
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


def check_specs(data_spec: str, sessions_spec: str) -> None:
    """Fail fast, before anything slow runs."""
    _parse(data_spec, DATA_KINDS, "--data")
    _parse(sessions_spec, SESSION_KINDS, "--sessions")


def load_sources(data_spec: str, sessions_spec: str,
                 synthetic: SyntheticConfig | None = None) -> tuple[RatingData, SessionData, SequenceProtocol]:
    data_kind, data_path = _parse(data_spec, DATA_KINDS, "--data")
    session_kind, session_path = _parse(sessions_spec, SESSION_KINDS, "--sessions")
    generated = generate(synthetic or SyntheticConfig()) if "synthetic" in (data_kind, session_kind) else None
    if data_kind == "synthetic":
        ratings = generated[0]
    elif data_kind == "ml-100k":
        ratings = loaders.load_movielens_100k(Path(data_path))
    elif data_kind == "ml-latest":
        ratings = loaders.load_movielens_latest(Path(data_path))
    else:
        ratings = loaders.load_ratings_csv(Path(data_path))

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
    return ratings, sessions, protocol
