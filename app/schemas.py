"""Request and response bodies of the HTTP API (raw ids only; vocabulary indices never leave the backend)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_K = 100
MAX_SESSION_ITEMS = 200
MAX_RATING_PAIRS = 1000
MAX_ID_LENGTH = 128

Id = Field(min_length=1, max_length=MAX_ID_LENGTH)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="the order of the list: for personalized /recommend, retrieval logit + "
                                     "rating_weight x predicted rating (see GET /models, serving); for popular "
                                     "items, training interaction count; for sessions, the session model's score")
    title: str | None = Field(None, description="from the catalog; null when the data has no titles")
    rating: float | None = Field(None, description="predicted rating (personalized /recommend only)")


class RecommendResponse(BaseModel):
    user_id: str
    model_version: str
    strategy: Literal["personalized", "popular"] = Field(
        description="personalized: ScaNN candidates ranked by the ranking model, seen items excluded; "
                    "popular: the user is unknown, so the most popular items")
    items: list[RecommendedItem]


class SessionRequest(Strict):
    items: list[str] = Field(max_length=MAX_SESSION_ITEMS,
                             description="item ids of the anonymous session, oldest first; may be empty")
    k: int = Field(10, ge=1, le=MAX_K)


class SessionResponse(BaseModel):
    model_version: str
    strategy: Literal["personalized", "popular"] = Field(
        description="popular when no item of the session is known to the session model")
    items: list[RecommendedItem]
    unknown_items: list[str] = Field(description="session items the model does not know; they were skipped")


class RatingPair(Strict):
    user_id: str = Id
    item_id: str = Id


class RatingRequest(Strict):
    """Either one pair (``user_id`` and ``item_id``) or a batch (``pairs``), not both."""

    user_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH)
    item_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH)
    pairs: list[RatingPair] | None = Field(None, min_length=1, max_length=MAX_RATING_PAIRS)

    @model_validator(mode="after")
    def one_form(self) -> RatingRequest:
        single = self.user_id is not None or self.item_id is not None
        if self.pairs is not None and single:
            raise ValueError("send either user_id and item_id, or pairs, not both")
        if self.pairs is None and (self.user_id is None or self.item_id is None):
            raise ValueError("send user_id and item_id, or a non-empty pairs list")
        return self

    def as_pairs(self) -> list[tuple[str, str]]:
        if self.pairs is not None:
            return [(pair.user_id, pair.item_id) for pair in self.pairs]
        return [(self.user_id, self.item_id)]


class RatingResponse(BaseModel):
    model_version: str
    rating: float | None = Field(None, description="for a single pair, within the data's rating range")
    ratings: list[float] | None = Field(None, description="for a batch, in the order of the pairs")


class ReloadRequest(Strict):
    version: str | None = Field(None, description="version to load; default: the one named in LATEST")


class ModelStatus(BaseModel):
    status: str
    model_version: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody
