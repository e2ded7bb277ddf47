"""TKT.GE (seed 002): TK-01..TK-08, each worked out by hand.

The program (plugins.toml): GEL, tiers Basic / Silver / Gold from 0 / 500 / 1,500 GEL
spent in 365 days, cinema refunds 60 / 80 / 90 % by tier at least 3 hours before the
session, the age check at joining. Promo codes are the gateway's own (IssuePromoCodes).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import clock, orders, promo_codes
from loyalty.enums import Channel, OrderStatus, RefundReason
from loyalty.errors import RuleViolation
from loyalty.models import PromoCode
from loyalty.orders.drafts import ItemDraft, OrderDraft
from loyalty.programs import Catalog
from tests import scenario
from tests.gql import Client, error_code, participant_token, token

TKT = "tkt-ge"
MARKETER = token("marketer", "marketing-console")
TICKETING = token("ticketing", "tkt-ge-shop")
ADMIN = token("admin", "support")


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


async def issue(gql: Client, event_id: str = "e1", count: int = 1, **extra) -> dict:
    result = await gql.op(
        "IssuePromoCodes",
        {"input": {"programId": TKT, "eventId": event_id, "count": count, "discountPercent": 10, **extra}},
        MARKETER,
    )
    assert "errors" not in result, result
    return result["data"]["issuePromoCodes"]["batch"]


async def check(gql: Client, code: str) -> dict:
    result = await gql.op("CheckPromoCode", {"code": code}, TICKETING)
    assert "errors" not in result, result
    return result["data"]["promoCode"]


def order_input(order_id: str, code: str | None = None, event_id: str = "e1", customer: str = "c1") -> dict:
    return {
        "id": order_id,
        "participantId": customer,
        "programId": TKT,
        "channel": "WEBSITE",
        "promoCode": code,
        "items": [
            {
                "id": f"{order_id}-t1",
                "eventId": event_id,
                "kind": "TICKET",
                "nominal": "30.00",
                "discount": "3.00",
                "serviceFee": "1.50",
            }
        ],
    }


async def record(gql: Client, order_id: str, code: str | None = None, **kwargs) -> dict:
    return await gql.op("RecordOrder", {"input": order_input(order_id, code, **kwargs)}, TICKETING)


async def club(catalog: Catalog, customer: str = "c1"):
    from loyalty import participants
    from loyalty.participants import JoinRequest

    _, wallet = await participants.join(
        catalog,
        scenario.verified(customer),
        JoinRequest(
            program_id=TKT,
            accept_rules=True,
            personal_data_consent=True,
            marketing_consent=True,
            birth_date=date(1990, 5, 1),
        ),
        erasure_key=scenario.ERASURE_KEY,
    )
    return wallet


def film(order_id: str, nominal: str, event_id: str = "f1", fee: str = "1.00", customer: str = "c1") -> OrderDraft:
    return OrderDraft(
        id=order_id,
        customer_id=customer,
        program_id=TKT,
        channel=Channel.WEBSITE,
        items=(
            ItemDraft(
                id=f"{order_id}-t1",
                event_id=event_id,
                kind=scenario.ItemKind.TICKET,
                nominal=Decimal(nominal),
                service_fee=Decimal(fee),
            ),
        ),
    )


async def buy(catalog: Catalog, draft: OrderDraft):
    await orders.record_order(catalog, draft)
    assert draft.id is not None
    return await orders.pay_order(catalog, draft.id)


async def refused_rule(call) -> str:
    with pytest.raises(RuleViolation) as refused:
        await call
    return refused.value.rule


# ---------------------------------------------------------------- promo codes: TK-01..TK-03


async def test_tk01_codes_are_unique_unguessable_and_single_use(gql):
    await scenario.event("e1", "concert")
    batch = await issue(gql, count=50)
    codes = batch["codes"]
    assert len(codes) == 50 and len(set(codes)) == 50
    assert all(len(code) == 16 and set(code) <= set(promo_codes.ALPHABET) for code in codes)  # 80 random bits each
    assert await check(gql, codes[0]) == {
        "code": codes[0],
        "eventId": "e1",
        "valid": True,
        "reason": None,
        "discountPercent": 10,
        "discountAmount": None,
        "expiresAt": "2026-06-02T12:00:00+00:00",
    }
    recorded = await record(gql, "o1", codes[0])
    assert recorded["data"]["recordOrder"]["order"]["promoCode"] == codes[0]
    # checking changes nothing: the code is used only when the order is paid
    assert (await check(gql, codes[0]))["valid"] is True
    await gql.op("PayOrder", {"id": "o1"}, TICKETING)
    assert (await check(gql, codes[0]))[("valid")] is False
    assert (await check(gql, codes[0]))["reason"] == "TK-01"
    again = await record(gql, "o2", codes[0])
    assert error_code(again) == "RULE" and again["errors"][0]["extensions"]["rule"] == "TK-01"


async def test_tk01_a_code_applies_to_its_one_event_and_must_exist(gql):
    await scenario.event("e1", "concert")
    await scenario.event("e2", "concert")
    [code] = (await issue(gql, "e1"))["codes"]
    elsewhere = await record(gql, "o1", code, event_id="e2")
    assert (error_code(elsewhere), elsewhere["errors"][0]["extensions"]["rule"]) == ("RULE", "TK-01")
    assert error_code(await record(gql, "o2", "NOSUCHCODE123456")) == "NOT_FOUND"
    assert await check_none(gql, "NOSUCHCODE123456")


async def check_none(gql: Client, code: str) -> bool:
    return (await gql.op("CheckPromoCode", {"code": code}, TICKETING))["data"]["promoCode"] is None


async def test_tk01_issuing_and_checking_need_their_roles_and_good_input(gql):
    await scenario.event("e1", "concert")
    base = {"programId": TKT, "eventId": "e1", "count": 1}
    assert (
        error_code(await gql.op("IssuePromoCodes", {"input": {**base, "discountPercent": 5}}, TICKETING)) == "FORBIDDEN"
    )
    assert error_code(await gql.op("IssuePromoCodes", {"input": base}, MARKETER)) == "BAD_INPUT"
    assert (
        error_code(
            await gql.op(
                "IssuePromoCodes", {"input": {**base, "discountPercent": 5, "discountAmount": "2.00"}}, MARKETER
            )
        )
        == "BAD_INPUT"
    )
    assert (
        error_code(await gql.op("IssuePromoCodes", {"input": {**base, "count": 0, "discountPercent": 5}}, MARKETER))
        == "BAD_INPUT"
    )
    assert (
        error_code(
            await gql.op("IssuePromoCodes", {"input": {**base, "eventId": "nope", "discountPercent": 5}}, MARKETER)
        )
        == "NOT_FOUND"
    )
    assert error_code(await gql.op("CheckPromoCode", {"code": "X"}, MARKETER)) == "FORBIDDEN"
    assert await PromoCode.all().count() == 0


async def test_tk01_an_unpaid_cancelled_order_frees_the_code(gql):
    await scenario.event("e1", "concert")
    [code] = (await issue(gql))["codes"]
    await record(gql, "o1", code)
    await gql.op("CancelOrder", {"id": "o1"}, TICKETING)
    assert (await check(gql, code))["valid"] is True
    await record(gql, "o2", code)
    paid = await gql.op("PayOrder", {"id": "o2"}, TICKETING)
    assert paid["data"]["payOrder"]["order"]["status"] == "PAID"
    assert (await PromoCode.get(code=code)).order_id == "o2"


async def test_tk01_two_orders_with_one_code_cannot_both_pay(gql):
    await scenario.event("e1", "concert")
    [code] = (await issue(gql))["codes"]
    await record(gql, "o1", code)
    await record(gql, "o2", code, customer="c2")
    assert (await gql.op("PayOrder", {"id": "o1"}, TICKETING))["data"]["payOrder"]["order"]["status"] == "PAID"
    second = await gql.op("PayOrder", {"id": "o2"}, TICKETING)
    assert (error_code(second), second["errors"][0]["extensions"]["rule"]) == ("RULE", "TK-01")
    assert (await orders.get_order("o2")).status is OrderStatus.CREATED  # nothing changed


@pytest.mark.postgres
async def test_tk01_parallel_payments_with_one_code_only_one_pays():
    """Against PostgreSQL's pool: N orders carrying one code, paid at the same instant."""
    await scenario.event("e1", "concert")
    clients = [Client() for _ in range(6)]
    [code] = (await issue(clients[0]))["codes"]
    for n in range(6):
        await record(clients[0], f"o{n}", code, customer=f"c{n}")
    results = await asyncio.gather(
        *(client.op("PayOrder", {"id": f"o{n}"}, TICKETING) for n, client in enumerate(clients))
    )
    for client in clients:
        await client.http.aclose()
    paid = [r for r in results if "errors" not in r]
    refused = [r["errors"][0]["extensions"].get("rule") for r in results if "errors" in r]
    assert len(paid) == 1 and refused == ["TK-01"] * 5
    winner = paid[0]["data"]["payOrder"]["order"]["id"]
    assert (await PromoCode.get(code=code)).order_id == winner


