"""Serving benchmark (issue 4): start ``recsys-serve`` as deployed, drive each endpoint from another
process at several concurrencies, report throughput and latency against the /healthz ceiling.

    python -m benchmarks.serve --artifacts DIR [--out bench-results/serve.json] [--duration 10]
        [--requests 20000] [--concurrency 1,8,32,64] [--endpoints healthz,recommend,session,predict]
        [--workers 1] [--server-env RECSYS_MODEL_THREADS=1 ...] [--client auto|wrk|httpx] [--strict]

Traffic comes from the artifact version the server loads (its vocabularies and popularity), with a
fixed seed, and is generated before any timing. No TensorFlow in this process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np

from benchmarks.loadgen import Measurement, Request, run_httpx, run_wrk, warm_up
from models import artifact_format as fmt

MODEL_ENDPOINTS = ("recommend", "session", "predict")
ENDPOINTS = ("healthz", *MODEL_ENDPOINTS)
POOL_SIZE = 5000  # distinct pre-generated requests per endpoint; the clients cycle through them
UNKNOWN_SHARE = 0.05  # of users on /recommend and of items in sessions
MAX_SESSION_LENGTH = 20
BATCH_SHARE = 0.2  # of /predict-rating requests that send 2..MAX_BATCH_PAIRS pairs
MAX_BATCH_PAIRS = 20
K = 10
# Issue 4 targets.
MIN_SHARE_OF_HEALTHZ_AT_32 = 0.5
MAX_P99_MS_AT_8 = 25.0
MAX_RECOMMEND_P50_MS_AT_1 = 3.0
BUSY_LOAD_AVERAGE = 1.0  # 1-minute load average before the run above which the report carries a warning


@dataclass(frozen=True)
class Vocabulary:
    version: str
    users: list[str]
    items: list[str]
    item_popularity: np.ndarray
    session_items: list[str]
    session_popularity: np.ndarray


@dataclass(frozen=True)
class Run:
    endpoint: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int


def read_vocabulary(artifacts: Path) -> Vocabulary:
    version = fmt.read_latest(artifacts)
    path = artifacts / version
    return Vocabulary(version, fmt.read_vocab(path / fmt.USER_VOCAB), fmt.read_vocab(path / fmt.ITEM_VOCAB),
                      np.load(path / fmt.POPULARITY), fmt.read_vocab(path / fmt.SESSION_ITEM_VOCAB),
                      np.load(path / fmt.SESSION_POPULARITY))


def _probabilities(popularity: np.ndarray) -> np.ndarray | None:
    weights = np.clip(popularity.astype(np.float64), 0, None)
    return weights / weights.sum() if weights.sum() > 0 else None  # None: uniform


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def recommend_requests(users: np.ndarray, size: int, rng: np.random.Generator) -> list[Request]:
    """``size`` GET /recommend requests: every user of ``users`` in turn (shuffled), UNKNOWN_SHARE unknown ones."""
    recommend_users = users[rng.permutation(np.resize(np.arange(len(users)), size))]
    unknown_users = rng.random(size) < UNKNOWN_SHARE
    return [Request("GET", f"/recommend/{quote(f'bench-unknown-{i}' if unknown else user, safe='')}?k={K}")
            for i, (user, unknown) in enumerate(zip(recommend_users, unknown_users, strict=True))]


def build_traffic(vocab: Vocabulary, size: int = POOL_SIZE, seed: int = 0) -> dict[str, list[Request]]:
    """``size`` requests per endpoint: every known user in turn (shuffled) with UNKNOWN_SHARE unknown ones;
    sessions of 1-20 items drawn by session popularity with UNKNOWN_SHARE unknown items; rating requests
    of known users and popularity-drawn items, BATCH_SHARE of them batches."""
    rng = np.random.default_rng(seed)
    users = np.array(vocab.users, dtype=object)
    recommend = recommend_requests(users, size, rng)

    session_items = np.array(vocab.session_items, dtype=object)
    session_p = _probabilities(vocab.session_popularity)
    session = []
    for i in range(size):
        items = rng.choice(session_items, size=rng.integers(1, MAX_SESSION_LENGTH + 1), p=session_p).tolist()
        items = [f"bench-unknown-{i}-{j}" if rng.random() < UNKNOWN_SHARE else item for j, item in enumerate(items)]
        session.append(Request("POST", "/session/next", _json({"items": items, "k": K})))

    items = np.array(vocab.items, dtype=object)
    item_p = _probabilities(vocab.item_popularity)
    predict = []
    for _ in range(size):
        batch = rng.random() < BATCH_SHARE
        n = int(rng.integers(2, MAX_BATCH_PAIRS + 1)) if batch else 1
        pairs = [{"user_id": user, "item_id": item}
                 for user, item in zip(rng.choice(users, n), rng.choice(items, n, p=item_p), strict=True)]
        predict.append(Request("POST", "/predict-rating", _json({"pairs": pairs} if batch else pairs[0])))
    return {"healthz": [Request("GET", "/healthz")], "recommend": recommend, "session": session, "predict": predict}


# --- the server ----------------------------------------------------------------------------------

class ServerError(RuntimeError):
    """The server did not start, died, or serves another version than the traffic was built from."""


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerError(f"recsys-serve exited with {self.process.returncode}; end of {self.log_path}:\n"
                              f"{self.log_tail()}")

    def wait_ready(self, workers: int, timeout_s: float = 300) -> str:
        """Wait for /readyz 200 on several fresh connections in a row (each worker loads its own models);
        return the model version the server serves."""
        deadline, streak = time.monotonic() + timeout_s, 0
        while streak < 10 * workers:
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServerError(f"/readyz not 200 after {timeout_s:.0f} s; end of {self.log_path}:\n"
                                  f"{self.log_tail()}")
            try:
                response = httpx.get(self.url + "/readyz", timeout=5)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 503:  # the reason is "loading" until it fails
                reason = (response.json()["error"].get("details") or {}).get("reason", "loading")
                if reason != "loading":
                    raise ServerError(f"the server could not load a model version: {reason}")
            streak = streak + 1 if response is not None and response.status_code == 200 else 0
            time.sleep(0.02 if streak else 0.5)
        return response.json()["model_version"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(artifacts: Path, workers: int, server_env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """``recsys-serve`` of this venv in its own session (Ctrl-C reaches us, not it); always stopped on exit."""
    executable = Path(sys.executable).with_name("recsys-serve")
    if not executable.exists():
        raise ServerError(f"{executable} not found: install the package in this venv (make install)")
    port = _free_port()
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "RECSYS_LOG_LEVEL": "warning", **server_env}
    command = [str(executable), "--artifacts", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield Server(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its process group: the server and any uvicorn workers
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- the report ------------------------------------------------------------------------------------

def _first_line(path: Path, prefix: str) -> str | None:
    try:
        return next((line.split(":", 1)[1].strip() for line in path.read_text().splitlines()
                     if line.startswith(prefix)), None)
    except OSError:
        return None


def _commit() -> str | None:
    """The checked-out commit, "+dirty" when the server's code (app/, models/) differs from it."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parents[1], text=True, capture_output=True)

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("diff", "--quiet", "HEAD", "--", "app", "models").returncode != 0
    except OSError:
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "") if head.returncode == 0 else None


