"""Money under real concurrency on PostgreSQL: every pair of writers of one wallet, run
in parallel many times, leaves the ledger invariants whole (LB-04, LB-10, LB-13, CA-04).

Each coroutine runs its transaction on a connection of its own from the pool, so the
pairs really interleave. Each round starts from empty tables and ends with the ledger
invariants checked; a round is small, so the whole matrix stays within seconds.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import adjustments, audiences, campaigns, clock, ledger, orders, sql
from loyalty.enums import EntryKind, OrderStatus
from loyalty.errors import Conflict, DomainError, RuleViolation
from loyalty.ledger.audit import audit
from loyalty.models import Draw, Entry, Lot, Order, OrderItem, Refund, Wallet
from loyalty.programs import Catalog
from tests import scenario
from tests.scenario import goods, ticket

pytestmark = pytest.mark.postgres

ROUNDS = 20
HEAVY_ROUNDS = 10  # rounds of the pairs whose every round sets up several wallets
PROGRAM = scenario.PROGRAM


async def both(*calls: Awaitable[Any]) -> list[Any]:
    """Run the calls in parallel; refusals come back as exceptions, anything else fails."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, DomainError):
            raise result
    return results


async def seeded(catalog: Catalog, customer: str, amount: int = 1000) -> Wallet:
    """A joined customer with `amount` active bonuses from a staff credit."""
    wallet = await scenario.join(catalog, customer)
    await adjustments.adjust(catalog, adjustments.Adjustment(customer, PROGRAM, amount, "seed"))
    return wallet


async def spent_accrual(catalog: Catalog, customer: str, spend: int = 500) -> Wallet:
    """Order "<customer>-o1" (tickets t1 9,900 and t2 100, an event that started): 500 active
    accrued; `spend` of them spent on goods in "<customer>-o2" (cap 30 % of 2,000 = 600)."""
    wallet = await scenario.join(catalog, customer)
    await scenario.buy(catalog, f"{customer}-o1", customer, ticket("t1", "past", "9900"), ticket("t2", "past", "100"))
    await scenario.buy(catalog, f"{customer}-o2", customer, goods("g1", "later", "2000"), spend=spend)
    return wallet


async def events() -> None:
    await scenario.event("past", starts_in=timedelta(hours=-1))
    await scenario.event("later", starts_in=timedelta(days=3))


async def entry_sum(kind: EntryKind, **where: Any) -> int:
    return sum(row["amount"] for row in await Entry.filter(kind=kind, **where).values("amount"))


# ------------------------------------------------------------------ refund against burn (LB-04, LB-10)


async def test_lb04_lb10_refunds_and_the_burn_job_in_parallel_over_lots_expiring_at_that_instant(catalog):
    """Refunds revoke accruals whose lots expire while they run, with the burn job burning
    them at the same time: every accrued bonus is burned or revoked, never both."""
    customers = 4
    for n in range(HEAVY_ROUNDS):
        clock.freeze(datetime.now(UTC))
        await events()
        for c in range(customers):
            await spent_accrual(catalog, f"r{n}c{c}", spend=200)  # 300 of 500 still in the lot
        # The accruals expire a moment from now, in the middle of the refunds below.
        instant = datetime.now(UTC) + timedelta(milliseconds=25)
        await Lot.filter(kind=EntryKind.ACCRUAL, order_id__startswith=f"r{n}c").update(expires_at=instant)
        clock.unfreeze()

        async def refund(customer: str) -> Refund:
            await asyncio.sleep(random.uniform(0, 0.05))
            return await scenario.refund(catalog, f"{customer}-o1", "t2")

        async def burn_job(until: datetime = instant + timedelta(milliseconds=60)) -> None:
            while datetime.now(UTC) < until:
                await ledger.burn_expired(chunk=1)
                await asyncio.sleep(0)

        done = await both(*(refund(f"r{n}c{c}") for c in range(customers)), burn_job())
        await ledger.burn_expired()
        clock.freeze(datetime.now(UTC))
        for c, outcome in enumerate(done[:customers]):
            assert isinstance(outcome, Refund), outcome
            order = f"r{n}c{c}-o1"
            lot = await Lot.get(order_id=order)
            burned = -await entry_sum(EntryKind.BURN, lot_id=lot.id)
            # The 500 accrued: burned (the 300 left, once expired) or revoked, never both
            assert burned + outcome.bonus_revoked == 500, (burned, outcome.bonus_revoked)
            assert -await entry_sum(EntryKind.REVOKE, order_id=order) == outcome.bonus_revoked
            # The 200 spent are withheld whatever burned: 100 from this refund, 100 owed
            assert (outcome.bonus_withheld, outcome.bonus_debt) == (100, 100)
            assert lot.remaining == 0


