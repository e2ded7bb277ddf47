"""Rejections and exclusion (RF-08, RF-10): every rejection records its rule and detail for
staff; after `fraud_limit` fraud rejections the referrer's code stops attributing."""

from __future__ import annotations

from loyalty import clock
from loyalty.enums import ReferralStatus
from loyalty.facts import ReferralTerms
from loyalty.referrals.models import Referral, ReferralCode


async def reject(
    referral: Referral,
    terms: ReferralTerms,
    rule: str,
    detail: str | None,
    *,
    is_fraud: bool,
    keep_friend: bool = False,
) -> None:
    """Mark the referral REJECTED with `rule` and `detail`; a fraud rejection may exclude the referrer (RF-10).

    `keep_friend`: the friend keeps the bonus they got or are owed (RF-06).
    """
    referral.status = ReferralStatus.REJECTED
    referral.rule = rule
    referral.detail = detail
    referral.fraud = is_fraud
    referral.decided_at = clock.now()
    if not keep_friend:
        referral.friend_due_until = None
    await referral.save(update_fields=["status", "rule", "detail", "fraud", "decided_at", "friend_due_until"])
    if is_fraud:
        await exclude_if_repeated(referral.referrer_id, referral.program_id, terms.fraud_limit)


async def exclude_if_repeated(referrer_id: int, program_id: str, limit: int) -> bool:
    """RF-10: block the referrer's code once their fraud rejections reach `limit`; True if blocked now."""
    count = await Referral.filter(referrer_id=referrer_id, program_id=program_id, fraud=True).count()
    if count < limit:
        return False
    changed = await ReferralCode.filter(
        participant_id=referrer_id, program_id=program_id, blocked_at__isnull=True
    ).update(blocked_at=clock.now())
    return changed > 0


def staff_reason(referral: Referral) -> str | None:
    """The full reason staff see: the rule, then ': ' and the detail (null for PENDING and REWARDED)."""
    if referral.status not in (ReferralStatus.REVIEW, ReferralStatus.REJECTED) or referral.rule is None:
        return None
    return f"{referral.rule}: {referral.detail}" if referral.detail else referral.rule


PUBLIC_CODES = {"RF-04": "MIN_PURCHASE", "RF-03": "NOT_NEW_CUSTOMER", "RF-07": "ALREADY_REFERRED"}


def public_reason(referral: Referral) -> str | None:
    """The code a referrer sees, never the fraud signal behind it (contract README)."""
    if referral.status is ReferralStatus.REVIEW:
        return "UNDER_REVIEW"
    if referral.status is ReferralStatus.REJECTED:
        return PUBLIC_CODES.get(referral.rule or "", "REJECTED")
    return None
