"""The real ``recsys-serve`` in a process of its own on a free port, for tests that talk HTTP to it."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from benchmarks.soak import model_process_pid

ADMIN_TOKEN = "server-test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server(NamedTuple):
    url: str
    pid: int
    process: subprocess.Popen


def model_process(server_pid: int) -> int:
    """The server's model process (it must have one)."""
    pid = model_process_pid(server_pid)
    assert pid is not None, f"server {server_pid} has no model process"
    return pid


def wait_ready(url: str, timeout_s: float = 120, process: subprocess.Popen | None = None) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"recsys-serve exited: {process.stdout.read()[-3000:]}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"recsys-serve at {url} did not become ready within {timeout_s:.0f} s")


@contextmanager
def running_server(artifacts: Path, ready: bool = True, **settings: str) -> Iterator[Server]:
    """``recsys-serve`` on ``artifacts`` with RECSYS_* ``settings`` (e.g. request_timeout_s="3")."""
    port = free_port()
    serve = Path(sys.executable).parent / "recsys-serve"
    env = {**os.environ, "RECSYS_ARTIFACTS": str(artifacts), "RECSYS_LOG_LEVEL": "warning",
           "RECSYS_ADMIN_TOKEN": ADMIN_TOKEN, **{f"RECSYS_{name.upper()}": value for name, value in settings.items()}}
    process = subprocess.Popen([str(serve), "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if ready:
            wait_ready(url, process=process)
        yield Server(url, process.pid, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Answer(NamedTuple):
    sent: float  # monotonic
    seconds: float
    status: int  # 0: no answer (connection error or client timeout)
    code: str | None  # the error code of a 4xx/5xx
    retry_after: str | None
    model_version: str | None


REQUESTS = [("GET", "/recommend/u1?k=5", None), ("POST", "/predict-rating", {"user_id": "u2", "item_id": "i3"}),
            ("POST", "/session/next", {"items": ["i1", "i2"], "k": 5}), ("GET", "/recommend/u7?k=10", None)]


class Traffic:
    """``clients`` threads sending model requests in a loop until stopped, every answer recorded."""

    def __init__(self, url: str, clients: int = 3, timeout_s: float = 30) -> None:
        import threading

        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(url, offset, timeout_s), daemon=True)
                         for offset in range(clients)]

    def _send(self, url: str, offset: int, timeout_s: float) -> None:
        with httpx.Client(base_url=url, timeout=timeout_s) as client:
            turn = offset
            while not self._stop.is_set():
                method, path, body = REQUESTS[turn % len(REQUESTS)]
                turn += 1
                sent = time.monotonic()
                try:
                    response = client.request(method, path, json=body)
                except httpx.HTTPError:
                    self.answers.append(Answer(sent, time.monotonic() - sent, 0, None, None, None))
                    continue
                payload = response.json()
                self.answers.append(Answer(sent, time.monotonic() - sent, response.status_code,
                                           payload["error"]["code"] if "error" in payload else None,
                                           response.headers.get("retry-after"), payload.get("model_version")))
                if response.status_code != 200:
                    time.sleep(0.02)

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
