"""Training configuration: frozen dataclasses with every default in one place, overridable from the
command line as ``--set section.field=value`` (unknown sections or fields are rejected)."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from models.autorec import AutoRecConfig
from models.gru4rec import GRU4RecConfig
from models.narm import NARMConfig
from models.ranking import MFConfig, RankingConfig
from models.retrieval import RetrievalConfig
from training.data.synthetic import SyntheticConfig


@dataclass(frozen=True)
class TrainConfig:
    data: str = "synthetic"
    sessions: str = "auto"  # auto: the synthetic sessions for synthetic data, else from-data
    items: str = ""  # a CSV of item metadata (item_id,title,genres), replacing the data's own
    users: str = ""  # a CSV of user features (user_id plus any columns), replacing the data's own
    rating_range: tuple[float, ...] = ()  # the declared scale LOW,HIGH; empty: the format's own, else inferred
    duplicates: Literal["last", "mean"] = "last"  # repeated (user, item) ratings: the last by time, or the mean
    split: Literal["random", "temporal"] = "random"  # for data without a split of its own
    seed: int = 42
    history_length: int = 200  # recent items per user fed to the query and ranking models
    # After choosing epochs and settings on validation, retrain the served models on all training data.
    refit: bool = True
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    mf: MFConfig = field(default_factory=MFConfig)
    use_autorec: bool = True  # a member of the served rating blend (skipped on catalogs too large for it)
    autorec: AutoRecConfig = field(default_factory=AutoRecConfig)
    session_model: Literal["auto", "gru4rec", "narm"] = "auto"  # auto: the better one on validation
    gru4rec: GRU4RecConfig = field(default_factory=GRU4RecConfig)
    narm: NARMConfig = field(default_factory=NARMConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


class ConfigError(ValueError):
    pass


def _convert(raw: str, kind: Any, name: str) -> Any:
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind in (int, float, str):
            return kind(raw)
        if origin is tuple:
            element = typing.get_args(kind)[0]
            return tuple(element(part) for part in raw.split(",") if part)
        if origin is typing.Literal:
            if raw not in typing.get_args(kind):
                raise ValueError(raw)
            return raw
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r}: not a valid {getattr(kind, '__name__', kind)}") from error
    raise ConfigError(f"{name} cannot be set from the command line")


def apply_overrides(config: Any, overrides: list[str], prefix: str = "") -> Any:
    """``["gru4rec.loss=bpr-max", "seed=7"]`` -> a new config with those fields replaced."""
    hints = typing.get_type_hints(type(config))
    nested: dict[str, list[str]] = {}
    direct: dict[str, Any] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise ConfigError(f"--set {override!r}: expected section.field=value")
        head, dot, rest = key.partition(".")
        names = {f.name for f in fields(config)}
        if head not in names:
            raise ConfigError(f"unknown setting '{prefix}{head}'; known: {', '.join(sorted(names))}")
        if dot:
            if not dataclasses.is_dataclass(getattr(config, head)):
                raise ConfigError(f"{prefix}{head} has no fields")
            nested.setdefault(head, []).append(f"{rest}={value}")
        else:
            direct[head] = _convert(value, hints[head], prefix + head)
    for head, items in nested.items():
        direct[head] = apply_overrides(getattr(config, head), items, prefix=f"{prefix}{head}.")
    return replace(config, **direct)


def as_json(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
