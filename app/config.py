"""Service settings: one object, read from ``RECSYS_*`` environment variables (and CLI flags of
``recsys-serve``); unknown keys are rejected."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_LENGTH = 16


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

    @field_validator("admin_token", "admin_token_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``RECSYS_ADMIN_TOKEN=`` (as compose writes an unset variable) means no token."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _admin_token_source(self) -> Settings:
        if self.admin_token is not None and self.admin_token_file is not None:
            raise ValueError("set RECSYS_ADMIN_TOKEN or RECSYS_ADMIN_TOKEN_FILE, not both")
        token = self.admin_secret()
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the admin token must have at least {MIN_TOKEN_LENGTH} characters "
                             f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return self

    def admin_secret(self) -> str | None:
        """The admin token, from the setting or its file; None when admin routes are disabled."""
        if self.admin_token is not None:
            return self.admin_token.get_secret_value()
        if self.admin_token_file is not None:
            try:
                return self.admin_token_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ValueError(f"cannot read the admin token file: {error.strerror}") from error
        return None
