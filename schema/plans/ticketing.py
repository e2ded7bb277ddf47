"""Plans for the ticketing system's hot writes: RecordOrder and PayOrder (ticketing.graphql).

A write plan is a read plan's sibling with one more duty: a write must never run twice.
So everything that could send the request to Strawberry happens first, before any write:
the variables are parsed as graphql-core and Strawberry would coerce them into
`OrderInput` (a value they would not take exactly, or one `schema.bounds` refuses, raises
`Unplanned`). From the domain call on, the plan answers whatever happens itself, as
Strawberry does: the resolver's error (a refused token, FORBIDDEN, RULE, NOT_FOUND,
CONFLICT, storage down) becomes the same GraphQL error, located at the root field, shaped
by `schema.errors.shape`, with `data` null (the root fields are non-null).

The plans call what the resolvers call, through the same functions: `order_draft` makes
the domain's draft of the parsed `OrderInput`, `order_payload` the payload of the row.
"""

from __future__ import annotations

import decimal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from graphql import DocumentNode, FieldNode, GraphQLError, OperationDefinitionNode, located_error

from loyalty import orders
from loyalty.access import Role, require
from loyalty.enums import Channel, ItemKind, OrderMode, OrderStatus
from schema.bounds import ITEMS_PER_ORDER
from schema.errors import shape
from schema.orders import Order, OrderInput, OrderItemInput, order_draft, order_payload
from schema.plans.base import INT_MAX, INT_MIN, PlanInput, Unplanned, only, text

E = TypeVar("E", bound=Enum)
# Past this an item's amounts are left to Strawberry: what a rule accrues on them might
# pass GraphQL's Int, whose refusal after the write the plan does not copy.
AMOUNT_PLANNED = decimal.Decimal(10_000_000)


@dataclass(frozen=True)
class Written:
    """A write plan's answer: `data` (None where the root field failed) and its errors."""

    data: dict[str, Any] | None
    errors: list[GraphQLError]


# -- the variables, as graphql-core coerces them (or Unplanned) --------------------------------


def _enum(value: object, enum: type[E], coordinate: str, *, required: bool = True) -> E | None:
    if value is None:
        if required:
            raise Unplanned(f"{coordinate} is null")
        return None
    if not isinstance(value, str) or value not in enum.__members__:
        raise Unplanned(f"{coordinate} is not a {enum.__name__}")
    return enum.__members__[value]


def _decimal(value: object, coordinate: str, *, required: bool = True) -> decimal.Decimal | None:
    """Strawberry's Decimal from a string (a number, which it also takes: Unplanned)."""
    if value is None:
        if required:
            raise Unplanned(f"{coordinate} is null")
        return None
    if not isinstance(value, str):
        raise Unplanned(f"{coordinate} is not a string")
    try:
        amount = decimal.Decimal(value)
    except decimal.DecimalException:
        raise Unplanned(f"{coordinate} is not a Decimal") from None
    if amount.is_finite() and abs(amount) >= AMOUNT_PLANNED:
        raise Unplanned(f"{coordinate} is past what the plan answers")
    return amount


