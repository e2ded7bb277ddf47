"""Each «Live Brighter!» operation through the contract's documents: answers, roles, bad input.

Every refusal must carry the contract's code and change nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty import clock
from loyalty.access import Role
from loyalty.models import Entry, Lot, Order, Participant, Wallet
from tests.gql import Client, error_code, participant_token, token

PROGRAM = "live-brighter"
TICKETING = token(Role.TICKETING, "ticketon")
ADMIN = token(Role.ADMIN, "support")


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


async def counts() -> tuple[int, ...]:
    return (
        await Participant.all().count(),
        await Wallet.all().count(),
        await Order.all().count(),
        await Lot.all().count(),
        await Entry.all().count(),
    )


async def join(gql, who: str, verified: bool = True) -> dict:
    return await gql.op(
        "JoinProgram",
        {"input": {"programId": PROGRAM, "acceptRules": True, "personalDataConsent": True, "marketingConsent": False}},
        participant_token(who, verified),
    )


async def event(gql, event_id: str = "e1", days: int = 5, category: str = "concert") -> None:
    starts = (clock.now() + timedelta(days=days)).isoformat()
    result = await gql.op(
        "UpsertEvent",
        {"input": {"id": event_id, "title": event_id, "category": category, "startsAt": starts, "organizerId": "org"}},
        TICKETING,
    )
    assert "errors" not in result, result


def order_input(order_id: str, who: str, *nominals: str, spend: int = 0, fee: str = "0") -> dict:
    return {
        "id": order_id,
        "participantId": who,
        "programId": PROGRAM,
        "channel": "WEBSITE",
        "bonusToSpend": spend,
        "items": [
            {"id": f"{order_id}-t{n}", "eventId": "e1", "kind": "TICKET", "nominal": nominal, "serviceFee": fee}
            for n, nominal in enumerate(nominals)
        ],
    }


async def credit(gql, who: str, amount: int) -> None:
    result = await gql.op(
        "AdjustBonus",
        {"input": {"participantId": who, "programId": PROGRAM, "amount": amount, "reason": "goodwill"}},
        ADMIN,
    )
    assert "errors" not in result, result


async def test_programs_needs_no_token(gql):
    result = await gql.op("Programs")
    programs = result["data"]["programs"]
    # In plugins.toml's order; «Live Brighter!» first.
    assert programs[0] == {
        "id": PROGRAM,
        "name": "«Live Brighter!»",
        "currency": "KZT",
        "rulesUrl": "https://ticketon.kz/bonus-program-rules",
        "organizerIds": [],
    }
    import tomllib

    from tests.gql import ROOT

    configured = list(tomllib.loads((ROOT / "plugins.toml").read_text())["programs"])
    assert [p["id"] for p in programs] == configured


async def test_lb01_join_without_consent_is_refused_and_writes_nothing(gql):
    before = await counts()
    result = await gql.op(
        "JoinProgram",
        {"input": {"programId": PROGRAM, "acceptRules": False, "personalDataConsent": True, "marketingConsent": False}},
        participant_token("ann"),
    )
    assert error_code(result) == "RULE" and result["errors"][0]["extensions"]["rule"] == "LB-01"
    assert await counts() == before


async def test_lb01_unverified_wallet_is_pending_until_a_verified_token_arrives(gql):
    joined = await join(gql, "ann", verified=False)
    assert joined["data"]["joinProgram"]["wallet"]["status"] == "PENDING"
    me = await gql.op("Wallets", token=participant_token("ann", verified=True))
    assert me["data"]["me"]["wallets"][0]["status"] == "ACTIVE"


async def test_join_unknown_program_is_not_found(gql):
    result = await gql.op(
        "JoinProgram",
        {"input": {"programId": "nope", "acceptRules": True, "personalDataConsent": True, "marketingConsent": False}},
        participant_token("ann"),
    )
    assert error_code(result) == "NOT_FOUND"


async def test_me_is_null_before_joining(gql):
    assert (await gql.op("Wallets", token=participant_token("nobody")))["data"]["me"] is None


async def test_lb15_profile_and_marketing_consent(gql):
    await join(gql, "ann")
    who = participant_token("ann")
    updated = await gql.op("UpdateProfile", {"input": {"displayName": "Ann"}}, who)
    assert updated["data"]["updateProfile"]["participant"] == {"id": "ann", "displayName": "Ann"}
    consent = await gql.op("SetMarketingConsent", {"allowed": True}, who)
    assert consent["data"]["setMarketingConsent"]["participant"]["marketingConsent"] is True
    consent = await gql.op("SetMarketingConsent", {"allowed": False}, who)
    assert consent["data"]["setMarketingConsent"]["participant"]["marketingConsent"] is False


async def test_lb16_erasure_blocks_every_wallet_and_answers_the_same_twice(gql):
    await join(gql, "ann")
    first = await gql.op("RequestErasure", token=participant_token("ann"))
    again = await gql.op("RequestErasure", token=participant_token("ann"))
    assert first["data"]["requestErasure"]["participant"]["status"] == "ERASED"
    assert again == first
    assert first["data"]["requestErasure"]["participant"]["id"] != "ann"  # a pseudonym now
    row = await Participant.get()
    assert (row.display_name, row.email, row.marketing_consent) == (None, None, False)


async def test_quote_redemption_for_participant_and_ticketing(gql):
    await join(gql, "ann")
    await event(gql)
    await credit(gql, "ann", 1000)
    cart = {
        "programId": PROGRAM,
        "channel": "APP",
        "items": [{"eventId": "e1", "kind": "TICKET", "nominal": "2000.00", "serviceFee": "100.00"}],
    }
    mine = await gql.op("QuoteRedemption", {"cart": cart}, participant_token("ann"))
    # total 2,100.00; cap 30 % = 630 < 1,000 active
    assert mine["data"]["quoteRedemption"] == {
        "programId": PROGRAM,
        "maxBonus": 630,
        "available": 1000,
        "reason": "LB-08",
    }
    theirs = await gql.op("QuoteForParticipant", {"cart": {**cart, "participantId": "ann"}}, TICKETING)
    assert theirs["data"]["quoteRedemption"]["maxBonus"] == 630
    assert error_code(await gql.op("QuoteForParticipant", {"cart": cart}, TICKETING)) == "BAD_INPUT"
    other = await gql.op("QuoteRedemption", {"cart": {**cart, "participantId": "bob"}}, participant_token("ann"))
    assert error_code(other) == "FORBIDDEN"


async def test_record_pay_cancel_and_order_lookup(gql):
    await join(gql, "ann")
    await event(gql)
    await credit(gql, "ann", 500)
    recorded = await gql.op("RecordOrder", {"input": order_input("o1", "ann", "1000.00", spend=300)}, TICKETING)
    assert recorded["data"]["recordOrder"]["order"]["bonusSpent"] == 300
    # (1,000 - 300 spent) x 5 % = 35
    assert recorded["data"]["recordOrder"]["order"]["bonusToAccrue"] == 35
    cancelled = await gql.op("CancelOrder", {"id": "o1"}, TICKETING)
    assert cancelled["data"]["cancelOrder"]["order"] == {"id": "o1", "status": "CANCELLED", "bonusSpent": 0}
    assert error_code(await gql.op("PayOrder", {"id": "o1"}, TICKETING)) == "CONFLICT"
    looked_up = await gql.op("Order", {"id": "o1"}, ADMIN)
    assert looked_up["data"]["order"]["status"] == "CANCELLED"
    assert (await gql.op("Order", {"id": "missing"}, TICKETING))["data"]["order"] is None
    wallets = await gql.op("Wallets", token=participant_token("ann"))
    assert wallets["data"]["me"]["wallets"][0]["active"] == 500


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"bonusToSpend": -1}, "BAD_INPUT"),
        ({"items": []}, "BAD_INPUT"),
        ({"items": [{"id": "x", "eventId": "e1", "kind": "TICKET", "nominal": "-5.00"}]}, "BAD_INPUT"),
        ({"items": [{"id": "x", "eventId": "ghost", "kind": "TICKET", "nominal": "5.00"}]}, "NOT_FOUND"),
        ({"programId": "ghost"}, "NOT_FOUND"),
        ({"bonusToSpend": 301}, "RULE"),
    ],
)
async def test_bad_orders_are_refused_and_change_nothing(gql, change, code):
    await join(gql, "ann")
    await event(gql)
    await credit(gql, "ann", 500)
    before = await counts()
    result = await gql.op("RecordOrder", {"input": {**order_input("o1", "ann", "1000.00"), **change}}, TICKETING)
    assert error_code(result) == code
    assert await counts() == before


async def test_order_resent_with_other_items_is_a_conflict(gql):
    await event(gql)
    first = await gql.op("RecordOrder", {"input": order_input("o1", "ann", "1000.00")}, TICKETING)
    again = await gql.op("RecordOrder", {"input": order_input("o1", "ann", "1000.00")}, TICKETING)
    assert again == first
    other = await gql.op("RecordOrder", {"input": order_input("o1", "ann", "999.00")}, TICKETING)
    assert error_code(other) == "CONFLICT"
    assert await Order.all().count() == 1


async def test_refund_items_through_the_document(gql):
    await join(gql, "ann")
    await event(gql, days=1)
    await gql.op("RecordOrder", {"input": order_input("o1", "ann", "1000.00", "1000.00", fee="100.00")}, TICKETING)
    await gql.op("PayOrder", {"id": "o1"}, TICKETING)
    refund = {"orderId": "o1", "itemIds": ["o1-t0"], "reason": "CUSTOMER", "idempotencyKey": "r1"}
    first = await gql.op("RefundItems", {"input": refund}, TICKETING)
    # 2 x 1,000 at 5 % = 100 accrued, all revoked, none spent; money back 1,000 (no fee)
    assert first["data"]["refundItems"]["refund"]["moneyRefund"] == "1000.00"
    assert first["data"]["refundItems"]["refund"]["bonusRevoked"] == 100
    assert first["data"]["refundItems"]["order"]["status"] == "PARTIALLY_REFUNDED"
    assert await gql.op("RefundItems", {"input": refund}, TICKETING) == first
    twice = await gql.op("RefundItems", {"input": {**refund, "idempotencyKey": "r2"}}, TICKETING)
    assert error_code(twice) == "CONFLICT"
    looked_up = await gql.op("Order", {"id": "o1"}, TICKETING)
    assert len(looked_up["data"]["order"]["refunds"]) == 1


async def test_staff_operations_and_roles(gql):
    await join(gql, "ann")
    assert error_code(await gql.op("Participant", {"id": "ann"}, TICKETING)) == "FORBIDDEN"
    seen = await gql.op("Participant", {"id": "ann"}, ADMIN)
    assert seen["data"]["participant"]["wallets"][0]["status"] == "ACTIVE"
    blocked = await gql.op("BlockParticipant", {"id": "ann", "programId": None, "reason": "fraud"}, ADMIN)
    assert blocked["data"]["blockParticipant"]["participant"]["status"] == "BLOCKED"
    assert blocked["data"]["blockParticipant"]["participant"]["wallets"][0]["status"] == "BLOCKED"
    partner = token(Role.PARTNER, "ticketon-staff", partner="ticketon")
    # MG-13 Decision: the program's unblock does not lift the admin's global block
    unblocked = await gql.op("UnblockParticipant", {"id": "ann", "programId": PROGRAM, "reason": "ok"}, partner)
    assert unblocked["data"]["unblockParticipant"]["participant"]["wallets"][0]["status"] == "BLOCKED"
    unblocked = await gql.op("UnblockParticipant", {"id": "ann", "programId": None, "reason": "ok"}, ADMIN)
    assert unblocked["data"]["unblockParticipant"]["participant"]["status"] == "ACTIVE"
    assert unblocked["data"]["unblockParticipant"]["participant"]["wallets"][0]["status"] == "ACTIVE"
    other = token(Role.PARTNER, "x", partner="someone-else")
    assert (
        error_code(await gql.op("BlockParticipant", {"id": "ann", "programId": PROGRAM, "reason": "r"}, other))
        == "FORBIDDEN"
    )
    assert (
        error_code(await gql.op("BlockParticipant", {"id": "ann", "programId": None, "reason": "r"}, partner))
        == "FORBIDDEN"
    )
    adjusted = await gql.op(
        "AdjustBonus",
        {"input": {"participantId": "ann", "programId": PROGRAM, "amount": 50, "reason": "sorry"}},
        partner,
    )
    assert adjusted["data"]["adjustBonus"]["entry"] == {
        "id": adjusted["data"]["adjustBonus"]["entry"]["id"],
        "kind": "ADJUSTMENT",
        "amount": 50,
        "rule": None,
        "description": "sorry",
    }
    zero = await gql.op(
        "AdjustBonus", {"input": {"participantId": "ann", "programId": PROGRAM, "amount": 0, "reason": "x"}}, ADMIN
    )
    assert error_code(zero) == "BAD_INPUT"


async def test_bad_tokens_get_unauthenticated(gql):
    assert error_code(await gql.op("Wallets", token="not-a-jwt")) == "UNAUTHENTICATED"
    import jwt

    forged = jwt.encode(
        {"sub": "ann", "role": "admin", "exp": 4102444800},
        "a-wrong-secret-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    assert error_code(await gql.op("Participant", {"id": "ann"}, forged)) == "UNAUTHENTICATED"
    expired = jwt.encode(
        {"sub": "ann", "role": "admin", "exp": 1000}, "test-secret-not-for-production-0123456789", algorithm="HS256"
    )
    assert error_code(await gql.op("Participant", {"id": "ann"}, expired)) == "UNAUTHENTICATED"


async def test_unexpected_errors_are_masked_with_an_error_id(gql, monkeypatch, caplog):
    from loyalty import orders

    async def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(orders, "get_order", boom)
    result = await gql.op("Order", {"id": "o1"}, ADMIN)
    error = result["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert "secret detail" not in error["message"]
    assert error["extensions"]["errorId"] in caplog.text and "secret detail" in caplog.text
