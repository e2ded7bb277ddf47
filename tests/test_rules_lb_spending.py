"""«Live Brighter!» spending rules: LB-08 (the cap), LB-13 (refused whole), LB-20 (cancelling an unpaid order).

Cap from plugins.toml: 30 % of the purchase's full value (tickets + goods + fees, after discounts).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from tortoise.exceptions import IntegrityError, OperationalError

from loyalty import clock, ledger, orders, participants
from loyalty.enums import EntryKind, OrderStatus
from loyalty.errors import BadInput, Conflict, NotFound, PluginFailure, RuleViolation
from loyalty.facts import Credit, OrderFacts, ParticipantFacts
from loyalty.ledger.balances import Balance, BurnForecast
from loyalty.orders.drafts import ItemDraft, OrderDraft
from plugins.hookspecs import hookimpl
from tests import scenario
from tests.conftest import START
from tests.scenario import PROGRAM, goods, ticket

DAYS_90 = timedelta(days=90)
ACCRUAL, SPEND, BURN = EntryKind.ACCRUAL, EntryKind.SPEND, EntryKind.BURN


# ---------------------------------------------------------------- LB-08 the cap


async def test_lb08_cap_is_30_percent_of_full_value_with_goods_and_fees(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "100000")  # 100,000 x 5 % = 5,000 active
    await scenario.event("e1", "concert")
    items = (ticket("t1", "e1", "3000", fee="300", discount="300"), goods("g1", "e1", "1000"))
    # full value: 3,000 - 300 + 300 + 1,000 = 4,000; 30 % = 1,200
    quote = await orders.quote(catalog, scenario.draft("cart", "c1", *items))
    assert (quote.max_bonus, quote.available, quote.reason) == (1200, 5000, "LB-08")
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", *items, spend=1201))
    assert (refused.value.code, refused.value.rule) == ("RULE", "LB-08")
    assert await scenario.snapshot() == before
    recorded = await orders.record_order(catalog, scenario.draft("o1", "c1", *items, spend=1200))
    assert (recorded.total, recorded.bonus_spent) == (Decimal("4000.00"), 1200)
    assert await ledger.balance(wallet.id) == Balance(active=3800, held=1200)
    await orders.pay_order(catalog, "o1")
    # 1,200 split by value 3,000 : 1,000 = 900 on the ticket; base 3,000 - 300 - 900 = 1,800 x 5 % = 90
    assert await ledger.balance(wallet.id) == Balance(active=3800, pending=90)
    assert (await scenario.entry_rows(wallet.id, "kind", "amount", "rule", "order_id"))[-2:] == [
        (SPEND, -1200, "LB-08", "o1"),
        (ACCRUAL, 90, "LB-02", "o1"),
    ]


async def test_lb08_cap_is_rounded_down(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    # 1,001 x 30 % = 300.3 -> 300
    quote = await orders.quote(catalog, scenario.draft("cart", "c1", ticket("t1", "e1", "1001")))
    assert (quote.max_bonus, quote.reason) == (300, "LB-08")
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "1001"), spend=301))
    assert refused.value.rule == "LB-08"
    assert await scenario.snapshot() == before
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "1001"), spend=300))
    assert await ledger.balance(wallet.id) == Balance(active=700, held=300)


async def test_lb08_balance_below_the_cap_may_be_spent_whole(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "4000")  # 4,000 x 5 % = 200 active
    await scenario.event("e1", "concert")
    # cap 30 % of 4,000 = 1,200 > 200 active: all 200 may be spent, and no more
    quote = await orders.quote(catalog, scenario.draft("cart", "c1", ticket("t1", "e1", "4000")))
    assert (quote.max_bonus, quote.available, quote.reason) == (200, 200, None)
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "4000"), spend=201))
    assert refused.value.rule == "LB-08"
    assert await scenario.snapshot() == before
    order = await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "4000"), spend=200)
    # base 4,000 - 200 = 3,800 x 5 % = 190 pending
    assert (order.bonus_spent, order.bonus_accrued) == (200, 190)
    assert await ledger.balance(wallet.id) == Balance(pending=190)


async def test_lb08_pending_and_held_bonuses_cannot_be_spent(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("future", "concert", starts_in=timedelta(days=10))
    await scenario.buy(catalog, "o0", "c1", ticket("t0", "future", "10000"))  # 500 pending
    quote = await orders.quote(catalog, scenario.draft("cart", "c1", ticket("t1", "future", "10000")))
    assert (quote.max_bonus, quote.available) == (0, 0)
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation):
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "future", "10000"), spend=1))
    assert await scenario.snapshot() == before
    # Now 500 active, all held by an unpaid order (cap 3,000): none left for a second order
    clock.advance(timedelta(days=10))
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "future", "10000"), spend=500))
    assert await ledger.balance(wallet.id) == Balance(held=500)
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o2", "c1", ticket("t2", "future", "10000"), spend=1))
    assert refused.value.rule == "LB-08"
    assert await scenario.snapshot() == before


async def test_lb08_spending_takes_the_soonest_expiring_bonuses_first(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "2000")  # 100 active, burning at START + 90 d
    clock.advance(timedelta(days=10))
    await scenario.event("later", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "later", "4000"))  # 200 active, burning at START + 100 d
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == BurnForecast(at=START + DAYS_90, amount=100)
    await scenario.event("e3", "concert", starts_in=timedelta(days=5))
    # cap 30 % of 1,000 = 300; spend 150: 100 from the lot burning first, 50 from the next
    await scenario.buy(catalog, "o3", "c1", ticket("t3", "e3", "1000"), spend=150)
    assert [(lot.order_id, lot.remaining) for lot in await scenario.lots(wallet.id)] == [
        ("c1-first", 0),
        ("o2", 150),
        ("o3", 42),  # 1,000 - 150 = 850 x 5 % = 42.5 -> 42, pending
    ]
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == BurnForecast(at=START + timedelta(days=100), amount=150)


# ---------------------------------------------------------------- LB-13 refused whole


def bad(**change) -> OrderDraft:
    """Order o1 of c1 (one 1,000 ticket to e1) with `change` made to it."""
    return replace(scenario.draft("o1", "c1", ticket("t1", "e1", "1000")), **change)


def item(**change) -> tuple[ItemDraft, ...]:
    """The items of `bad()`'s order with `change` made to its ticket."""
    return (replace(ticket("t1", "e1", "1000"), **change),)


