"""The model process's own side (``app.model_process`` starts and supervises it): it loads and unloads
versions on request over the control pipe, answers health checks over the ping pipe, and runs the
batches of each endpoint over that endpoint's pipe, one thread per pipe."""

from __future__ import annotations

import logging
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from app.config import Settings
from app.recommender import Recommender
from app.timing import StageTimes

log = logging.getLogger("recsys.model_process")


def serve(settings: dict, control: Connection, ping: Connection, pipes: dict[str, Connection]) -> None:
    """The model process: load and unload versions on request, answer health checks and batches, one
    thread per pipe."""
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
            recommender = loaded.get(version_dir)
            if recommender is None:
                message = ("missing", f"model version {Path(version_dir).name} is no longer loaded; retry", {})
            else:
                try:
                    message = ("ok", getattr(recommender, method)(requests, times), times.seconds)
                except Exception as error:  # reported to the server, which fails this batch's requests
                    log.exception("%s failed", method)
                    message = ("error", f"{type(error).__name__}: {error}", times.seconds)
            pipe.send(message)

    def health() -> None:
        while True:
            try:
                ping.recv()
                ping.send(sorted(Path(version_dir).name for version_dir in loaded))
            except (EOFError, OSError):
                return

    threading.Thread(target=health, name="models-health", daemon=True).start()
    for method, pipe in pipes.items():
        threading.Thread(target=answer, args=(method, pipe), name=f"models-{method}", daemon=True).start()
    while True:
        try:
            request = control.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        action, version_dir = request
        try:
            if action == "load":
                loaded[version_dir] = build(Path(version_dir))
            else:
                loaded.pop(version_dir, None)
            freeze_heap()  # also collects what an unloaded version leaves behind
            control.send(("ok", None))
        except Exception as error:  # the server reports it and keeps serving what it had
            log.error("loading %s failed", version_dir, exc_info=True)
            control.send(("error", str(error)))
