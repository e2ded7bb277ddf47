"""What the referral program stores: each participant's code, and each attributed order.

Loaded by the Tortoise app beside `loyalty.models` (gateway/db.py).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from loyalty.enums import ReferralStatus


class ReferralCode(Model):
    """One referral code of a participant in one program (RF-01), excluded once blocked_at is set (RF-10)."""

    code = fields.CharField(max_length=32, primary_key=True)
    participant_id = fields.BigIntField()
    customer_id = fields.CharField(max_length=128)
    program_id = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    blocked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "referral_code"
        unique_together = (("participant_id", "program_id"),)


class Referral(Model):
    """One order that carried a referral code (RF-05), and what became of it.

    `attributed_friend` is the friend's customer id on the one referral that attributes
    the friend, null on one rejected as ALREADY_REFERRED or self-referred: the unique
    key (program, attributed_friend) makes a friend attributable once (RF-07), however
    many orders race. `rule` and `detail` say why a referral is in REVIEW or REJECTED,
    for staff; `fraud` marks the rejections that count towards exclusion (RF-10).
    The amounts and validity of the rewards are fixed at payment, so a friend who
    joins later (RF-02 Decision) gets what the payment promised.
    """

    id = fields.BigIntField(primary_key=True)
    program_id = fields.CharField(max_length=64)
    code = fields.CharField(max_length=32)
    referrer_id = fields.BigIntField(db_index=True)
    referrer_customer_id = fields.CharField(max_length=128)
    friend_customer_id = fields.CharField(max_length=128, db_index=True)
    attributed_friend = fields.CharField(max_length=128, null=True)
    order_id = fields.CharField(max_length=128, unique=True)
    status = fields.CharEnumField(ReferralStatus, default=ReferralStatus.PENDING, max_length=16)
    rule = fields.CharField(max_length=64, null=True)
    detail = fields.CharField(max_length=500, null=True)
    fraud = fields.BooleanField(default=False)
    at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    rewarded_at = fields.DatetimeField(null=True)
    referrer_bonus = fields.IntField(default=0)
    friend_bonus = fields.IntField(default=0)
    # The friend's bonus waits for the friend to join until this instant (RF-02 Decision).
    friend_due_until = fields.DatetimeField(null=True)
    friend_paid = fields.BooleanField(default=False)
    reward_activates_at = fields.DatetimeField(null=True)
    reward_expires_at = fields.DatetimeField(null=True)
    rules_version = fields.CharField(max_length=64, null=True)
    # Set once the rewards were revoked (RF-09 return, RF-10 staff): never revoked twice.
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "referral"
        unique_together = (("program_id", "attributed_friend"),)
        indexes = (("status", "at"),)
