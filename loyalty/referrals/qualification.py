"""Qualification at payment (RF-02..RF-08): whether the attributed order pays out, and to whom.

Run in the payment's transaction, so the REFERRAL credits commit with the payment or
not at all. The order of the checks: the ordinary reasons first (RF-03 new customer,
RF-04 minimum purchase: nobody is rewarded), then fraud (RF-08 fingerprint, blocked
or flagged friend, the plugins' referral_refusal: nobody is rewarded, counted for
RF-10), then the referrer's own purchase (RF-06: the friend is rewarded anyway), then
the monthly threshold (RF-08: the referral waits in REVIEW, nobody is paid yet).
"""

from __future__ import annotations

from datetime import datetime

from loyalty import clock, ledger
from loyalty.enums import OrderStatus, ReferralStatus, WalletStatus
from loyalty.facts import OrderFacts, ParticipantFacts, ReferralTerms
from loyalty.models import Order, Wallet
from loyalty.programs import Program
from loyalty.referrals import fraud, payout
from loyalty.referrals.models import Referral, ReferralCode

UNRETURNED = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


def month_start(at: datetime) -> datetime:
    """The start of the calendar month (UTC) that RF-08's threshold counts in."""
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def on_order_paid(
    program: Program, order: Order, facts: OrderFacts, friend: ParticipantFacts, friend_wallet: Wallet | None
) -> Referral | None:
    """Decide the PENDING referral of an order being paid; the caller holds the order's
    and the friend's wallet's locks. None where the order made no referral."""
    terms = program.rules.referral_terms()
    if terms is None or not order.referral_code:
        return None
    referral = await Referral.select_for_update().get_or_none(order_id=order.id)
    if referral is None or referral.status is not ReferralStatus.PENDING:
        return referral
    # One referrer's decisions queue up here, so the monthly count sees every earlier one.
    await ReferralCode.select_for_update().get(code=referral.code)
    found = await _refusal(program, terms, order, facts, friend, referral)
    if found is not None:
        rule, detail, is_fraud = found
        await fraud.reject(referral, terms, rule, detail, is_fraud=is_fraud)
        return referral
    window = await payout.reward_window(order.id, program.validity)
    referrer_wallet = await Wallet.get_or_none(participant_id=referral.referrer_id, program_id=program.id)
    if not await _referrer_bought(referral) or referrer_wallet is None:
        await payout.pay_out(
            referral,
            terms,
            program=program,
            window=window,
            friend_wallet=friend_wallet,
            referrer_wallet=None,
        )
        detail = "the referrer has no paid, unreturned purchase of their own"
        await fraud.reject(referral, terms, "RF-06", detail, is_fraud=False, keep_friend=True)
        return referral
    if referrer_wallet.status is not WalletStatus.ACTIVE:
        await payout.pay_out(
            referral,
            terms,
            program=program,
            window=window,
            friend_wallet=friend_wallet,
            referrer_wallet=None,
        )
        await fraud.reject(
            referral, terms, "RF-10", "the referrer's wallet cannot earn", is_fraud=False, keep_friend=True
        )
        return referral
    rewarded = await Referral.filter(
        referrer_id=referral.referrer_id,
        program_id=program.id,
        status=ReferralStatus.REWARDED,
        rewarded_at__gte=month_start(clock.now()),
    ).count()
    if rewarded >= terms.monthly_threshold:
        referral.status = ReferralStatus.REVIEW
        referral.rule = "RF-08"
        referral.detail = f"{rewarded} referrals rewarded this month (threshold {terms.monthly_threshold})"
        await referral.save(update_fields=["status", "rule", "detail"])
        return referral
    await payout.pay_out(
        referral,
        terms,
        program=program,
        window=window,
        friend_wallet=friend_wallet,
        referrer_wallet=await ledger.lock_wallet(referrer_wallet.id),
    )
    return referral


async def _refusal(
    program: Program,
    terms: ReferralTerms,
    order: Order,
    facts: OrderFacts,
    friend: ParticipantFacts,
    referral: Referral,
) -> tuple[str, str, bool] | None:
    """(rule, detail, counts as fraud) of the first check that refuses the reward; None if none does."""
    earlier = (
        await Order.filter(customer_id=order.customer_id, program_id=program.id, paid_at__isnull=False)
        .exclude(id=order.id)
        .exists()
    )
    if earlier:
        return "RF-03", "the friend has an earlier paid order", False
    if facts.total < terms.min_purchase:
        return "RF-04", f"the purchase's full value {facts.total} is below {terms.min_purchase}", False
    if (
        order.fingerprint
        and await Order.filter(customer_id=referral.referrer_customer_id, fingerprint=order.fingerprint).exists()
    ):
        return "RF-08", "same device or payment fingerprint as the referrer", True
    if friend.wallet_status is WalletStatus.BLOCKED:
        return "RF-08", "the friend is blocked", True
    if await ReferralCode.filter(
        customer_id=order.customer_id, program_id=program.id, blocked_at__isnull=False
    ).exists():
        return "RF-08", "the friend is excluded from the referral program for fraud", True
    referrer_wallet = await Wallet.get_or_none(participant_id=referral.referrer_id, program_id=program.id)
    referrer = ParticipantFacts(
        id=referral.referrer_customer_id, wallet_status=referrer_wallet.status if referrer_wallet else None
    )
    refusal = program.rules.referral_refusal(facts, referrer, friend)
    if refusal is not None:
        return refusal.rule, refusal.message, True
    return None


async def _referrer_bought(referral: Referral) -> bool:
    """RF-06: the referrer has at least one paid purchase not wholly returned."""
    return await Order.filter(
        customer_id=referral.referrer_customer_id, program_id=referral.program_id, status__in=list(UNRETURNED)
    ).exists()
