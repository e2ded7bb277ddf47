"""Revoking referral rewards (RF-09, RF-10): a returned qualifying purchase, or fraud found later.

Both sides' REFERRAL lots of the qualifying order are revoked once (`revoked_at`).
The friend's part is settled by the caller with the refund's money (LB-10: withheld,
the rest debt); the referrer got no money back, so what they spent becomes debt.
"""

from __future__ import annotations

from decimal import Decimal

from loyalty import clock, ledger
from loyalty.enums import EntryKind, ReferralStatus
from loyalty.ledger import Revocation
from loyalty.models import Participant, Wallet
from loyalty.referrals.models import Referral


async def reversible(order_id: str) -> Referral | None:
    """The order's referral, locked, if its rewards were never revoked; None otherwise."""
    return await Referral.select_for_update().get_or_none(order_id=order_id, revoked_at__isnull=True)


async def friend_wallet_id(referral: Referral) -> int | None:
    """The friend's wallet in the referral's program (a friend who joined after paying has one too)."""
    friend = await Participant.get_or_none(customer_id=referral.friend_customer_id)
    if friend is None:
        return None
    wallet = await Wallet.get_or_none(participant_id=friend.id, program_id=referral.program_id)
    return wallet.id if wallet else None


async def revoke_friend(
    wallet: Wallet, referral: Referral, *, rule: str, refund_id: int | None, rules_version: str
) -> Revocation:
    """Revoke the friend's REFERRAL bonus of the order; the caller holds the wallet's lock and settles `spent`."""
    return await ledger.revoke_order(
        wallet,
        referral.order_id,
        kinds=[EntryKind.REFERRAL],
        rule=rule,
        rules_version=rules_version,
        refund_id=refund_id,
        description="referral bonuses cancelled",
    )


async def revoke_referrer(
    referral: Referral, *, rule: str, detail: str, refund_id: int | None, rules_version: str, is_fraud: bool
) -> Revocation:
    """Revoke the referrer's REFERRAL bonus (spent ones become debt, LB-10) and close the referral:
    REJECTED with `rule` and `detail` unless it was rejected already (RF-06 keeps its reason)."""
    revocation = Revocation(revoked=0, spent=0)
    wallet = await Wallet.get_or_none(participant_id=referral.referrer_id, program_id=referral.program_id)
    if wallet is not None and referral.referrer_bonus:
        wallet = await ledger.lock_wallet(wallet.id)
        revocation = await ledger.revoke_order(
            wallet,
            referral.order_id,
            kinds=[EntryKind.REFERRAL],
            rule=rule,
            rules_version=rules_version,
            refund_id=refund_id,
            description="referral bonuses cancelled",
        )
        await ledger.withhold(
            wallet,
            revocation.spent,
            Decimal(0),
            order_id=referral.order_id,
            refund_id=refund_id,
            rules_version=rules_version,
        )
    now = clock.now()
    referral.revoked_at = now
    referral.friend_due_until = None
    if referral.status is not ReferralStatus.REJECTED:
        referral.status = ReferralStatus.REJECTED
        referral.rule, referral.detail, referral.fraud = rule, detail, is_fraud
        referral.decided_at = now
    await referral.save()
    return revocation
