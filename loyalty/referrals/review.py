"""Staff decisions (RF-10): the referrals waiting in REVIEW, approving or rejecting them by hand,
and revoking a REWARDED one where fraud is found after the payout.

Every decision locks the qualifying order first, as payment and refunds do, so a
referral is decided, paid or revoked exactly once whatever runs at the same time.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from loyalty import clock, ledger, pagination
from loyalty.enums import OrderStatus, ReferralStatus
from loyalty.errors import BadInput, Conflict, NotFound
from loyalty.facts import ReferralTerms
from loyalty.models import Order, Wallet
from loyalty.programs import Catalog, Program
from loyalty.referrals import fraud, payout, reversal
from loyalty.referrals.models import Referral

CURSOR_KIND = "referral"
NOTE_LIMIT = 400


@dataclass(frozen=True)
class ReviewPage:
    """One page of referralsForReview, oldest first."""

    referrals: list[Referral]
    has_next: bool


def referral_cursor(referral: Referral) -> str:
    """The opaque cursor of a referral in referralsForReview."""
    return pagination.cursor(CURSOR_KIND, referral.id)


async def for_review(programs: Collection[str] | None, first: int, after: str | None) -> ReviewPage:
    """Referrals in REVIEW in `programs` (None: every program), oldest first by `at` (then id)."""
    pagination.check_first(first)
    query = Referral.filter(status=ReferralStatus.REVIEW)
    if programs is not None:
        query = query.filter(program_id__in=list(programs))
    last_id = pagination.after(CURSOR_KIND, after)
    if last_id is not None:
        last = await Referral.get_or_none(id=last_id)
        if last is None:
            raise BadInput("after is not a cursor of this list")
        query = query.filter(Q(at__gt=last.at) | Q(at=last.at, id__gt=last.id))
    rows = await query.order_by("at", "id").limit(first + 1)
    return ReviewPage(referrals=rows[:first], has_next=len(rows) > first)


async def get(referral_id: str) -> Referral:
    """The referral with this id; NotFound if none."""
    # ASCII digits only: "¹".isdigit() holds but int() refuses it; 18 digits fit a BIGINT.
    if not (referral_id.isascii() and referral_id.isdigit() and len(referral_id) <= 18):
        raise NotFound(f"no referral {referral_id!r}")
    found = await Referral.get_or_none(id=int(referral_id))
    if found is None:
        raise NotFound(f"no referral {referral_id!r}")
    return found


def _terms(program: Program) -> ReferralTerms:
    terms = program.rules.referral_terms()
    if terms is None:
        raise Conflict(f"program {program.id!r} runs no referral program")
    return terms


async def _lock(referral_id: int) -> tuple[Order, Referral]:
    referral = await Referral.get(id=referral_id)
    order = await Order.select_for_update().get(id=referral.order_id)
    return order, await Referral.select_for_update().get(id=referral_id)


async def _friend_wallet(referral: Referral) -> Wallet | None:
    wallet_id = await reversal.friend_wallet_id(referral)
    return await ledger.lock_wallet(wallet_id) if wallet_id is not None else None


async def decide(catalog: Catalog, referral_id: int, *, approve: bool, note: str | None) -> Referral:
    """Approve (REWARDED, both sides paid now, once) or reject (REJECTED "RF-10[: note]") a
    PENDING or REVIEW referral; CONFLICT for a decided one, or approving before the order is PAID."""
    if note is not None and len(note) > NOTE_LIMIT:
        raise BadInput(f"note is longer than {NOTE_LIMIT} characters")
    note = note.strip() if note else None
    async with in_transaction():
        order, referral = await _lock(referral_id)
        program = catalog.get(referral.program_id)
        terms = _terms(program)
        if referral.status not in (ReferralStatus.PENDING, ReferralStatus.REVIEW):
            raise Conflict(f"the referral is {referral.status.value} already")
        if not approve:
            await fraud.reject(referral, terms, "RF-10", note or None, is_fraud=True)
            return referral
        if order.status is not OrderStatus.PAID:
            raise Conflict("the qualifying order is not PAID")
        friend_wallet = await _friend_wallet(referral)
        referrer_wallet = await Wallet.get_or_none(participant_id=referral.referrer_id, program_id=program.id)
        if referrer_wallet is None:
            raise Conflict("the referrer has no wallet in the program")
        await payout.pay_out(
            referral,
            terms,
            program=program,
            window=await payout.reward_window(order.id, program.validity),
            friend_wallet=friend_wallet,
            referrer_wallet=await ledger.lock_wallet(referrer_wallet.id),
        )
    return referral


async def revoke(catalog: Catalog, referral_id: int, reason: str) -> Referral:
    """Fraud found after the payout (RF-10): revoke both rewards of a REWARDED referral, spent
    ones becoming debt (LB-10); it becomes REJECTED "RF-10: reason". Anything but REWARDED: CONFLICT."""
    reason = reason.strip()
    if not reason:
        raise BadInput("a reason is required")
    if len(reason) > NOTE_LIMIT:
        raise BadInput(f"reason is longer than {NOTE_LIMIT} characters")
    async with in_transaction():
        _, referral = await _lock(referral_id)
        program = catalog.get(referral.program_id)
        terms = _terms(program)
        if referral.status is not ReferralStatus.REWARDED or referral.revoked_at is not None:
            raise Conflict(f"only a REWARDED referral can be revoked; this one is {referral.status.value}")
        friend_wallet = await _friend_wallet(referral)
        if friend_wallet is not None:
            taken = await reversal.revoke_friend(
                friend_wallet, referral, rule="RF-10", refund_id=None, rules_version=program.rules_version
            )
            await ledger.withhold(
                friend_wallet,
                taken.spent,
                money=Decimal(0),
                order_id=referral.order_id,
                refund_id=None,
                rules_version=program.rules_version,
            )
        await reversal.revoke_referrer(
            referral, rule="RF-10", detail=reason, refund_id=None, rules_version=program.rules_version, is_fraud=True
        )
        await fraud.exclude_if_repeated(referral.referrer_id, program.id, terms.fraud_limit)
        referral.decided_at = clock.now()
        await referral.save(update_fields=["decided_at"])
    return referral
