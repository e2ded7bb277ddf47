"""Events as the ticketing system sends them: category sets rates (LB-02), start activates (LB-03)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from loyalty import clock, sql
from loyalty.errors import BadInput, NotFound
from loyalty.facts import EventFacts
from loyalty.models import Event, Lot


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
    async with in_transaction():
        before = await Event.select_for_update().get_or_none(id=draft.id)
        event, _ = await Event.update_or_create(id=draft.id, defaults=values)
        if before is not None and before.starts_at != event.starts_at:
            await _follow_new_start(event.id, before.starts_at, event.starts_at)
    return event


async def _follow_new_start(event_id: str, old_start: datetime, new_start: datetime) -> None:
    """LB-03 on a rescheduled event: bonuses still waiting for it activate at its new start.

    A pending lot of the event activates at the old start; it moves to the new one (not
    before now) and its validity moves with it, so it keeps the same length (LB-04).
    Lots already active stay as they are.
    """
    now = clock.now()
    starts = max(new_start, now)
    shift = starts - old_start
    pending = await Lot.filter(event_id=event_id, activates_at__gt=now).values("id", "expires_at")
    by_expiry: dict[datetime | None, list[int]] = {}
    for lot in pending:
        by_expiry.setdefault(sql.as_datetime(lot["expires_at"]), []).append(lot["id"])
    for expires, ids in by_expiry.items():
        await Lot.filter(id__in=ids).update(
            activates_at=starts, expires_at=expires + shift if expires is not None else None
        )


def _utc(value: object) -> datetime:
    moment = sql.as_datetime(value)
    assert moment is not None
    return moment


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
    marks = ", ".join(f"${n + 1}" for n in range(len(wanted)))
    rows = (
        await sql.fetch(
            f"SELECT id, title, category, starts_at, organizer_id FROM event WHERE id IN ({marks})", *wanted
        )
        if wanted
        else []
    )
    found = {
        row["id"]: EventFacts(
            id=row["id"],
            title=row["title"],
            category=row["category"],
            starts_at=_utc(row["starts_at"]),
            organizer_id=row["organizer_id"],
        )
        for row in rows
    }
    for event_id in wanted:
        if event_id not in found:
            raise NotFound(f"no event {event_id!r}")
    return found