@pytest.mark.parametrize(
    ("draft", "error"),
    [
        pytest.param(bad(items=item(nominal=Decimal("-1"))), BadInput, id="negative-nominal"),
        pytest.param(bad(items=item(service_fee=Decimal("-0.01"))), BadInput, id="negative-fee"),
        pytest.param(bad(items=item(discount=Decimal("-5"))), BadInput, id="negative-discount"),
        pytest.param(bad(items=item(discount=Decimal("1000.01"))), BadInput, id="discount-above-nominal"),
        pytest.param(bad(items=item(nominal=Decimal("10.001"))), BadInput, id="three-decimals"),
        pytest.param(bad(bonus_to_spend=-1), BadInput, id="negative-spend"),
        pytest.param(bad(items=()), BadInput, id="no-items"),
        pytest.param(bad(id="  "), BadInput, id="blank-id"),
        pytest.param(bad(items=(ticket("t1", "e1", "10"), ticket("t1", "e1", "20"))), BadInput, id="item-twice"),
        pytest.param(bad(items=item(event_id="nowhere")), NotFound, id="unknown-event"),
        pytest.param(bad(program_id="no-such-program"), NotFound, id="unknown-program"),
    ],
)
async def test_lb13_bad_order_is_refused_and_changes_nothing(catalog, draft, error):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    before = await scenario.snapshot()
    with pytest.raises(error) as refused:
        await orders.record_order(catalog, draft)
    assert refused.value.code == {BadInput: "BAD_INPUT", NotFound: "NOT_FOUND"}[error]
    assert await scenario.snapshot() == before
    assert await ledger.balance(wallet.id) == Balance(active=1000)


async def test_lb13_order_sent_again_with_other_items_is_a_conflict(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    first = await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), spend=100))
    before = await scenario.snapshot()
    with pytest.raises(Conflict) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "6000"), spend=100))
    assert refused.value.code == "CONFLICT"
    assert await scenario.snapshot() == before
    # The same content again is a no-op that answers as the first time: still one hold of 100
    again = await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), spend=100))
    assert (again.id, again.bonus_spent, again.created_at) == (first.id, 100, first.created_at)
    assert await scenario.snapshot() == before
    assert await ledger.balance(wallet.id) == Balance(active=900, held=100)