def _int(value: object, coordinate: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not INT_MIN <= value <= INT_MAX:
        raise Unplanned(f"{coordinate} is not an Int")
    return value


def _fields(value: object, names: frozenset[str], type_name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Unplanned(f"{type_name} is not an object")
    if not value.keys() <= names:
        raise Unplanned(f"{type_name} has a field it does not declare")
    return value


ITEM_FIELDS = frozenset({"id", "eventId", "kind", "nominal", "serviceFee", "discount"})
ORDER_FIELDS = frozenset(
    {
        "id",
        "participantId",
        "programId",
        "channel",
        "items",
        "bonusToSpend",
        "mode",
        "promoCode",
        "referralCode",
        "fingerprint",
    }
)


def _item(value: object) -> OrderItemInput:
    item = _fields(value, ITEM_FIELDS, "OrderItemInput")
    return OrderItemInput(
        id=text(item.get("id"), "OrderItemInput.id"),  # type: ignore[arg-type]
        event_id=text(item.get("eventId"), "OrderItemInput.eventId"),  # type: ignore[arg-type]
        kind=_enum(item.get("kind"), ItemKind, "OrderItemInput.kind"),
        nominal=_decimal(item.get("nominal"), "OrderItemInput.nominal"),  # type: ignore[arg-type]
        service_fee=_decimal(item.get("serviceFee"), "OrderItemInput.serviceFee", required=False),
        discount=_decimal(item.get("discount"), "OrderItemInput.discount", required=False),
    )


def order_input(value: object) -> OrderInput:
    """`$input: OrderInput!` as Strawberry would hand it to recordOrder, or Unplanned."""
    order = _fields(value, ORDER_FIELDS, "OrderInput")
    items = order.get("items")
    # graphql-core would take a lone object for a list of one: left to it.
    if not isinstance(items, list):
        raise Unplanned("OrderInput.items is not a list")
    if len(items) > ITEMS_PER_ORDER:
        raise Unplanned("OrderInput.items is out of bounds")
    return OrderInput(
        id=text(order.get("id"), "OrderInput.id"),  # type: ignore[arg-type]
        participant_id=text(order.get("participantId"), "OrderInput.participantId"),  # type: ignore[arg-type]
        program_id=text(order.get("programId"), "OrderInput.programId"),  # type: ignore[arg-type]
        channel=_enum(order.get("channel"), Channel, "OrderInput.channel"),
        items=[_item(item) for item in items],
        bonus_to_spend=_int(order.get("bonusToSpend"), "OrderInput.bonusToSpend"),
        mode=_enum(order.get("mode"), OrderMode, "OrderInput.mode", required=False),
        promo_code=text(order.get("promoCode"), "OrderInput.promoCode", required=False),
        referral_code=text(order.get("referralCode"), "OrderInput.referralCode", required=False),
        fingerprint=text(order.get("fingerprint"), "OrderInput.fingerprint", required=False),
    )


# -- the answer ----------------------------------------------------------------------------------


def _root(document: DocumentNode) -> FieldNode:
    """The one root field of a planned write document."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    (field,) = operation.selection_set.selections
    assert isinstance(field, FieldNode) and field.alias is None
    return field


def _whole(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        # Strawberry would refuse the field; the write is done, so it is answered, not redone.
        raise ValueError("a bonus amount past GraphQL's Int")
    return value


def _status(value: str) -> str:
    return OrderStatus(value).name


async def _answer(
    context: PlanInput, document: DocumentNode, write: Callable[[], Awaitable[dict[str, Any]]]
) -> Written:
    """The root field's answer, or its error as Strawberry gives it (authorization included)."""
    field = _root(document)
    try:
        require(context.read_caller(), Role.TICKETING)
        value = await write()
    except Exception as error:  # every error of the resolver is a field error in GraphQL
        return Written(None, [shape(located_error(error, [field], [field.name.value]))])
    return Written({field.name.value: value}, [])


async def record_order(context: PlanInput, variables: Mapping[str, Any], document: DocumentNode) -> Written:
    """`RecordOrder`: `recordOrder(input)` → order { id status programId bonusSpent bonusToAccrue promoCode total }."""
    only(variables, ("input",))
    draft = order_draft(order_input(variables.get("input")))

    async def write() -> dict[str, Any]:
        order: Order = order_payload(await orders.record_order(context.catalog, draft)).order
        return {
            "order": {
                "id": str(order.id),
                "status": _status(order.status),
                "programId": str(order.program_id),
                "bonusSpent": _whole(order.bonus_spent),
                "bonusToAccrue": _whole(order.bonus_to_accrue),
                "promoCode": order.promo_code,
                "total": str(order.total),
            }
        }

    return await _answer(context, document, write)


async def pay_order(context: PlanInput, variables: Mapping[str, Any], document: DocumentNode) -> Written:
    """`PayOrder`: `payOrder(id)` → order { id status bonusSpent bonusAccrued }."""
    only(variables, ("id",))
    order_id = text(variables.get("id"), "Mutation.payOrder.id")
    assert order_id is not None

    async def write() -> dict[str, Any]:
        order: Order = order_payload(await orders.pay_order(context.catalog, order_id)).order
        return {
            "order": {
                "id": str(order.id),
                "status": _status(order.status),
                "bonusSpent": _whole(order.bonus_spent),
                "bonusAccrued": _whole(order.bonus_accrued),
            }
        }

    return await _answer(context, document, write)
