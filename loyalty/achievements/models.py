"""What the achievements store: one row per achievement a participant unlocked (GA-02).

Progress is never stored: it is derived from the facts each time (loyalty.achievements.progress).
Loaded by the Tortoise app beside `loyalty.models` (gateway/db.py).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AchievementUnlock(Model):
    """An achievement a participant unlocked in a program, and the reward it credited.

    Unique per (participant, program, achievement): the database refuses a second
    unlock, so an achievement unlocks and rewards once whatever replays, retries and
    parallel payments happen (GA-02). Written in the transaction of the payment (or
    referral payout) that unlocked it, with the ACHIEVEMENT lot and entry (`entry_id`).
    `order_id` is the purchase that unlocked it (null for other facts): while its reward
    is pending, returning that purchase cancels the reward (GA-03, `revoked_at`), and
    the achievement stays unlocked.
    """

    id = fields.BigIntField(primary_key=True)
    participant_id = fields.BigIntField()
    program_id = fields.CharField(max_length=64)
    achievement_id = fields.CharField(max_length=64)
    wallet_id = fields.BigIntField()
    unlocked_at = fields.DatetimeField()
    order_id = fields.CharField(max_length=128, null=True, db_index=True)
    reward = fields.IntField(default=0)
    entry_id = fields.BigIntField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "achievement_unlock"
        unique_together = (("participant_id", "program_id", "achievement_id"),)
