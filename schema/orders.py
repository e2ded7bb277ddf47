"""Events, orders and refunds, as the ticketing system records them; redemption quotes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from loyalty import events, orders, refunds
from loyalty.access import Role, require
from loyalty.errors import BadInput, Forbidden
from loyalty.models import Event as EventRow
from loyalty.models import Order as OrderRow
from loyalty.models import Refund as RefundRow
from schema.context import Info
from schema.enums import Channel, ItemKind, OrderMode, OrderStatus, RefundReason


@strawberry.type(description="An event as the ticketing system last sent it.")
class Event:
    id: strawberry.ID
    category: str
    starts_at: datetime
    organizer_id: strawberry.ID

    @classmethod
    def of(cls, row: EventRow) -> Event:
        return cls(
            id=strawberry.ID(row.id),
            category=row.category,
            starts_at=row.starts_at,
            organizer_id=strawberry.ID(row.organizer_id),
        )


@strawberry.type
class EventPayload:
    event: Event


@strawberry.type(description="One refund of some items of an order.")
class Refund:
    id: strawberry.ID
    order_id: strawberry.ID
    item_ids: list[strawberry.ID]
    money_refund: Decimal
    bonus_revoked: int
    bonus_withheld: int
    bonus_debt: int

    @classmethod
    def of(cls, row: RefundRow) -> Refund:
        return cls(
            id=strawberry.ID(str(row.id)),
            order_id=strawberry.ID(row.order_id),
            item_ids=[strawberry.ID(i) for i in row.item_ids],
            money_refund=row.money_refund,
            bonus_revoked=row.bonus_revoked,
            bonus_withheld=row.bonus_withheld,
            bonus_debt=row.bonus_debt,
        )


@strawberry.type(description="An order the ticketing system recorded.")
class Order:
    id: strawberry.ID
    status: OrderStatus
    program_id: strawberry.ID
    participant_id: strawberry.ID
    total: Decimal
    bonus_spent: int
    bonus_to_accrue: int
    bonus_accrued: int
    promo_code: str | None

    @classmethod
    def of(cls, row: OrderRow) -> Order:
        return cls(
            id=strawberry.ID(row.id),
            status=row.status,
            program_id=strawberry.ID(row.program_id),
            participant_id=strawberry.ID(row.customer_id),
            total=row.total,
            bonus_spent=row.bonus_spent,
            bonus_to_accrue=row.bonus_to_accrue,
            bonus_accrued=row.bonus_accrued,
            promo_code=row.promo_code,
        )

    @strawberry.field(description="The order's refunds, oldest first.")
    async def refunds(self, info: Info) -> list[Refund]:
        return [Refund.of(row) for row in await info.context.loaders.refunds.load(str(self.id))]


@strawberry.type
class OrderPayload:
    order: Order


@strawberry.type
class RefundPayload:
    refund: Refund
    order: Order


@strawberry.type(description="How many bonuses a cart may be paid with.")
class RedemptionQuote:
    program_id: strawberry.ID
    max_bonus: int
    available: int
    reason: str | None


@strawberry.input
class CartItemInput:
    event_id: strawberry.ID
    kind: ItemKind
    nominal: Decimal
    service_fee: Decimal | None = None
    discount: Decimal | None = None


@strawberry.input
class CartInput:
    program_id: strawberry.ID
    channel: Channel
    items: list[CartItemInput]
    promo_code: str | None = None
    participant_id: strawberry.ID | None = None


@strawberry.input
class EventInput:
    id: strawberry.ID
    title: str
    category: str
    starts_at: datetime
    organizer_id: strawberry.ID


@strawberry.input
class OrderItemInput:
    id: strawberry.ID
    event_id: strawberry.ID
    kind: ItemKind
    nominal: Decimal
    service_fee: Decimal | None = None
    discount: Decimal | None = None


@strawberry.input
class OrderInput:
    id: strawberry.ID
    participant_id: strawberry.ID
    program_id: strawberry.ID
    channel: Channel
    items: list[OrderItemInput]
    bonus_to_spend: int | None = None
    mode: OrderMode | None = None
    promo_code: str | None = None
    referral_code: str | None = None
    fingerprint: str | None = None


@strawberry.input
class RefundInput:
    order_id: strawberry.ID
    item_ids: list[strawberry.ID]
    reason: RefundReason
    idempotency_key: strawberry.ID | None = None


ZERO = Decimal("0")


def _item(item: CartItemInput | OrderItemInput) -> orders.ItemDraft:
    return orders.ItemDraft(
        id=getattr(item, "id", None),
        event_id=item.event_id,
        kind=item.kind,
        nominal=item.nominal,
        service_fee=item.service_fee if item.service_fee is not None else ZERO,
        discount=item.discount if item.discount is not None else ZERO,
    )


def order_draft(input: OrderInput) -> orders.OrderDraft:
    """The domain's draft of an OrderInput: recordOrder's, and its compiled plan's (schema.plans.ticketing)."""
    return orders.OrderDraft(
        id=input.id,
        customer_id=input.participant_id,
        program_id=input.program_id,
        channel=input.channel,
        items=tuple(_item(item) for item in input.items),
        bonus_to_spend=input.bonus_to_spend or 0,
        mode=input.mode,
        promo_code=input.promo_code,
        referral_code=input.referral_code,
        fingerprint=input.fingerprint,
    )


