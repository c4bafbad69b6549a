"""``recsys-check VERSION_DIR`` (or ``python -m app.smoke``): load a version exactly as the server
does (checksums, catalog, SavedModels, ScaNN, probes) and answer one request of each kind through the
serving pipeline. The trainer runs it in a fresh process before it moves ``LATEST``; operators can run
it on any version. Prints a JSON summary; exits 1 with the reason when the version cannot serve."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.recommender import Recommendation, Recommender
from app.timing import StageTimes
from models.artifact_format import ArtifactError


class SmokeTestError(RuntimeError):
    """The version loaded but answered a request wrongly."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeTestError(message)


def _finite_items(answer: Recommendation, what: str) -> None:
    _check(bool(answer.items), f"{what}: no items")
    _check(all(math.isfinite(item["score"]) for item in answer.items), f"{what}: a score is not finite")


def exercise(recommender: Recommender, k: int = 10) -> dict[str, Any]:
    """One /recommend (known and unknown user), one /session/next and one /predict-rating."""
    catalog = recommender.catalog
    times = StageTimes()
    user_ids = list(catalog.user_rows)  # in row order
    user = user_ids[int(np.argmin(catalog.seen.counts))]  # the user with the most unseen items
    known, unknown = recommender.recommend_batch([(user, k), ("\x00smoke-test-unknown-user", k)], times)
    _check(known.strategy == "personalized", f"/recommend for known user {user!r} fell back to {known.strategy}")
    _check(unknown.strategy == "popular", "/recommend for an unknown user was not the popular fallback")
    _finite_items(known, "/recommend")
    seen = set(catalog.item_ids[catalog.seen.of(catalog.user_rows[user])])
    _check(not seen & {item["item_id"] for item in known.items}, "/recommend offered an item the user has seen")

    [session] = recommender.next_items_batch([([str(catalog.session_item_ids[0])], k)], times)
    _check(session.strategy == "personalized", "/session/next ignored a known item")
    _finite_items(session, "/session/next")

    [ratings] = recommender.predict_batch([[(user, str(catalog.item_ids[0]))]], times)
    low, high = catalog.rating_range
    _check(isinstance(ratings, list) and len(ratings) == 1 and low <= ratings[0] <= high,
           f"/predict-rating answered {ratings!r}, outside {low:g}..{high:g}")
    return {"user": user, "recommended": [item["item_id"] for item in known.items], "rating": ratings[0]}


def smoke_test(version_dir: Path, settings: Settings | None = None) -> dict[str, Any]:
    from app.service import tensorflow_recommender  # TensorFlow loads here

    started = time.perf_counter()
    recommender = tensorflow_recommender(settings or Settings())(version_dir)
    loaded = time.perf_counter()
    summary = exercise(recommender)
    return {"version": recommender.version, "load_seconds": round(loaded - started, 2),
            "requests_seconds": round(time.perf_counter() - loaded, 3), **summary}


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or arguments[0].startswith("-"):
        print("usage: recsys-check VERSION_DIR", file=sys.stderr)
        return 2
    try:
        summary = smoke_test(Path(arguments[0]))
    except (ArtifactError, SmokeTestError) as error:
        print(f"recsys-check: {arguments[0]} cannot serve: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
