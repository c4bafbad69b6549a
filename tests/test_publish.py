"""Crash-safe publishing: the exporter killed with SIGKILL at several points of the export leaves
LATEST naming the previous complete, servable version; the next run cleans up and publishes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.artifacts import load_catalog, resolve_version
from models import artifact_format as fmt
from tests.conftest import TINY_TRAINING
from tests.versions import copy_version
from training.export.publish import check_new_version, remove_leftovers, write_latest

QUICK = [*TINY_TRAINING, "retrieval.epochs=1", "ranking.epochs=1", "mf.epochs=1", "gru4rec.epochs=1",
         "narm.epochs=1", "autorec.epochs=1"]


def _staging(root: Path) -> list[Path]:
    return [path for path in root.iterdir() if path.name.startswith(fmt.STAGING_PREFIX)]


# Points of the export, each seen from outside as a state of the staging directory.
KILL_POINTS = {
    "staging created": lambda staging: True,
    "saved models being written": lambda staging: (staging / fmt.QUERY_MODEL).is_dir(),
    "smoke test running": lambda staging: (staging / fmt.MANIFEST).is_file(),
}


class Trainer:
    """``recsys-train`` in its own process group (so the smoke test it starts dies with it); its log in a file."""

    def __init__(self, root: Path, version: str) -> None:
        command = [str(Path(sys.executable).parent / "recsys-train"), "--artifacts", str(root), "--version", version,
                   *(argument for setting in QUICK for argument in ("--set", setting))]
        self.log = root.parent / f"train-{version}-{time.monotonic_ns()}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _assert_latest_serves(root: Path, version: str) -> None:
    assert fmt.read_latest(root) == version
    assert load_catalog(resolve_version(root)).version == version  # every checksum verified


def test_a_killed_export_leaves_latest_on_a_complete_version(trained_version, tmp_path, capsys):
    copy_version(trained_version, tmp_path, "old")
    write_latest(tmp_path, "old")
    for point, reached in KILL_POINTS.items():
        trainer = Trainer(tmp_path, "new")
        deadline = time.monotonic() + 600
        while not any(reached(staging) for staging in _staging(tmp_path)):
            assert trainer.process.poll() is None, f"the trainer ended before '{point}': {trainer.output()[-2000:]}"
            assert time.monotonic() < deadline, f"'{point}' not reached"
            time.sleep(0.01)
        os.killpg(trainer.process.pid, signal.SIGKILL)
        trainer.process.wait()
        left = [path.name for path in _staging(tmp_path)]
        assert left, f"the kill at '{point}' came too late to leave a staging directory"
        _assert_latest_serves(tmp_path, "old")
        assert not (tmp_path / "new").exists()
        with capsys.disabled():
            print(f"\n[publish] killed at '{point}': LATEST still 'old' and verified; left {left}")

    # The next run removes what the killed ones left, and publishes.
    trainer = Trainer(tmp_path, "new")
    assert trainer.process.wait(timeout=600) == 0, trainer.output()[-3000:]
    assert "removed what an interrupted export left behind" in trainer.output()
    assert not _staging(tmp_path) and not list(tmp_path.glob(f".{fmt.LATEST}.*"))
    _assert_latest_serves(tmp_path, "new")


def test_leftovers_are_only_staging_directories_and_latest_temporaries(tmp_path):
    (tmp_path / f"{fmt.STAGING_PREFIX}v1-123").mkdir()
    (tmp_path / f".{fmt.LATEST}.456").write_text("v1\n")
    (tmp_path / "v0").mkdir()
    assert sorted(remove_leftovers(tmp_path)) == [f".{fmt.LATEST}.456", f"{fmt.STAGING_PREFIX}v1-123"]
    assert [path.name for path in tmp_path.iterdir()] == ["v0"]


def test_an_existing_version_is_refused_before_training(tmp_path):
    (tmp_path / "v1").mkdir()
    with pytest.raises(fmt.ArtifactError, match="already exists"):
        check_new_version(tmp_path, "v1")
    with pytest.raises(fmt.ArtifactError, match="invalid model version name"):
        check_new_version(tmp_path, "v1\n")
