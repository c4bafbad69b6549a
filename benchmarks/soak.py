"""Soak benchmark: mixed traffic at a high concurrency for minutes, watching for errors and for memory
that grows (a leak in the server or the model process).

    python -m benchmarks.soak --artifacts DIR [--duration 300] [--concurrency 64] [--warmup 30]
        [--sample-every 10] [--growth-bound-mib 32] [--out bench-results/soak.json] [--client auto|wrk|httpx]

The server is started as deployed (``benchmarks.serve.running_server``); the traffic is the serving
benchmark's pools of /recommend, /session/next and /predict-rating requests, interleaved with /healthz
(``MIX``). After ``--warmup`` seconds of the same load (caches, allocator pools and batch sizes reach
their steady state), the resident memory of the server process and of its model process is read, the
load runs for ``--duration`` seconds with samples every ``--sample-every``, and read again at the end.
Verdict: zero errors, and neither process grew by more than ``--growth-bound-mib`` from start to end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.loadgen import Measurement, Request, run_httpx, run_wrk
from benchmarks.serve import POOL_SIZE, ServerError, build_traffic, machine_info, read_vocabulary, running_server
from models import artifact_format as fmt
from training.process_memory import status_mib

MIX = {"recommend": 4, "session": 3, "predict": 2, "healthz": 1}  # requests of each kind per 10


def mixed_pool(traffic: dict[str, list[Request]], size: int = POOL_SIZE) -> list[Request]:
    """Endpoints interleaved in the proportions of MIX, each cycling through its own pool."""
    pattern = [endpoint for endpoint, share in MIX.items() for _ in range(share)]
    cycles = {endpoint: itertools.cycle(requests) for endpoint, requests in traffic.items()}
    return [next(cycles[pattern[i % len(pattern)]]) for i in range(size)]


def children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (a process started by another thread is listed under that thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return found


def model_process_pid(server_pid: int) -> int | None:
    """The server's child started by multiprocessing's spawn (the model process)."""
    for pid in children(server_pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


class MemorySampler:
    """Resident memory of the two processes every ``every_s`` seconds, in a thread."""

    def __init__(self, pids: dict[str, int], every_s: float) -> None:
        self.pids = pids
        self.every_s = every_s
        self.samples: list[dict[str, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def sample(self) -> dict[str, float | None]:
        row = {"t_s": round(time.monotonic() - self._started, 1),
               **{name: status_mib(pid) for name, pid in self.pids.items()}}
        self.samples.append(row)
        return row

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _load(wrk: str | None, url: str, pool: list[Request], concurrency: int, seconds: int) -> Measurement:
    return (run_wrk(wrk, url, pool, concurrency, seconds) if wrk else
            run_httpx(url, pool, concurrency, 10**9, seconds))


def report(machine: dict, measurement: Measurement, samples: list[dict], bound_mib: float) -> dict:
    start, end = samples[0], samples[-1]
    growth = {name: round(end[name] - start[name], 1) for name in ("server", "model_process")
              if start.get(name) is not None and end.get(name) is not None}
    peak = {name: round(max(row[name] for row in samples if row.get(name) is not None), 1) for name in growth}
    verdicts = {"zero errors": measurement.errors == 0,
                f"growth <= {bound_mib:g} MiB per process": all(value <= bound_mib for value in growth.values())}
    return {"machine": machine, "measurement": asdict(measurement), "rss_mib_start": start, "rss_mib_end": end,
            "rss_mib_peak": peak, "growth_mib": growth, "growth_bound_mib": bound_mib, "verdicts": verdicts,
            "samples": samples}


def markdown(result: dict) -> str:
    m, machine = result["measurement"], result["machine"]
    start, end = result["rss_mib_start"], result["rss_mib_end"]
    lines = [f"## Soak: {machine['duration_s']} s of mixed traffic at concurrency {machine['concurrency']} "
             f"(version {machine['artifact_version']}, client {machine['client']})", "",
             f"{machine['cpu']}, {machine['cores']} cores, {machine['date']}, commit {machine.get('commit')}; "
             f"after {machine['warmup_s']} s of warm-up at the same load", "",
             "| requests | rps | p50 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|",
             f"| {m['requests']} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['errors']} |", "",
             "| process | RSS start MiB | RSS end MiB | peak MiB | growth MiB |", "|---|---:|---:|---:|---:|"]
    for name in result["growth_mib"]:
        lines.append(f"| {name} | {start[name]:.1f} | {end[name]:.1f} | {result['rss_mib_peak'][name]:.1f} | "
                     f"{result['growth_mib'][name]:+.1f} |")
    lines += ["", *(f"    {'PASS' if ok else 'FAIL'}  {name}" for name, ok in result["verdicts"].items())]
    return "\n".join(lines) + "\n"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--duration", type=int, default=300, help="seconds of measured load (default 300)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=30, help="seconds of the same load before the first reading")
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--growth-bound-mib", type=float, default=32.0,
                        help="largest resident memory growth of either process from start to end")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench-results/soak.json"))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    wrk = shutil.which("wrk") if args.client in ("auto", "wrk") else None
    if args.client == "wrk" and wrk is None:
        print("error: --client wrk but wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    try:
        vocab = read_vocabulary(args.artifacts)
    except (fmt.ArtifactError, OSError) as error:
        print(f"error: cannot read the artifacts: {error}", file=sys.stderr)
        return 2
    pool = mixed_pool(build_traffic(vocab, POOL_SIZE, args.seed))
    machine = machine_info(client="wrk" if wrk else "httpx", artifact_version=vocab.version,
                           duration_s=args.duration, concurrency=args.concurrency, warmup_s=args.warmup, mix=MIX)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with running_server(args.artifacts, 1, {}, args.out.with_suffix(".server.log")) as server:
            server.wait_ready(1)
            pids = {"server": server.process.pid, "model_process": model_process_pid(server.process.pid)}
            if pids["model_process"] is None:
                raise ServerError("the server has no model process (RECSYS_MODEL_PROCESS=false?)")
            print(f"warm-up: {args.warmup} s at c={args.concurrency}", file=sys.stderr)
            _load(wrk, server.url, pool, args.concurrency, args.warmup)
            print(f"soak: {args.duration} s at c={args.concurrency}; RSS every {args.sample_every:g} s",
                  file=sys.stderr)
            with MemorySampler(pids, args.sample_every) as sampler:
                measurement = _load(wrk, server.url, pool, args.concurrency, args.duration)
            server.check_alive()
    except (RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    result = report(machine, measurement, sampler.samples, args.growth_bound_mib)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0 if all(result["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
