"""Model work in a supervised child process, so that the event loop's process keeps its interpreter
lock for HTTP.

In one process, the batch threads' numpy, ScaNN and TensorFlow work and the event loop take turns on
one interpreter lock: under load at concurrency 32 the whole server used about one core (event loop
65%, /recommend batch thread 39%) while the machine stood 44% idle. Here the server process keeps the
event loop, validation, batching and serialization; the model process ("recsys-models") holds the
loaded versions and runs each batch (/recommend at concurrency 32: 34-41% of /healthz's throughput
before, 46-54% after; the hop costs about 0.3 ms at concurrency 1).

Pipes: one per batch endpoint (used only by that endpoint's batch thread), one for loads and unloads
(control), one for health checks (ping); every message is answered in order.

Supervision (a thread of the server process, ``_supervise``): every ``model_check_interval_s`` it
pings the model process; a process that died, that does not answer a ping or a batch within
``model_timeout_s`` (``model_load_timeout_s`` while it loads a version, unless it is stopped), is
killed and replaced by a new one, which loads the versions the old one held. Until the replacement
holds the current version, ``problem`` says why and every model request gets 503; if it cannot load
it (a file changed on disk, say), it is retried with a growing pause and ``/readyz`` stays 503. A
version that stopped being current is unloaded once no request uses it.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.config import Settings
from app.metrics import ServiceMetrics
from app.model_worker import serve
from app.recommender import Recommender
from app.timing import StageTimes
from models import artifact_format as fmt
from models.artifact_format import ArtifactError

log = logging.getLogger("recsys.model_process")
BATCH_METHODS = ("recommend_batch", "next_items_batch", "predict_batch", "history_batch", "items_batch")
_TICK_S = 0.1  # how often the supervisor looks
_UNLOAD_GRACE_S = 1.0  # a retired version stays this long at least (a request may have just picked it)
_MAX_RETRY_PAUSE_S = 60.0


class ModelUnavailable(RuntimeError):
    """No working model process holds the version; the message says why."""


def _stopped(pid: int) -> bool:
    """Stopped by a signal (SIGSTOP, SIGTSTP) or a tracer, from /proc (False where /proc is absent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("T", "t")


@dataclass
class _Child:
    """One started model process and the server's ends of its pipes."""

    process: Any  # multiprocessing's SpawnProcess
    control: Connection
    ping: Connection
    pipes: dict[str, Connection]
    calls: dict[str, float] = field(default_factory=dict)  # pipe -> monotonic start of the call in flight
    ping_sent: float | None = None
    last_ping: float = 0.0
    failed: bool = False


class ModelProcess:
    """The server side: starts and supervises the model process, asks it to load and unload versions
    and to run batches."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics | None = None) -> None:
        # No tokens there: the model process only reads the event log (its URL may hold the database's password).
        self._settings = settings.model_dump(exclude={"admin_token", "admin_token_file", "events_token",
                                                      "events_token_file"})
        self._timeout = settings.model_timeout_s
        self._load_timeout = settings.model_load_timeout_s
        self._interval = settings.model_check_interval_s
        self._metrics = metrics
        self._context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        self._lock = threading.Lock()  # starting, loading, unloading and replacing the process
        self._state = threading.Lock()  # marking a process failed (short; never held while waiting)
        self._child: _Child | None = None
        self._versions: list[str] = []  # version directories the process must hold, current last
        self._retired: list[tuple[RemoteRecommender, float]] = []
        self._closing = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._restarter: threading.Thread | None = None
        self._needs_restart = False
        self._retry_at = 0.0
        self._retry_pause = 1.0
        self.problem: str | None = "no model version is loaded yet"

    # --- starting and loading (under self._lock) -------------------------------------------------

    def _start(self) -> _Child:
        control, child_control = self._context.Pipe()
        ping, child_ping = self._context.Pipe()
        pipes = {method: self._context.Pipe() for method in BATCH_METHODS}
        process = self._context.Process(
            target=serve, name="recsys-models", daemon=True,
            args=(self._settings, child_control, child_ping, {method: ends[1] for method, ends in pipes.items()}))
        process.start()
        for connection in (child_control, child_ping, *(ends[1] for ends in pipes.values())):
            connection.close()  # the child's ends live in the child now
        log.info("model process %d started", process.pid)
        return _Child(process, control, ping, {method: ends[0] for method, ends in pipes.items()},
                      last_ping=time.monotonic())

    def _ask(self, child: _Child, message: tuple) -> None:
        """A control request; raises ArtifactError with the model process's reason when it fails."""
        child.calls["control"] = time.monotonic()
        try:
            child.control.send(message)
            if not child.control.poll(self._load_timeout):
                self._fail(child, f"did not finish loading within {self._load_timeout:g} s")
                raise ArtifactError(f"the model process did not finish loading within {self._load_timeout:g} s")
            status, detail = child.control.recv()
        except (EOFError, OSError) as error:
            raise ArtifactError(f"the model process exited while loading ({type(error).__name__})") from error
        finally:
            child.calls.pop("control", None)
        if status != "ok":
            raise ArtifactError(detail)

    def _working_child(self) -> _Child:
        """The live model process, or a new one that has loaded ``self._versions``. An older version it
        cannot load is dropped; if the current one fails, the new process is killed and this raises."""
        child = self._child
        if child is not None and not child.failed and child.process.is_alive():
            return child
        if child is not None:
            child.process.kill()
            child.process.join(timeout=10)  # reaped, not left a zombie
        child = self._child = self._start()
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name="model-supervisor", daemon=True)
            self._supervisor.start()
        for version_dir in list(self._versions):
            try:
                self._ask(child, ("load", version_dir))
            except ArtifactError as error:
                name = Path(version_dir).name
                if not child.failed and version_dir != self._versions[-1]:
                    self._versions.remove(version_dir)
                    log.error("the new model process could not load %s (no longer current; dropped): %s",
                              name, error)
                    continue
                with self._state:
                    child.failed = True
                child.process.kill()
                raise ArtifactError(f"the new model process could not load {name}: {error}") from error
        return child

    def load(self, version_dir: Path) -> Recommender:
        """Load a version in the model process (which keeps what it had if that fails, and this raises)."""
        with self._lock:
            try:
                child = self._working_child()
            except ArtifactError as error:  # the versions it held cannot come back; the new one replaces them
                log.error("%s; loading %s in a fresh model process instead", error, version_dir.name)
                self._versions = []
                child = self._working_child()
            self._ask(child, ("load", str(version_dir)))
            self._versions = [*(path for path in self._versions if path != str(version_dir)), str(version_dir)]
            with self._state:
                self._retired = [(old, since) for old, since in self._retired if old.path != version_dir]
                self.problem = None
                self._needs_restart = False
                self._retry_pause = 1.0
        return RemoteRecommender(version_dir, fmt.read_manifest(version_dir), self)

    def retire(self, recommender: RemoteRecommender) -> None:
        """``recommender`` is no longer current: unload its version once no request uses it."""
        with self._state:
            self._retired.append((recommender, time.monotonic()))

    # --- batches (from each endpoint's batch thread) ----------------------------------------------

    def run(self, method: str, version_dir: Path, requests: Sequence, times: StageTimes) -> list:
        """One batch; a call that does not come back in time is ended by the supervisor killing the process."""
        child = self._child
        if self.problem is not None or child is None or child.failed:
            raise ModelUnavailable(self.problem or "the model process is restarting")
        pipe = child.pipes[method]
        started = time.perf_counter()
        child.calls[method] = time.monotonic()
        try:
            pipe.send((str(version_dir), list(requests)))
            status, results, stages = pipe.recv()
        except (EOFError, OSError) as error:
            self._fail(child, f"exited during a batch ({type(error).__name__})")
            raise ModelUnavailable(self.problem or "the model process is restarting") from error
        finally:
            child.calls.pop(method, None)
        times.seconds.update(stages)
        # What the hop between the processes cost: pickling, the pipe, waking the other side.
        times.seconds["transfer"] = max(0.0, time.perf_counter() - started - sum(stages.values()))
        if status == "missing":
            raise ModelUnavailable(results)
        if status != "ok":
            raise RuntimeError(f"the model process failed on a batch: {results}")
        return results

    # --- supervision ------------------------------------------------------------------------------

    def _fail(self, child: _Child, reason: str) -> None:
        """Kill ``child`` and have it replaced (once per child, from any thread)."""
        with self._state:
            if child.failed:
                return
            child.failed = True
            self.problem = f"the model process {reason}; a new one is starting"
            self._needs_restart = True
            self._retry_at = 0.0
        log.error("model process %d %s; killing it and starting a new one", child.process.pid, reason)
        child.process.kill()
        if self._metrics is not None:
            self._metrics.model_restarts.inc()

    def _health(self, child: _Child, now: float) -> str | None:
        """Why ``child`` must be replaced, or None. Also sends and collects pings."""
        if not child.process.is_alive():
            return f"exited with code {child.process.exitcode}"
        if child.ping_sent is not None and child.ping.poll(0):
            try:
                loaded = child.ping.recv()
            except (EOFError, OSError):
                return "closed its health-check pipe"
            child.ping_sent = None
            if self._metrics is not None:
                self._metrics.model_versions.set(len(loaded))
        if child.ping_sent is None and now - child.last_ping >= self._interval:
            try:
                child.ping.send("ping")
            except OSError:
                return "closed its health-check pipe"
            child.ping_sent = child.last_ping = now
        loading = "control" in child.calls
        tolerance = self._load_timeout if loading and not _stopped(child.process.pid) else self._timeout
        waits = [*child.calls.values(), *([child.ping_sent] if child.ping_sent is not None else [])]
        if waits and now - min(waits) > tolerance:
            state = "is stopped and" if _stopped(child.process.pid) else "hangs:"
            return f"{state} did not answer within {tolerance:g} s"
        return None

    def _supervise(self) -> None:
        while not self._closing.wait(_TICK_S):
            now = time.monotonic()
            child = self._child
            if child is not None and not child.failed and (reason := self._health(child, now)) is not None:
                self._fail(child, reason)
            if self._needs_restart and now >= self._retry_at and \
                    (self._restarter is None or not self._restarter.is_alive()):
                self._restarter = threading.Thread(target=self._restart, name="model-restart", daemon=True)
                self._restarter.start()
            self._unload_retired(now)

    def _restart(self) -> None:
        with self._lock:
            if not self._needs_restart or self._closing.is_set():
                return
            try:
                child = self._working_child()
            except ArtifactError as error:
                with self._state:
                    self.problem = f"{error}; retrying in {self._retry_pause:g} s"
                    self._retry_at = time.monotonic() + self._retry_pause
                    self._retry_pause = min(2 * self._retry_pause, _MAX_RETRY_PAUSE_S)
                log.error("%s", self.problem)
                return
            with self._state:
                if child.failed:  # killed again while loading: the supervisor tries once more
                    return
                self._needs_restart = False
                self._retry_pause = 1.0
                if self._versions:
                    self.problem = None
            log.info("model process %d replaced the one that failed", child.process.pid)

    def _unload_retired(self, now: float) -> None:
        idle = [(old, since) for old, since in self._retired if old.in_flight == 0 and now - since > _UNLOAD_GRACE_S]
        if not idle or not self._lock.acquire(blocking=False):  # a load in progress: next tick
            return
        try:
            for old, since in idle:
                with self._state:
                    self._retired.remove((old, since))
                path = str(old.path)
                if self._versions and path == self._versions[-1]:
                    continue  # that version is current again
                if path in self._versions:
                    self._versions.remove(path)
                child = self._child
                if child is not None and not child.failed:
                    try:
                        self._ask(child, ("unload", path))
                        log.info("unloaded model version %s", old.path.name)
                    except ArtifactError as error:
                        log.error("unloading %s failed: %s", old.path.name, error)
        finally:
            self._lock.release()

    def close(self) -> None:
        self._closing.set()
        child, self._child = self._child, None
        if child is None:
            return
        try:
            child.control.send(None)
        except OSError:
            pass
        child.process.join(timeout=10)
        if child.process.is_alive():
            child.process.kill()


