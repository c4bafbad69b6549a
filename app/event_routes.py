"""Feedback routes, behind the events bearer token (``app.auth.require_events``): ``POST /events`` logs what
users did, durably, for the very next request to reflect (``app.recommender``) and the next training
to learn from; ``DELETE /users/{user_id}/events`` forgets a user's events.

Each event is checked against the loaded version: its type, its item, and for a rating its value
within the rating scale; the answer names every refused event and why, and stores the others. The
writes of concurrent requests go to the log in one transaction (group commit, ``EventLog``): a 200
means committed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from app import schemas
from app.auth import require_events
from app.batching import MicroBatcher, Overloaded
from app.config import Settings
from app.errors import ApiError, NotReady
from app.timing import StageTimes
from events.store import Event, EventStore, EventStoreError

ERRORS = {status: {"model": schemas.ErrorResponse} for status in (400, 401, 403, 413, 422, 503)}
router = APIRouter(tags=["events"], dependencies=[Depends(require_events)], responses=ERRORS)


class EventLog:
    """The server's writer of the event log: opened on first use (a database that is down at startup
    does not stop the server), appends grouped by one batch thread."""

    def __init__(self, settings: Settings) -> None:
        self.url, self.sync = settings.event_store_url(), settings.events_sync
        self._store: EventStore | None = None
        self._writer = MicroBatcher(self._append, "events-writer", max_batch=256, max_queue=settings.batch_queue)

    def store(self) -> EventStore:
        if self._store is None:
            self._store = EventStore(self.url, self.sync)
        return self._store

    def _append(self, batches: Sequence[list[Event]], times: StageTimes) -> list[None]:
        with times.stage("commit"):
            self.store().append([event for batch in batches for event in batch])
        return [None] * len(batches)

    async def append(self, events: list[Event]) -> None:
        if events:
            await self._writer.submit(events)

    def close(self) -> None:
        self._writer.close()


def _unavailable(error: Exception) -> ApiError:
    return ApiError(503, "events_unavailable", f"the event log cannot be used right now: {error}", None)


def check_events(events: Sequence[schemas.EventIn], known_items, rating_range: tuple[float, float],
                 types: Sequence[str], now: float) -> tuple[list[Event], list[schemas.RejectedEvent]]:
    """The events to store, and the refused ones with the reason; ``known_items`` supports ``in``."""
    low, high = rating_range
    accepted, rejected = [], []
    for index, event in enumerate(events):
        reason = None
        if event.type not in types:
            reason = f"unknown type {event.type!r}; one of {', '.join(types)}"
        elif event.item_id not in known_items:
            reason = f"unknown item {event.item_id!r}"
        elif event.type == "rating" and event.value is None:
            reason = "a rating event needs a value"
        elif event.type == "rating" and not low <= event.value <= high:
            reason = f"value {event.value:g} is outside the rating scale {low:g}..{high:g}"
        elif event.type != "rating" and event.value is not None:
            reason = f"a value is for rating events only, not {event.type!r}"
        if reason is not None:
            rejected.append(schemas.RejectedEvent(index=index, reason=reason))
            continue
        when = event.timestamp
        timestamp = now if when is None else (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
        accepted.append(Event(event.user_id, event.item_id, event.type, event.value, timestamp))
    return accepted, rejected


@router.post("/events", response_model=schemas.EventsAccepted,
             summary="Log what users did: the next /recommend reflects it (seen items, history), new users included")
async def post_events(request: Request, body: schemas.EventBatch) -> schemas.EventsAccepted:
    state = request.app.state
    settings: Settings = state.settings
    if len(body.events) > settings.events_max_batch:
        raise ApiError(422, "invalid_request", f"{len(body.events)} events in one request; at most "
                       f"{settings.events_max_batch} (RECSYS_EVENTS_MAX_BATCH)", None)
    model = state.models.current
    if model is None:
        raise NotReady(state.models.last_error or "loading")
    rating_range = tuple(model.manifest["serving"]["rating_range"])
    accepted, rejected = check_events(body.events, model.known_items(), rating_range, settings.event_types,
                                      time.time())
    try:
        await state.event_log.append(accepted)
    except (EventStoreError, Overloaded) as error:
        raise _unavailable(error) from error
    return schemas.EventsAccepted(accepted=len(accepted), rejected=rejected)


@router.delete("/users/{user_id}/events", response_model=schemas.EventsDeleted,
               summary="Forget a user's events: deleted from the log, and their effect on serving gone")
async def forget_user(request: Request,
                      user_id: Annotated[str, Path(min_length=1, max_length=schemas.MAX_ID_LENGTH)]
                      ) -> schemas.EventsDeleted:
    try:
        deleted = await run_in_threadpool(lambda: request.app.state.event_log.store().forget(user_id))
    except EventStoreError as error:
        raise _unavailable(error) from error
    return schemas.EventsDeleted(user_id=user_id, deleted=deleted)
