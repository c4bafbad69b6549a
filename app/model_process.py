"""Model work in a child process, so that the event loop's process keeps its interpreter lock for HTTP.

In one process, the batch threads' numpy, ScaNN and TensorFlow work and the event loop take turns on
one interpreter lock: under load at concurrency 32 the whole server used about one core (event loop
65%, /recommend batch thread 39%) while the machine stood 44% idle. Here the server process keeps the
event loop, validation, batching and serialization; the model process ("recsys-models") holds the
loaded versions and runs each batch (/recommend at concurrency 32: 34-41% of /healthz's throughput
before, 46-54% after; the hop costs about 0.3 ms at concurrency 1).

Each batch endpoint has its own pipe, used only by that endpoint's batch thread, and loads go over a
control pipe; every message is answered in order.

The model process keeps the last two versions it loaded (the current one, and the one before for
batches accepted just before a swap). If it dies, the batches in flight fail with
``ModelUnavailable`` (503), and a new one starts and reloads those versions.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.config import Settings
from app.recommender import Recommender
from app.timing import StageTimes
from models import artifact_format as fmt
from models.artifact_format import ArtifactError

log = logging.getLogger("recsys.model_process")
BATCH_METHODS = ("recommend_batch", "next_items_batch", "predict_batch")
_KEPT_VERSIONS = 2


class ModelUnavailable(RuntimeError):
    """The model process exited; a new one is starting."""


class ModelProcess:
    """The server side: starts the model process, asks it to load versions and to run batches."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.model_dump()
        self._context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        self._lock = threading.Lock()  # guards starting, loading and replacing the process
        self._loaded: list[str] = []  # version directories the process holds, oldest first
        self._process: Any = None
        self._control: Connection | None = None
        self._pipes: dict[str, Connection] = {}
        self._restarting = False

    def _start(self) -> None:
        control, child_control = self._context.Pipe()
        pipes = {method: self._context.Pipe() for method in BATCH_METHODS}
        self._process = self._context.Process(
            target=_serve, name="recsys-models", daemon=True,
            args=(self._settings, child_control, {method: ends[1] for method, ends in pipes.items()}))
        self._process.start()
        for connection in (child_control, *(ends[1] for ends in pipes.values())):
            connection.close()  # the child's ends live in the child now
        self._control, self._pipes = control, {method: ends[0] for method, ends in pipes.items()}
        log.info("model process %d started", self._process.pid)

    def _start_with_versions(self) -> None:
        """A new model process holding the versions the last one held (after it died)."""
        self._start()
        for version_dir in self._loaded:
            try:
                self._ask(("load", version_dir))
            except ArtifactError as error:
                log.error("reloading %s in the new model process failed: %s", version_dir, error)

    def _ask(self, message: tuple) -> None:
        """A control request; raises ArtifactError with the model process's reason when it fails."""
        try:
            self._control.send(message)
            status, detail = self._control.recv()
        except (EOFError, OSError) as error:
            raise ArtifactError(f"the model process exited while loading: {error}") from error
        if status != "ok":
            raise ArtifactError(detail)

    def load(self, version_dir: Path) -> Recommender:
        """Load a version in the model process; on failure it keeps what it had and this raises."""
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start_with_versions()
            self._ask(("load", str(version_dir)))
            self._loaded = [*(path for path in self._loaded if path != str(version_dir)), str(version_dir)]
            self._loaded = self._loaded[-_KEPT_VERSIONS:]
        return RemoteRecommender(version_dir, fmt.read_manifest(version_dir), self)

    def run(self, method: str, version_dir: Path, requests: Sequence, times: StageTimes) -> list:
        """One batch, from the endpoint's batch thread (the only user of that pipe)."""
        if self._restarting:
            raise ModelUnavailable("the model process is restarting; retry shortly")
        pipe = self._pipes[method]
        started = time.perf_counter()
        try:
            pipe.send((str(version_dir), list(requests)))
            status, results, stages = pipe.recv()
        except (EOFError, OSError) as error:
            self._replace()
            raise ModelUnavailable(f"the model process exited ({error}); a new one is starting") from error
        times.seconds.update(stages)
        # What the hop between the processes cost: pickling, the pipe, waking the other side.
        times.seconds["transfer"] = max(0.0, time.perf_counter() - started - sum(stages.values()))
        if status != "ok":
            raise RuntimeError(f"the model process failed on a batch: {results}")
        return results

    def _replace(self) -> None:
        """Start a new model process with the same versions, once, in the background."""
        with self._lock:
            if self._restarting:
                return
            self._restarting = True

        def restart() -> None:
            with self._lock:
                log.error("model process %s exited (code %s); starting a new one", self._process.pid,
                          self._process.exitcode)
                self._process.join(timeout=5)
                try:
                    self._start_with_versions()
                finally:
                    self._restarting = False

        threading.Thread(target=restart, name="model-process-restart", daemon=True).start()

    @property
    def restarting(self) -> bool:
        return self._restarting

    def close(self) -> None:
        with self._lock:
            if self._process is None:
                return
            try:
                self._control.send(None)
            except OSError:
                pass
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None


class RemoteRecommender(Recommender):
    """A version loaded in the model process. This side holds only what the routes ask for (version,
    path, manifest): the catalog (user features, seen items, titles) lives in the model process alone."""

    def __init__(self, version_dir: Path, manifest: dict, process: ModelProcess) -> None:  # no catalog here
        self._path = version_dir
        self._manifest = manifest
        self._process = process

    @property
    def version(self) -> str:
        return self._manifest["version"]

    @property
    def path(self) -> Path:
        return self._path

    @property
    def manifest(self) -> dict:
        return self._manifest

    def unavailable(self) -> str | None:
        return "the model process is restarting" if self._process.restarting else None

    def recommend_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("recommend_batch", self.path, requests, times)

    def next_items_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("next_items_batch", self.path, requests, times)

    def predict_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("predict_batch", self.path, requests, times)


def _serve(settings: dict, control: Connection, pipes: dict[str, Connection]) -> None:
    """The model process: load versions on request and answer batches, one thread per endpoint pipe."""
    from app.service import freeze_heap, tensorflow_recommender

    config = Settings(**settings)
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build = tensorflow_recommender(config)
    loaded: dict[str, Recommender] = {}

    def answer(method: str, pipe: Connection) -> None:
        while True:
            try:
                version_dir, requests = pipe.recv()
            except (EOFError, OSError):
                return
            times = StageTimes()
            try:
                message = ("ok", getattr(loaded[version_dir], method)(requests, times), times.seconds)
            except Exception as error:  # reported to the server, which fails this batch's requests
                log.exception("%s failed", method)
                message = ("error", f"{type(error).__name__}: {error}", times.seconds)
            pipe.send(message)

    for method, pipe in pipes.items():
        threading.Thread(target=answer, args=(method, pipe), name=f"models-{method}", daemon=True).start()
    while True:
        try:
            request = control.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        _, version_dir = request
        try:
            recommender = build(Path(version_dir))
            loaded.pop(version_dir, None)
            loaded[version_dir] = recommender  # newest last
            for old in list(loaded)[:-_KEPT_VERSIONS]:
                del loaded[old]
            freeze_heap()
            control.send(("ok", None))
        except Exception as error:  # the server reports it and keeps serving what it had
            control.send(("error", str(error)))
