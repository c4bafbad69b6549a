"""Make a written version visible, crash-safely: the one way a version enters the artifact root.

Under an exclusive lock on the root (``.publish.lock``; one exporter at a time, across processes and
containers sharing the volume):
1. staging directories and LATEST temporaries left by a killed exporter are removed;
2. the version is written into ``.staging-<version>-<pid>``, the manifest last, with a sha256 of every
   other file (``models.checksums``);
3. every file and directory is flushed to disk (fsync), so a crash after the rename cannot leave a
   version whose names exist but whose contents were never written;
4. a fresh process loads the staged version exactly as the server does and answers one request of
   each kind (``python -m app.smoke``); a version that fails is deleted and never published;
5. the staging directory is renamed into place, then ``LATEST`` is replaced atomically (temporary
   file, fsync, rename, fsync of the root).
A kill at any point leaves ``LATEST`` naming the previous complete version.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from models import artifact_format as fmt

log = logging.getLogger(__name__)
LOCK_FILE = ".publish.lock"
TRAINING_LOCK_FILE = ".training.lock"
SMOKE_TEST_TIMEOUT_S = 900


def check_new_version(root: Path, version: str) -> str:
    """A valid name that no version in ``root`` has yet (versions are immutable)."""
    fmt.check_version_name(version)
    if (root / version).exists():
        raise fmt.ArtifactError(f"artifact version {version} already exists in {root}; versions are immutable")
    return version


@contextmanager
def training_lock(root: Path) -> Iterator[None]:
    """One training at a time per artifact root, refused at once rather than queued: two runs racing
    for LATEST would let the one that finishes last win, even if it started first."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / TRAINING_LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise fmt.ArtifactError(f"another recsys-train ({holder}) is training into {root}; wait for it to "
                                    "finish, or train into another --artifacts directory") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def publish_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for another exporter to finish
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_leftovers(root: Path) -> list[str]:
    """Staging directories and LATEST temporaries of exporters that died; only safe under the lock."""
    removed = []
    for path in root.iterdir():
        if path.name.startswith(fmt.STAGING_PREFIX) or path.name.startswith(f".{fmt.LATEST}."):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            removed.append(path.name)
    if removed:
        log.warning("removed what an interrupted export left behind: %s", ", ".join(sorted(removed)))
    return removed


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(directory: Path) -> None:
    """Every file, then every directory bottom-up, so names and contents are both on disk."""
    for parent, _, names in os.walk(directory, topdown=False):
        for name in names:
            _fsync(Path(parent) / name)
        _fsync(Path(parent))


def smoke_test(version_dir: Path) -> None:
    """Load the version in a fresh process as the server does and ask it one request of each kind."""
    command = [sys.executable, "-m", "app.smoke", str(version_dir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SMOKE_TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise fmt.ArtifactError(f"the smoke test of the new version took over {SMOKE_TEST_TIMEOUT_S} s") from error
    if done.returncode != 0:
        detail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise fmt.ArtifactError(f"the new version failed its smoke test (python -m app.smoke):\n{detail}")
    log.info("smoke test passed: %s", done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")


def write_latest(root: Path, version: str) -> None:
    temporary = root / f".{fmt.LATEST}.{os.getpid()}"
    with temporary.open("w", encoding="utf-8") as stream:
        stream.write(version + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, root / fmt.LATEST)
    _fsync(root)


def publish(root: Path, version: str, write: Callable[[Path], None], write_manifest: Callable[[Path], None]) -> Path:
    """``write(staging)`` writes the version's files, ``write_manifest(staging)`` its manifest (it can
    read the finished files, to record their checksums). Returns the published directory."""
    with publish_lock(root):
        remove_leftovers(root)
        check_new_version(root, version)
        staging = root / f"{fmt.STAGING_PREFIX}{version}-{os.getpid()}"
        staging.mkdir()
        try:
            write(staging)
            write_manifest(staging)
            fmt.read_manifest(staging)  # the reader's own completeness check
            fsync_tree(staging)
            smoke_test(staging)
            final = root / version
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync(root)
        write_latest(root, version)
    log.info("published model version %s in %s", version, root)
    return final
