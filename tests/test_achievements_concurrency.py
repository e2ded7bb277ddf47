"""Achievements under real parallel requests on PostgreSQL (GA-02): an achievement unlocks and
rewards once, whatever replays and parallel payments happen.

The payments go through the app (PayOrder) at the same time, each on a connection of its
own; the database's unique (participant, program, achievement) and the wallet's lock
make one of them unlock, and the others find it done.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from loyalty import orders
from loyalty.access import Role
from loyalty.achievements.models import AchievementUnlock
from loyalty.enums import EntryKind
from loyalty.models import Entry
from tests import scenario
from tests.gql import Client, token
from tests.scenario import ticket

pytestmark = pytest.mark.postgres


@pytest.fixture
def catalog(achieving):
    """plugins.toml's catalog, built-in achievements included (First ticket 100, Explorer 200)."""
    return achieving


async def pay_in_parallel(order_ids: list[str]) -> None:
    client = Client()
    ticketing = token(Role.TICKETING, "ticketon")
    try:
        answers = await asyncio.gather(*(client.op("PayOrder", {"id": o}, ticketing) for o in order_ids))
    finally:
        await client.http.aclose()
    assert all(not answer.get("errors") for answer in answers), answers
    assert {answer["data"]["payOrder"]["order"]["status"] for answer in answers} == {"PAID"}


async def rewards(wallet_id: int) -> list[tuple[int, str]]:
    return [
        (row["amount"], row["rule"])
        for row in await Entry.filter(wallet_id=wallet_id, kind=EntryKind.ACHIEVEMENT)
        .order_by("id")
        .values("amount", "rule")
    ]


async def test_ga02_the_same_payment_replayed_in_parallel_rewards_once(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(days=3))
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "1000")))
    await pay_in_parallel(["o1"] * 12)
    assert await rewards(wallet.id) == [(100, "first-ticket")]
    assert await AchievementUnlock.filter(achievement_id="first-ticket").count() == 1
    accruals = await Entry.filter(wallet_id=wallet.id, kind=EntryKind.ACCRUAL).values_list("amount", flat=True)
    assert accruals == [50]  # 5 % of 1,000, once too


async def test_ga02_two_purchases_paid_in_parallel_that_both_complete_a_goal_reward_once(catalog):
    for n in range(1, 5):
        await scenario.event(f"concert-{n}", "concert", starts_in=timedelta(days=n))
    await scenario.event("theatre", "theatre", starts_in=timedelta(days=5))
    await scenario.event("cinema", "cinema", starts_in=timedelta(days=6))
    await scenario.event("sport", "sport", starts_in=timedelta(days=7))
    wallets = {}
    pay = []
    for n in range(1, 5):
        customer = f"c{n}"
        wallets[customer] = await scenario.join(catalog, customer)
        # Explorer at 2 of 3: a concert and the theatre (First ticket unlocks here)
        await scenario.buy(
            catalog,
            f"{customer}-o0",
            customer,
            ticket(f"{customer}-t0", f"concert-{n}", "1000"),
            ticket(f"{customer}-t1", "theatre", "1000"),
        )
        # Two purchases, each bringing a third category: both complete Explorer
        for order_id, event_id in ((f"{customer}-oa", "cinema"), (f"{customer}-ob", "sport")):
            await orders.record_order(
                catalog, scenario.draft(order_id, customer, ticket(f"{order_id}-t", event_id, "1000"))
            )
            pay.append(order_id)
        # And a newcomer whose two first purchases both complete First ticket
        newcomer = f"n{n}"
        wallets[newcomer] = await scenario.join(catalog, newcomer)
        for order_id in (f"{newcomer}-oa", f"{newcomer}-ob"):
            await orders.record_order(
                catalog, scenario.draft(order_id, newcomer, ticket(f"{order_id}-t", "cinema", "1000"))
            )
            pay.append(order_id)
    await pay_in_parallel(pay)
    for n in range(1, 5):
        assert await rewards(wallets[f"c{n}"].id) == [(100, "first-ticket"), (200, "explorer")]
        assert await rewards(wallets[f"n{n}"].id) == [(100, "first-ticket")]
        explorer = await AchievementUnlock.get(achievement_id="explorer", wallet_id=wallets[f"c{n}"].id)
        assert explorer.order_id in (f"c{n}-oa", f"c{n}-ob")
    assert await AchievementUnlock.all().count() == 12  # 4 x (First ticket + Explorer) + 4 x First ticket
