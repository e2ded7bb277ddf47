"""The contract's enums, as the domain defines them."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from loyalty import enums as domain

Channel = strawberry.enum(domain.Channel, name="Channel")
ItemKind = strawberry.enum(domain.ItemKind, name="ItemKind")
OrderMode = strawberry.enum(domain.OrderMode, name="OrderMode")
RefundReason = strawberry.enum(domain.RefundReason, name="RefundReason")
ParticipantStatus = strawberry.enum(domain.ParticipantStatus, name="ParticipantStatus")
WalletStatus = strawberry.enum(domain.WalletStatus, name="WalletStatus")
OrderStatus = strawberry.enum(domain.OrderStatus, name="OrderStatus")
EntryKind = strawberry.enum(domain.EntryKind, name="EntryKind")


@strawberry.enum
class ReferralStatus(StrEnum):
    PENDING = "PENDING"
    REVIEW = "REVIEW"
    REWARDED = "REWARDED"
    REJECTED = "REJECTED"
