"""``recsys-retrain``: keep the served version learning from the event log.

Every ``--check-s`` seconds it compares the log's last event id with the cut-off of the version
``LATEST`` names; when ``--after-events`` new events have arrived, or ``--every-s`` seconds have
passed since the last training and there is anything new, it runs ``recsys-train --events URL``
(in a fresh process, with the arguments after ``--``), which publishes a new version with the new
cut-off. Servers follow ``LATEST`` with ``RECSYS_RELOAD_POLL_S`` (or ``POST /admin/reload``) and apply
the events after the new cut-off on top of it: a swap answers every request (``tests/test_retrain.py``).

    recsys-retrain --events sqlite:///artifacts/events.sqlite3 --after-events 1000 --every-s 86400 \\
        -- --data ml-100k:data/ml-100k
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from events.store import EventStore, EventStoreError, describe
from models import artifact_format as fmt

log = logging.getLogger("recsys.retrain")


def latest_cutoff(artifacts: Path) -> int | None:
    """The event cut-off of the version LATEST names (0: trained without events), or None without one."""
    try:
        manifest = fmt.read_manifest(fmt.version_dir(artifacts, fmt.read_latest(artifacts)))
    except fmt.ArtifactError:
        return None
    return int(manifest.get(fmt.EVENTS, {}).get("cutoff_id", 0))


def due(new_events: int, since_training_s: float, after_events: int, every_s: float) -> bool:
    """Whether to train now: enough new events, or the schedule's time and anything new."""
    return new_events > 0 and ((after_events > 0 and new_events >= after_events)
                               or (every_s > 0 and since_training_s >= every_s))


def train(artifacts: Path, events_url: str, train_args: list[str]) -> int:
    command = [str(Path(sys.executable).parent / "recsys-train"), "--artifacts", str(artifacts),
               "--events", events_url, *train_args]
    log.info("training: %s", " ".join(command).replace(events_url, describe(events_url)))
    return subprocess.run(command, env=os.environ.copy()).returncode


def _arguments(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else argv
    own, train_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="recsys-retrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default=os.environ.get("RECSYS_EVENTS_URL"),
                        help="the event log  [env RECSYS_EVENTS_URL]")
    parser.add_argument("--artifacts", type=Path, default=Path(os.environ.get("RECSYS_ARTIFACTS", "artifacts")),
                        help="artifact root  [env RECSYS_ARTIFACTS]")
    parser.add_argument("--after-events", type=int, default=1000,
                        help="train once this many events arrived after the served cut-off (0: never for that)")
    parser.add_argument("--every-s", type=float, default=86400.0,
                        help="train at least this often when anything is new (0: no schedule)")
    parser.add_argument("--check-s", type=float, default=60.0, help="how often to look at the log")
    parser.add_argument("--once", action="store_true", help="check once, train if due, and exit with its status")
    args = parser.parse_args(own)
    if not args.events:
        parser.error("--events (or RECSYS_EVENTS_URL) is required")
    return args, train_args


def main(argv: list[str] | None = None) -> int:
    args, train_args = _arguments(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    last_training = time.monotonic()
    while True:
        status = 0
        try:
            last_id = EventStore(args.events).last_id()
        except EventStoreError as error:
            log.error("%s", error)
            last_id, status = None, 2
        cutoff = latest_cutoff(args.artifacts)
        if last_id is not None:
            new_events = last_id - (cutoff or 0)
            since = time.monotonic() - last_training
            if cutoff is None or due(new_events, since, args.after_events, args.every_s):
                log.info("%d events after the served cut-off %s; retraining", new_events, cutoff)
                status = train(args.artifacts, args.events, train_args)
                last_training = time.monotonic()
                (log.info if status == 0 else log.error)("recsys-train exited with status %d", status)
            else:
                log.info("%d events after the served cut-off %d: not due", new_events, cutoff)
        if args.once:
            return status
        time.sleep(args.check_s)


if __name__ == "__main__":
    sys.exit(main())
