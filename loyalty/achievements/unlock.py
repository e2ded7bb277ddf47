"""Unlocking achievements and rewarding them once (GA-02), and GA-03's cancellation on return.

Unlocking runs in the transaction of the fact that completes a goal: the payment
(`on_order_paid`) or the referral payout (`on_referral_rewarded`), whose caller holds
the wallet's lock. So a crash loses nothing and doubles nothing: the unlock row, the
ACHIEVEMENT lot and its entry commit with the payment or not at all. The unlock row is
unique per (participant, program, achievement) and written with ON CONFLICT DO NOTHING,
so whatever replays, retries or parallel payments happen, one of them unlocks and
rewards, and the others find it done.

A reward unlocked by a purchase is pending until that purchase's (earliest) event
starts, like its accruals (LB-03), and names that event, so a rescheduled event moves
it too; returning a ticket of that purchase before then cancels it with a REVOKE entry
of rule GA-03, and the achievement stays unlocked (`returned`). A reward unlocked by
another fact (a rewarded referral) is active at once. Erased, blocked and not yet
verified (PENDING) participants unlock nothing (LB-01, LB-16, MG-13).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty import clock, ledger, sql
from loyalty.achievements import progress
from loyalty.achievements.definitions import REFERRAL_REWARDED, definitions
from loyalty.achievements.models import AchievementUnlock
from loyalty.enums import EntryKind, WalletStatus, standing
from loyalty.facts import AchievementDefinition
from loyalty.models import Entry, Event, Lot, OrderItem, Participant, Wallet
from loyalty.programs import Program

RETURN_NOTE = "achievement reward cancelled: its purchase was returned"


@dataclass(frozen=True)
class Unlocked:
    """An achievement this call unlocked, and the bonuses its reward credited (0: none)."""

    achievement_id: str
    reward: int
    activates_at: datetime


async def on_order_paid(
    program: Program, order_id: str, wallet: Wallet | None, participant: Participant | None
) -> list[Unlocked]:
    """Unlock what the payment of `order_id` completed; in the payment's transaction, after
    the order is saved PAID. The caller holds the wallet's lock. Nothing (and no query) where
    the program defines no achievements or the wallet cannot earn."""
    return await _unlock(program, wallet, participant, order_id)


async def on_referral_rewarded(program: Program, wallet: Wallet) -> list[Unlocked]:
    """Unlock what a referral rewarded just now completed for its referrer (Ambassador),
    active at once; in the payout's transaction, the referrer's wallet locked."""
    definitions_ = definitions(program)
    if not definitions_:
        return []
    participant = await Participant.get_or_none(id=wallet.participant_id)
    return await _unlock(program, wallet, participant, None, definitions_)


async def _unlock(
    program: Program,
    wallet: Wallet | None,
    participant: Participant | None,
    order_id: str | None,
    found: list[AchievementDefinition] | None = None,
) -> list[Unlocked]:
    found = definitions(program) if found is None else found
    if not found or wallet is None or participant is None:
        return []
    if standing(participant.status, wallet.status) is not WalletStatus.ACTIVE:
        return []  # LB-01, LB-16, MG-13: a wallet that cannot earn unlocks nothing
    # One statement: this runs in every payment, under the wallet's lock (issue 11); it
    # reads no purchase once every achievement counted from purchases is unlocked.
    done, counted = await progress.unlocked_and_counts(
        found,
        wallet_id=wallet.id,
        participant_id=participant.id,
        customer_id=participant.customer_id,
        program_id=program.id,
    )
    reached = [d for d in found if d.id not in done and counted[d.id] >= d.goal]
    if not reached:
        return []
    now = clock.now()
    window = await _purchase_window(order_id) if order_id is not None else None
    unlocked = []
    for definition in reached:
        # Tied to the purchase (GA-03) unless it counts another kind of fact.
        tied = window if definition.counts != REFERRAL_REWARDED else None
        # RETURNING says whether this call wrote the row (asyncpg's INSERT status is not a row count).
        claimed = await sql.fetch(
            "INSERT INTO achievement_unlock (participant_id, program_id, achievement_id, wallet_id,"
            " unlocked_at, order_id, reward) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (participant_id, program_id, achievement_id) DO NOTHING RETURNING id",
            participant.id,
            program.id,
            definition.id,
            wallet.id,
            now,
            order_id if tied is not None else None,
            definition.reward_bonus,
        )
        if not claimed:
            continue  # unlocked meanwhile: rewarded once (GA-02)
        activates, event_id = tied if tied is not None else (now, None)
        if definition.reward_bonus > 0:
            entry = await ledger.credit(
                wallet,
                kind=EntryKind.ACHIEVEMENT,
                amount=definition.reward_bonus,
                rule=definition.id,
                rules_version=program.rules_version,
                activates_at=activates,
                expires_at=activates + _validity(program, definition),
                order_id=order_id if tied is not None else None,
                event_id=event_id,
                description=f"achievement unlocked: {definition.title}",
                plugin=definition.plugin,
            )
            await AchievementUnlock.filter(id=claimed[0]["id"]).update(entry_id=entry.id)
        unlocked.append(Unlocked(definition.id, definition.reward_bonus, activates))
    return unlocked


def _validity(program: Program, definition: AchievementDefinition) -> timedelta:
    """How long a reward stays valid once active: the definition's, else the program's (LB-04)."""
    return timedelta(days=definition.reward_valid_days) if definition.reward_valid_days else program.validity


async def _purchase_window(order_id: str) -> tuple[datetime, str | None]:
    """When a reward unlocked by this purchase activates: its earliest event's start, or now
    if that has passed (LB-03); and that event, so the reward follows it if it moves."""
    now = clock.now()
    event_ids = await OrderItem.filter(order_id=order_id).values_list("event_id", flat=True)
    starts = sorted(
        (at, row["id"])
        for row in await Event.filter(id__in=list(event_ids)).values("id", "starts_at")
        if (at := sql.as_datetime(row["starts_at"])) is not None
    )
    if not starts:
        return now, None
    first, event_id = starts[0]
    return max(first, now), event_id


async def returned(program: Program, order_id: str, wallet_id: int, refund_id: int) -> int:
    """GA-03: a ticket of the purchase was returned; cancel the rewards it unlocked that are still
    pending, with one REVOKE entry of rule GA-03 (not counted in the refund's bonusRevoked).

    In the refund's transaction. The achievements stay unlocked (GA-03) and are not rewarded
    again. A reward already active stays. What of a pending reward paid off a debt when it
    was credited becomes debt again (LB-10). Returns the bonuses revoked.
    """
    now = clock.now()
    pending = await Lot.filter(
        wallet_id=wallet_id, order_id=order_id, kind=EntryKind.ACHIEVEMENT, activates_at__gt=now
    ).values_list("id", flat=True)
    if not pending:
        return 0
    wallet = await ledger.lock_wallet(wallet_id)
    revocation = await ledger.revoke_order(
        wallet,
        order_id,
        kinds=[EntryKind.ACHIEVEMENT],
        rule="GA-03",
        rules_version=program.rules_version,
        refund_id=refund_id,
        description=RETURN_NOTE,
        pending_only=True,
    )
    await ledger.withhold(
        wallet,
        revocation.spent,
        Decimal(0),
        order_id=order_id,
        refund_id=refund_id,
        rules_version=program.rules_version,
    )
    entries = await Entry.filter(lot_id__in=list(pending)).values_list("id", flat=True)
    await AchievementUnlock.filter(entry_id__in=list(entries), revoked_at__isnull=True).update(revoked_at=now)
    return revocation.revoked