async def test_tk02_a_code_is_valid_three_calendar_months(gql):
    await scenario.event("e1", "concert", starts_in=timedelta(days=200))
    batch = await issue(gql)
    # issued 2 March 2026 12:00 UTC: valid until 2 June 2026 12:00 UTC
    assert batch["expiresAt"] == "2026-06-02T12:00:00+00:00"
    [code] = batch["codes"]
    scenario.until(datetime(2026, 6, 2, 11, 59, tzinfo=UTC))
    assert (await check(gql, code))["valid"] is True
    scenario.until(datetime(2026, 6, 2, 12, 0, tzinfo=UTC))
    assert await check(gql, code) == {**await check(gql, code), "valid": False, "reason": "TK-02"}
    expired = await record(gql, "o1", code)
    assert (error_code(expired), expired["errors"][0]["extensions"]["rule"]) == ("RULE", "TK-02")


async def test_tk02_a_batch_may_say_otherwise_and_months_are_calendar_months(gql):
    await scenario.event("e1", "concert")
    assert (await issue(gql, validMonths=12))["expiresAt"] == "2027-03-02T12:00:00+00:00"
    jan31 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert promo_codes.add_months(jan31, 1) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert promo_codes.add_months(jan31, 3) == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    assert promo_codes.add_months(datetime(2025, 11, 30, tzinfo=UTC), 3) == datetime(2026, 2, 28, tzinfo=UTC)


