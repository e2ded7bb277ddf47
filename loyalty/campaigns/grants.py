"""Granting a launched campaign's gifts, one batch per transaction (CA-04, LB-14).

Each batch is granted by `grant_batch` in one transaction that writes, set-based,
one `CampaignGrant` per member (unique per campaign and participant: the gift is
given at most once, CA-04), a GIFT lot and a GIFT entry for each member whose wallet
and participant are still ACTIVE, a skipped grant for the others, and the batch's
completion with its counts, and, for a campaign with a message, one CAMPAIGN_MESSAGE
notification per granted member whose marketing consent is on (CA-01, LB-15), in the
outbox (`loyalty.notifications`). The database alone says what is done: a batch that is
not marked done is simply run again (by the sweeper), and running a batch twice
grants nothing twice.

A gift pays the wallet's debt first, like `ledger.credit` (LB-10): the GIFT entry
shows the full amount, the lot keeps what is left after the debt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from loyalty import clock, sql
from loyalty.campaigns.lifecycle import finish_if_done
from loyalty.enums import CampaignStatus, NotificationKind, NotificationStatus
from loyalty.models import Campaign, CampaignBatch
from loyalty.notifications import dumps


@dataclass(frozen=True)
class BatchOutcome:
    """What one run of `grant_batch` did: `state` is "granted" (it ran now),
    "done" (already done), "busy" (another run holds it), "idle" (the campaign is not
    RUNNING) or "missing"."""

    state: str
    granted: int = 0
    skipped: int = 0


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
    # Every wallet of the batch, locked in id order (the order the burn job and every
    # one-wallet writer agree on): a gift pays the debt off first (LB-10), and the
    # debt is read under the lock, so a refund cannot leave a debt between this read
    # and the gift. Only the debtors' debts go into the statement.
    wallets = await sql.fetch(
        "SELECT w.id, w.debt FROM wallet w WHERE w.id IN"
        " (SELECT m.wallet_id FROM campaign_member m WHERE m.campaign_id = $1 AND m.seq BETWEEN $2 AND $3)"
        " ORDER BY w.id FOR UPDATE",
        campaign.id,
        first,
        last,
    )
    debtors = [row for row in wallets if int(row["debt"]) > 0]
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


# One statement for both databases: the batch's granted members with marketing
# consent (LB-15) each get the campaign's message; the stable id makes a rerun a no-op.
_MESSAGE = (
    "INSERT INTO notification (id, kind, program_id, participant_id, payload, marketing, status,"
    " attempts, next_attempt_at, created_at)"
    " SELECT 'campaign:' || g.campaign_id || ':' || g.participant_id, $3, $4, g.participant_id, $5{cast}, $6, $7, 0, $8, $8"
    " FROM campaign_grant g JOIN participant p ON p.id = g.participant_id"
    " WHERE g.campaign_id = $1 AND g.batch_no = $2 AND g.granted AND p.marketing_consent"
    " ON CONFLICT (id) DO NOTHING"
)


async def _announce_message(campaign: Campaign, batch_no: int, now: datetime, expires: datetime) -> None:
    """The campaign's message to the batch's granted members who accept marketing (CA-01, LB-15)."""
    if not campaign.message:
        return
    payload = {
        "campaign": campaign.token,
        "bonus": campaign.amount,
        "message": campaign.message,
        "expires_at": expires.isoformat(),
    }
    await sql.execute(
        _MESSAGE.format(cast="::jsonb" if sql.is_postgres() else ""),
        campaign.id,
        batch_no,
        NotificationKind.CAMPAIGN_MESSAGE.value,
        campaign.program_id,
        dumps(payload),
        True,
        NotificationStatus.PENDING.value,
        now,
    )


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
        expires = _expiry(campaign, now)
        granted, skipped = await grant(campaign, batch_no, first, last, now, expires)
        await _announce_message(campaign, batch_no, now, expires)
        await sql.execute(
            "UPDATE campaign_batch SET done_at = $2, granted = $3, skipped = $4 WHERE id = $1",
            int(batch[0]["id"]),
            now,
            granted,
            skipped,
        )
    await finish_if_done(campaign.id)
    return BatchOutcome("granted", granted, skipped)