async def test_lb13_paying_a_cancelled_order_is_a_conflict(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), spend=100))
    await orders.cancel_order("o1")
    before = await scenario.snapshot()
    with pytest.raises(Conflict) as refused:
        await orders.pay_order(catalog, "o1")
    assert refused.value.code == "CONFLICT"
    assert await scenario.snapshot() == before
    assert await ledger.balance(wallet.id) == Balance(active=1000)


async def test_lb13_paying_or_cancelling_an_unknown_order_is_not_found(catalog):
    await scenario.active_wallet(catalog, "c1", "20000")
    before = await scenario.snapshot()
    for attempt in (orders.pay_order(catalog, "nope"), orders.cancel_order("nope")):
        with pytest.raises(NotFound) as refused:
            await attempt
        assert refused.value.code == "NOT_FOUND"
    assert await scenario.snapshot() == before


async def test_lb13_blocked_wallet_neither_spends_nor_earns(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await participants.block(catalog, "c1", PROGRAM, "abuse", "admin")
    await scenario.event("e1", "concert")
    quote = await orders.quote(catalog, scenario.draft("cart", "c1", ticket("t1", "e1", "5000")))
    assert (quote.max_bonus, quote.available, quote.reason) == (0, 1000, "MG-13")
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), spend=100))
    assert (refused.value.code, refused.value.rule) == ("RULE", "MG-13")
    assert await scenario.snapshot() == before
    order = await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"))
    assert (order.bonus_to_accrue, order.bonus_accrued) == (0, 0)  # would be 250 on an ACTIVE wallet
    assert await scenario.entry_rows(wallet.id, "kind", "amount") == [(ACCRUAL, 1000)]


class SwitchablePartner:
    """A partner rule that adds 10 bonuses per order, or raises while `failing`."""

    def __init__(self) -> None:
        self.failing = False

    @hookimpl
    def accrual_credits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        if self.failing:
            raise RuntimeError("the partner's service is down")
        return [Credit(amount=10, rule="partner-10", event_id=order.items[0].event.id)]


async def test_lb13_failing_plugin_refuses_the_payment_whole():
    partner = SwitchablePartner()
    host = scenario.plugin_host(scenario.enabled("partner", partner))
    wallet = await scenario.active_wallet(host.catalog, "c1", "20000")  # 1,000 LB-02 + 10 partner, active
    await scenario.event("e1", "concert")
    await orders.record_order(
        host.catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e1", "5000"), spend=300)
    )
    partner.failing = True
    before = await scenario.snapshot()
    with pytest.raises(PluginFailure) as refused:
        await orders.pay_order(host.catalog, "o1")
    assert (refused.value.code, refused.value.plugin) == ("UNAVAILABLE", "partner")
    assert await scenario.snapshot() == before  # still CREATED, still holding 300, no entry
    assert await ledger.balance(wallet.id) == Balance(active=710, held=300)
    partner.failing = False
    paid = await orders.pay_order(host.catalog, "o1")
    # 10,000 - 300 = 9,700 x 5 % = 485 + the partner's 10 = 495
    assert (paid.status, paid.bonus_spent, paid.bonus_accrued) == (OrderStatus.PAID, 300, 495)


async def test_lb13_storage_failure_in_the_middle_of_a_payment_writes_nothing(catalog, monkeypatch):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    await scenario.event("e2", "theatre")
    await orders.record_order(
        catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e2", "5000"), spend=300)
    )
    real_credit_lots, calls = ledger.credit_lots, []

    async def second_credit_fails(wallet, credits, alongside=None):
        # The accruals are one write (the order marked PAID with them); this one writes the
        # first lot and marks the order, then the disk fails.
        calls.extend(credit.amount for credit in credits)
        await real_credit_lots(wallet, credits[:1], alongside)
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(ledger, "credit_lots", second_credit_fails)
    before = await scenario.snapshot()
    with pytest.raises(OperationalError):
        await orders.pay_order(catalog, "o1")
    # 300 split 150/150: e1 (5,000 - 150) x 5 % = 242.5 -> 242 was written, then e2's 339 failed
    assert calls == [242, 339]
    assert await scenario.snapshot() == before  # the SPEND and the first lot rolled back
    monkeypatch.undo()
    paid = await orders.pay_order(catalog, "o1")
    # e2: (5,000 - 150) x 7 % = 339.5 -> 339; 242 + 339 = 581
    assert (paid.bonus_spent, paid.bonus_accrued) == (300, 581)
    assert await ledger.balance(wallet.id) == Balance(active=700, pending=581)