async def test_tk03_a_refunded_purchase_does_not_restore_its_code(gql):
    await scenario.event("e1", "concert")
    [code] = (await issue(gql))["codes"]
    await record(gql, "o1", code)
    await gql.op("PayOrder", {"id": "o1"}, TICKETING)
    refunded = await gql.op(
        "RefundItems", {"input": {"orderId": "o1", "itemIds": ["o1-t1"], "reason": "EVENT_CANCELLED"}}, TICKETING
    )
    assert refunded["data"]["refundItems"]["order"]["status"] == "REFUNDED"
    assert {k: v for k, v in (await check(gql, code)).items() if k in ("valid", "reason")} == {
        "valid": False,
        "reason": "TK-01",
    }


# ---------------------------------------------------------------- club: TK-04..TK-06


async def test_tk04_cinema_returns_only_for_members_and_3_hours_before(catalog):
    await club(catalog, "member")
    await scenario.event("f1", "cinema", starts_in=timedelta(hours=5))
    await buy(catalog, film("guest-order", "20.00", customer="guest"))
    await buy(catalog, film("member-late", "20.00", customer="member"))
    await buy(catalog, film("member-early", "20.00", customer="member"))
    # a customer who is not in the club cannot return a cinema ticket
    assert await refused_rule(scenario.refund(catalog, "guest-order", "guest-order-t1")) == "TK-04"
    # 2 h 59 min before the session: too late
    clock.advance(timedelta(hours=2, minutes=1))
    assert await refused_rule(scenario.refund(catalog, "member-late", "member-late-t1")) == "TK-04"
    assert (await orders.get_order("member-late")).status is OrderStatus.PAID
    # exactly 3 hours before: allowed (a Basic member: 60 % of 20 = 12)
    clock.advance(timedelta(minutes=-1))
    refund = await scenario.refund(catalog, "member-early", "member-early-t1")
    assert (refund.money_refund, refund.rule) == (Decimal("12.00"), "TK-05")


