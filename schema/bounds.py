"""Bounds on every string and list the API takes, refused as BAD_INPUT naming the field.

A string longer than its column used to reach the ORM, whose ValidationError came back
masked as INTERNAL. Each bound here is the column's `max_length` where the value is
stored (so the API and the columns agree), or a stated limit where it is not. They
apply to arguments and input fields alike, by schema coordinate: `Type.field` for an
input field, `Type.field.argument` for an argument. `bound_arguments` wraps the resolver
of every field that takes arguments with the check; a test walks the schema and fails on
any String, ID, JSON or list argument without a bound here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)

from loyalty import models
from loyalty.errors import BadInput
from loyalty.referrals.models import Referral, ReferralCode


def column(model: type[Any], name: str) -> int:
    """The max_length of a model's CharField."""
    length = model._meta.fields_map[name].max_length
    assert isinstance(length, int), f"{model.__name__}.{name} has no max_length"
    return length


@dataclass(frozen=True)
class Bound:
    """`length`: characters of a string (of each string, in a list; of the JSON text, for
    JSON); `items`: entries of a list."""

    length: int | None = None
    items: int | None = None


PARTICIPANT = Bound(column(models.Participant, "customer_id"))
PROGRAM = Bound(column(models.Wallet, "program_id"))
ORDER = Bound(column(models.Order, "id"))
ITEM = Bound(column(models.OrderItem, "item_id"))
EVENT = Bound(column(models.Event, "id"))
PROMO_CODE = Bound(column(models.PromoCode, "code"))
REASON = Bound(column(models.StatusChange, "reason"))
# Referral ids are integers, as campaign ids; codes and notes as stored.
REFERRAL = Bound(20)
REFERRAL_CODE = Bound(column(ReferralCode, "code"))
REFERRAL_NOTE = Bound(column(Referral, "detail"))
# Campaign ids are integers (a 64-bit one has 19 digits); cursors are short opaque text.
CAMPAIGN = Bound(20)
CURSOR = Bound(256)
# A plugin's name; a partner's id as plugins.toml spells it.
NAME = Bound(64)
ITEMS_PER_ORDER = 500
IDS_PER_AUDIENCE = 100_000
SEGMENT_PARAMS_JSON = 64 * 1024

