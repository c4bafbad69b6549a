"""Service settings: one object, read from ``RECSYS_*`` environment variables (and CLI flags of
``recsys-serve``); unknown keys are rejected."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
