"""Short helpers to set up ledger scenarios in tests, straight on the domain."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tortoise.models import Model

from loyalty import clock, events, orders, participants, refunds
from loyalty.enums import Channel, ItemKind, RefundReason
from loyalty.models import Draw, Entry, Event, Lot, Order, OrderItem, Participant, Refund, StatusChange, Wallet
from loyalty.participants import Identity, JoinRequest
from loyalty.programs import Catalog, Program
from plugins.config import PluginConfig
from plugins.manager import Enabled, PluginHost, build

PROGRAM = "live-brighter"
PLUGINS_TOML = Path(__file__).resolve().parent.parent / "plugins.toml"


# The pseudonyms' key (LB-16) for tests calling the domain directly: random per run.
ERASURE_KEY = secrets.token_bytes(32)


def verified(customer_id: str) -> Identity:
    return Identity(customer_id=customer_id, email=f"{customer_id}@example.com", email_verified=True)


async def join(
    catalog: Catalog,
    customer_id: str,
    program: str = PROGRAM,
    verified_contact: bool = True,
    birth_date: date | None = None,
) -> Wallet:
    identity = verified(customer_id) if verified_contact else Identity(customer_id=customer_id)
    _, wallet = await participants.join(
        catalog,
        identity,
        JoinRequest(
            program_id=program,
            accept_rules=True,
            personal_data_consent=True,
            marketing_consent=False,
            birth_date=birth_date,
        ),
        erasure_key=ERASURE_KEY,
    )
    return wallet


async def event(
    event_id: str,
    category: str = "concert",
    starts_in: timedelta = timedelta(days=10),
    organizer: str = "org-1",
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
        id=order_id,
        customer_id=customer_id,
        program_id=program,
        channel=channel,
        items=items,
        bonus_to_spend=spend,
    )


async def buy(catalog: Catalog, order_id: str, customer_id: str, *items: orders.ItemDraft, spend: int = 0) -> Order:
    """Record and pay an order."""
    await orders.record_order(catalog, draft(order_id, customer_id, *items, spend=spend))
    return await orders.pay_order(catalog, order_id)


async def active_wallet(catalog: Catalog, customer_id: str, paid: str, program: str = PROGRAM) -> Wallet:
    """Join `customer_id` and buy one ticket for `paid` to an event that has started, so that
    its accrual is active at once: order "<customer>-first", ticket "<customer>-t0",
    event "<customer>-past" (a concert)."""
    wallet = await join(catalog, customer_id, program)
    await event(f"{customer_id}-past", "concert", starts_in=timedelta(hours=-1))
    await orders.record_order(
        catalog,
        draft(
            f"{customer_id}-first",
            customer_id,
            ticket(f"{customer_id}-t0", f"{customer_id}-past", paid),
            program=program,
        ),
    )
    await orders.pay_order(catalog, f"{customer_id}-first")
    return wallet


def until(at: datetime) -> datetime:
    """Move the frozen clock forward to the instant `at`."""
    return clock.advance(at - clock.now())


async def refund(
    catalog: Catalog,
    order_id: str,
    *item_ids: str,
    reason: RefundReason = RefundReason.CUSTOMER,
    key: str | None = None,
) -> Refund:
    """Refund some items of a paid order."""
    return await refunds.refund_items(
        catalog,
        refunds.RefundRequest(order_id=order_id, item_ids=item_ids, reason=reason, idempotency_key=key),
    )


async def entries(wallet_id: int) -> list[Entry]:
    """The wallet's ledger entries, oldest first."""
    return await Entry.filter(wallet_id=wallet_id).order_by("id")


async def lots(wallet_id: int) -> list[Lot]:
    """The wallet's lots, oldest first."""
    return await Lot.filter(wallet_id=wallet_id).order_by("id")


ENTRY_FIELDS = ("kind", "amount", "rule", "rules_version", "activates_at", "expires_at")


async def entry_rows(wallet_id: int, *fields: str) -> list[tuple[Any, ...]]:
    """The wallet's entries, oldest first, as tuples of `fields` (default ENTRY_FIELDS)."""
    query = Entry.filter(wallet_id=wallet_id).order_by("id")
    return [tuple(row) for row in await query.values_list(*(fields or ENTRY_FIELDS))]


SNAPSHOT_MODELS: tuple[type[Model], ...] = (
    Participant,
    Wallet,
    Lot,
    Entry,
    Draw,
    Event,
    Order,
    OrderItem,
    Refund,
    StatusChange,
)


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, to prove that a refused operation changed nothing."""
    return {model.__name__: await model.all().order_by(model._meta.pk_attr).values() for model in SNAPSHOT_MODELS}


def enabled(name: str, instance: object, programs: tuple[str, ...] = (PROGRAM,), optional: bool = False) -> Enabled:
    """A plugin instance enabled for `programs`, as a [plugins.<name>] table would enable it."""
    return Enabled(name=name, instance=instance, config=PluginConfig(programs=list(programs), optional=optional))


# The built-in achievements of plugins.toml (GA-04): they reward every first purchase, so the
# tests of the other rules leave them out and the tests of GA (and end to end) keep them.
ACHIEVEMENTS = "achievements"


def plugin_host(
    *plugins: Enabled, extra_programs: tuple[Program, ...] = (), achievements: bool = False, **program_changes: Any
) -> PluginHost:
    """The repository's plugins.toml with `plugins` added (or replacing those of the same name).

    The built-in achievements are left out unless `achievements` (GA tests keep them).
    `program_changes` change every configured program's fields (e.g. a new rules_version, LB-19);
    `extra_programs` are configured after them.
    """
    base = build(PLUGINS_TOML)
    by_name = {plugin.name: plugin for plugin in base.enabled.values() if achievements or plugin.name != ACHIEVEMENTS}
    by_name.update({plugin.name: plugin for plugin in plugins})
    programs = [replace(program, **program_changes) for program in base.catalog]
    return PluginHost(enabled=list(by_name.values()), programs=[*programs, *extra_programs])
