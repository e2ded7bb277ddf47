"""The contract's enums, as the domain defines them."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from loyalty import models

Channel = strawberry.enum(models.Channel, name="Channel")
ItemKind = strawberry.enum(models.ItemKind, name="ItemKind")
OrderMode = strawberry.enum(models.OrderMode, name="OrderMode")
RefundReason = strawberry.enum(models.RefundReason, name="RefundReason")
ParticipantStatus = strawberry.enum(models.ParticipantStatus, name="ParticipantStatus")
WalletStatus = strawberry.enum(models.WalletStatus, name="WalletStatus")
OrderStatus = strawberry.enum(models.OrderStatus, name="OrderStatus")
EntryKind = strawberry.enum(models.EntryKind, name="EntryKind")


@strawberry.enum
class ReferralStatus(StrEnum):
    PENDING = "PENDING"
    REVIEW = "REVIEW"
    REWARDED = "REWARDED"
    REJECTED = "REJECTED"
