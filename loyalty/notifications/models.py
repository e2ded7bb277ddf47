"""The outbox table: a notification per announced change, written in its transaction."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from loyalty.enums import NotificationKind, NotificationStatus


class Notification(Model):
    """One notification to deliver at least once through the ``notify`` hook (RF-11, CA-01).

    `id` is the stable key (``campaign:<id>:<participant>``, ``referral:<id>:friend``):
    the primary key, so writing the same notification again is a no-op, and the id a
    receiver drops duplicates by. `payload` holds amounts, ids and message text, never
    personal data; the participant is a reference, its customer id read at delivery.
    """

    id = fields.CharField(max_length=128, primary_key=True)
    kind = fields.CharEnumField(NotificationKind, max_length=32)
    program_id = fields.CharField(max_length=64)
    participant_id = fields.BigIntField(db_index=True)
    payload: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    # A marketing message (CA-01): only ever written for participants with consent (LB-15).
    marketing = fields.BooleanField(default=False)
    status = fields.CharEnumField(NotificationStatus, default=NotificationStatus.PENDING, max_length=16)
    attempts = fields.IntField(default=0)
    # When it is due: now, after a failure's backoff, or after a claim's lease ran out.
    next_attempt_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "notification"
        indexes = (("status", "next_attempt_at"),)
