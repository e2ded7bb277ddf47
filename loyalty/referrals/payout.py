"""Paying a referral out (RF-02, RF-09, RF-11): the REFERRAL credits of both sides.

Both credits carry the qualifying order's id, activate with its event (LB-03) and
burn like any others (LB-04); a credit pays the wallet's debt first (LB-10). A friend
who has not joined when the order is paid gets the bonus on joining within the
configured window (RF-02 Decision); the amounts and validity are fixed at payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from loyalty import achievements, clock, ledger, notifications, sql
from loyalty.enums import EntryKind, NotificationKind, ReferralStatus, WalletStatus
from loyalty.facts import ReferralTerms
from loyalty.models import Event, OrderItem, Participant, Wallet
from loyalty.programs import Program
from loyalty.referrals.models import Referral

REFERRER_NOTE = "bonuses for a friend's first purchase through your link"
FRIEND_NOTE = "bonuses for a first purchase through a friend's link"


@dataclass(frozen=True)
class RewardWindow:
    """When a referral's rewards activate and burn, and the event they wait for (LB-03)."""

    activates: datetime
    expires: datetime
    event_id: str | None


async def reward_window(order_id: str, validity: timedelta) -> RewardWindow:
    """The rewards of this order activate with its earliest event (at once if it has started,
    LB-03) and burn `validity` later (LB-04); the lots name that event, so a rescheduled
    event moves them as it moves accruals."""
    now = clock.now()
    event_ids = await OrderItem.filter(order_id=order_id).values_list("event_id", flat=True)
    starts = [
        (sql.as_datetime(row["starts_at"]), row["id"])
        for row in await Event.filter(id__in=list(event_ids)).values("id", "starts_at")
    ]
    known = sorted((at, event_id) for at, event_id in starts if at is not None)
    if not known:
        return RewardWindow(now, now + validity, None)
    first, event_id = known[0]
    activates = max(first, now)
    return RewardWindow(activates, activates + validity, event_id)


async def pay_out(
    referral: Referral,
    terms: ReferralTerms,
    *,
    program: Program,
    window: RewardWindow,
    friend_wallet: Wallet | None,
    referrer_wallet: Wallet | None,
) -> None:
    """Credit the referrer (when `referrer_wallet` is given: REWARDED, which may unlock the
    referrer's achievements, GA-02) and the friend, or owe the friend until the join window
    ends. The caller holds both wallets' locks."""
    now = clock.now()
    rules_version = program.rules_version
    referral.rules_version = rules_version
    referral.reward_activates_at, referral.reward_expires_at = window.activates, window.expires
    if referrer_wallet is not None:
        await ledger.credit(
            referrer_wallet,
            kind=EntryKind.REFERRAL,
            amount=terms.referrer_bonus,
            rule="RF-02",
            rules_version=rules_version,
            activates_at=window.activates,
            expires_at=window.expires,
            order_id=referral.order_id,
            event_id=window.event_id,
            description=REFERRER_NOTE,
        )
        referral.referrer_bonus = terms.referrer_bonus
        referral.status = ReferralStatus.REWARDED
        referral.rewarded_at = referral.decided_at = now
        await _announce(referral, referrer_wallet, "referrer", terms.referrer_bonus)
    referral.friend_bonus = terms.friend_bonus
    if friend_wallet is not None and friend_wallet.status is WalletStatus.ACTIVE:
        await _credit_friend(referral, friend_wallet, window)
    else:
        referral.friend_due_until = now + terms.join_window
    await referral.save()
    if referrer_wallet is not None:
        # Ambassador (GA-04): in the payout's transaction, active at once (GA-03 Decision).
        await achievements.on_referral_rewarded(program, referrer_wallet)


async def _credit_friend(referral: Referral, wallet: Wallet, window: RewardWindow) -> None:
    await ledger.credit(
        wallet,
        kind=EntryKind.REFERRAL,
        amount=referral.friend_bonus,
        rule="RF-02",
        rules_version=referral.rules_version or "",
        activates_at=window.activates,
        expires_at=window.expires,
        order_id=referral.order_id,
        event_id=window.event_id,
        description=FRIEND_NOTE,
    )
    referral.friend_paid = True
    referral.friend_due_until = None
    await _announce(referral, wallet, "friend", referral.friend_bonus)


async def _announce(referral: Referral, wallet: Wallet, side: str, bonus: int) -> None:
    # RF-11: in the payout's transaction; transactional, so no marketing consent needed.
    # The stable id makes a replayed payout announce nothing twice.
    await notifications.announce(
        f"referral:{referral.id}:{side}",
        NotificationKind.REFERRAL_REWARDED,
        program_id=referral.program_id,
        participant_id=wallet.participant_id,
        payload={"referral": referral.id, "side": side, "bonus": bonus, "order": referral.order_id},
    )


async def settle_friend(participant: Participant) -> int:
    """Pay the friend the bonuses owed since a payment made before joining (RF-02 Decision).

    Called when the participant joins or a wallet becomes ACTIVE; a wallet that cannot
    earn yet keeps the bonus owed until the window ends. Returns the bonuses credited.
    """
    now = clock.now()
    due = await Referral.filter(
        friend_customer_id=participant.customer_id, friend_paid=False, friend_due_until__gt=now
    ).values_list("id", flat=True)
    paid = 0
    for referral_id in due:
        async with in_transaction():
            referral = await Referral.select_for_update().get(id=referral_id)
            if referral.friend_paid or referral.friend_due_until is None or referral.friend_due_until <= now:
                continue
            wallet = await Wallet.get_or_none(participant_id=participant.id, program_id=referral.program_id)
            if wallet is None or wallet.status is not WalletStatus.ACTIVE:
                continue
            wallet = await ledger.lock_wallet(wallet.id)
            # The validity fixed at payment, from the order's event as it is now (it may have moved).
            validity = (referral.reward_expires_at or now) - (referral.reward_activates_at or now)
            await _credit_friend(referral, wallet, await reward_window(referral.order_id, validity))
            await referral.save(update_fields=["friend_paid", "friend_due_until"])
            paid += referral.friend_bonus
    return paid
