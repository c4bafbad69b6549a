"""Training time and memory as the interaction log grows: synthetic data at 1M, 3M and 10M ratings.

    python -m benchmarks.scaling [--sizes 1000000 3000000 10000000] [--items 2000] [--users N]
        [--set retrieval.epochs=3 ...] [--out bench-results/scaling.json]

For each size the synthetic generator (``training.data.synthetic``, users scaled to give that many ratings
over a fixed catalog of ``--items`` items and the default 8,000 sessions) writes ratings.parquet,
items.csv, users.csv and sessions.csv; then ``recsys-train --data ratings-parquet:...`` trains on them in
its own process and publishes into a temporary folder. Its log gives, per stage, the seconds and the peak
resident memory (the high-water mark is reset at each stage), which this prints in a table of stages by
size and writes to ``--out``. Every model trains a fixed number of epochs (``TRAINING``,
no early stopping past it, no refit) so that the time of one size compares with another's; the full
default training at 10M ratings would take hours on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.data.synthetic import SyntheticConfig, generate

SIZES = (1_000_000, 3_000_000, 10_000_000)
# The same few epochs at every size; the served rating model is MF, /recommend mixes the two-tower model
# with the rating order (EASE and the autoencoders are their own, size-independent question). The two-tower
# model keeps its default batch: its in-batch softmax makes batch x batch logits, so a larger batch costs
# memory (about 30 bytes x batch squared) and time rather than saving either.
TRAINING = ("refit=false", "candidate_sources=two-tower", "rating_model=mf", "retrieval.epochs=2",
            "mf.epochs=2", "mf.batch_size=4096", "gru4rec.epochs=2", "narm.epochs=2")
STAGE_LINE = re.compile(r"stage done: (?P<stage>.+?) in (?P<seconds>\d+) s, peak RSS (?P<rss>\d+) MiB")


def synthetic_config(ratings: int, items: int, seed: int, sessions: int = 8000,
                     users: int | None = None) -> SyntheticConfig:
    """The default generator with about ``ratings`` ratings on ``items`` items: from more users at the
    default ratings per user, or, given ``users``, from that many users with more ratings each."""
    default = SyntheticConfig()
    if users is None:
        return replace(default, n_users=max(1, round(ratings / default.mean_interactions)), n_items=items,
                       n_sessions=sessions, seed=seed)
    return replace(default, n_users=users, mean_interactions=ratings / users, n_items=items, n_sessions=sessions,
                   seed=seed)


def write_data(folder: Path, config: SyntheticConfig) -> dict[str, Any]:
    """The synthetic data of ``config`` as the files recsys-train reads."""
    started = time.perf_counter()
    rating_data, session_data = generate(config)
    rating_data.interactions.to_parquet(folder / "ratings.parquet", index=False, row_group_size=1_000_000)
    catalog = rating_data.items.assign(genres=rating_data.items["genres"].str.join("|"))
    catalog.to_csv(folder / "items.csv", index=False)
    rating_data.users.to_csv(folder / "users.csv", index=False)
    session_data.clicks.to_csv(folder / "sessions.csv", index=False)
    return {"ratings": len(rating_data.interactions), "users": config.n_users, "items": config.n_items,
            "clicks": len(session_data.clicks), "generate_seconds": round(time.perf_counter() - started, 1)}


def train(folder: Path, overrides: list[str]) -> dict[str, Any]:
    """One recsys-train run on ``folder``'s files: per stage seconds and peak RSS, and the total."""
    command = [sys.executable, "-m", "training.cli", "--data", f"ratings-parquet:{folder / 'ratings.parquet'}",
               "--items", str(folder / "items.csv"), "--users", str(folder / "users.csv"),
               "--sessions", f"sessions-csv:{folder / 'sessions.csv'}", "--artifacts", str(folder / "artifacts"),
               "--publish-anyway", *(argument for override in overrides for argument in ("--set", override))]
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"recsys-train failed ({run.returncode}):\n{run.stderr[-4000:]}")
    stages = {match["stage"]: {"seconds": int(match["seconds"]), "peak_rss_mib": int(match["rss"])}
              for match in STAGE_LINE.finditer(run.stderr)}
    return {"stages": stages, "total_seconds": round(seconds, 1),
            "peak_rss_mib": max(stage["peak_rss_mib"] for stage in stages.values())}


def table(results: list[dict[str, Any]]) -> str:
    stages = list(results[0]["training"]["stages"])
    lines = [f"{'stage':<62} " + " ".join(f"{result['data']['ratings']:>22,}" for result in results),
             f"{'':<62} " + " ".join(f"{'seconds':>9} {'peak MiB':>12}" for _ in results)]
    for stage in stages:
        cells = [result["training"]["stages"].get(stage, {"seconds": 0, "peak_rss_mib": 0}) for result in results]
        lines.append(f"{stage:<62} " + " ".join(f"{cell['seconds']:>9} {cell['peak_rss_mib']:>12,}" for cell in cells))
    lines.append(f"{'whole run (process start to exit)':<62} " + " ".join(
        f"{result['training']['total_seconds']:>9.0f} {result['training']['peak_rss_mib']:>12,}" for result in results))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="ratings per run")
    parser.add_argument("--items", type=int, default=2000, help="catalog size, the same at every size")
    parser.add_argument("--users", type=int,
                        help="hold the users at this many and raise their ratings with the size instead (default: "
                             "40 ratings per user, users grow with the size): tells per-user from per-rating memory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="training settings beyond (or replacing) the fixed-epoch ones of TRAINING")
    parser.add_argument("--out", type=Path, default=Path("bench-results/scaling.json"))
    args = parser.parse_args(argv)
    overrides = [*TRAINING, *args.overrides]
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="recsys-scaling-") as folder:
            data = write_data(Path(folder), synthetic_config(size, args.items, args.seed, users=args.users))
            print(f"{data['ratings']:,} ratings of {data['users']:,} users on {data['items']:,} items "
                  f"(generated in {data['generate_seconds']} s): training...", flush=True)
            results.append({"data": data, "training": train(Path(folder), overrides)})
            print(f"  done in {results[-1]['training']['total_seconds']:.0f} s, peak RSS "
                  f"{results[-1]['training']['peak_rss_mib']:,} MiB", flush=True)
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
        "cores": os.cpu_count(), "settings": overrides, "results": results}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