def machine_info(**extra: object) -> dict:
    memory_kib = _first_line(Path("/proc/meminfo"), "MemTotal")
    return {"cpu": _first_line(Path("/proc/cpuinfo"), "model name") or platform.processor(),
            "cores": os.cpu_count(), "memory_gib": round(int(memory_kib.split()[0]) / 2**20, 1) if memory_kib else None,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_1m": round(os.getloadavg()[0], 2),  # before the run: other work here skews results
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(), **extra}


def _share(run: Run, by_key: dict[tuple[str, int], Run]) -> float | None:
    ceiling = by_key.get(("healthz", run.concurrency))
    return run.rps / ceiling.rps if ceiling is not None and ceiling.rps > 0 else None


def _verdict(target: str, checks: list[tuple[str, bool]]) -> str:
    status = "n/a " if not checks else "PASS" if all(ok for _, ok in checks) else "FAIL"
    return f"{status}  {target}: " + (", ".join(figure for figure, _ in checks) or "not measured")


def verdicts(runs: list[Run]) -> list[str]:
    by_key = {(run.endpoint, run.concurrency): run for run in runs}
    at = {c: [by_key[(e, c)] for e in MODEL_ENDPOINTS if (e, c) in by_key] for c in (1, 8, 32)}
    shares = [(run, _share(run, by_key)) for run in at[32]]
    errors = [run for run in runs if run.errors]
    return [
        _verdict(f"c=32 rps >= {MIN_SHARE_OF_HEALTHZ_AT_32:.0%} of healthz",
                 [(f"{run.endpoint} {share:.0%}", share >= MIN_SHARE_OF_HEALTHZ_AT_32)
                  for run, share in shares if share is not None]),
        _verdict(f"c=8 p99 <= {MAX_P99_MS_AT_8:g} ms",
                 [(f"{run.endpoint} {run.p99_ms:.1f} ms", run.p99_ms <= MAX_P99_MS_AT_8) for run in at[8]]),
        _verdict(f"c=1 /recommend p50 <= {MAX_RECOMMEND_P50_MS_AT_1:g} ms",
                 [(f"{run.p50_ms:.2f} ms", run.p50_ms <= MAX_RECOMMEND_P50_MS_AT_1)
                  for run in at[1] if run.endpoint == "recommend"]),
        _verdict("zero errors", [(f"{sum(run.errors for run in runs)} errors in {len(runs)} runs"
                                  + "".join(f"; {run.endpoint}@c={run.concurrency}: {run.errors}" for run in errors),
                                  not errors)] if runs else []),
    ]


def results(machine: dict, runs: list[Run]) -> dict:
    """The JSON file: ``{"machine": {...}, "runs": [{"endpoint", "concurrency", "requests", "rps", "p50_ms",
    "p90_ms", "p99_ms", "errors"}, ...]}``."""
    return {"machine": machine, "runs": [asdict(run) for run in runs]}


