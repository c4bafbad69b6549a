"""Request and response bodies of the HTTP API (raw ids only; vocabulary indices never leave the backend)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.artifact_format import VERSION_PATTERN

MAX_K = 100
MAX_SESSION_ITEMS = 200
MAX_RATING_PAIRS = 1000
MAX_ID_LENGTH = 128

Id = Field(min_length=1, max_length=MAX_ID_LENGTH)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="the order of the list: for personalized /recommend, the mix of "
                                     "two-tower logit, EASE item-to-item score, user autoencoder log-probability "
                                     "and predicted rating chosen on "
                                     "validation (GET /models, serving.mix); for popular items, training "
                                     "interaction count; for sessions, the session model's score")
    title: str | None = Field(None, description="from the catalog; null when the data has no titles")
    rating: float | None = Field(None, description="predicted rating (personalized /recommend only)")


class RecommendResponse(BaseModel):
    user_id: str
    model_version: str
    strategy: Literal["personalized", "history", "popular"] = Field(
        description="personalized: the two-stage order for a user the version knows, with their events since "
                    "training applied; history: a user the version does not know, from their events alone; "
                    "popular: a user without either gets the most popular items. Seen items are excluded")
    items: list[RecommendedItem]


class SessionRequest(Strict):
    items: list[Annotated[str, Id]] = Field(max_length=MAX_SESSION_ITEMS,
                                            description="item ids of the anonymous session, oldest first; "
                                                        "may be empty")
    k: int = Field(10, ge=1, le=MAX_K)


class SessionResponse(BaseModel):
    model_version: str
    strategy: Literal["personalized", "popular"] = Field(
        description="popular when no item of the session is known to the session model")
    items: list[RecommendedItem]
    unknown_items: list[str] = Field(description="session items the model does not know; they were skipped")


class RatingPair(Strict):
    """One (user, item) pair; as a request body, the single form of /predict-rating."""

    user_id: str = Id
    item_id: str = Id

    def as_pairs(self) -> list[tuple[str, str]]:
        return [(self.user_id, self.item_id)]


class RatingBatch(Strict):
    """The batch form of /predict-rating."""

    pairs: list[RatingPair] = Field(min_length=1, max_length=MAX_RATING_PAIRS)

    def as_pairs(self) -> list[tuple[str, str]]:
        return [(pair.user_id, pair.item_id) for pair in self.pairs]


# Either one pair or a batch, not both: each form forbids the other's fields, so exactly one matches.
RatingRequest = RatingPair | RatingBatch


class RatingResponse(BaseModel):
    model_version: str
    rating: float | None = Field(None, description="for a single pair, within the data's rating range")
    ratings: list[float] | None = Field(None, description="for a batch, in the order of the pairs")


class ReloadRequest(Strict):
    version: str | None = Field(None, pattern=f"^{VERSION_PATTERN}$",
                                description="version to load; default: the one named in LATEST")


class ModelStatus(BaseModel):
    status: str
    model_version: str | None = None


class StoredVersion(BaseModel):
    version: str
    created_at: str | None = Field(None, description="when the trainer wrote it (UTC, ISO 8601)")
    data: str | None = Field(None, description="the rating data it was trained on (source kind and file name)")
    sessions: str | None = None
    metrics: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per task, the served model and its test metrics")
    loaded: bool = Field(description="this server serves it now")
    latest: bool = Field(description="LATEST names it")
    problem: str | None = Field(None, description="why it cannot be loaded (incomplete, another format); "
                                                  "checksums are verified only when a version is loaded")


class VersionList(BaseModel):
    loaded: str | None
    latest: str | None
    versions: list[StoredVersion] = Field(description="newest first; versions with a problem last")


class EventIn(Strict):
    user_id: str = Id
    item_id: str = Id
    type: str = Field(min_length=1, max_length=32, description="one of the configured types (RECSYS_EVENT_TYPES; "
                                                                  "default view, click, rating, purchase)")
    value: float | None = Field(None, allow_inf_nan=False, description="the rating, for rating events only")
    timestamp: datetime | None = Field(None, description="ISO-8601, UTC when no offset is given; default: now")


class EventBatch(Strict):
    events: list[EventIn] = Field(min_length=1, description="at most RECSYS_EVENTS_MAX_BATCH (default 1000)")


class RejectedEvent(BaseModel):
    index: int = Field(description="position in the request's events")
    reason: str


class EventsAccepted(BaseModel):
    accepted: int = Field(description="events stored durably (committed) before this answer")
    rejected: list[RejectedEvent]


class EventsDeleted(BaseModel):
    user_id: str
    deleted: int = Field(description="events removed from the log")


class CatalogItem(BaseModel):
    item_id: str
    title: str | None = Field(None, description="from the catalog; null when the data has no titles")


class ItemSearch(BaseModel):
    model_version: str
    items: list[CatalogItem] = Field(description="items whose title or id contains the query, most popular first")


class HistoryItem(CatalogItem):
    rating: float | None = Field(None, description="the rating the user gave (training) or their latest rating "
                                                   "event; for other interactions, the value the ranking model "
                                                   "reads beside them (the user's mean rating)")
    source: Literal["event", "training"] = Field(description="event: logged after the version's cut-off; "
                                                             "training: in the version's training data")


class ExampleUsers(BaseModel):
    model_version: str
    users: list[str] = Field(description="users the version was trained on, in vocabulary order")


class UserHistory(BaseModel):
    user_id: str
    model_version: str
    known: bool = Field(description="the version was trained on this user (as the history shows it)")
    items: list[HistoryItem] = Field(description="newest first: events since the cut-off, then training history")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody
