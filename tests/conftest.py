import json
import os
import uuid
from pathlib import Path

import pytest

# TFRS needs Keras 2; TensorFlow picks the Keras version at its first import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Small enough to train every model in about half a minute, large enough that learning shows.
TINY_TRAINING = [
    "synthetic.n_users=300", "synthetic.n_items=200", "synthetic.n_sessions=1500",
    "retrieval.epochs=8", "ranking.epochs=8", "mf.epochs=8",
    "gru4rec.epochs=4", "gru4rec.n_sample=128", "gru4rec.batch_size=32", "narm.epochs=3", "autorec.epochs=10",
    "autorec.learning_rate=0.002",  # ten epochs at the default rate (tuned for 150-190 of them) learn little
]


def shared_data(name: str) -> Path:
    """A data set from ../shared/data, or a loud skip where it is absent (a user's clone)."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is not available here (CI has it beside the clone)")
    return path


@pytest.fixture(scope="session")
def trained_version(tmp_path_factory) -> Path:
    """One artifact version trained for real on tiny synthetic data, shared by the tests that need it."""
    from training.config import TrainConfig, apply_overrides
    from training.train import run

    root = tmp_path_factory.mktemp("artifacts")
    return run(apply_overrides(TrainConfig(), TINY_TRAINING), root, version="tiny-1")


@pytest.fixture(scope="session")
def trained_report(trained_version) -> dict:
    return json.loads((trained_version / "report.json").read_text())


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL server for the test session: pgserver ships PostgreSQL's own binaries in a wheel
    (a dev dependency), started here in a temporary directory on a Unix socket and stopped at the end."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    return postgres_server.get_uri(name)