BOUNDS: dict[str, Bound] = {
    "AdjustmentInput.participantId": PARTICIPANT,
    "AdjustmentInput.programId": PROGRAM,
    "AdjustmentInput.reason": Bound(column(models.Entry, "description")),
    "AudienceInput.tier": Bound(column(models.Wallet, "tier")),
    "AudienceInput.participantIds": Bound(PARTICIPANT.length, items=IDS_PER_AUDIENCE),
    "AudienceInput.boughtCategory": Bound(column(models.Event, "category")),
    "AudienceInput.segment": NAME,
    "AudienceInput.segmentParams": Bound(SEGMENT_PARAMS_JSON),
    "CartInput.programId": PROGRAM,
    "CartInput.items": Bound(items=ITEMS_PER_ORDER),
    "CartInput.promoCode": PROMO_CODE,
    "CartInput.participantId": PARTICIPANT,
    "CartItemInput.eventId": EVENT,
    "EventInput.id": EVENT,
    "EventInput.title": Bound(column(models.Event, "title")),
    "EventInput.category": Bound(column(models.Event, "category")),
    "EventInput.organizerId": Bound(column(models.Event, "organizer_id")),
    "GiftCampaignInput.name": Bound(column(models.Campaign, "name")),
    "GiftCampaignInput.programId": PROGRAM,
    "GiftCampaignInput.message": Bound(column(models.Campaign, "message")),
    "JoinInput.programId": PROGRAM,
    "JoinInput.displayName": Bound(column(models.Participant, "display_name")),
    "Mutation.payOrder.id": ORDER,
    "Mutation.cancelOrder.id": ORDER,
    "Mutation.blockParticipant.id": PARTICIPANT,
    "Mutation.blockParticipant.reason": REASON,
    "Mutation.blockParticipant.programId": PROGRAM,
    "Mutation.eraseParticipant.id": PARTICIPANT,
    "Mutation.reviewReferral.id": REFERRAL,
    "Mutation.reviewReferral.note": REFERRAL_NOTE,
    "Mutation.revokeReferral.id": REFERRAL,
    "Mutation.revokeReferral.reason": REFERRAL_NOTE,
    "Query.referralLanding.code": REFERRAL_CODE,
    "Query.referralsForReview.programId": PROGRAM,
    "Query.referralsForReview.after": CURSOR,
    "Mutation.eraseParticipant.reason": REASON,
    "Mutation.unblockParticipant.id": PARTICIPANT,
    "Mutation.unblockParticipant.reason": REASON,
    "Mutation.unblockParticipant.programId": PROGRAM,
    "Mutation.setTier.participantId": PARTICIPANT,
    "Mutation.setTier.programId": PROGRAM,
    "Mutation.setTier.tier": Bound(column(models.Wallet, "tier")),
    "Mutation.launchCampaign.id": CAMPAIGN,
    "Mutation.pauseCampaign.id": CAMPAIGN,
    "Mutation.resumeCampaign.id": CAMPAIGN,
    "Mutation.cancelCampaign.id": CAMPAIGN,
    "OrderInput.id": ORDER,
    "OrderInput.participantId": PARTICIPANT,
    "OrderInput.programId": PROGRAM,
    "OrderInput.items": Bound(items=ITEMS_PER_ORDER),
    "OrderInput.promoCode": Bound(column(models.Order, "promo_code")),
    "OrderInput.referralCode": Bound(column(models.Order, "referral_code")),
    "OrderInput.fingerprint": Bound(column(models.Order, "fingerprint")),
    "OrderItemInput.id": ITEM,
    "OrderItemInput.eventId": EVENT,
    "Participant.wallet.programId": PROGRAM,
    "Participant.referral.programId": PROGRAM,
    "Participant.achievements.programId": PROGRAM,
    "ProfileInput.displayName": Bound(column(models.Participant, "display_name")),
    "PromoCodeBatchInput.programId": PROGRAM,
    "PromoCodeBatchInput.eventId": EVENT,
    "Query.participant.id": PARTICIPANT,
    "Query.order.id": ORDER,
    "Query.promoCode.code": PROMO_CODE,
    "Query.partnerReport.partnerId": NAME,
    "Query.previewAudience.programId": PROGRAM,
    "Query.campaign.id": CAMPAIGN,
    "Query.campaigns.after": CURSOR,
    "RefundInput.orderId": ORDER,
    "RefundInput.itemIds": Bound(ITEM.length, items=ITEMS_PER_ORDER),
    "RefundInput.idempotencyKey": Bound(column(models.Refund, "idempotency_key")),
    "Wallet.history.after": CURSOR,
}
# Where a plugin or a later change adds an argument this table lacks (the schema test
# fails then), it is still bounded: no column is shorter than this.
DEFAULT = Bound(length=32, items=ITEMS_PER_ORDER)


class OutOfBounds(BadInput):
    """A string or list longer than its bound; `field` is its path in the request."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _bare(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def check(value: Any, type_: GraphQLInputType, bound: Bound, path: str) -> None:
    """Raise OutOfBounds where `value` (coerced, as graphql-core hands it over) exceeds its bound."""
    if value is None:
        return
    type_ = _bare(type_)
    if isinstance(type_, GraphQLList):
        if bound.items is not None and len(value) > bound.items:
            raise OutOfBounds(path, f"{path}: at most {bound.items} entries, got {len(value)}")
        for index, item in enumerate(value):
            check(item, type_.of_type, Bound(bound.length), f"{path}[{index}]")
    elif isinstance(type_, GraphQLInputObjectType):
        for name, field in type_.fields.items():
            if name in value:
                check(value[name], field.type, BOUNDS.get(f"{type_.name}.{name}", DEFAULT), f"{path}.{name}")
    elif isinstance(type_, GraphQLScalarType) and bound.length is not None:
        text = value if isinstance(value, str) else json.dumps(value) if type_.name == "JSON" else None
        if text is not None and len(text) > bound.length:
            raise OutOfBounds(path, f"{path}: at most {bound.length} characters, got {len(text)}")


def _bounded(resolve: Callable[..., Any], field: str, arguments: Mapping[str, Any]) -> Callable[..., Any]:
    def resolve_bounded(root: Any, info: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            argument = arguments.get(name)
            if argument is not None:
                check(value, argument.type, BOUNDS.get(f"{field}.{name}", DEFAULT), name)
        return resolve(root, info, **kwargs)

    return resolve_bounded


def bound_arguments(schema: GraphQLSchema) -> None:
    """Check the bounds before every resolver that takes arguments (introspection aside)."""
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            if field.args and field.resolve is not None:
                field.resolve = _bounded(field.resolve, f"{type_name}.{name}", field.args)
