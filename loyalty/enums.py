"""The kinds and statuses the domain names: plain enums, free of the ORM.

The plain facts handed to plugins (`loyalty.facts`) and the plugins themselves use
these; `loyalty.models` stores them in its columns.
"""

from __future__ import annotations

from enum import StrEnum


class ParticipantStatus(StrEnum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    ERASED = "ERASED"


class WalletStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"


def standing(participant: ParticipantStatus, wallet: WalletStatus) -> WalletStatus:
    """What a wallet may do, both kinds of block seen (MG-13 Decision).

    The wallet's own status holds its program's block; the participant's status holds the
    global one (or the erasure, LB-16). Either makes the wallet BLOCKED.
    """
    return wallet if participant is ParticipantStatus.ACTIVE else WalletStatus.BLOCKED


class EntryKind(StrEnum):
    ACCRUAL = "ACCRUAL"
    SPEND = "SPEND"
    BURN = "BURN"
    REVOKE = "REVOKE"
    GIFT = "GIFT"
    REFERRAL = "REFERRAL"
    ACHIEVEMENT = "ACHIEVEMENT"
    ADJUSTMENT = "ADJUSTMENT"
    WITHHOLD = "WITHHOLD"


class Channel(StrEnum):
    WEBSITE = "WEBSITE"
    APP = "APP"
    WIDGET = "WIDGET"
    BOX_OFFICE = "BOX_OFFICE"


class ItemKind(StrEnum):
    TICKET = "TICKET"
    GOODS = "GOODS"


class OrderMode(StrEnum):
    EARN = "EARN"
    SPEND = "SPEND"


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class RefundReason(StrEnum):
    CUSTOMER = "CUSTOMER"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    EVENT_POSTPONED = "EVENT_POSTPONED"


class CampaignStatus(StrEnum):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"
    FINISHED = "FINISHED"


class NotificationKind(StrEnum):
    """What an outbox notification announces (RF-11, CA-01)."""

    REFERRAL_REWARDED = "referral_rewarded"
    CAMPAIGN_MESSAGE = "campaign_message"


class NotificationStatus(StrEnum):
    """PENDING: to be delivered (again); SENT: delivered; DROPPED: never to be (LB-16);
    FAILED: given up after the last attempt."""

    PENDING = "PENDING"
    SENT = "SENT"
    DROPPED = "DROPPED"
    FAILED = "FAILED"


class ReferralStatus(StrEnum):
    PENDING = "PENDING"
    REVIEW = "REVIEW"
    REWARDED = "REWARDED"
    REJECTED = "REJECTED"