# ------------------------------------------------------------------ the matrix


async def test_lb13_pay_and_pay_of_one_order_in_parallel_pay_it_once(catalog):
    await events()
    for n in range(ROUNDS):
        c = f"r{n}c"
        wallet = await seeded(catalog, c)
        await orders.record_order(catalog, scenario.draft(f"{c}-o1", c, ticket("t1", "later", "1000"), spend=300))
        paid = await both(orders.pay_order(catalog, f"{c}-o1"), orders.pay_order(catalog, f"{c}-o1"))
        assert all(result.status is OrderStatus.PAID for result in paid), paid
        assert await Entry.filter(order_id=f"{c}-o1", kind=EntryKind.SPEND).count() == 1
        assert await Entry.filter(order_id=f"{c}-o1", kind=EntryKind.ACCRUAL).count() == 1
        # 1,000 - 300 = 700 paid x 5 % = 35 pending until the event
        assert await ledger.balance(wallet.id) == ledger.Balance(active=700, pending=35)


async def test_lb20_pay_and_cancel_of_one_order_in_parallel_one_wins_whole(catalog):
    outcomes = set()
    await events()
    for n in range(ROUNDS):
        c = f"r{n}c"
        wallet = await seeded(catalog, c)
        await orders.record_order(catalog, scenario.draft(f"{c}-o1", c, ticket("t1", "later", "1000"), spend=300))
        paid, cancelled = await both(orders.pay_order(catalog, f"{c}-o1"), orders.cancel_order(f"{c}-o1"))
        order = await orders.get_order(f"{c}-o1")
        assert order is not None
        if order.status is OrderStatus.PAID:
            assert isinstance(cancelled, Conflict), cancelled
            assert await ledger.balance(wallet.id) == ledger.Balance(active=700, pending=35)
        else:
            assert order.status is OrderStatus.CANCELLED and isinstance(paid, Conflict), paid
            assert await ledger.balance(wallet.id) == ledger.Balance(active=1000)
            assert not await Entry.filter(order_id=f"{c}-o1").exists()
        outcomes.add(order.status)
    assert outcomes  # which one wins is the scheduler's choice; both are whole


async def test_lb10_pay_of_a_spend_and_refund_of_the_accrual_it_spends_in_parallel(catalog):
    await events()
    for n in range(ROUNDS):
        c = f"r{n}c"
        wallet = await spent_accrual(catalog, c, spend=0)  # 500 active from c1-o1
        await orders.record_order(catalog, scenario.draft(f"{c}-o3", c, goods("g3", "later", "2000"), spend=500))
        paid, refund = await both(orders.pay_order(catalog, f"{c}-o3"), scenario.refund(catalog, f"{c}-o1", "t2"))
        assert paid.status is OrderStatus.PAID, paid
        # The 500 were held by o3 before either ran: all spent, 100 withheld, 400 owed
        assert (refund.money_refund, refund.bonus_revoked, refund.bonus_withheld, refund.bonus_debt) == (
            Decimal("0.00"),
            500,
            100,
            400,
        )
        assert await ledger.balance(wallet.id) == ledger.Balance(debt=400)


async def test_lb10_refund_and_refund_with_one_key_in_parallel_refund_once(catalog):
    await events()
    for n in range(ROUNDS):
        c = f"r{n}c"
        await spent_accrual(catalog, c)
        first, second = await both(
            scenario.refund(catalog, f"{c}-o1", "t2", key="k1"), scenario.refund(catalog, f"{c}-o1", "t2", key="k1")
        )
        assert isinstance(first, Refund) and isinstance(second, Refund), (first, second)
        assert first.id == second.id
        assert await Refund.filter(order_id=f"{c}-o1").count() == 1


async def test_lb10_refunds_of_two_tickets_with_two_keys_in_parallel_withhold_all_spent(catalog):
    """Whichever ticket comes back first, the 500 spent are withheld in full across the
    two refunds (10,000 of money is enough): the cheap one's debt from the dear one."""
    await events()
    for n in range(ROUNDS):
        c = f"r{n}c"
        wallet = await spent_accrual(catalog, c)
        cheap, dear = await both(
            scenario.refund(catalog, f"{c}-o1", "t2", key="a"), scenario.refund(catalog, f"{c}-o1", "t1", key="b")
        )
        assert isinstance(cheap, Refund) and isinstance(dear, Refund), (cheap, dear)
        assert cheap.bonus_revoked + dear.bonus_revoked == 500
        assert cheap.bonus_withheld + dear.bonus_withheld == 500
        assert cheap.money_refund + dear.money_refund == Decimal("9500.00")
        assert await ledger.balance(wallet.id) == ledger.Balance()


