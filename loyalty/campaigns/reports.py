"""What campaigns did: participants granted and skipped, bonuses spent and burned (CA-05)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loyalty import sql


@dataclass(frozen=True)
class Progress:
    """Participants granted and skipped so far, counted from the committed batches."""

    granted: int = 0
    skipped: int = 0


async def _per_campaign(query: str, campaign_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Run a `GROUP BY campaign_id` query over the ids put in its `{ids}`; a row per campaign asked."""
    ids = list(dict.fromkeys(int(i) for i in campaign_ids))
    if not ids:
        return {}
    marks = ", ".join(f"${n + 1}" for n in range(len(ids)))
    found = {int(row["campaign_id"]): row for row in await sql.fetch(query.format(ids=marks), *ids)}
    return {i: found.get(i, {}) for i in ids}


async def progress(campaign_ids: Sequence[int]) -> dict[int, Progress]:
    """Participants granted and skipped per campaign, from the committed batches."""
    rows = await _per_campaign(
        "SELECT campaign_id, SUM(granted) AS granted, SUM(skipped) AS skipped FROM campaign_batch"
        " WHERE campaign_id IN ({ids}) AND done_at IS NOT NULL GROUP BY campaign_id",
        campaign_ids,
    )
    return {i: Progress(int(r.get("granted") or 0), int(r.get("skipped") or 0)) for i, r in rows.items()}


async def counted(campaign_id: int) -> Progress:
    """Participants granted and skipped, counted row by row from the grants themselves
    (slower than `progress`; for checks and reconciliation)."""
    rows = await sql.fetch(
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN granted THEN 1 ELSE 0 END), 0) AS granted"
        " FROM campaign_grant WHERE campaign_id = $1",
        campaign_id,
    )
    granted = int(rows[0]["granted"])
    return Progress(granted, int(rows[0]["n"]) - granted)


async def bonuses_spent(campaign_ids: Sequence[int]) -> dict[int, int]:
    """Per campaign, bonuses of its GIFT lots taken for good (paid orders, debits) (CA-05)."""
    rows = await _per_campaign(
        "SELECT l.campaign_id, SUM(d.amount) AS n FROM draw d JOIN lot l ON l.id = d.lot_id"
        " WHERE l.campaign_id IN ({ids}) AND l.kind = 'GIFT' AND d.entry_id IS NOT NULL GROUP BY l.campaign_id",
        campaign_ids,
    )
    return {i: int(r.get("n") or 0) for i, r in rows.items()}


async def bonuses_burned(campaign_ids: Sequence[int]) -> dict[int, int]:
    """Per campaign, bonuses that burned: its BURN entries (CA-05, LB-04, LB-14)."""
    rows = await _per_campaign(
        "SELECT campaign_id, SUM(amount) AS n FROM entry"
        " WHERE campaign_id IN ({ids}) AND kind = 'BURN' GROUP BY campaign_id",
        campaign_ids,
    )
    return {i: -int(r.get("n") or 0) for i, r in rows.items()}
