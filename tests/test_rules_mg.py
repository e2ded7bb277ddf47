"""MGT+ (seed 004): MG-01..MG-13, each worked out by hand.

The program (plugins.toml): RUB, 10 % of the tickets' nominal (MG-05), cap 30 % of the
actual cost (MG-08), 90 days after the latest accrual for the whole balance (MG-06),
only the organizer «mosgubteatr»'s events (MG-07), owned by it (MG-13).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import clock, ledger, orders, promo_codes
from loyalty.enums import Channel, EntryKind, OrderMode
from loyalty.errors import RuleViolation
from loyalty.models import Order, Wallet
from loyalty.orders.drafts import ItemDraft, OrderDraft
from loyalty.programs import Catalog
from tests import scenario
from tests.gql import Client, error_code, token

MGT = "mgt-plus"
ORG = "mosgubteatr"
OWNER = token("partner", "theatre-staff", partner=ORG)


async def member(catalog: Catalog, customer: str = "c1") -> Wallet:
    return await scenario.join(catalog, customer, program=MGT)


async def play(event_id: str = "m1", organizer: str = ORG, days: int = 10) -> None:
    await scenario.event(event_id, "theatre", starts_in=timedelta(days=days), organizer=organizer)


def order(
    order_id: str,
    *items: ItemDraft,
    customer: str = "c1",
    spend: int = 0,
    mode: OrderMode | None = None,
    channel: Channel = Channel.WIDGET,
    promo: str | None = None,
) -> OrderDraft:
    return OrderDraft(
        id=order_id,
        customer_id=customer,
        program_id=MGT,
        channel=channel,
        items=items,
        bonus_to_spend=spend,
        mode=mode,
        promo_code=promo,
    )


async def buy(catalog: Catalog, draft: OrderDraft) -> Order:
    await orders.record_order(catalog, draft)
    assert draft.id is not None
    return await orders.pay_order(catalog, draft.id)


async def earn(catalog: Catalog, amount_rub: str, order_id: str = "earn", event_id: str = "m1") -> Order:
    """An EARN order of one ticket: it credits 10 % of `amount_rub`."""
    return await buy(
        catalog, order(order_id, scenario.ticket(f"{order_id}-t", event_id, amount_rub), mode=OrderMode.EARN)
    )


async def active(wallet: Wallet) -> int:
    return (await ledger.balance(wallet.id)).active


async def rule_of(call) -> str:
    with pytest.raises(RuleViolation) as refused:
        await call
    return refused.value.rule


async def test_mg01_an_order_either_earns_or_spends(catalog):
    wallet = await member(catalog)
    await play()
    await earn(catalog, "5000.00")  # 500 points
    spending = await buy(catalog, order("o1", scenario.ticket("t1", "m1", "1000.00"), spend=100, mode=OrderMode.SPEND))
    # spends 100 and earns nothing (an EARN order would have earned 10 % of 1,000 = 100)
    assert (spending.bonus_spent, spending.bonus_to_accrue, spending.bonus_accrued) == (100, 0, 0)
    assert await active(wallet) == 400
    # no mode: an order that spends does not earn either
    implicit = await buy(catalog, order("o2", scenario.ticket("t2", "m1", "1000.00"), spend=50))
    assert (implicit.bonus_spent, implicit.bonus_accrued) == (50, 0)
    # the participant chose to earn: spending is refused
    assert (
        await rule_of(
            orders.record_order(
                catalog, order("o3", scenario.ticket("t3", "m1", "1000.00"), spend=10, mode=OrderMode.EARN)
            )
        )
        == "MG-01"
    )


async def test_mg02_only_the_widget_channel_takes_part(catalog):
    wallet = await member(catalog)
    await play()
    await earn(catalog, "5000.00")
    site = await buy(catalog, order("o1", scenario.ticket("t1", "m1", "1000.00"), channel=Channel.WEBSITE))
    assert (site.bonus_to_accrue, site.bonus_accrued) == (0, 0)
    quote = await orders.quote(catalog, order(None, scenario.ticket(None, "m1", "1000.00"), channel=Channel.APP))
    assert (quote.max_bonus, quote.available, quote.reason) == (0, 500, "MG-02")
    assert (
        await rule_of(
            orders.record_order(
                catalog, order("o2", scenario.ticket("t2", "m1", "1000.00"), spend=10, channel=Channel.BOX_OFFICE)
            )
        )
        == "MG-02"
    )
    assert await active(wallet) == 500


async def test_mg03_points_are_accrued_when_the_order_is_paid(catalog):
    wallet = await member(catalog)
    await play(days=30)  # the play is a month away: MGT+ points do not wait for it (unlike LB-03)
    recorded = await orders.record_order(
        catalog, order("o1", scenario.ticket("t1", "m1", "2000.00"), mode=OrderMode.EARN)
    )
    assert (recorded.bonus_to_accrue, recorded.bonus_accrued) == (200, 0)
    assert await ledger.balance(wallet.id) == ledger.Balance()
    clock.advance(timedelta(hours=1))
    paid = await orders.pay_order(catalog, "o1")
    assert paid.bonus_accrued == 200
    assert await ledger.balance(wallet.id) == ledger.Balance(active=200)
    [entry] = await scenario.entries(wallet.id)
    assert (entry.kind, entry.amount, entry.at, entry.activates_at) == (
        EntryKind.ACCRUAL,
        200,
        clock.now(),
        clock.now(),
    )


async def test_mg04_mg05_ten_percent_of_the_tickets_nominal_without_fees_or_goods(catalog):
    wallet = await member(catalog)
    await play()
    paid = await buy(
        catalog,
        order(
            "o1",
            scenario.ticket("t1", "m1", "1500.00", fee="200.00"),
            scenario.ticket("t2", "m1", "1500.00", fee="200.00"),
            scenario.goods("g1", "m1", "1000.00", fee="50.00"),
            mode=OrderMode.EARN,
        ),
    )
    # 10 % of the tickets' nominal 1,500 + 1,500 = 3,000 -> 300; fees (450) and the programme (1,000) earn nothing
    assert paid.total == Decimal("4450.00")
    assert paid.bonus_accrued == 300
    [entry] = await scenario.entries(wallet.id)
    assert (entry.rule, entry.plugin) == ("MG-05", "mgt_plus")


async def test_mg06_each_accrual_extends_the_whole_balance_90_days(catalog):
    wallet = await member(catalog)
    await play(days=400)
    start = clock.now()
    await earn(catalog, "3000.00", "o1")  # 300, would burn at day 90
    clock.advance(timedelta(days=80))
    await earn(catalog, "1000.00", "o2")  # 100 at day 80: everything now burns at day 80 + 90 = 170
    burn = await ledger.next_burns([wallet.id])
    assert burn[wallet.id] == ledger.BurnForecast(at=start + timedelta(days=170), amount=400)
    # the history shows the first accrual's validity as known now: moved to day 170
    page = await ledger.history(wallet.id, 10)
    assert [(e.amount, e.expires_at) for e in page.entries] == [
        (100, start + timedelta(days=170)),
        (300, start + timedelta(days=170)),
    ]
    clock.advance(timedelta(days=89))  # day 169: 90 days after the first accrual, nothing burned
    assert await active(wallet) == 400
    clock.advance(timedelta(days=1))  # day 170: the whole balance burns
    assert await active(wallet) == 0
    assert await ledger.burn_expired() == 2
    assert sum(e.amount for e in await scenario.entries(wallet.id)) == 0


async def test_mg06_points_already_burned_are_not_revived_by_a_later_accrual(catalog):
    wallet = await member(catalog)
    await play(days=400)
    await earn(catalog, "1000.00", "o1")  # 100, burns at day 90
    clock.advance(timedelta(days=91))
    await earn(catalog, "2000.00", "o2")  # 200 at day 91
    assert await active(wallet) == 200


async def test_mg07_another_organizers_event_is_refused(catalog):
    wallet = await member(catalog)
    await play("m1")
    await play("x1", organizer="other-theatre")
    await earn(catalog, "1000.00")
    assert (
        await rule_of(
            orders.record_order(catalog, order("o1", scenario.ticket("t1", "x1", "1000.00"), mode=OrderMode.EARN))
        )
        == "MG-07"
    )
    assert (
        await rule_of(
            orders.record_order(
                catalog,
                order("o2", scenario.ticket("t2", "m1", "500.00"), scenario.ticket("t3", "x1", "500.00"), spend=10),
            )
        )
        == "MG-07"
    )
    quote = await orders.quote(catalog, order(None, scenario.ticket(None, "x1", "1000.00")))
    assert (quote.max_bonus, quote.reason) == (0, "MG-07")
    assert await Order.filter(id__in=["o1", "o2"]).count() == 0
    assert await active(wallet) == 100


async def test_mg08_at_most_30_percent_of_the_actual_cost(catalog):
    wallet = await member(catalog)
    await play()
    await earn(catalog, "5000.00")  # 500
    cart = (scenario.ticket("t1", "m1", "1000.00", fee="100.00"), scenario.goods("g1", "m1", "200.00"))
    # actual cost: 1,000 + 200 = 1,200 (the fee left out); 30 % = 360 (LB-08's full value would give 390)
    quote = await orders.quote(catalog, order(None, *cart))
    assert (quote.max_bonus, quote.available, quote.reason) == (360, 500, "MG-08")
    assert await rule_of(orders.record_order(catalog, order("o1", *cart, spend=361))) == "MG-08"
    paid = await buy(catalog, order("o2", *cart, spend=360))
    assert paid.bonus_spent == 360
    assert await active(wallet) == 140


async def test_mg09_a_returned_order_keeps_its_accrued_points(catalog):
    wallet = await member(catalog)
    await play()
    await buy(
        catalog,
        order(
            "o1", scenario.ticket("t1", "m1", "1000.00"), scenario.ticket("t2", "m1", "1000.00"), mode=OrderMode.EARN
        ),
    )  # 200
    refund = await scenario.refund(catalog, "o1", "t1", "t2")
    assert (refund.money_refund, refund.bonus_revoked, refund.rule) == (Decimal("2000.00"), 0, "MG-11")
    assert await active(wallet) == 200


async def test_mg10_points_spent_on_a_returned_order_are_not_given_back(catalog):
    wallet = await member(catalog)
    await play()
    await earn(catalog, "5000.00")  # 500
    await buy(catalog, order("o1", scenario.ticket("t1", "m1", "1000.00"), spend=300))
    assert await active(wallet) == 200
    refund = await scenario.refund(catalog, "o1", "t1")
    # the whole order back: 1,000 x (1 - 300 / 1,000) = 700 in money; the 300 points stay spent
    assert (refund.money_refund, refund.bonus_revoked) == (Decimal("700.00"), 0)
    assert await active(wallet) == 200


async def test_mg11_partial_refund_formula(catalog):
    await member(catalog)
    await play()
    await earn(catalog, "5000.00")  # 500
    await buy(
        catalog,
        order(
            "o1",
            scenario.ticket("t1", "m1", "1000.00", fee="100.00"),
            scenario.ticket("t2", "m1", "1000.00", fee="100.00"),
            scenario.goods("g1", "m1", "500.00"),
            spend=450,  # cap: 30 % of 2,500 = 750
        ),
    )
    # actual cost 1,000 + 1,000 + 500 = 2,500; one ticket back: 1,000 x (1 - 450 / 2,500) = 1,000 x 0.82 = 820
    first = await scenario.refund(catalog, "o1", "t1")
    assert first.money_refund == Decimal("820.00")
    # the programme back too: 500 x 0.82 = 410
    second = await scenario.refund(catalog, "o1", "g1")
    assert second.money_refund == Decimal("410.00")


async def test_mg11_rounds_down_to_the_kopeck(catalog):
    await member(catalog)
    await play()
    await earn(catalog, "5000.00")
    await buy(catalog, order("o1", *(scenario.ticket(f"t{n}", "m1", "100.00") for n in range(3)), spend=10))
    # 100 x (1 - 10 / 300) = 96.666... -> 96.66
    assert (await scenario.refund(catalog, "o1", "t0")).money_refund == Decimal("96.66")


async def test_mg12_no_points_with_a_promo_code_or_a_discounted_fare(catalog):
    wallet = await member(catalog)
    await play()
    await earn(catalog, "5000.00")
    discounted = order("o1", scenario.ticket("t1", "m1", "1000.00", discount="200.00"))
    quote = await orders.quote(catalog, discounted)
    assert (quote.max_bonus, quote.reason) == (0, "MG-12")
    assert (await buy(catalog, discounted)).bonus_accrued == 0
    _, codes = await promo_codes.issue(
        catalog, promo_codes.BatchRequest(MGT, "m1", 1, discount_percent=10), "marketing"
    )
    with_code = order("o2", scenario.ticket("t2", "m1", "1000.00", discount="100.00"), spend=50, promo=codes[0])
    assert await rule_of(orders.record_order(catalog, with_code)) == "MG-12"
    earning = await buy(catalog, order("o3", scenario.ticket("t3", "m1", "1000.00", discount="100.00"), promo=codes[0]))
    assert (earning.bonus_to_accrue, earning.bonus_accrued) == (0, 0)
    assert await active(wallet) == 500


async def test_mg13_the_organizer_excludes_a_participant_and_takes_back_points(catalog):
    gql = Client()
    wallet = await member(catalog)
    await scenario.join(catalog, "c1")  # also in «Live Brighter!», which the organizer does not own
    await play()
    await earn(catalog, "3000.00")  # 300
    taken = await gql.op(
        "AdjustBonus",
        {
            "input": {
                "participantId": "c1",
                "programId": MGT,
                "amount": -100,
                "reason": "accrued by mistake (technical failure)",
            }
        },
        OWNER,
    )
    assert taken["data"]["adjustBonus"]["entry"] == {
        "id": taken["data"]["adjustBonus"]["entry"]["id"],
        "kind": "ADJUSTMENT",
        "amount": -100,
        "rule": None,
        "description": "accrued by mistake (technical failure)",
    }
    assert await active(wallet) == 200
    blocked = await gql.op(
        "BlockParticipant", {"id": "c1", "programId": MGT, "reason": "abuse (art. 10 Civil Code)"}, OWNER
    )
    # the partner sees only its own program's wallet, now blocked
    assert blocked["data"]["blockParticipant"]["participant"]["wallets"] == [
        {"program": {"id": MGT}, "status": "BLOCKED"}
    ]
    quote = await orders.quote(catalog, order(None, scenario.ticket(None, "m1", "1000.00")))
    assert (quote.max_bonus, quote.reason) == (0, "MG-13")
    assert (await earn(catalog, "1000.00", "o2")).bonus_accrued == 0
    # the organizer acts on its own program only
    other = await gql.op("BlockParticipant", {"id": "c1", "programId": "live-brighter", "reason": "x"}, OWNER)
    assert error_code(other) == "FORBIDDEN"
    everywhere = await gql.op("BlockParticipant", {"id": "c1", "reason": "x"}, OWNER)
    assert error_code(everywhere) == "FORBIDDEN"
    stranger = token("partner", "someone", partner="other-theatre")
    assert (
        error_code(
            await gql.op(
                "AdjustBonus",
                {"input": {"participantId": "c1", "programId": MGT, "amount": 5, "reason": "x"}},
                stranger,
            )
        )
        == "FORBIDDEN"
    )
    await gql.http.aclose()


ADMIN = token("admin", "support")


async def blocks(gql: Client, op: str, who: str, program: str | None = None) -> dict:
    result = await gql.op(op, {"id": "c1", "programId": program, "reason": "review"}, who)
    assert "errors" not in result, result
    participant = result["data"][op[0].lower() + op[1:]]["participant"]
    return {"status": participant["status"], **{w["program"]["id"]: w["status"] for w in participant["wallets"]}}


async def test_mg13_lifting_a_global_block_leaves_the_organizers_exclusion(catalog):
    gql = Client()
    wallet = await member(catalog)
    await scenario.join(catalog, "c1")  # «Live Brighter!», which the organizer does not own
    await play()
    await earn(catalog, "3000.00")  # 10 % of 3000 = 300
    await blocks(gql, "BlockParticipant", OWNER, MGT)  # the organizer's exclusion
    assert await blocks(gql, "BlockParticipant", ADMIN) == {
        "status": "BLOCKED",
        MGT: "BLOCKED",
        "live-brighter": "BLOCKED",
    }
    lifted = await blocks(gql, "UnblockParticipant", ADMIN)
    # the global block is gone; the organizer's block of its wallet stays
    assert lifted == {"status": "ACTIVE", MGT: "BLOCKED", "live-brighter": "ACTIVE"}
    quote = await orders.quote(catalog, order(None, scenario.ticket(None, "m1", "1000.00")))
    assert (quote.max_bonus, quote.reason) == (0, "MG-13")
    assert (
        await rule_of(orders.record_order(catalog, order("o2", scenario.ticket("t2", "m1", "1000.00"), spend=100)))
        == "MG-13"
    )
    assert (await earn(catalog, "1000.00", "o3")).bonus_accrued == 0
    assert await active(wallet) == 300
    await gql.http.aclose()


async def test_mg13_a_global_block_holds_where_the_organizer_unblocked(catalog):
    gql = Client()
    wallet = await member(catalog)
    await play()
    await earn(catalog, "3000.00")  # 300
    await blocks(gql, "BlockParticipant", ADMIN)
    # the organizer lifts its own program's block: there was none, and the global one stays
    assert await blocks(gql, "UnblockParticipant", OWNER, MGT) == {"status": "BLOCKED", MGT: "BLOCKED"}
    quote = await orders.quote(catalog, order(None, scenario.ticket(None, "m1", "1000.00")))
    assert (quote.max_bonus, quote.reason) == (0, "MG-13")
    assert (
        await rule_of(orders.record_order(catalog, order("o2", scenario.ticket("t2", "m1", "1000.00"), spend=100)))
        == "MG-13"
    )
    assert (await earn(catalog, "1000.00", "o3")).bonus_accrued == 0
    # joining another program while blocked everywhere: that wallet is blocked too, until the global unblock
    await scenario.join(catalog, "c1")
    assert (await orders.quote(catalog, order(None, scenario.ticket(None, "m1", "1000.00")))).reason == "MG-13"
    assert await blocks(gql, "UnblockParticipant", ADMIN) == {
        "status": "ACTIVE",
        MGT: "ACTIVE",
        "live-brighter": "ACTIVE",
    }
    # 30 % of 1000 = 300, the whole balance
    quote = await orders.quote(catalog, order(None, scenario.ticket(None, "m1", "1000.00")))
    assert (quote.max_bonus, quote.reason) == (300, None)
    assert (await earn(catalog, "1000.00", "o4")).bonus_accrued == 100
    assert await active(wallet) == 400
    await gql.http.aclose()
