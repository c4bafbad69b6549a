"""Checks on loaded interactions that change what trains, each counted in a note the run prints and the
report keeps: the rating scale (declared, the format's own, or inferred), refused out-of-range rows and
duplicate rows.

Frames arrive indexed by their 1-based line in the file, so that every note and error names a line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd

from training.data.dataset import DataFormatError, SessionData

# Scales seen in practice, narrowest first: the first that holds every rating is the inferred one.
USUAL_SCALES: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 5.0), (0.5, 5.0), (0.0, 5.0), (1.0, 10.0),
                                                 (0.0, 10.0), (0.0, 100.0))
Duplicates = Literal["last", "mean"]


@dataclass(frozen=True)
class DataChecks:
    """rating_range: the declared scale (None: the format's own, else inferred from USUAL_SCALES).
    duplicates: for repeated (user, item) pairs, keep the last by timestamp or the mean rating."""

    rating_range: tuple[float, float] | None = None
    duplicates: Duplicates = "last"


def _scale_name(scale: tuple[float, float]) -> str:
    return f"{scale[0]:g}..{scale[1]:g}"


def infer_scale(ratings: pd.Series, file: str) -> tuple[float, float]:
    """The narrowest usual scale holding every rating. A scale that holds all but a few (under 1%) is
    taken for the real one and the few for faults (a 50 among 1-5 stars), which the user must resolve:
    a wider inferred scale would quietly become the range of served ratings."""
    for scale in USUAL_SCALES:
        inside = ratings.between(*scale)
        if inside.all():
            return scale
        if inside.mean() >= 0.99:
            outside = ratings[~inside]
            raise DataFormatError(
                f"{file}: {len(outside):,} rating(s) lie outside {_scale_name(scale)}, the scale of the other "
                f"{int(inside.sum()):,} (the first at line {outside.index[0]}: {outside.iloc[0]:g}); declare the "
                "scale with --rating-range LOW,HIGH to refuse and count them, or correct them")
    low, high = float(ratings.min()), float(ratings.max())
    raise DataFormatError(
        f"{file}: ratings span {low:g} (line {ratings.idxmin()}) to {high:g} (line {ratings.idxmax()}), "
        f"which fits no usual scale ({', '.join(map(_scale_name, USUAL_SCALES))}); declare the scale with "
        "--rating-range LOW,HIGH: rows outside it are then refused and counted")


def _refuse_outside(frame: pd.DataFrame, scale: tuple[float, float], file: str, notes: list[str]) -> pd.DataFrame:
    outside = ~frame["rating"].between(*scale)
    if outside.all():
        raise DataFormatError(f"{file}: every rating lies outside the declared range {_scale_name(scale)}")
    if outside.any():
        notes.append(f"{file}: {int(outside.sum()):,} rows with a rating outside {_scale_name(scale)} refused "
                     f"(the first at line {outside.idxmax()})")
    return frame[~outside]


def _merge_duplicates(frame: pd.DataFrame, policy: Duplicates, file: str, notes: list[str]) -> pd.DataFrame:
    repeated = frame.duplicated(["user_id", "item_id"], keep=False)
    if not repeated.any():
        return frame
    # Stable sort: among equal timestamps the later line counts as the later rating.
    ordered = frame.sort_values("timestamp", kind="stable")
    kept = ordered.drop_duplicates(["user_id", "item_id"], keep="last")
    if policy == "mean":
        means = ordered.groupby(["user_id", "item_id"], sort=False)["rating"].mean()
        kept = kept.assign(rating=means.reindex(pd.MultiIndex.from_frame(kept[["user_id", "item_id"]])).to_numpy())
    merged, pairs = len(frame) - len(kept), int(repeated.sum()) - (len(frame) - len(kept))
    how = "kept the last by timestamp" if policy == "last" else "kept their mean rating and latest timestamp"
    first = frame.index[frame.duplicated(["user_id", "item_id"])][0]
    notes.append(f"{file}: {merged:,} repeated ratings of {pairs:,} (user, item) pairs merged, one per pair "
                 f"({how}; the first repeat at line {first})")
    return kept.sort_index()


def check_ratings(frame: pd.DataFrame, file: str, format_scale: tuple[float, float] | None,
                  checks: DataChecks) -> tuple[pd.DataFrame, tuple[float, float], list[str]]:
    """-> (the rows that train, the rating scale, notes on what was changed and why)."""
    notes: list[str] = []
    if checks.rating_range is not None:
        scale = checks.rating_range
        frame = _refuse_outside(frame, scale, file, notes)
    elif format_scale is not None:
        scale = format_scale
    else:
        scale = infer_scale(frame["rating"], file)
        notes.append(f"{file}: rating scale inferred as {_scale_name(scale)} (declare it with --rating-range)")
    frame = _merge_duplicates(frame, checks.duplicates, file, notes)
    return frame, scale, notes


def check_clicks(frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[str]]:
    """Repeated rows (same session, item and time) are one click logged twice: keep one."""
    repeated = frame.duplicated(["session_id", "item_id", "timestamp"])
    if not repeated.any():
        return frame, []
    note = (f"{file}: {int(repeated.sum()):,} repeated rows (same session, item and time) dropped "
            f"(the first at line {repeated.idxmax()})")
    return frame[~repeated], [note]


def checked_range(values: tuple[float, ...], shown: str) -> tuple[float, float]:
    """A declared rating scale as (LOW, HIGH); ValueError naming ``shown`` if it is not one."""
    if len(values) != 2:
        raise ValueError(f"{shown}: expected LOW,HIGH, as in 1,5")
    low, high = values
    if not low < high:
        raise ValueError(f"{shown}: LOW must be below HIGH")
    return float(low), float(high)


def parse_range(text: str) -> tuple[float, float]:
    """``"1,5"`` -> (1.0, 5.0), for ``--rating-range``."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    return checked_range(values, f"--rating-range {text!r}")


def on_catalog(sessions: SessionData, catalog: pd.Index) -> SessionData:
    """``sessions`` with only the clicks on ``catalog``'s items (see keep_catalog_clicks)."""
    clicks, notes = keep_catalog_clicks(sessions.clicks, catalog, sessions.name)
    test_clicks, test_notes = (None, []) if sessions.test_clicks is None else \
        keep_catalog_clicks(sessions.test_clicks, catalog, f"{sessions.name} (test part)")
    if not notes and not test_notes:
        return sessions
    return replace(sessions, clicks=clicks.reset_index(drop=True),
                   test_clicks=None if test_clicks is None else test_clicks.reset_index(drop=True),
                   notes=(*sessions.notes, *notes, *test_notes))


def keep_catalog_clicks(clicks: pd.DataFrame, catalog: pd.Index, source: str,
                        minimum_share: float = 0.5) -> tuple[pd.DataFrame, list[str]]:
    """Only clicks on items of the served catalog: a session model must not recommend items that
    ``/recommend`` and the item metadata do not know. A source that shares little of the catalog is
    refused outright: it is almost certainly the log of another shop."""
    known = clicks["item_id"].isin(catalog)
    if known.all():
        return clicks, []
    if known.mean() < minimum_share:
        raise DataFormatError(
            f"{source}: only {known.mean():.0%} of the clicks are on items of the rating data's catalog "
            f"({clicks.loc[known, 'item_id'].nunique():,} of {clicks['item_id'].nunique():,} items); a session "
            "model trained on them would recommend items the rest of the service does not know. Give the "
            "sessions of the same catalog, or leave --sessions out to build sequences from --data")
    note = (f"{source}: {int((~known).sum()):,} clicks dropped, on {clicks.loc[~known, 'item_id'].nunique():,} "
            "item(s) outside the served catalog")
    return clicks[known], [note]
