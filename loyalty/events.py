"""Events as the ticketing system sends them: category sets rates (LB-02), start activates (LB-03)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from loyalty import clock
from loyalty.errors import BadInput, NotFound
from loyalty.facts import EventFacts
from loyalty.models import Event


@dataclass(frozen=True)
class EventDraft:
    """An event as EventInput carries it."""

    id: str
    title: str
    category: str
    starts_at: datetime
    organizer_id: str


async def upsert(draft: EventDraft) -> Event:
    """Create the event, or replace it when the id exists."""
    for name in ("id", "title", "category", "organizer_id"):
        if not str(getattr(draft, name)).strip():
            raise BadInput(f"event {name} is empty")
    if draft.starts_at.tzinfo is None:
        raise BadInput("startsAt needs a time zone offset")
    values = {
        "title": draft.title,
        "category": draft.category.strip().lower(),
        "starts_at": draft.starts_at.astimezone(UTC),
        "organizer_id": draft.organizer_id,
        "updated_at": clock.now(),
    }
    event, _ = await Event.update_or_create(id=draft.id, defaults=values)
    return event


def facts(event: Event) -> EventFacts:
    """The event as plain data for the rules."""
    return EventFacts(
        id=event.id,
        title=event.title,
        category=event.category,
        starts_at=event.starts_at,
        organizer_id=event.organizer_id,
    )


async def facts_by_id(event_ids: Iterable[str]) -> dict[str, EventFacts]:
    """The events named, as plain data; NotFound for the first id that names nothing."""
    wanted = list(dict.fromkeys(event_ids))
    found = {event.id: facts(event) for event in await Event.filter(id__in=wanted)}
    for event_id in wanted:
        if event_id not in found:
            raise NotFound(f"no event {event_id!r}")
    return found
