"""«Live Brighter!» refunds: LB-09 .. LB-12 and LB-20's money, proved on the domain."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import adjustments, ledger, orders
from loyalty.enums import EntryKind, OrderStatus, RefundReason
from loyalty.errors import BadInput, Conflict, NotFound, RuleViolation
from loyalty.ledger.balances import Balance
from loyalty.models import Refund
from tests import scenario
from tests.conftest import START
from tests.scenario import goods, ticket

DAYS_90 = timedelta(days=90)
ACCRUAL, SPEND, BURN, REVOKE, WITHHOLD = (
    EntryKind.ACCRUAL,
    EntryKind.SPEND,
    EntryKind.BURN,
    EntryKind.REVOKE,
    EntryKind.WITHHOLD,
)


def outcome(refund: Refund) -> tuple[Decimal, int, int, int]:
    """What a refund did: (money_refund, bonus_revoked, bonus_withheld, bonus_debt)."""
    return (refund.money_refund, refund.bonus_revoked, refund.bonus_withheld, refund.bonus_debt)


# ---------------------------------------------------------------- LB-09 all accruals cancelled at the first return


async def test_lb09_partial_return_cancels_all_accrued(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e1", "5000"))
    # 2 tickets x 5,000, concert 5 %: 10,000 x 5 % = 500 pending
    assert await ledger.balance(wallet.id) == Balance(pending=500)
    first = await scenario.refund(catalog, "o1", "t1")
    # One ticket of two returned: all 500 cancelled, none was spent; 5,000 paid back
    assert outcome(first) == (Decimal("5000.00"), 500, 0, 0)
    assert first.rule == "LB-20"
    assert (await orders.get_order("o1")).status is OrderStatus.PARTIALLY_REFUNDED
    assert await ledger.balance(wallet.id) == Balance()
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "rule", "order_id") == [
        (ACCRUAL, 500, "LB-02", "o1"),
        (REVOKE, -500, "LB-09", "o1"),
    ]
    later = await scenario.refund(catalog, "o1", "t2")
    # A later return from the same purchase cancels nothing more
    assert outcome(later) == (Decimal("5000.00"), 0, 0, 0)
    assert (await orders.get_order("o1")).status is OrderStatus.REFUNDED
    assert len(await scenario.entry_rows(wallet.id)) == 2


async def test_lb09_goods_only_return_cancels_nothing_until_a_ticket_returns(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"), goods("g1", "e1", "1000", fee="100"))
    # only the ticket earns: 5,000 x 5 % = 250
    merch = await scenario.refund(catalog, "o1", "g1")
    assert outcome(merch) == (Decimal("1000.00"), 0, 0, 0)  # the 100 fee is not refunded
    assert await ledger.balance(wallet.id) == Balance(pending=250)
    seat = await scenario.refund(catalog, "o1", "t1")
    assert outcome(seat) == (Decimal("5000.00"), 250, 0, 0)
    assert await ledger.balance(wallet.id) == Balance()


async def test_lb09_return_cancels_the_lots_of_every_event_of_the_order(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.event("e2", "theatre", starts_in=timedelta(days=20))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "3000"), ticket("t2", "e2", "2000"))
    # e1: 3,000 x 5 % = 150; e2: 2,000 x 7 % = 140; returning the e2 ticket cancels both: 290
    refund = await scenario.refund(catalog, "o1", "t2")
    assert outcome(refund) == (Decimal("2000.00"), 290, 0, 0)
    assert [(lot.event_id, lot.amount, lot.remaining) for lot in await scenario.lots(wallet.id)] == [
        ("e1", 150, 0),
        ("e2", 140, 0),
    ]


@pytest.mark.parametrize("burn_job_ran", [True, False], ids=["burn-job-ran", "burn-job-not-yet"])
async def test_lb09_return_after_expiry_cancels_only_what_had_not_burned(catalog, burn_job_ran):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "4000"), ticket("t2", "e1", "6000"))
    # 10,000 x 5 % = 500 active from START, burning at START + 90 d
    await scenario.event("e2", "concert", starts_in=timedelta(days=200))
    await scenario.buy(catalog, "o2", "c1", goods("g1", "e2", "1000"), spend=200)  # cap 300; goods earn nothing
    scenario.until(START + DAYS_90)
    assert await ledger.balance(wallet.id) == Balance()  # the other 300 burned with the lot
    if burn_job_ran:
        assert await ledger.burn_expired() == 1
    refund = await scenario.refund(catalog, "o1", "t1")
    # Burned bonuses never come back and are not cancelled again: 500 - 300 burned = 200 cancelled,
    # all 200 spent on o2: withheld from 4,000 -> 3,800. The same whether the burn job ran or not.
    assert outcome(refund) == (Decimal("3800.00"), 200, 200, 0)
    assert await ledger.burn_expired() == (0 if burn_job_ran else 1)
    rows = await scenario.entry_rows(wallet.id, "kind", "amount", "at")
    assert sorted(rows, key=lambda row: (row[2], row[0].value)) == [
        (ACCRUAL, 500, START),
        (SPEND, -200, START),
        (BURN, -300, START + DAYS_90),
        (REVOKE, -200, START + DAYS_90),
        (WITHHOLD, 200, START + DAYS_90),
    ]
    assert await ledger.balance(wallet.id) == Balance()


# ---------------------------------------------------------------- LB-10 spent accruals withheld, or owed


async def test_lb10_spent_accrued_bonuses_are_withheld_from_the_money(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "10000")  # 500 active, from order c1-first
    await scenario.event("e2", "concert")
    await scenario.buy(catalog, "o2", "c1", goods("g1", "e2", "1000"), spend=300)  # cap 300
    refund = await scenario.refund(catalog, "c1-first", "c1-t0")
    # 500 cancelled; 200 still there leave the wallet, the 300 spent are withheld: 10,000 - 300 = 9,700
    assert outcome(refund) == (Decimal("9700.00"), 500, 300, 0)
    assert await ledger.balance(wallet.id) == Balance()
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "rule") == [
        (ACCRUAL, 500, "LB-02"),
        (SPEND, -300, "LB-08"),
        (REVOKE, -500, "LB-09"),
        (WITHHOLD, 300, "LB-10"),
    ]


async def test_lb10_what_the_refund_cannot_cover_is_a_debt_paid_off_by_the_next_accrual(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "9900"), ticket("t2", "e1", "100"))
    # 10,000 x 5 % = 500 active; all of it spent on goods (cap 30 % of 2,000 = 600)
    await scenario.event("e2", "concert")
    await scenario.buy(catalog, "o2", "c1", goods("g1", "e2", "2000"), spend=500)
    cheap = await scenario.refund(catalog, "o1", "t2")
    # 500 cancelled, all spent; the 100 ticket's money withholds 100, 400 stay owed
    assert outcome(cheap) == (Decimal("0.00"), 500, 100, 400)
    assert await ledger.balance(wallet.id) == Balance(debt=400)
    starts = await scenario.event("e3", "concert", starts_in=timedelta(days=5))
    order = await scenario.buy(catalog, "o3", "c1", ticket("t3", "e3", "10000"))
    # 10,000 x 5 % = 500 accrued: 400 pay off the debt, 100 remain (pending until e3 starts)
    assert order.bonus_accrued == 500
    assert [(lot.amount, lot.remaining) for lot in await scenario.lots(wallet.id)][-1] == (500, 100)
    assert (await scenario.entry_rows(wallet.id))[-1] == (ACCRUAL, 500, "LB-02", "2021-1", starts, starts + DAYS_90)
    assert await ledger.balance(wallet.id) == Balance(pending=100)
    # Paid off: a later return of o1 has no debt left to withhold
    dear = await scenario.refund(catalog, "o1", "t1")
    assert outcome(dear) == (Decimal("9900.00"), 0, 0, 0)


async def test_lb10_a_later_refund_of_the_same_purchase_withholds_its_debt(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(
        catalog, "o1", "c1", ticket("t1", "e1", "9800"), ticket("t2", "e1", "100"), ticket("t3", "e1", "100")
    )
    # 10,000 x 5 % = 500 active; all of it spent on goods (cap 30 % of 2,000 = 600)
    await scenario.event("e2", "concert")
    await scenario.buy(catalog, "o2", "c1", goods("g1", "e2", "2000"), spend=500)
    cheap = await scenario.refund(catalog, "o1", "t2")
    # 500 cancelled, all spent: the 100 ticket withholds 100, 400 owed
    assert outcome(cheap) == (Decimal("0.00"), 500, 100, 400)
    second = await scenario.refund(catalog, "o1", "t3")
    # The purchase still owes 400: this refund's 100 go to it, 300 stay owed
    assert outcome(second) == (Decimal("0.00"), 0, 100, 0)
    assert await ledger.balance(wallet.id) == Balance(debt=300)
    dear = await scenario.refund(catalog, "o1", "t1")
    # 9,800 - the 300 still owed = 9,500; the debt is paid
    assert outcome(dear) == (Decimal("9500.00"), 0, 300, 0)
    assert await ledger.balance(wallet.id) == Balance()
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "rule") == [
        (ACCRUAL, 500, "LB-02"),
        (SPEND, -500, "LB-08"),
        (REVOKE, -500, "LB-09"),
        (WITHHOLD, 100, "LB-10"),
        (WITHHOLD, 100, "LB-10"),
        (WITHHOLD, 300, "LB-10"),
    ]


async def test_lb10_a_wallet_in_debt_may_spend_only_its_active_bonuses_less_the_debt(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "9900"), ticket("t2", "e1", "100"))
    await scenario.event("e2", "concert")
    await scenario.buy(catalog, "o2", "c1", goods("g1", "e2", "2000"), spend=500)  # all 500 spent
    # The debt is 0 when the staff credit comes, so it stays whole: 1,000 active
    await adjustments.adjust(catalog, adjustments.Adjustment("c1", scenario.PROGRAM, 1000, "goodwill"))
    await scenario.refund(catalog, "o1", "t2")  # 500 spent, 100 withheld: a debt of 400
    assert await ledger.balance(wallet.id) == Balance(active=1000, debt=400)
    # Spendable 1,000 - 400 = 600, below the cap of 30 % of 5,000 = 1,500
    cart = scenario.draft("o3", "c1", goods("g3", "e2", "5000"), spend=601)
    quote = await orders.quote(catalog, cart)
    assert (quote.max_bonus, quote.available, quote.reason) == (600, 600, None)
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, cart)
    assert refused.value.rule == "LB-08"
    await scenario.buy(catalog, "o3", "c1", goods("g3", "e2", "5000"), spend=600)
    assert await ledger.balance(wallet.id) == Balance(active=400, debt=400)
    # Nothing is spendable now: a staff debit cannot take what the debt is owed either
    with pytest.raises(BadInput):
        await adjustments.adjust(catalog, adjustments.Adjustment("c1", scenario.PROGRAM, -1, "mistake"))
    quote = await orders.quote(catalog, scenario.draft("o4", "c1", goods("g4", "e2", "5000")))
    assert (quote.max_bonus, quote.available) == (0, 0)


# ---------------------------------------------------------------- LB-11 spent bonuses not given back


async def test_lb11_bonuses_spent_on_a_returned_ticket_are_not_given_back(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "2000"), ticket("t2", "e1", "2000"), spend=600)
    # cap 30 % of 4,000 = 1,200; 600 split 300 / 300; base 1,700 + 1,700 = 3,400 x 5 % = 170
    assert await ledger.balance(wallet.id) == Balance(active=400, pending=170)
    first = await scenario.refund(catalog, "o1", "t1")
    # money 2,000 - 300 bonuses = 1,700; the 170 accrued cancelled (not spent)
    assert outcome(first) == (Decimal("1700.00"), 170, 0, 0)
    second = await scenario.refund(catalog, "o1", "t2")
    assert outcome(second) == (Decimal("1700.00"), 0, 0, 0)
    # The 600 spent stay spent: 400 active, as before the returns
    assert await ledger.balance(wallet.id) == Balance(active=400)
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "order_id") == [
        (ACCRUAL, 1000, "c1-first"),
        (SPEND, -600, "o1"),
        (ACCRUAL, 170, "o1"),
        (REVOKE, -170, "o1"),
    ]


# ---------------------------------------------------------------- LB-12 cancelled or postponed events


@pytest.mark.parametrize("reason", [RefundReason.EVENT_CANCELLED, RefundReason.EVENT_POSTPONED])
async def test_lb12_cancelled_or_postponed_event_refunds_like_a_return(catalog, reason):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert", starts_in=timedelta(minutes=-30))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "3000"), ticket("t2", "e1", "3000"), spend=600)
    # cap 1,800; 300 / 300; base 2,700 + 2,700 = 5,400 x 5 % = 270, active at once (started)
    assert await ledger.balance(wallet.id) == Balance(active=670)
    await scenario.event("e2", "concert")
    await scenario.buy(catalog, "o2", "c1", goods("g1", "e2", "5000"), spend=670)  # cap 1,500: spend all
    first = await scenario.refund(catalog, "o1", "t1", reason=reason)
    # LB-11: 3,000 - 300 = 2,700; LB-09: 270 cancelled; LB-10: all 270 spent, withheld: 2,430
    assert outcome(first) == (Decimal("2430.00"), 270, 270, 0)
    second = await scenario.refund(catalog, "o1", "t2", reason=reason)
    assert outcome(second) == (Decimal("2700.00"), 0, 0, 0)
    assert await ledger.balance(wallet.id) == Balance()
    assert [r.reason for r in await Refund.filter(order_id="o1").order_by("id")] == [reason, reason]


# ---------------------------------------------------------------- LB-20 the money of a refund


async def test_lb20_refund_returns_money_paid_for_the_items_without_service_fees(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "20000")  # 1,000 active
    await scenario.event("e1", "concert")
    await scenario.buy(
        catalog,
        "o1",
        "c1",
        ticket("t1", "e1", "5000", fee="500", discount="500"),
        ticket("t2", "e1", "3000"),
        spend=800,
    )
    # values 5,000 - 500 + 500 = 5,000 and 3,000; total 8,000, cap 2,400
    # 800 split 500 / 300; accrual (5,000 - 500 - 500) + (3,000 - 300) = 6,700 x 5 % = 335
    assert await ledger.balance(wallet.id) == Balance(active=200, pending=335)
    first = await scenario.refund(catalog, "o1", "t1")
    assert outcome(first) == (Decimal("4000.00"), 335, 0, 0)  # 5,000 - 500 discount - 500 bonuses, fee kept
    second = await scenario.refund(catalog, "o1", "t2")
    assert outcome(second) == (Decimal("2700.00"), 0, 0, 0)  # 3,000 - 300 bonuses
    # paid in money: 8,000 - 800 bonuses = 7,200; refunded 6,700; the 500 fee stays
    assert await ledger.balance(wallet.id) == Balance(active=200)


async def test_lb20_same_idempotency_key_refunds_once(catalog):
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e1", "5000"))
    first = await scenario.refund(catalog, "o1", "t1", key="r-1")
    before = await scenario.snapshot()
    again = await scenario.refund(catalog, "o1", "t1", key="r-1")
    assert (again.id, *outcome(again)) == (first.id, Decimal("5000.00"), 500, 0, 0)
    assert await scenario.snapshot() == before
    assert await Refund.filter(order_id="o1").count() == 1


async def test_lb20_refunding_an_item_twice_is_a_conflict(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e1", "5000"))
    await scenario.refund(catalog, "o1", "t1")
    before = await scenario.snapshot()
    for items in (("t1",), ("t2", "t1")):
        with pytest.raises(Conflict) as refused:
            await scenario.refund(catalog, "o1", *items)
        assert refused.value.code == "CONFLICT"
    assert await scenario.snapshot() == before  # t2 was not refunded by the refused request either
    assert (await orders.get_order("o1")).status is OrderStatus.PARTIALLY_REFUNDED
    assert await ledger.balance(wallet.id) == Balance()


async def test_lb20_unpaid_or_cancelled_order_cannot_be_refunded(catalog):
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000")))
    for _ in ("CREATED", "CANCELLED"):
        before = await scenario.snapshot()
        with pytest.raises(Conflict) as refused:
            await scenario.refund(catalog, "o1", "t1")
        assert refused.value.code == "CONFLICT"
        assert await scenario.snapshot() == before
        await orders.cancel_order("o1")
    assert await Refund.all().count() == 0


@pytest.mark.parametrize(
    ("order_id", "items", "error", "code"),
    [
        ("o1", ("t9",), NotFound, "NOT_FOUND"),
        ("nope", ("t1",), NotFound, "NOT_FOUND"),
        ("o1", (), BadInput, "BAD_INPUT"),
        ("o1", ("t1", "t1"), BadInput, "BAD_INPUT"),
    ],
    ids=["unknown-item", "unknown-order", "no-items", "item-twice"],
)
async def test_lb20_bad_refund_is_refused_and_changes_nothing(catalog, order_id, items, error, code):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"))
    before = await scenario.snapshot()
    with pytest.raises(error) as refused:
        await scenario.refund(catalog, order_id, *items)
    assert refused.value.code == code
    assert await scenario.snapshot() == before
    assert await ledger.balance(wallet.id) == Balance(pending=250)  # 5,000 x 5 %, untouched
