"""Training configuration: one pydantic-settings object with every default in one place, read like the
server's settings: ``RECSYS_*`` environment variables (nested fields as ``RECSYS_SECTION__FIELD``, e.g.
``RECSYS_GRU4REC__LOSS=bpr-max``), then ``recsys-train``'s flags and ``--set section.field=value``
overrides (unknown sections or fields are refused; values are converted and checked by pydantic)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, CliSettingsSource, SettingsConfigDict, SettingsError

from models.autorec import AutoRecConfig
from models.gru4rec import GRU4RecConfig
from models.mult_vae import AutoencoderConfig
from models.narm import NARMConfig
from models.neumf import NeuMFConfig
from models.ranking import MFConfig, RankingConfig
from models.retrieval import RetrievalConfig
from training.data.synthetic import SyntheticConfig

RATING_MODELS = ("deep", "neumf", "mf", "autorec")


class TrainConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECSYS_", env_nested_delimiter="__", extra="forbid", frozen=True)

    data: str = "synthetic"
    sessions: str = "auto"  # auto: the synthetic sessions for synthetic data, else from-data
    items: str = ""  # a CSV of item metadata (item_id,title,genres), replacing the data's own
    users: str = ""  # a CSV of user features (user_id plus any columns), replacing the data's own
    rating_range: tuple[float, ...] = ()  # the declared scale LOW,HIGH; empty: the format's own, else inferred
    duplicates: Literal["last", "mean"] = "last"  # repeated (user, item) ratings: the last by time, or the mean
    # The event log whose events (up to its last id when training starts) join the training data:
    # sqlite:///path or postgresql://... (the server's RECSYS_EVENTS_URL); empty: none.
    events_url: str = ""
    split: Literal["random", "temporal"] = "random"  # for data without a split of its own
    seed: int = 42
    history_length: int = 200  # recent items per user fed to the query and ranking models
    # After choosing epochs and settings on validation, retrain the served models on all training data.
    refit: bool = True
    # The candidate sources /recommend may mix: the two-tower model (ScaNN), EASE (on catalogs small enough
    # for its matrix, models.item_item) and the user autoencoder (Mult-VAE / DAE); the mix of those
    # given and their weights are chosen on validation (training.evaluate.two_stage.choose_mix).
    candidate_sources: tuple[Literal["two-tower", "ease", "autoencoder"], ...] = Field(
        default=("two-tower", "ease", "autoencoder"), min_length=1)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    autoencoder: AutoencoderConfig = Field(default_factory=AutoencoderConfig)
    # What /predict-rating serves and /recommend ranks with: one rating model, or "blend", a least-squares
    # blend on validation of the models in rating_blend (I-AutoRec only on catalogs small enough for it).
    rating_model: Literal["blend", *RATING_MODELS] = "blend"
    rating_blend: tuple[Literal[RATING_MODELS], ...] = Field(default=("deep", "mf", "autorec"), min_length=1)
    ranking: RankingConfig = Field(default_factory=RankingConfig)  # the deep ranking model
    neumf: NeuMFConfig = Field(default_factory=NeuMFConfig)
    mf: MFConfig = Field(default_factory=MFConfig)
    autorec: AutoRecConfig = Field(default_factory=AutoRecConfig)
    session_model: Literal["auto", "gru4rec", "narm"] = "auto"  # auto: the better one on validation
    gru4rec: GRU4RecConfig = Field(default_factory=GRU4RecConfig)
    narm: NARMConfig = Field(default_factory=NARMConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)


class ConfigError(ValueError):
    pass


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _problem(error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"])
    return f"{name}={error['input']!r}: not a valid setting: {error['msg']}"


def load_config(given: dict[str, Any], overrides: list[str]) -> TrainConfig:
    """The environment's settings, then ``given`` (command-line flags), then ``overrides``."""
    try:
        config = TrainConfig(**given)
    except ValidationError as error:
        raise ConfigError("; ".join(_problem(problem) for problem in error.errors())) from None
    return apply_overrides(config, overrides)


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """``["gru4rec.loss=bpr-max", "seed=7"]`` -> a new config with those fields replaced; lists as
    ``retrieval.tower_widths=128,64``."""
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: expected section.field=value")
    arguments = [f"--{override}" for override in overrides]
    try:
        given = CliSettingsSource(TrainConfig, cli_parse_args=arguments, cli_exit_on_error=False,
                                  cli_implicit_flags=False)()
    except SettingsError as error:
        unknown = re.findall(r"--([\w.]+)=", str(error))
        raise ConfigError(f"unknown setting {', '.join(repr(name) for name in unknown) or str(error)}; "
                          f"known sections and fields: {', '.join(TrainConfig.model_fields)}") from None
    try:
        return TrainConfig(**_merge(config.model_dump(), given))
    except ValidationError as error:
        raise ConfigError("; ".join(_problem(problem) for problem in error.errors())) from None


def as_json(config: Any) -> dict[str, Any]:
    """A settings object (or any dataclass) as JSON-ready values."""
    return TypeAdapter(type(config)).dump_python(config, mode="json")
