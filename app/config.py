"""Service settings: one object, read from ``RECSYS_*`` environment variables (and CLI flags of
``recsys-serve``); unknown keys are rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_LENGTH = 16
EVENTS_FILE = "events.sqlite3"  # the default event store, a SQLite file in the artifact root


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="forbid", frozen=True)

    artifacts: Path = Field(Path("artifacts"), description="artifact root holding LATEST and the versions")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes; each loads its own models")
    log_level: str = "info"
    candidates: int = Field(100, ge=1, le=2000, description="ScaNN candidates passed to the ranking model")
    model_process: bool = Field(True, description="run the model work in a process of its own, so that it never "
                                "holds the event loop's interpreter lock")
    model_threads: int = Field(1, ge=0, description="threads for model math per process (TensorFlow's thread pools "
                                                    "and numpy's BLAS); 0 = the libraries' defaults")
    batch_max: int = Field(64, ge=1, description="most requests merged into one model call")
    batch_window_ms: float = Field(0.0, ge=0, le=50, description="wait for more requests before a batch runs")
    batch_queue: int = Field(1024, ge=1, description="waiting requests per endpoint before 503 overloaded")

    admin_token: SecretStr | None = Field(None, description="bearer token of the /admin routes; without it (or "
                                          "admin_token_file) they are disabled and answer 403")
    admin_token_file: Path | None = Field(None, description="a file holding the admin token (a Docker or "
                                          "Kubernetes secret), read at startup")
    max_body_bytes: int = Field(1_048_576, ge=0, description="largest request body; a larger one is refused with "
                                "413 while it streams in, before it is buffered")
    request_timeout_s: float = Field(5.0, gt=0, le=600, description="deadline of a model request, queueing "
                                     "included; later it is answered 504")
    model_timeout_s: float = Field(2.0, gt=0, le=600, description="a model process that does not answer a batch "
                                   "or a health check within this long is killed and replaced")
    model_check_interval_s: float = Field(0.5, gt=0, le=60, description="how often the model process is pinged")
    model_load_timeout_s: float = Field(600.0, gt=0, description="longest a version may take to load")
    reload_poll_s: float = Field(0.0, ge=0, description="look at LATEST this often and load a newly published "
                                 "version (every worker does); 0 = only on POST /admin/reload")

    events_url: str | None = Field(None, description="the event log: sqlite:///path or postgresql://user:password@"
                                   "host/db (shared by several servers); default sqlite:///<artifacts>/"
                                   f"{EVENTS_FILE}")
    events_token: SecretStr | None = Field(None, description="bearer token of POST /events and DELETE "
                                           "/users/{user_id}/events; without it (or events_token_file) they are "
                                           "disabled and answer 403")
    events_token_file: Path | None = Field(None, description="a file holding the events token, read at startup")
    event_types: tuple[str, ...] = Field(("view", "click", "rating", "purchase"), min_length=1,
                                         description="the event types POST /events accepts; \"rating\" events "
                                                     "carry the rating as their value")
    events_max_batch: int = Field(1000, ge=1, le=100_000, description="most events in one POST /events")
    events_sync: Literal["full", "normal"] = Field("full", description="SQLite: full survives a power cut, normal "
                                                   "a killed process (and writes faster)")
    demo_page: bool = Field(False, description="serve the page at / and its read-only routes (item search, a "
                             "user's history, the version's plots); anyone who reaches the server can then read "
                             "every user's history, so it is off unless asked for (make serve turns it on)")
    trending_window_s: float = Field(0.0, ge=0, description="popular items for users without history follow the "
                                     "events of this many recent seconds (then training popularity); 0 = off")

    @field_validator("admin_token", "admin_token_file", "events_token", "events_token_file", "events_url",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``RECSYS_ADMIN_TOKEN=`` (as compose writes an unset variable) means no token."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _token_sources(self) -> Settings:
        for name in ("admin", "events"):
            if getattr(self, f"{name}_token") is not None and getattr(self, f"{name}_token_file") is not None:
                raise ValueError(f"set RECSYS_{name.upper()}_TOKEN or RECSYS_{name.upper()}_TOKEN_FILE, not both")
            token = self._secret(name)
            if token is not None and len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(f"the {name} token must have at least {MIN_TOKEN_LENGTH} characters "
                                 f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return self

    def _secret(self, name: str) -> str | None:
        token, file = getattr(self, f"{name}_token"), getattr(self, f"{name}_token_file")
        if token is not None:
            return token.get_secret_value()
        if file is not None:
            try:
                return file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ValueError(f"cannot read the {name} token file: {error.strerror}") from error
        return None

    def admin_secret(self) -> str | None:
        """The admin token, from the setting or its file; None when admin routes are disabled."""
        return self._secret("admin")

    def events_secret(self) -> str | None:
        """The events token, from the setting or its file; None when the event routes are disabled."""
        return self._secret("events")

    def event_store_url(self) -> str:
        return self.events_url or f"sqlite:///{self.artifacts.resolve() / EVENTS_FILE}"
