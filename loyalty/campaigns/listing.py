"""Campaigns listed for marketing, newest created first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty import pagination
from loyalty.models import Campaign

CURSOR_KIND = "campaign"


@dataclass(frozen=True)
class Page:
    """A page of campaigns, newest created first."""

    campaigns: list[Campaign]
    has_next: bool


def cursor(campaign: Campaign) -> str:
    """The opaque cursor of a campaign in a list."""
    return pagination.cursor(CURSOR_KIND, campaign.id)


async def page(first: int, after: str | None = None) -> Page:
    """Campaigns, newest created first, `first` of them after the cursor."""
    pagination.check_first(first)
    query = Campaign.all()
    before = pagination.after(CURSOR_KIND, after)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(first + 1)
    return Page(campaigns=rows[:first], has_next=len(rows) > first)
