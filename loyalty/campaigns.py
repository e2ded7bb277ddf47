"""Gift campaigns (CA-01..CA-05, LB-14): create, launch, pause, resume, cancel, grant.

The life of a campaign::

    DRAFT --launch--> SCHEDULED --startsAt--> RUNNING --last batch--> FINISHED
                          |   ^                 |  ^
                          pause resume      pause resume
                          v   |                 v  |
                          PAUSED ---------------+
    any of DRAFT, SCHEDULED, RUNNING, PAUSED --cancel--> CANCELLED

Launching fixes the audience: one INSERT ... SELECT numbers its members
(`CampaignMember.seq` from 1) and cuts them into batches of consecutive numbers
(`CampaignBatch`). Each batch is granted by `grant_batch` in one transaction that
writes, set-based, one `CampaignGrant` per member (unique per campaign and
participant: the gift is given at most once, CA-04), a GIFT lot and a GIFT entry for
each member whose wallet and participant are still ACTIVE, a skipped grant for the
others, and the batch's completion with its counts. The database alone says what is
done: a batch that is not marked done is simply run again (by the sweeper), and
running a batch twice grants nothing twice.

A gift pays the wallet's debt first, like `ledger.credit` (LB-10): the GIFT entry
shows the full amount, the lot keeps what is left after the debt.

This module knows nothing of queues: the functions that make work to do return it
(`Work`: which batches of which campaign to run), and the caller enqueues it.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from loyalty import audiences, clock, sql
from loyalty.audiences import Audience
from loyalty.errors import BadInput, Conflict, NotFound
from loyalty.models import Campaign, CampaignBatch, CampaignStatus
from loyalty.programs import Catalog

DEFAULT_BATCH_SIZE = 5_000
MAX_BATCH_SIZE = 100_000
PAGE_LIMIT = 100
RULE = "LB-14"

OPEN = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)


@dataclass(frozen=True)
class Draft:
    """GiftCampaignInput: what marketing sends to create a campaign (CA-01)."""

    name: str
    program_id: str
    amount: int
    audience: Audience
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    valid_days: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Work:
    """Batches of one campaign to run now (or, for a scheduled start, at `start_at`)."""

    campaign_id: int
    token: str
    batches: list[int] = field(default_factory=list)
    start_at: datetime | None = None


@dataclass(frozen=True)
class Progress:
    """Participants granted and skipped so far, counted from the committed batches."""

    granted: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class BatchOutcome:
    """What one run of `grant_batch` did: `state` is "granted" (it ran now),
    "done" (already done), "busy" (another run holds it), "idle" (the campaign is not
    RUNNING) or "missing"."""

    state: str
    granted: int = 0
    skipped: int = 0


def _id(campaign_id: str | int) -> int:
    try:
        return int(campaign_id)
    except (TypeError, ValueError):
        raise NotFound(f"no campaign {campaign_id!r}") from None


def job_id(token: str, batch_no: int) -> str:
    """The queue's key for one batch of one campaign: re-enqueueing it collapses."""
    return f"grant:{token}:{batch_no}"


async def get(campaign_id: str | int) -> Campaign:
    """The campaign with this id; NotFound if none."""
    found = await Campaign.get_or_none(id=_id(campaign_id))
    if found is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    return found


async def find(campaign_id: str | int) -> Campaign | None:
    """The campaign with this id, or None."""
    try:
        return await Campaign.get_or_none(id=_id(campaign_id))
    except NotFound:
        return None


async def preview(catalog: Catalog, program_id: str, audience: Audience) -> int:
    """How many participants the audience matches now (CA-02); changes nothing."""
    return await audiences.count(catalog.get(program_id), audience)


