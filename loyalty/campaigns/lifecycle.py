"""Gift campaigns (CA-01..CA-03, LB-14): create, launch, pause, resume, cancel, start, finish.

The life of a campaign::

    DRAFT --launch--> SCHEDULED --startsAt--> RUNNING --last batch--> FINISHED
                          |   ^                 |  ^
                          pause resume      pause resume
                          v   |                 v  |
                          PAUSED ---------------+
    any of DRAFT, SCHEDULED, RUNNING, PAUSED --cancel--> CANCELLED

Launching fixes the audience: one INSERT ... SELECT numbers its members
(`CampaignMember.seq` from 1) and cuts them into batches of consecutive numbers
(`CampaignBatch`), which `loyalty.campaigns.grants` grants.

This module knows nothing of queues: the functions that make work to do return it
(`Work`: which batches of which campaign to run), and the caller enqueues it.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.transactions import in_transaction

from loyalty import audiences, clock, sql
from loyalty.audiences import Audience
from loyalty.enums import CampaignStatus
from loyalty.errors import BadInput, Conflict, NotFound
from loyalty.models import Campaign, CampaignBatch
from loyalty.programs import Catalog

DEFAULT_BATCH_SIZE = 5_000


MAX_BATCH_SIZE = 100_000


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


def _id(campaign_id: str | int) -> int:
    if isinstance(campaign_id, int):
        return campaign_id
    # ASCII digits only (int() also reads "١٢" as 12), and 18 of them at most, to fit a BIGINT.
    if not (
        isinstance(campaign_id, str) and campaign_id.isascii() and campaign_id.isdigit() and len(campaign_id) <= 18
    ):
        raise NotFound(f"no campaign {campaign_id!r}")
    return int(campaign_id)


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
    if draft.valid_days is not None and not 0 < draft.valid_days <= clock.MAX_VALID_DAYS:
        raise BadInput(f"validDays must be between 1 and {clock.MAX_VALID_DAYS}")
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