async def test_tk05_the_club_refund_is_60_80_90_percent_by_tier(catalog, gql):
    await club(catalog, "c1")
    await scenario.event("f1", "cinema", starts_in=timedelta(days=3))
    await scenario.event("big", "concert", starts_in=timedelta(days=3))
    wallet_tier = """query($id: ID!) { participant(id: $id) { wallets { program { id } tier } } }"""

    async def tier() -> str:
        result = await gql(wallet_tier, {"id": "c1"}, ADMIN)
        return result["data"]["participant"]["wallets"][0]["tier"]

    assert await tier() == "Basic"  # nothing spent: the lowest tier
    await buy(catalog, film("f-basic", "20.00"))
    # Basic: 60 % of the ticket's price 20.00 = 12.00 (the 1.00 fee is not refunded)
    assert (await scenario.refund(catalog, "f-basic", "f-basic-t1")).money_refund == Decimal("12.00")
    # spend in 365 days: 21 - 12 refunded + 500 concert + 1 fee = 510 >= 500: Silver
    await buy(catalog, film("spend", "500.00", event_id="big"))
    assert await tier() == "Silver"
    await buy(catalog, film("f-silver", "20.00"))
    assert (await scenario.refund(catalog, "f-silver", "f-silver-t1")).money_refund == Decimal("16.00")  # 80 %
    # staff set Gold by hand: 90 % of 20.00 = 18.00
    set_gold = await gql.op("SetTier", {"participantId": "c1", "programId": TKT, "tier": "Gold"}, ADMIN)
    assert set_gold["data"]["setTier"]["wallet"] == {"program": {"id": TKT}, "tier": "Gold"}
    await buy(catalog, film("f-gold", "20.00"))
    assert (await scenario.refund(catalog, "f-gold", "f-gold-t1")).money_refund == Decimal("18.00")


async def test_tk05_tiers_follow_the_last_365_days_of_spend(catalog, gql):
    await club(catalog, "c1")
    await scenario.event("big", "concert", starts_in=timedelta(days=3))
    await buy(catalog, film("o1", "1499.00", event_id="big"))  # 1,499 + 1 fee = 1,500: Gold
    wallet = await catalog_wallet("c1")
    from loyalty import tiers

    assert await tiers.tier_of(catalog.get(TKT), wallet) == "Gold"
    clock.advance(timedelta(days=365))  # the purchase leaves the window
    assert await tiers.tier_of(catalog.get(TKT), wallet) == "Basic"


async def catalog_wallet(customer: str):
    from loyalty.models import Participant, Wallet

    participant = await Participant.get(customer_id=customer)
    return await Wallet.get(participant_id=participant.id, program_id=TKT)