async def test_lb08_lb13_sixty_holds_at_once_on_one_wallet_take_exactly_what_is_there(catalog):
    """Issue 11's S3 through the domain: 60 RecordOrders of 70 bonuses each at once on a
    wallet of 1,000 + 500 (the 500 expiring sooner): 1,500 // 70 = 21 are held (1,470),
    39 refused (LB-08) and not recorded, nothing overdrawn, the 500 lot drained first."""
    await events()
    wallet = await seeded(catalog, "burst", 1000)  # 90 days
    await adjustments.adjust(catalog, adjustments.Adjustment("burst", PROGRAM, 500, "seed", valid_days=30))
    drafts = [scenario.draft(f"burst-o{n}", "burst", ticket("t1", "later", "1000"), spend=70) for n in range(60)]
    results = await both(*(orders.record_order(catalog, draft) for draft in drafts))
    held = {r.id for r in results if not isinstance(r, BaseException)}
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(held) == 1500 // 70 == 21
    assert {(type(r), r.rule) for r in refused} == {(RuleViolation, "LB-08")}
    assert set(await Order.all().values_list("id", flat=True)) == held  # a refusal recorded nothing
    assert set(await OrderItem.all().values_list("order_id", flat=True)) == held
    assert {d["order_id"] for d in await Draw.all().values("order_id")} == held
    assert await ledger.balance(wallet.id) == ledger.Balance(active=30, held=1470)
    # soonest-expiring first: the 30-day 500 gone, 1,000 - (1,470 - 500) = 30 left of the other
    lots = await Lot.filter(wallet_id=wallet.id).order_by("expires_at").values_list("remaining", flat=True)
    assert lots == [0, 30]
    assert await audit() == []


async def test_lb13_spend_and_staff_debit_in_parallel_never_overdraw(catalog):
    await events()
    for n in range(ROUNDS):
        c = f"r{n}c"
        wallet = await seeded(catalog, c)
        # 300 + 800 > 1,000: exactly one of them fits
        spend = orders.record_order(catalog, scenario.draft(f"{c}-o1", c, ticket("t1", "later", "1000"), spend=300))
        debit = adjustments.adjust(catalog, adjustments.Adjustment(c, PROGRAM, -800, "correction"))
        done = await both(spend, debit)
        assert sum(not isinstance(result, BaseException) for result in done) == 1, done
        balance = await ledger.balance(wallet.id)
        assert (balance.active, balance.held) in ((700, 300), (200, 0))


async def test_lb10_ca04_gift_grants_and_refunds_leaving_debt_in_parallel(catalog):
    """A gift to a wallet a refund puts in debt pays the debt first, or comes before it."""
    members = 3
    await events()
    for n in range(HEAVY_ROUNDS):
        c = f"r{n}c"
        wallets = [await spent_accrual(catalog, f"{c}m{m}") for m in range(members)]
        campaign = await campaigns.create(
            catalog,
            campaigns.Draft(
                name="gift",
                program_id=PROGRAM,
                amount=300,
                audience=audiences.audience(customer_ids=[f"{c}m{m}" for m in range(members)]),
                valid_days=30,
            ),
            "marketer",
            batch_size=1,
        )
        _, work = await campaigns.launch(catalog, campaign.id)
        await both(
            *(campaigns.grant_batch(campaign.id, batch) for batch in work.batches),
            *(scenario.refund(catalog, f"{c}m{m}-o1", "t2") for m in range(members)),
        )
        for wallet in wallets:
            debt = (await Wallet.get(id=wallet.id)).debt
            gift = await Lot.get(wallet_id=wallet.id, campaign_id=campaign.id)
            # the refund leaves 400 owed: after the gift, 400 - 300 = 100; before it, 400 and a whole gift
            assert (debt, gift.remaining) in ((100, 0), (400, 300)), (debt, gift.remaining)


