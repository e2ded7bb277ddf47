"""Figures read at scrape time: bonuses by program and kind, campaign progress, queue depth.

They come from the ledger, the campaign tables and the queue, not from counters in the
process: every gateway reports the same figures, a restart or a worker elsewhere loses
nothing, and the domain needs no hooks. Aggregate them across gateways with max(), not
sum() (docs/operations.md). `refresh()` queries at most every `ttl` seconds;
`collect()` (prometheus-client's, synchronous) hands out the last figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from loyalty import sql

log = logging.getLogger("loyalty.metrics")

# Bonuses moved, by program and entry kind (absolute amounts: SPEND and BURN entries are
# negative). Only entries above $1 are read; those up to $2 are also summed apart, to be
# added to the settled totals for good.
LEDGER = """
SELECT w.program_id AS program, e.kind AS kind, MAX(e.id) AS top,
       SUM(ABS(e.amount)) AS total,
       SUM(CASE WHEN e.id <= $2 THEN ABS(e.amount) ELSE 0 END) AS settled
FROM entry e JOIN wallet w ON w.id = e.wallet_id
WHERE e.id > $1
GROUP BY w.program_id, e.kind
"""

LIVE_CAMPAIGNS = """
SELECT c.id AS id, c.program_id AS program, c.status AS status, c.audience_size AS audience,
       COALESCE(SUM(b.granted), 0) AS granted, COALESCE(SUM(b.skipped), 0) AS skipped
FROM campaign c LEFT JOIN campaign_batch b ON b.campaign_id = c.id
WHERE c.status IN ('SCHEDULED', 'RUNNING', 'PAUSED')
GROUP BY c.id, c.program_id, c.status, c.audience_size
"""

CAMPAIGNS_BY_STATUS = "SELECT status, COUNT(*) AS n FROM campaign GROUP BY status"


class LedgerTotals:
    """Bonuses by (program, kind): the whole ledger summed once, then only its newest entries.

    Entry ids are taken in one order and committed in another (two workers' batches
    interleave), so the highest id seen is not a safe place to stop reading. An id seen
    at a scrape counts as settled `settle` seconds later, when every transaction that
    took a lower id has long committed; entries above the settled id are summed afresh
    at each scrape, so a late commit is never lost.
    """

    def __init__(self, settle: float = 120.0) -> None:
        self.settle = settle
        self.settled_id = 0
        self.base: dict[tuple[str, str], int] = {}  # the sums of entries up to settled_id
        self.totals: dict[tuple[str, str], int] = {}
        self._top = 0
        self._marks: deque[tuple[float, int]] = deque()  # (when, highest id seen then)

    async def refresh(self, now: float) -> None:
        """Read the entries above the settled id; settle those seen `settle` seconds ago."""
        settle_to = self.settled_id
        while self._marks and self._marks[0][0] <= now - self.settle:
            settle_to = max(settle_to, self._marks.popleft()[1])
        fresh: dict[tuple[str, str], int] = {}
        base = dict(self.base)
        for row in await sql.fetch(LEDGER, self.settled_id, settle_to):
            key = (str(row["program"]), str(row["kind"]).lower())
            settled = int(row["settled"] or 0)
            base[key] = base.get(key, 0) + settled
            fresh[key] = int(row["total"] or 0) - settled
            self._top = max(self._top, int(row["top"]))
        self.base, self.settled_id = base, settle_to
        self.totals = {key: base.get(key, 0) + fresh.get(key, 0) for key in base.keys() | fresh.keys()}
        self._marks.append((now, self._top))


class ScrapeTime(Collector):
    """The gateway's scrape-time figures, refreshed at most every `ttl` seconds."""

    def __init__(self, queue: Any, ttl: float = 5.0) -> None:
        self.queue = queue
        self.ttl = ttl
        self.ledger = LedgerTotals()
        self.campaigns: list[dict[str, Any]] = []
        self.by_status: dict[str, int] = {}
        self.depth: int | None = None
        self._at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Query what is older than `ttl`; a failing part keeps its last figures (and is logged)."""
        async with self._lock:
            now = time.monotonic()
            if self._at is not None and now - self._at < self.ttl:
                return
            self._at = now
            try:
                await self.ledger.refresh(now)
            except Exception as error:
                log.warning("metrics: the ledger could not be read: %s", type(error).__name__)
            try:
                self.campaigns = await sql.fetch(LIVE_CAMPAIGNS)
                self.by_status = {str(r["status"]): int(r["n"]) for r in await sql.fetch(CAMPAIGNS_BY_STATUS)}
            except Exception as error:
                log.warning("metrics: the campaigns could not be read: %s", type(error).__name__)
            try:
                self.depth = await self.queue.depth()
            except Exception as error:
                log.warning("metrics: the queue could not be read: %s", type(error).__name__)

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[Any]:
        bonuses = CounterMetricFamily(
            "loyalty_bonuses",
            "Bonuses moved by ledger entries, by program and entry kind (accrual, spend, burn, gift, ...).",
            labels=["program", "kind"],
        )
        for (program, kind), amount in sorted(self.ledger.totals.items()):
            bonuses.add_metric([program, kind], amount)
        yield bonuses

        statuses = GaugeMetricFamily("loyalty_campaigns", "Gift campaigns by status.", labels=["status"])
        for status, count in sorted(self.by_status.items()):
            statuses.add_metric([status.lower()], count)
        yield statuses

        labels = ["campaign", "program", "status"]
        audience = GaugeMetricFamily(
            "loyalty_campaign_audience",
            "Members of a live campaign's audience (scheduled, running, paused).",
            labels=labels,
        )
        granted = GaugeMetricFamily(
            "loyalty_campaign_granted", "Members of a live campaign granted so far.", labels=labels
        )
        skipped = GaugeMetricFamily(
            "loyalty_campaign_skipped", "Members of a live campaign skipped so far (wallet not active).", labels=labels
        )
        for row in self.campaigns:
            key = [str(row["id"]), str(row["program"]), str(row["status"]).lower()]
            audience.add_metric(key, int(row["audience"]))
            granted.add_metric(key, int(row["granted"]))
            skipped.add_metric(key, int(row["skipped"]))
        yield from (audience, granted, skipped)

        if self.depth is not None:
            depth = GaugeMetricFamily("loyalty_queue_depth", "Jobs waiting in the queue.", labels=["queue"])
            depth.add_metric([getattr(self.queue, "queue_name", "in-process")], self.depth)
            yield depth