async def test_tk05_set_tier_roles_and_undefined_tiers(catalog, gql):
    await club(catalog, "c1")
    owner = token("partner", "tkt-staff", partner="tkt-ge")
    stranger = token("partner", "theatre-staff", partner="mosgubteatr")
    variables = {"participantId": "c1", "programId": TKT, "tier": "Silver"}
    assert (await gql.op("SetTier", variables, owner))["data"]["setTier"]["wallet"]["tier"] == "Silver"
    assert error_code(await gql.op("SetTier", variables, stranger)) == "FORBIDDEN"
    assert error_code(await gql.op("SetTier", variables, MARKETER)) == "FORBIDDEN"
    assert error_code(await gql.op("SetTier", {**variables, "tier": "Platinum"}, ADMIN)) == "BAD_INPUT"
    assert error_code(await gql.op("SetTier", {**variables, "programId": "live-brighter"}, ADMIN)) == "BAD_INPUT"
    assert error_code(await gql.op("SetTier", {**variables, "participantId": "nobody"}, ADMIN)) == "NOT_FOUND"


async def test_tk06_cancelled_or_postponed_events_refund_without_the_service_fee(catalog):
    await scenario.event("f1", "cinema", starts_in=timedelta(hours=1))
    await buy(catalog, film("o1", "20.00", fee="2.50", customer="guest"))
    await buy(catalog, film("o2", "25.00", fee="2.50", customer="guest"))
    # not a member, 1 hour before: TK-04 does not apply; the ticket's 20.00 comes back, the fee does not
    cancelled = await scenario.refund(catalog, "o1", "o1-t1", reason=RefundReason.EVENT_CANCELLED)
    assert (cancelled.money_refund, cancelled.rule) == (Decimal("20.00"), "TK-06")
    postponed = await scenario.refund(catalog, "o2", "o2-t1", reason=RefundReason.EVENT_POSTPONED)
    assert (postponed.money_refund, postponed.rule) == (Decimal("25.00"), "TK-06")


# ---------------------------------------------------------------- joining: TK-07, TK-08


async def test_tk07_18_or_older_or_a_guardians_consent(gql):
    def join(who: str, born: str | None, guardian: bool | None = None) -> dict:
        return {
            "input": {
                "programId": TKT,
                "acceptRules": True,
                "personalDataConsent": True,
                "marketingConsent": False,
                "birthDate": born,
                "guardianConsent": guardian,
            }
        }

    # today is 2 March 2026: born 3 March 2008 is 17, born 2 March 2008 is 18
    minor = await gql.op("JoinProgram", join("kid", "2008-03-03"), participant_token("kid"))
    assert (error_code(minor), minor["errors"][0]["extensions"]["rule"]) == ("RULE", "TK-07")
    unknown = await gql.op("JoinProgram", join("anon", None), participant_token("anon"))
    assert unknown["errors"][0]["extensions"]["rule"] == "TK-07"
    adult = await gql.op("JoinProgram", join("adult", "2008-03-02"), participant_token("adult"))
    assert adult["data"]["joinProgram"]["wallet"]["status"] == "ACTIVE"
    consented = await gql.op("JoinProgram", join("kid", "2008-03-03", True), participant_token("kid"))
    assert consented["data"]["joinProgram"]["wallet"]["status"] == "ACTIVE"
    # «Live Brighter!» does not check age
    lb = await gql.op(
        "JoinProgram",
        {
            "input": {
                "programId": "live-brighter",
                "acceptRules": True,
                "personalDataConsent": True,
                "marketingConsent": False,
            }
        },
        participant_token("anon"),
    )
    assert "errors" not in lb


async def test_tk08_direct_marketing_can_be_stopped_at_any_time(catalog, gql):
    await club(catalog, "c1")  # joined with marketing consent
    me = participant_token("c1")
    stopped = await gql.op("SetMarketingConsent", {"allowed": False}, me)
    assert stopped["data"]["setMarketingConsent"]["participant"]["marketingConsent"] is False