async def test_lb04_lb13_burn_job_and_spends_in_parallel_over_lots_expiring_at_that_instant(catalog):
    for n in range(ROUNDS):
        c = f"r{n}c"
        clock.freeze(datetime.now(UTC))
        await events()
        wallet = await seeded(catalog, c, 600)
        await adjustments.adjust(catalog, adjustments.Adjustment(c, PROGRAM, 600, "seed", valid_days=365))
        instant = datetime.now(UTC) + timedelta(milliseconds=20)
        first = await Lot.filter(wallet_id=wallet.id).order_by("id").first()
        assert first is not None
        await Lot.filter(id=first.id).update(expires_at=instant)
        clock.unfreeze()

        async def spend(k: int, c: str = c) -> Any:
            await asyncio.sleep(random.uniform(0, 0.04))
            draft = scenario.draft(f"{c}-o{k}", c, goods(f"g{k}", "later", "1000"), spend=300)
            await orders.record_order(catalog, draft)
            return await orders.pay_order(catalog, f"{c}-o{k}")

        async def burn_job(until: datetime = instant + timedelta(milliseconds=50)) -> None:
            while datetime.now(UTC) < until:
                await ledger.burn_expired(chunk=1)
                await asyncio.sleep(0)

        await both(*(spend(k) for k in range(4)), burn_job())
        await ledger.burn_expired()
        clock.freeze(datetime.now(UTC))
        lot = await Lot.get(id=first.id)
        burned = -await entry_sum(EntryKind.BURN, lot_id=lot.id)
        drawn = sum(row["amount"] for row in await sql.fetch("SELECT amount FROM draw WHERE lot_id = $1", lot.id))
        # Each bonus of the expiring lot was spent before its expiry or burned at it, once
        assert burned + drawn == 600 and lot.remaining == 0, (burned, drawn)


# ------------------------------------------------------------------ a hold refused without waiting (LB-08)


def _holding(order_id: str, customer: str, wallet: Wallet, amount: int) -> Awaitable[ledger.Hold]:
    """`store.insert_holding` of an order of one 1,000.00 ticket spending `amount`."""
    from loyalty.enums import Channel, ItemKind
    from loyalty.orders import store

    order = store.new_order(
        id=order_id,
        customer_id=customer,
        program_id=PROGRAM,
        wallet_id=wallet.id,
        channel=Channel.APP,
        total=Decimal("1000.00"),
        bonus_requested=amount,
        bonus_spent=amount,
        bonus_to_accrue=0,
        content_digest="digest",
        rules_version="2021-1",
        created_at=clock.now(),
    )
    item = store.ItemRow("t1", "later", ItemKind.TICKET, Decimal("1000.00"), Decimal(0), Decimal(0), amount)
    return store.insert_holding(order, [item], wallet.id, amount)


async def test_lb08_a_hold_its_snapshot_refuses_answers_without_waiting_for_the_wallet_lock(catalog):
    """Another transaction holds the wallet's lock. A hold of 1,500 of the 1,000 there is
    refused at once from the statement's snapshot; a hold of 300 waits for the lock, and
    is written once it is released."""
    await events()
    wallet = await seeded(catalog, "locked")
    pool = sql.connection()._pool
    async with pool.acquire() as other:
        locking = other.transaction()
        await locking.start()
        await other.execute("SELECT id FROM wallet WHERE id = $1 FOR UPDATE", wallet.id)
        refused = await asyncio.wait_for(_holding("locked-o1", "locked", wallet, 1500), 5)
        assert (refused.written, refused.enough, refused.locked, refused.recorded) == (False, False, False, False)
        assert (refused.total, refused.debt) == (1000, 0)
        assert refused.short().rule == "LB-08"
        waiting = asyncio.create_task(_holding("locked-o2", "locked", wallet, 300))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # behind the lock
        await locking.rollback()
    held = await asyncio.wait_for(waiting, 5)
    assert (held.written, held.locked) == (True, True)
    assert await ledger.balance(wallet.id) == ledger.Balance(active=700, held=300)
    assert not await Order.filter(id="locked-o1").exists()


async def test_lb08_a_hold_its_snapshot_refuses_says_when_the_order_was_recorded_already(catalog):
    """The same order id again, for more than is left: refused from the snapshot, which
    also saw the id recorded, so the caller answers as a repeat (no second round trip)."""
    await events()
    wallet = await seeded(catalog, "again")
    first = await _holding("again-o1", "again", wallet, 800)
    assert first.written
    repeat = await _holding("again-o1", "again", wallet, 800)
    assert (repeat.written, repeat.enough, repeat.locked, repeat.recorded) == (False, False, False, True)
    assert await ledger.balance(wallet.id) == ledger.Balance(active=200, held=800)