def markdown(machine: dict, runs: list[Run]) -> str:
    by_key = {(run.endpoint, run.concurrency): run for run in runs}
    lines = [f"## Serving benchmark: version {machine['artifact_version']}, client {machine['client']}, "
             f"{machine['server_workers']} server worker(s)", "",
             f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, "
             f"{machine['date']}, commit {machine.get('commit')}; {machine['duration_s']:g} s per run; "
             f"server env {machine['server_env'] or '{}'}; load average {machine['load_average_1m']} before the run, "
             f"{machine.get('load_average_1m_after')} after", "",
             *(["**Other processes were using the CPU before the run: these figures understate the server.**", ""]
               if machine["load_average_1m"] > BUSY_LOAD_AVERAGE else []),
             "| endpoint | concurrency | requests | rps | % of healthz rps | p50 ms | p90 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in sorted(runs, key=lambda run: (run.concurrency, ENDPOINTS.index(run.endpoint))):
        share = _share(run, by_key)
        lines.append(f"| {run.endpoint} | {run.concurrency} | {run.requests} | {run.rps:.0f} | "
                     f"{'-' if share is None else f'{share:.0%}'} | {run.p50_ms:.2f} | {run.p90_ms:.2f} | "
                     f"{run.p99_ms:.2f} | {run.errors} |")
    return "\n".join([*lines, "", "Targets (issue 4):", "", *(f"    {line}" for line in verdicts(runs))]) + "\n"


# --- the command -----------------------------------------------------------------------------------

def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}; got {text!r}")
    return names


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(value) for value in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"positive integers separated by commas, got {text!r}")
    return values


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path(os.environ.get("RECSYS_ARTIFACTS", "artifacts")),
                        help="artifact root; the server loads, and the traffic comes from, its LATEST version")
    parser.add_argument("--out", type=Path, default=Path("bench-results/serve.json"),
                        help="JSON results; the Markdown table goes beside it (.md), the server log too (.server.log)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint and concurrency")
    parser.add_argument("--requests", type=int, default=20000, help="request cap per run (httpx client only)")
    parser.add_argument("--concurrency", type=_concurrencies, default=[1, 8, 32, 64],
                        help="comma-separated open connections, default 1,8,32,64")
    parser.add_argument("--endpoints", type=lambda text: _names(text, ENDPOINTS), default=list(ENDPOINTS),
                        help=f"comma-separated, default {','.join(ENDPOINTS)}")
    parser.add_argument("--workers", type=int, default=1, help="recsys-serve --workers")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the server, e.g. RECSYS_MODEL_THREADS=2 (repeatable)")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto",
                        help="auto: wrk when installed, else an httpx client in a separate process")
    parser.add_argument("--warmup", type=int, default=200, help="sequential requests per endpoint before timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.server_env):
        parser.error(f"--server-env takes KEY=VALUE, got {args.server_env}")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` or a CI timeout stops the server too, like Ctrl-C
    server_env = dict(pair.split("=", 1) for pair in args.server_env)
    wrk = shutil.which("wrk") if args.client in ("auto", "wrk") else None
    if args.client == "wrk" and wrk is None:
        print("error: --client wrk but wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    try:
        vocab = read_vocabulary(args.artifacts)
    except (fmt.ArtifactError, OSError) as error:
        print(f"error: cannot read the artifacts: {error}", file=sys.stderr)
        return 2
    traffic = build_traffic(vocab, POOL_SIZE, args.seed)
    machine = machine_info(client="wrk" if wrk else "httpx", server_workers=args.workers, server_env=server_env,
                           artifact_version=vocab.version, duration_s=args.duration,
                           max_requests=None if wrk else args.requests, warmup_requests=args.warmup, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    try:
        with running_server(args.artifacts, args.workers, server_env, args.out.with_suffix(".server.log")) as server:
            served = server.wait_ready(args.workers)
            if served != vocab.version:
                raise ServerError(f"the server loaded version {served}, the traffic is from {vocab.version}")
            for endpoint in args.endpoints:
                warm_up(server.url, endpoint, traffic[endpoint], args.warmup)
            for concurrency, endpoint in itertools.product(args.concurrency, args.endpoints):
                measurement: Measurement = (
                    run_wrk(wrk, server.url, traffic[endpoint], concurrency, args.duration) if wrk else
                    run_httpx(server.url, traffic[endpoint], concurrency, args.requests, args.duration))
                server.check_alive()
                runs.append(Run(endpoint, concurrency, **asdict(measurement)))
                print(f"{endpoint} c={concurrency}: {measurement.rps:.0f} rps, p99 {measurement.p99_ms:.1f} ms, "
                      f"{measurement.errors} errors", file=sys.stderr)
    except (RuntimeError, subprocess.SubprocessError) as error:  # ServerError, or a load generator failed
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    args.out.write_text(json.dumps(results(machine, runs), indent=2) + "\n")
    machine["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    report = markdown(machine, runs)
    args.out.with_suffix(".md").write_text(report)
    print(report)
    return 1 if args.strict and any(line.startswith("FAIL") for line in verdicts(runs)) else 0


if __name__ == "__main__":
    sys.exit(main())