class RemoteRecommender(Recommender):
    """A version loaded in the model process. This side holds only what the routes ask for (version,
    path, manifest): the catalog (user features, seen items, titles) lives in the model process alone."""

    def __init__(self, version_dir: Path, manifest: dict, process: ModelProcess) -> None:  # no catalog here
        self._path = version_dir
        self._manifest = manifest
        self._process = process
        self._item_ids: frozenset[str] | None = None
        self.in_flight = 0

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
        return self._process.problem

    def known_items(self) -> Container[str]:
        """Read from the version's vocabulary on first use (this side holds no catalog otherwise)."""
        if self._item_ids is None:
            self._item_ids = frozenset(fmt.read_vocab(self._path / fmt.ITEM_VOCAB))
        return self._item_ids

    def example_users(self, limit: int) -> list[str]:
        with (self._path / fmt.USER_VOCAB).open(encoding="utf-8") as vocab:
            return [line.rstrip("\n") for _, line in zip(range(limit), vocab, strict=False)]

    def retire(self) -> None:
        self._process.retire(self)

    def recommend_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("recommend_batch", self.path, requests, times)

    def next_items_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("next_items_batch", self.path, requests, times)

    def predict_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("predict_batch", self.path, requests, times)

    def history_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("history_batch", self.path, requests, times)

    def items_batch(self, requests: Sequence, times: StageTimes) -> list:
        return self._process.run("items_batch", self.path, requests, times)