async def test_lb13_storage_failure_while_holding_writes_no_order(catalog, monkeypatch):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")

    async def hold_fails(*args, **kwargs):
        raise OperationalError("database is locked")

    real_statement = ledger.held_statement

    def draw_fails(writes, gate, first):
        # PostgreSQL writes the order, its item and the hold in one statement: its draw rows
        # now break their CHECK (amount > 0), after the order's rows in the same statement.
        statement = real_statement(writes, gate, first)
        assert statement.count("::bigint, amount, ") == 1
        return statement.replace("::bigint, amount, ", "::bigint, -amount, ")

    monkeypatch.setattr(ledger, "hold", hold_fails)  # SQLite: the hold after the order's rows
    monkeypatch.setattr(ledger, "held_statement", draw_fails)
    before = await scenario.snapshot()
    with pytest.raises((OperationalError, IntegrityError)):
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), spend=300))
    assert await scenario.snapshot() == before  # no half-written order, no item rows
    assert await ledger.balance(wallet.id) == Balance(active=1000)


async def test_lb13_storage_failure_in_the_middle_of_a_refund_writes_nothing(catalog, monkeypatch):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active, from order c1-first
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"), spend=300)  # 300 of c1-first's spent

    async def withhold_fails(*args, **kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(ledger, "withhold", withhold_fails)
    before = await scenario.snapshot()
    with pytest.raises(OperationalError):
        await scenario.refund(catalog, "c1-first", "c1-t0")
    assert await scenario.snapshot() == before  # no refund row, no REVOKE, the lot untouched
    monkeypatch.undo()
    refund = await scenario.refund(catalog, "c1-first", "c1-t0")
    # 1,000 revoked, 300 of them spent: withheld from 20,000 -> 19,700
    assert (refund.money_refund, refund.bonus_revoked, refund.bonus_withheld) == (Decimal("19700.00"), 1000, 300)
    assert await ledger.balance(wallet.id) == Balance(pending=35)  # o1: 700 x 5 % = 35


# ---------------------------------------------------------------- LB-20 cancelling an unpaid order


async def test_lb20_cancelling_an_unpaid_order_gives_its_held_bonuses_back(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), spend=300))
    assert await ledger.balance(wallet.id) == Balance(active=700, held=300)
    cancelled = await orders.cancel_order("o1")
    assert (cancelled.status, cancelled.bonus_spent, cancelled.cancelled_at) == (OrderStatus.CANCELLED, 0, START)
    assert await ledger.balance(wallet.id) == Balance(active=1000)
    assert await scenario.entry_rows(wallet.id, "kind", "amount") == [(ACCRUAL, 1000)]  # no SPEND ever
    # Cancelling again returns it unchanged
    before = await scenario.snapshot()
    again = await orders.cancel_order("o1")
    assert (again.status, again.bonus_spent) == (OrderStatus.CANCELLED, 0)
    assert await scenario.snapshot() == before
    # The released bonuses are spendable again: cap 30 % of 5,000 = 1,500 >= 1,000
    await orders.record_order(catalog, scenario.draft("o2", "c1", ticket("t2", "e1", "5000"), spend=1000))
    assert await ledger.balance(wallet.id) == Balance(held=1000)


async def test_lb20_a_paid_order_is_never_cancelled(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"), spend=300)
    before = await scenario.snapshot()
    with pytest.raises(Conflict) as refused:
        await orders.cancel_order("o1")
    assert refused.value.code == "CONFLICT"
    assert await scenario.snapshot() == before
    # 5,000 - 300 = 4,700 x 5 % = 235 pending; 700 left active
    assert await ledger.balance(wallet.id) == Balance(active=700, pending=235)


async def test_lb20_bonuses_released_after_their_validity_burn_with_their_lot(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "2000")  # 100 active, burning at START + 90 d
    await scenario.event("e1", "concert", starts_in=timedelta(days=120))
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "1000"), spend=100))
    clock.advance(timedelta(days=91))
    await orders.cancel_order("o1")
    # The 100 go back to their lot, which expired at START + 90 d: not spendable, they burn
    assert await ledger.balance(wallet.id) == Balance()
    assert await ledger.burn_expired() == 1
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "at") == [
        (ACCRUAL, 100, START),
        (BURN, -100, START + DAYS_90),
    ]