def order_payload(row: OrderRow) -> OrderPayload:
    """An order's payload, as recordOrder, payOrder and cancelOrder answer (and their plans)."""
    return OrderPayload(order=Order.of(row))


@strawberry.type
class Query:
    @strawberry.field(
        description="Role participant (own cart) or ticketing (participantId required): the redemption cap now (LB-08)."
    )
    async def quote_redemption(self, info: Info, cart: CartInput) -> RedemptionQuote:
        caller = require(info.context.caller, Role.PARTICIPANT, Role.TICKETING)
        if caller.role is Role.TICKETING:
            if cart.participant_id is None:
                raise BadInput("cart.participantId is required for role ticketing")
            customer = str(cart.participant_id)
        else:
            if cart.participant_id is not None and cart.participant_id != caller.sub:
                raise Forbidden("a participant quotes only for themselves")
            customer = caller.sub
        quote = await orders.quote(
            info.context.catalog,
            orders.OrderDraft(
                customer_id=customer,
                program_id=cart.program_id,
                channel=cart.channel,
                items=tuple(_item(item) for item in cart.items),
                promo_code=cart.promo_code,
            ),
        )
        return RedemptionQuote(
            program_id=strawberry.ID(quote.program_id),
            max_bonus=quote.max_bonus,
            available=quote.available,
            reason=quote.reason,
        )

    @strawberry.field(description="Role ticketing or admin: the order with the ticketing system's id.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        require(info.context.caller, Role.TICKETING, Role.ADMIN)
        row = await orders.get_order(id)
        return Order.of(row) if row else None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Role ticketing: creates or replaces an event.")
    async def upsert_event(self, info: Info, input: EventInput) -> EventPayload:
        require(info.context.caller, Role.TICKETING)
        row = await events.upsert(
            events.EventDraft(
                id=input.id,
                title=input.title,
                category=input.category,
                starts_at=input.starts_at,
                organizer_id=input.organizer_id,
            )
        )
        return EventPayload(event=Event.of(row))

    @strawberry.mutation(description="Role ticketing: records an order and holds its bonusToSpend (LB-08).")
    async def record_order(self, info: Info, input: OrderInput) -> OrderPayload:
        require(info.context.caller, Role.TICKETING)
        return order_payload(await orders.record_order(info.context.catalog, order_draft(input)))

    @strawberry.mutation(description="Role ticketing: marks an order PAID, taking its hold and crediting accruals.")
    async def pay_order(self, info: Info, id: strawberry.ID) -> OrderPayload:
        require(info.context.caller, Role.TICKETING)
        return order_payload(await orders.pay_order(info.context.catalog, id))

    @strawberry.mutation(description="Role ticketing: cancels an unpaid order, releasing its hold (LB-20).")
    async def cancel_order(self, info: Info, id: strawberry.ID) -> OrderPayload:
        require(info.context.caller, Role.TICKETING)
        return order_payload(await orders.cancel_order(id))

    @strawberry.mutation(description="Role ticketing: refunds items of a paid order (LB-09..LB-12, LB-20).")
    async def refund_items(self, info: Info, input: RefundInput) -> RefundPayload:
        require(info.context.caller, Role.TICKETING)
        row = await refunds.refund_items(
            info.context.catalog,
            refunds.RefundRequest(
                order_id=input.order_id,
                item_ids=tuple(str(i) for i in input.item_ids),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )
        order = await orders.get_order(row.order_id)
        assert order is not None
        return RefundPayload(refund=Refund.of(row), order=Order.of(order))
