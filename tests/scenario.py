"""Short helpers to set up ledger scenarios in tests, straight on the domain."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from loyalty import clock, events, orders, participants
from loyalty.models import Channel, ItemKind, Order, Wallet
from loyalty.participants import Identity, JoinRequest
from loyalty.programs import Catalog

PROGRAM = "live-brighter"


def verified(customer_id: str) -> Identity:
    return Identity(customer_id=customer_id, email=f"{customer_id}@example.com", email_verified=True)


async def join(catalog: Catalog, customer_id: str, program: str = PROGRAM, verified_contact: bool = True) -> Wallet:
    identity = verified(customer_id) if verified_contact else Identity(customer_id=customer_id)
    _, wallet = await participants.join(
        catalog,
        identity,
        JoinRequest(program_id=program, accept_rules=True, personal_data_consent=True, marketing_consent=False),
    )
    return wallet


async def event(
    event_id: str, category: str = "concert", starts_in: timedelta = timedelta(days=10), organizer: str = "org-1"
) -> datetime:
    starts_at = clock.now() + starts_in
    await events.upsert(
        events.EventDraft(id=event_id, title=event_id, category=category, starts_at=starts_at, organizer_id=organizer)
    )
    return starts_at


def ticket(item_id: str, event_id: str, nominal: str, fee: str = "0", discount: str = "0") -> orders.ItemDraft:
    return orders.ItemDraft(
        id=item_id,
        event_id=event_id,
        kind=ItemKind.TICKET,
        nominal=Decimal(nominal),
        service_fee=Decimal(fee),
        discount=Decimal(discount),
    )


def goods(item_id: str, event_id: str, nominal: str, fee: str = "0") -> orders.ItemDraft:
    return orders.ItemDraft(
        id=item_id, event_id=event_id, kind=ItemKind.GOODS, nominal=Decimal(nominal), service_fee=Decimal(fee)
    )


def draft(
    order_id: str,
    customer_id: str,
    *items: orders.ItemDraft,
    spend: int = 0,
    program: str = PROGRAM,
    channel: Channel = Channel.WEBSITE,
) -> orders.OrderDraft:
    return orders.OrderDraft(
        id=order_id, customer_id=customer_id, program_id=program, channel=channel, items=items, bonus_to_spend=spend
    )


async def buy(catalog: Catalog, order_id: str, customer_id: str, *items: orders.ItemDraft, spend: int = 0) -> Order:
    """Record and pay an order."""
    await orders.record_order(catalog, draft(order_id, customer_id, *items, spend=spend))
    return await orders.pay_order(catalog, order_id)
