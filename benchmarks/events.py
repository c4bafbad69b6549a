"""Event ingestion benchmark: POST /events throughput, and /recommend while events pour in.

    python -m benchmarks.events --artifacts DIR [--store sqlite|postgresql] [--duration 10]
        [--out bench-results/events.json]

The server is started as deployed (``benchmarks.serve.running_server``) with an events token and an
event log of the benchmark's own: a SQLite file (the default store), or with ``--store postgresql``
a PostgreSQL server started for the run from pgserver's binaries (a dev dependency). wrk drives, in
this order, each for ``--duration`` seconds:

1. ``/recommend`` alone at concurrency 8 (the serving benchmark's users), before any event: the reference;
2. ``POST /events`` with 1,000 events per request at concurrency 4: the most events per second;
3. ``POST /events`` with one event per request at concurrency 8;
4. ``/recommend`` at concurrency 8 while a client posts 1,000-event requests at ``--ingest-rate`` events
   per second (20,000 by default) beside it: p99 against (1) in the same run, and the rate reached;
5. ``/recommend`` at concurrency 8 once ingestion stopped: every user now has events since the
   version's cut-off (hundreds each), so every request takes the path that applies them.

The events are generated from the loaded version: known users (and 20% new ones), items by
popularity, a third of them ratings. Reference: Gorse reports 24-58 ms per 1,000 feedback inserts
(17,000-42,000 events/s).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np

from benchmarks.loadgen import Measurement, Request, run_wrk
from benchmarks.serve import _json, _probabilities, build_traffic, machine_info, read_vocabulary, running_server

TOKEN = "benchmark-events-token-0123456789"
NEW_USER_SHARE = 0.2
GORSE_EVENTS_PER_S = (1000 / 0.058, 1000 / 0.024)


def event_requests(vocab, batch: int, count: int, seed: int = 1) -> list[Request]:
    rng = np.random.default_rng(seed)
    users = np.array(vocab.users, dtype=object)
    items = np.array(vocab.items, dtype=object)
    item_p = _probabilities(vocab.item_popularity)
    requests = []
    for n in range(count):
        chosen = rng.choice(items, batch, p=item_p)
        events = []
        for j, item in enumerate(chosen):
            user = f"bench-new-{n}-{j % 50}" if rng.random() < NEW_USER_SHARE else str(rng.choice(users))
            kind = ("rating", "view", "purchase")[j % 3]
            events.append({"user_id": user, "item_id": str(item), "type": kind,
                           "value": float(rng.integers(1, 6)) if kind == "rating" else None})
        requests.append(Request("POST", "/events", _json({"events": events}),
                                (("Authorization", f"Bearer {TOKEN}"),)))
    return requests


class PacedWriter(threading.Thread):
    """Posts the 1,000-event requests at a steady rate (wrk has no rate limit) and counts what was accepted."""

    def __init__(self, url: str, requests: list[Request], events_per_s: float, duration_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.requests, self.duration_s = url, requests, duration_s
        self.interval_s = 1000 / events_per_s
        self.accepted = self.errors = 0
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        with httpx.Client(base_url=self.url, timeout=30) as client:
            sent = 0
            while time.perf_counter() - started < self.duration_s:
                request = self.requests[sent % len(self.requests)]
                response = client.post("/events", content=request.body, headers=request.all_headers())
                if response.status_code == 200:
                    self.accepted += response.json()["accepted"]
                else:
                    self.errors += 1
                sent += 1
                time.sleep(max(0.0, started + sent * self.interval_s - time.perf_counter()))
        self.seconds = time.perf_counter() - started


def _row(name: str, measurement: Measurement, events_per_request: int = 0) -> dict:
    row = {"run": name, **asdict(measurement)}
    if events_per_request:
        row["events_per_s"] = round(measurement.rps * events_per_request)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--ingest-rate", type=float, default=20_000, help="events per second beside /recommend")
    parser.add_argument("--out", type=Path, default=Path("bench-results/events.json"))
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("benchmarks.events needs wrk (apt install wrk)", file=sys.stderr)
        return 2
    vocab = read_vocabulary(args.artifacts)
    recommend = build_traffic(vocab)["recommend"]
    batches, singles = event_requests(vocab, 1000, 40), event_requests(vocab, 1, 5000)
    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    postgres = None
    if args.store == "postgresql":
        import pgserver

        postgres = pgserver.get_server(workdir / "postgres", cleanup_mode="stop")
        url = postgres.get_uri()
    else:
        url = f"sqlite:///{workdir}/events.sqlite3"
    env = {"RECSYS_EVENTS_TOKEN": TOKEN, "RECSYS_EVENTS_URL": url}
    machine = machine_info(artifact_version=vocab.version, store=args.store, duration_s=args.duration)
    rows: list[dict] = []
    try:
        with running_server(args.artifacts, 1, env, workdir / "server.log") as server:
            server.wait_ready(1)
            rows.append(_row("/recommend alone, c=8", run_wrk(wrk, server.url, recommend, 8, args.duration)))
            rows.append(_row("POST /events, 1,000 events per request, c=4",
                             run_wrk(wrk, server.url, batches, 4, args.duration), 1000))
            rows.append(_row("POST /events, 1 event per request, c=8",
                             run_wrk(wrk, server.url, singles, 8, args.duration), 1))
            writer = PacedWriter(server.url, batches, args.ingest_rate, args.duration + 1)
            writer.start()
            during = run_wrk(wrk, server.url, recommend, 8, args.duration)
            writer.join()
            machine["ingested_events_per_s_beside_recommend"] = round(writer.accepted / writer.seconds)
            machine["ingest_errors_beside_recommend"] = writer.errors
            rows.append(_row(f"/recommend, c=8, while {writer.accepted / writer.seconds:,.0f} events/s are "
                             "posted (1,000 per request)", during))
            rows.append(_row("/recommend, c=8, after ingestion: every user has events since the cut-off",
                             run_wrk(wrk, server.url, recommend, 8, args.duration)))
            server.check_alive()
    finally:
        if postgres is not None:
            postgres.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    reference = rows[0]["p99_ms"]
    machine["recommend_p99_ratio_while_ingesting"] = round(rows[3]["p99_ms"] / reference, 2) if reference else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n")
    lines = [f"## Event ingestion ({args.store}), version {vocab.version}", "",
             f"{machine['cpu']}, {machine['cores']} cores, {machine['date']}, commit {machine.get('commit')}, "
             f"{args.duration} s per run, load average {machine['load_average_1m']} before", "",
             "| run | requests | requests/s | events/s | p50 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['run']} | {row['requests']} | {row['rps']:.0f} | {row.get('events_per_s', '')} | "
                     f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['errors']} |")
    lines += ["", f"/recommend p99 while ingesting / alone: {machine['recommend_p99_ratio_while_ingesting']}; "
              f"Gorse's reported insert rate: {GORSE_EVENTS_PER_S[0]:,.0f}-{GORSE_EVENTS_PER_S[1]:,.0f} events/s"]
    table = "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
