"""Ticketon's referral program (RF-01..RF-11): codes, attribution, qualification and payout,
staff review, reversal.

`codes` makes each participant's code and link, `attribution` ties a recorded order
to its referrer once, `qualification` decides at payment, `payout` writes both
sides' REFERRAL credits, `fraud` records rejections and excludes repeat offenders,
`review` is what staff decide, `reversal` revokes rewards, `standing` is what the
participant and the landing page see. The models live in `referrals.models`.
"""

from __future__ import annotations

from loyalty.referrals.attribution import attribute
from loyalty.referrals.codes import pseudonymise
from loyalty.referrals.fraud import public_reason, staff_reason
from loyalty.referrals.payout import settle_friend
from loyalty.referrals.qualification import on_order_paid
from loyalty.referrals.reversal import friend_wallet_id, reversible, revoke_friend, revoke_referrer
from loyalty.referrals.review import ReviewPage, decide, for_review, get, referral_cursor, revoke
from loyalty.referrals.standing import Friend, Landing, Standing, landing, standing

__all__ = [
    "Friend",
    "Landing",
    "ReviewPage",
    "Standing",
    "attribute",
    "decide",
    "for_review",
    "friend_wallet_id",
    "get",
    "landing",
    "on_order_paid",
    "pseudonymise",
    "public_reason",
    "referral_cursor",
    "reversible",
    "revoke",
    "revoke_friend",
    "revoke_referrer",
    "settle_friend",
    "staff_reason",
    "standing",
]