async def create(catalog: Catalog, draft: Draft, actor: str, *, batch_size: int | None = None) -> Campaign:
    """Create a DRAFT campaign (CA-01, LB-14) with its audience counted (CA-02).

    Refused (BAD_INPUT) with a non-positive amount, an empty name, an audience that is
    empty or matches nobody, or unless exactly one of expires_at, valid_days is given
    (expires_at in the future, after starts_at; valid_days positive).
    """
    program = catalog.get(draft.program_id)
    now = clock.now()
    if not draft.name.strip():
        raise BadInput("a campaign needs a name")
    if len(draft.name) > 200:
        raise BadInput("name is longer than 200 characters")
    if draft.message is not None and len(draft.message) > 500:
        raise BadInput("message is longer than 500 characters")
    if draft.amount <= 0:
        raise BadInput("amount must be a positive number of bonuses")
    if (draft.expires_at is None) == (draft.valid_days is None):
        raise BadInput("give exactly one of expiresAt and validDays")
    for name, value in (("startsAt", draft.starts_at), ("expiresAt", draft.expires_at)):
        if value is not None and value.tzinfo is None:
            raise BadInput(f"{name} needs a time zone offset")
    if draft.valid_days is not None and draft.valid_days <= 0:
        raise BadInput("validDays must be positive")
    if draft.expires_at is not None:
        if draft.expires_at <= now:
            raise BadInput("expiresAt is in the past")
        if draft.starts_at is not None and draft.expires_at <= draft.starts_at:
            raise BadInput("expiresAt is not after startsAt")
    size = batch_size or DEFAULT_BATCH_SIZE
    if not 0 < size <= MAX_BATCH_SIZE:
        raise BadInput(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
    matched = await audiences.count(program, draft.audience)
    if matched == 0:
        raise BadInput("the audience is empty: it matches no participant with an active wallet")
    return await Campaign.create(
        token=secrets.token_hex(12),
        name=draft.name.strip(),
        program_id=program.id,
        amount=draft.amount,
        audience=draft.audience.to_json(),
        message=draft.message,
        starts_at=draft.starts_at,
        expires_at=draft.expires_at,
        valid_days=draft.valid_days,
        status=CampaignStatus.DRAFT,
        audience_size=matched,
        batch_size=size,
        rules_version=program.rules_version,
        created_by=actor,
        created_at=now,
    )


async def _locked(campaign_id: str | int) -> Campaign:
    found = await Campaign.select_for_update().get_or_none(id=_id(campaign_id))
    if found is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    return found


def _refuse(campaign: Campaign, change: str) -> Conflict:
    return Conflict(f"campaign {campaign.id} is {campaign.status.value}: it cannot be {change}")


def _due(campaign: Campaign, now: datetime) -> bool:
    starts = sql.as_datetime(campaign.starts_at)
    return starts is None or starts <= now


async def launch(catalog: Catalog, campaign_id: str | int) -> tuple[Campaign, Work]:
    """Launch a DRAFT campaign: fix its audience now and cut it into batches (CA-03).

    The status becomes SCHEDULED (startsAt ahead) or RUNNING. Returns the campaign and
    the work to enqueue: every batch when RUNNING; for SCHEDULED, `start_at`.
    CONFLICT from any other status. One INSERT ... SELECT writes the members.
    """
    now = clock.now()
    async with in_transaction():
        campaign = await _locked(campaign_id)
        if campaign.status is not CampaignStatus.DRAFT:
            raise _refuse(campaign, "launched")
        expires = sql.as_datetime(campaign.expires_at)
        if expires is not None and expires <= now:
            raise BadInput("the campaign's expiresAt has passed: its gifts would be void")
        program = catalog.get(campaign.program_id)
        where, params = await audiences.condition(program, Audience.from_json(campaign.audience), first_param=2)
        await sql.execute(
            "INSERT INTO campaign_member (campaign_id, seq, participant_id, wallet_id)"
            " SELECT CAST($1 AS BIGINT), ROW_NUMBER() OVER (ORDER BY w.id), p.id, w.id"
            f" FROM {audiences.FROM} WHERE {where}",
            campaign.id,
            *params,
        )
        # Members are numbered 1..size (asyncpg's INSERT status gives no reliable count).
        found = await sql.fetch("SELECT MAX(seq) AS n FROM campaign_member WHERE campaign_id = $1", campaign.id)
        size = int(found[0]["n"] or 0)
        count = math.ceil(size / campaign.batch_size)
        await CampaignBatch.bulk_create(
            [
                CampaignBatch(
                    campaign_id=campaign.id,
                    batch_no=n,
                    first_seq=n * campaign.batch_size + 1,
                    last_seq=min((n + 1) * campaign.batch_size, size),
                )
                for n in range(count)
            ]
        )
        campaign.audience_size = size
        campaign.batches = count
        campaign.launched_at = now
        if not _due(campaign, now):
            campaign.status = CampaignStatus.SCHEDULED
        elif size == 0:
            campaign.status = CampaignStatus.FINISHED
            campaign.started_at = campaign.finished_at = now
        else:
            campaign.status = CampaignStatus.RUNNING
        await campaign.save(
            update_fields=["audience_size", "batches", "launched_at", "status", "started_at", "finished_at"]
        )
    if campaign.status is CampaignStatus.SCHEDULED:
        return campaign, Work(campaign.id, campaign.token, start_at=sql.as_datetime(campaign.starts_at))
    return campaign, await _work(campaign)


async def _undone(campaign_id: int) -> list[int]:
    rows = (
        await CampaignBatch.filter(campaign_id=campaign_id, done_at__isnull=True)
        .order_by("batch_no")
        .values("batch_no")
    )
    return [int(row["batch_no"]) for row in rows]


async def _work(campaign: Campaign) -> Work:
    if campaign.status is not CampaignStatus.RUNNING:
        return Work(campaign.id, campaign.token)
    return Work(campaign.id, campaign.token, await _undone(campaign.id))


async def pause(campaign_id: str | int) -> Campaign:
    """RUNNING or SCHEDULED becomes PAUSED: no further batch starts (CA-03).

    On PostgreSQL it waits for batches in flight (they hold the campaign row shared),
    so once it returns no grant of this campaign is being written.
    """
    async with in_transaction():
        campaign = await _locked(campaign_id)
        if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
            raise _refuse(campaign, "paused")
        campaign.status = CampaignStatus.PAUSED
        await campaign.save(update_fields=["status"])
    return campaign


async def resume(campaign_id: str | int) -> tuple[Campaign, Work]:
    """PAUSED becomes RUNNING (SCHEDULED while startsAt is ahead); granting continues
    where it stopped (CA-03, CA-04). Returns the batches still to run."""
    now = clock.now()
    async with in_transaction():
        campaign = await _locked(campaign_id)
        if campaign.status is not CampaignStatus.PAUSED:
            raise _refuse(campaign, "resumed")
        campaign.status = CampaignStatus.RUNNING if _due(campaign, now) else CampaignStatus.SCHEDULED
        await campaign.save(update_fields=["status"])
    if campaign.status is CampaignStatus.SCHEDULED:
        return campaign, Work(campaign.id, campaign.token, start_at=sql.as_datetime(campaign.starts_at))
    if await finish_if_done(campaign.id):
        campaign = await get(campaign.id)
    return campaign, await _work(campaign)


async def cancel(campaign_id: str | int) -> Campaign:
    """The campaign becomes CANCELLED and grants no more; gifts already granted stay (CA-03).

    CONFLICT when it is already FINISHED or CANCELLED.
    """
    async with in_transaction():
        campaign = await _locked(campaign_id)
        if campaign.status not in OPEN:
            raise _refuse(campaign, "cancelled")
        campaign.status = CampaignStatus.CANCELLED
        campaign.finished_at = clock.now()
        await campaign.save(update_fields=["status", "finished_at"])
    return campaign


async def start(campaign_id: str | int) -> Work:
    """A SCHEDULED campaign whose startsAt has come becomes RUNNING; its batches to run.

    Anything else (not yet due, paused, already running) changes nothing; a RUNNING
    campaign still answers with its unfinished batches, so a repeated start is harmless.
    """
    now = clock.now()
    campaign = await find(campaign_id)
    if campaign is None:
        return Work(_id(campaign_id), "")
    if campaign.status is CampaignStatus.SCHEDULED and _due(campaign, now):
        async with in_transaction():
            campaign = await _locked(campaign.id)
            if campaign.status is CampaignStatus.SCHEDULED and _due(campaign, now):
                campaign.status = CampaignStatus.RUNNING
                await campaign.save(update_fields=["status"])
        if campaign.status is CampaignStatus.RUNNING and await finish_if_done(campaign.id):
            campaign = await get(campaign.id)
    return await _work(campaign)


async def finish_if_done(campaign_id: int) -> bool:
    """A RUNNING campaign with every batch done becomes FINISHED; True if it did now.

    Run after a batch commits: of two batches that finish together, the later sees both.
    """
    now = clock.now()
    changed = await sql.execute(
        "UPDATE campaign SET status = 'FINISHED', finished_at = $2,"
        " started_at = COALESCE(started_at, $2)"
        " WHERE id = $1 AND status = 'RUNNING' AND NOT EXISTS"
        " (SELECT 1 FROM campaign_batch b WHERE b.campaign_id = $1 AND b.done_at IS NULL)",
        campaign_id,
        now,
    )
    return changed > 0


async def sweep() -> list[Work]:
    """Find what should be running and is not (after a crash or a lost queue).

    Starts SCHEDULED campaigns whose startsAt has come, finishes RUNNING ones whose
    batches are all done, and returns every unfinished batch of every RUNNING
    campaign, for the caller to enqueue again (jobs keyed by `job_id` collapse).
    """
    now = clock.now()
    for campaign in await Campaign.filter(status=CampaignStatus.SCHEDULED, starts_at__lte=now):
        await start(campaign.id)
    work: list[Work] = []
    for campaign in await Campaign.filter(status=CampaignStatus.RUNNING).order_by("id"):
        if await finish_if_done(campaign.id):
            continue
        found = await _work(campaign)
        if found.batches:
            work.append(found)
    return work


async def _started(campaign: Campaign, now: datetime) -> None:
    if campaign.started_at is None:
        await Campaign.filter(id=campaign.id, started_at__isnull=True).update(started_at=now)


_GRANT_PG = """
WITH paid AS (
  SELECT * FROM unnest($10::bigint[], $11::int[]) AS t(wallet_id, debt)
), m AS (
  SELECT m.participant_id, m.wallet_id, (w.status = 'ACTIVE' AND p.status = 'ACTIVE') AS ok
  FROM campaign_member m
  JOIN wallet w ON w.id = m.wallet_id
  JOIN participant p ON p.id = m.participant_id
  WHERE m.campaign_id = $1 AND m.seq BETWEEN $2 AND $3
), g AS (
  INSERT INTO campaign_grant (campaign_id, participant_id, wallet_id, batch_no, granted, at)
  SELECT $1, participant_id, wallet_id, $4, ok, $5 FROM m
  ON CONFLICT (campaign_id, participant_id) DO NOTHING
  RETURNING wallet_id, granted
), l AS (
  INSERT INTO lot (wallet_id, kind, amount, remaining, activates_at, expires_at, rule, rules_version,
                   campaign_id, created_at)
  SELECT g.wallet_id, 'GIFT', $6, $6 - LEAST(COALESCE(paid.debt, 0), $6), $5, $7, 'LB-14', $8, $1, $5
  FROM g LEFT JOIN paid ON paid.wallet_id = g.wallet_id
  WHERE g.granted
  RETURNING id, wallet_id
), e AS (
  INSERT INTO entry (wallet_id, kind, amount, at, activates_at, expires_at, description, campaign_id,
                     lot_id, rule, rules_version)
  SELECT wallet_id, 'GIFT', $6, $5, $5, $7, $9, $1, id, 'LB-14', $8 FROM l
), d AS (
  UPDATE wallet w SET debt = w.debt - LEAST(paid.debt, $6)
  FROM paid JOIN g ON g.wallet_id = paid.wallet_id AND g.granted
  WHERE w.id = paid.wallet_id
)
SELECT COUNT(*) FILTER (WHERE granted) AS granted, COUNT(*) FILTER (WHERE NOT granted) AS skipped FROM g
"""


async def _grant_postgres(
    campaign: Campaign, batch_no: int, first: int, last: int, now: datetime, expires: datetime
) -> tuple[int, int]:
    # Wallets of the batch that owe a debt, locked: the gift pays it off (LB-10), with
    # the debt read under the lock so a concurrent refund cannot slip in between.
    debtors = await sql.fetch(
        "SELECT w.id, w.debt FROM campaign_member m JOIN wallet w ON w.id = m.wallet_id"
        " WHERE m.campaign_id = $1 AND m.seq BETWEEN $2 AND $3 AND w.debt > 0"
        " ORDER BY w.id FOR UPDATE OF w",
        campaign.id,
        first,
        last,
    )
    rows = await sql.fetch(
        _GRANT_PG,
        campaign.id,
        first,
        last,
        batch_no,
        now,
        campaign.amount,
        expires,
        campaign.rules_version,
        _description(campaign),
        [int(r["id"]) for r in debtors],
        [int(r["debt"]) for r in debtors],
    )
    return int(rows[0]["granted"]), int(rows[0]["skipped"])


async def _grant_sqlite(
    campaign: Campaign, batch_no: int, first: int, last: int, now: datetime, expires: datetime
) -> tuple[int, int]:
    # SQLite runs one writer at a time, so the statements of this transaction see a
    # wallet's debt as nobody else can change it until it commits.
    await sql.execute(
        "INSERT INTO campaign_grant (campaign_id, participant_id, wallet_id, batch_no, granted, at)"
        " SELECT $1, m.participant_id, m.wallet_id, $4,"
        " CASE WHEN w.status = 'ACTIVE' AND p.status = 'ACTIVE' THEN 1 ELSE 0 END, $5"
        " FROM campaign_member m JOIN wallet w ON w.id = m.wallet_id"
        " JOIN participant p ON p.id = m.participant_id"
        " WHERE m.campaign_id = $1 AND m.seq BETWEEN $2 AND $3"
        " ON CONFLICT (campaign_id, participant_id) DO NOTHING",
        campaign.id,
        first,
        last,
        batch_no,
        now,
    )
    granted = "SELECT wallet_id FROM campaign_grant WHERE campaign_id = $1 AND batch_no = $2 AND granted = 1"
    await sql.execute(
        "INSERT INTO lot (wallet_id, kind, amount, remaining, activates_at, expires_at, rule,"
        " rules_version, campaign_id, created_at)"
        " SELECT w.id, 'GIFT', $3, $3 - MIN(w.debt, $3), $4, $5, 'LB-14', $6, $1, $4"
        f" FROM wallet w WHERE w.id IN ({granted})"
        " AND NOT EXISTS (SELECT 1 FROM lot x WHERE x.wallet_id = w.id AND x.campaign_id = $1)",
        campaign.id,
        batch_no,
        campaign.amount,
        now,
        expires,
        campaign.rules_version,
    )
    await sql.execute(
        "INSERT INTO entry (wallet_id, kind, amount, at, activates_at, expires_at, description,"
        " campaign_id, lot_id, rule, rules_version)"
        " SELECT l.wallet_id, 'GIFT', $3, $4, $4, $5, $7, $1, l.id, 'LB-14', $6"
        f" FROM lot l WHERE l.campaign_id = $1 AND l.wallet_id IN ({granted})"
        " AND NOT EXISTS (SELECT 1 FROM entry x WHERE x.lot_id = l.id)",
        campaign.id,
        batch_no,
        campaign.amount,
        now,
        expires,
        campaign.rules_version,
        _description(campaign),
    )
    await sql.execute(
        f"UPDATE wallet SET debt = debt - MIN(debt, $3) WHERE debt > 0 AND id IN ({granted})",
        campaign.id,
        batch_no,
        campaign.amount,
    )
    rows = await sql.fetch(
        "SELECT COALESCE(SUM(granted), 0) AS granted, COUNT(*) AS n FROM campaign_grant"
        " WHERE campaign_id = $1 AND batch_no = $2",
        campaign.id,
        batch_no,
    )
    return int(rows[0]["granted"]), int(rows[0]["n"]) - int(rows[0]["granted"])


def _description(campaign: Campaign) -> str:
    return (campaign.message or campaign.name)[:500]


def _expiry(campaign: Campaign, now: datetime) -> datetime:
    fixed = sql.as_datetime(campaign.expires_at)
    if fixed is not None:
        return fixed
    assert campaign.valid_days is not None
    return now + timedelta(days=campaign.valid_days)


async def grant_batch(campaign_id: int, batch_no: int) -> BatchOutcome:
    """Grant one batch of a RUNNING campaign, exactly once (CA-04), in one transaction.

    Members whose wallet and participant are still ACTIVE get a GIFT lot and entry
    (LB-14; valid until the campaign's expiresAt or validDays from now); the others
    are recorded as skipped. The batch is marked done with its counts in the same
    transaction. Safe to run any number of times, concurrently too: a done batch is
    left alone; on PostgreSQL a batch held by another run is skipped ("busy"), and the
    unique grant key makes a duplicate insert a no-op whatever happens.
    """
    campaign = await Campaign.get_or_none(id=campaign_id)
    if campaign is None:
        return BatchOutcome("missing")
    if campaign.status is not CampaignStatus.RUNNING:
        return BatchOutcome("idle")
    now = clock.now()
    await _started(campaign, now)
    postgres = sql.is_postgres()
    async with in_transaction():
        lock = " FOR SHARE" if postgres else ""
        status = await sql.fetch(f"SELECT status FROM campaign WHERE id = $1{lock}", campaign.id)
        if not status or status[0]["status"] != CampaignStatus.RUNNING.value:
            return BatchOutcome("idle")
        lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
        batch = await sql.fetch(
            "SELECT id, first_seq, last_seq, done_at FROM campaign_batch"
            f" WHERE campaign_id = $1 AND batch_no = $2{lock}",
            campaign.id,
            batch_no,
        )
        if not batch:
            exists = await CampaignBatch.exists(campaign_id=campaign.id, batch_no=batch_no)
            return BatchOutcome("busy" if exists else "missing")
        if batch[0]["done_at"] is not None:
            return BatchOutcome("done")
        first, last = int(batch[0]["first_seq"]), int(batch[0]["last_seq"])
        grant = _grant_postgres if postgres else _grant_sqlite
        granted, skipped = await grant(campaign, batch_no, first, last, now, _expiry(campaign, now))
        await sql.execute(
            "UPDATE campaign_batch SET done_at = $2, granted = $3, skipped = $4 WHERE id = $1",
            int(batch[0]["id"]),
            now,
            granted,
            skipped,
        )
    await finish_if_done(campaign.id)
    return BatchOutcome("granted", granted, skipped)


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


@dataclass(frozen=True)
class Page:
    """A page of campaigns, newest created first."""

    campaigns: list[Campaign]
    has_next: bool


def cursor(campaign: Campaign) -> str:
    """The opaque cursor of a campaign in a list."""
    return base64.urlsafe_b64encode(f"campaign:{campaign.id}".encode()).decode()


def _after(value: str | None) -> int | None:
    if not value:
        return None
    try:
        kind, _, number = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        if kind != "campaign":
            raise ValueError(kind)
        return int(number)
    except ValueError:
        raise BadInput("after is not a cursor of this list") from None


async def page(first: int, after: str | None = None) -> Page:
    """Campaigns, newest created first, `first` of them after the cursor."""
    if first < 0 or first > PAGE_LIMIT:
        raise BadInput(f"first must be between 0 and {PAGE_LIMIT}")
    query = Campaign.all()
    before = _after(after)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(first + 1)
    return Page(campaigns=rows[:first], has_next=len(rows) > first)