async def test_tk02_a_code_that_expired_after_recording_is_neither_used_nor_paid(gql):
    await scenario.event("e1", "concert", starts_in=timedelta(days=200))
    [code] = (await issue(gql))["codes"]  # valid until 2 June 2026 12:00 UTC
    scenario.until(datetime(2026, 6, 2, 11, 59, tzinfo=UTC))
    assert "errors" not in await record(gql, "o1", code)  # recorded a minute before expiry
    scenario.until(datetime(2026, 6, 2, 12, 0, tzinfo=UTC))
    paid = await gql.op("PayOrder", {"id": "o1"}, TICKETING)
    assert (error_code(paid), paid["errors"][0]["extensions"]["rule"]) == ("RULE", "TK-02")
    assert (await orders.get_order("o1")).status is OrderStatus.CREATED  # the discounted order is not paid
    row = await PromoCode.get(code=code)
    assert (row.used_at, row.order_id) == (None, None)
    assert {k: v for k, v in (await check(gql, code)).items() if k in ("valid", "reason")} == {
        "valid": False,
        "reason": "TK-02",
    }


async def test_tk04_a_blocked_or_pending_wallet_is_not_a_club_member(catalog):
    from loyalty import participants

    await club(catalog, "blocked")
    await club(catalog, "everywhere")
    await scenario.event("f1", "cinema", starts_in=timedelta(days=2))
    for customer in ("blocked", "everywhere"):
        await buy(catalog, film(f"{customer}-order", "20.00", customer=customer))
    await participants.block(catalog, "blocked", TKT, "abuse", "tkt-ge")
    await participants.block(catalog, "everywhere", None, "fraud", "support")
    assert await refused_rule(scenario.refund(catalog, "blocked-order", "blocked-order-t1")) == "TK-04"
    assert await refused_rule(scenario.refund(catalog, "everywhere-order", "everywhere-order-t1")) == "TK-04"
    # a wallet still PENDING (no verified contact) is not a member either
    _, pending = await participants.join(
        catalog,
        participants.Identity(customer_id="pending"),
        participants.JoinRequest(
            program_id=TKT,
            accept_rules=True,
            personal_data_consent=True,
            marketing_consent=False,
            birth_date=date(1990, 5, 1),
        ),
        erasure_key=scenario.ERASURE_KEY,
    )
    assert pending.status.value == "PENDING"
    await buy(catalog, film("pending-order", "20.00", customer="pending"))
    assert await refused_rule(scenario.refund(catalog, "pending-order", "pending-order-t1")) == "TK-04"


async def test_tk04_a_ticket_bought_before_joining_the_club_is_not_returnable(catalog):
    await scenario.event("f1", "cinema", starts_in=timedelta(days=2))
    await buy(catalog, film("before", "20.00"))  # c1 is not in the club yet
    clock.advance(timedelta(minutes=5))
    await club(catalog)
    await buy(catalog, film("after", "20.00"))
    assert await refused_rule(scenario.refund(catalog, "before", "before-t1")) == "TK-04"
    refund = await scenario.refund(catalog, "after", "after-t1")  # Basic: 60 % of 20 = 12
    assert (refund.money_refund, refund.rule) == (Decimal("12.00"), "TK-05")


async def test_tk07_changing_the_birth_date_or_consent_is_checked_again(catalog, gql):
    from loyalty import participants

    await club(catalog)  # born 1 May 1990
    await scenario.join(catalog, "lb-only")  # «Live Brighter!» does not check age

    async def change(who: str, **profile) -> str | None:
        result = await gql.op("UpdateProfile", {"input": profile}, participant_token(who))
        return result["errors"][0]["extensions"].get("rule") if "errors" in result else None

    # today is 2 March 2026: born 3 March 2008 is 17
    assert await change("c1", birthDate="2008-03-03") == "TK-07"
    assert (await participants.get("c1")).birth_date == date(1990, 5, 1)  # unchanged
    assert await change("c1", birthDate="2008-03-03", guardianConsent=True) is None
    # withdrawing the guardian's consent of a 17-year-old member: refused
    assert await change("c1", guardianConsent=False) == "TK-07"
    assert (await participants.get("c1")).guardian_consent is True
    # 18 on 2 March 2008: no consent needed
    assert await change("c1", birthDate="2008-03-02", guardianConsent=False) is None
    assert await change("lb-only", birthDate="2008-03-03") is None
