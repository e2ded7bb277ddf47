"""Helpers for referral scenarios: a referrer with a purchase of their own, friends' orders
carrying the referrer's code."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from loyalty import orders, participants, referrals
from loyalty.enums import Channel
from loyalty.models import Order, Wallet
from loyalty.programs import Catalog
from loyalty.referrals.models import Referral
from tests import scenario
from tests.scenario import ticket


async def code_of(catalog: Catalog, customer_id: str, program: str = scenario.PROGRAM) -> str:
    """The participant's referral code (made on first read, RF-01)."""
    found = await referrals.standing(catalog.get(program), await participants.get(customer_id))
    assert found is not None
    return found.code


async def referrer(catalog: Catalog, customer_id: str = "ref", paid: str = "1000") -> tuple[Wallet, str]:
    """A participant with one paid purchase of their own (RF-06) and their code.

    Their ticket of `paid` to a concert that has started earns 5 %, active at once.
    """
    wallet = await scenario.active_wallet(catalog, customer_id, paid)
    return wallet, await code_of(catalog, customer_id)


async def record(
    catalog: Catalog,
    order_id: str,
    customer_id: str,
    code: str | None,
    nominal: str = "4000",
    *,
    event: str = "e1",
    fee: str = "0",
    fingerprint: str | None = None,
    channel: Channel = Channel.WEBSITE,
) -> Order:
    """Record a friend's one-ticket order carrying `code`."""
    draft = scenario.draft(order_id, customer_id, ticket(f"{order_id}-t1", event, nominal, fee=fee), channel=channel)
    return await orders.record_order(catalog, replace(draft, referral_code=code, fingerprint=fingerprint))


async def buy(
    catalog: Catalog, order_id: str, customer_id: str, code: str | None, nominal: str = "4000", **kw: object
) -> Order:
    """Record and pay a friend's order carrying `code`."""
    await record(catalog, order_id, customer_id, code, nominal, **kw)  # type: ignore[arg-type]
    return await orders.pay_order(catalog, order_id)


async def of_order(order_id: str) -> Referral:
    """The referral the order made."""
    return await Referral.get(order_id=order_id)


async def friend_events(catalog: Catalog, starts_in: timedelta = timedelta(days=10)) -> None:
    """Event e1: a concert (5 %) starting in `starts_in`."""
    await scenario.event("e1", "concert", starts_in=starts_in)
