"""A wallet's ledger entries, newest first, a page at a time (LB-05)."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty import pagination
from loyalty.models import Entry, Lot

CURSOR_KIND = "entry"


@dataclass(frozen=True)
class Page:
    """A page of ledger entries, newest first."""

    entries: list[Entry]
    has_next: bool


def entry_cursor(entry: Entry) -> str:
    """The opaque cursor of an entry in a history page."""
    return pagination.cursor(CURSOR_KIND, entry.id)


async def history(wallet_id: int, first: int, after: str | None = None) -> Page:
    """The wallet's entries, newest first, `first` of them after the cursor (LB-05)."""
    pagination.check_first(first)
    query = Entry.filter(wallet_id=wallet_id)
    before = pagination.after(CURSOR_KIND, after)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(first + 1)
    page = rows[:first]
    # A credit's validity "as known now": its lot's, which a rolling program (MG-06) or a
    # postponed event (LB-03) moves. The entries themselves stay as written.
    lot_ids = [entry.lot_id for entry in page if entry.lot_id is not None and entry.amount > 0]
    if lot_ids:
        current = {
            row["id"]: row for row in await Lot.filter(id__in=lot_ids).values("id", "activates_at", "expires_at")
        }
        for entry in page:
            if entry.lot_id in current and entry.amount > 0:
                entry.activates_at = current[entry.lot_id]["activates_at"]
                entry.expires_at = current[entry.lot_id]["expires_at"]
    return Page(entries=page, has_next=len(rows) > first)
