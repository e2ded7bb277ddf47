"""Real parallel requests against PostgreSQL: concurrent spends never overdraw a wallet (LB-13);
a friend is attributed once (RF-07); the monthly threshold holds under parallel payments (RF-08)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from loyalty import adjustments, ledger
from loyalty.access import Role
from loyalty.enums import EntryKind, ReferralStatus
from loyalty.models import Entry
from loyalty.referrals.models import Referral
from tests import scenario
from tests.gql import Client, token
from tests.referrals import buy, referrer

pytestmark = pytest.mark.postgres


async def test_lb13_fifty_concurrent_spends_never_overdraw_one_wallet(catalog):
    wallet = await scenario.join(catalog, "spender")
    await adjustments.adjust(
        catalog, adjustments.Adjustment(customer_id="spender", program_id=scenario.PROGRAM, amount=1000, reason="seed")
    )
    await scenario.event("e1", starts_in=timedelta(days=3))
    client = Client()
    ticketing = token(Role.TICKETING, "ticketon")
    # Each order: one 1,000.00 ticket, cap 30 % = 300, spends 100. 1,000 active / 100 = 10 affordable.
    orders = [
        {
            "id": f"o{n}",
            "participantId": "spender",
            "programId": scenario.PROGRAM,
            "channel": "APP",
            "bonusToSpend": 100,
            "items": [{"id": f"t{n}", "eventId": "e1", "kind": "TICKET", "nominal": "1000.00"}],
        }
        for n in range(50)
    ]
    try:
        results = await asyncio.gather(*(client.op("RecordOrder", {"input": o}, ticketing) for o in orders))
    finally:
        await client.http.aclose()
    succeeded = [r for r in results if not r.get("errors")]
    refused = [r for r in results if r.get("errors")]
    assert len(succeeded) == 10
    assert {e["errors"][0]["extensions"].get("rule") for e in refused} == {"LB-08"}
    assert {e["errors"][0]["extensions"]["code"] for e in refused} == {"RULE"}
    balance = await ledger.balance(wallet.id)
    assert (balance.active, balance.held) == (0, 1000)


def friend_order(order_id: str, friend: str, code: str, nominal: str = "4000.00") -> dict:
    return {
        "id": order_id,
        "participantId": friend,
        "programId": scenario.PROGRAM,
        "channel": "WEBSITE",
        "referralCode": code,
        "items": [{"id": f"{order_id}-t", "eventId": "e1", "kind": "TICKET", "nominal": nominal}],
    }


async def test_rf07_two_codes_for_one_friend_recorded_and_paid_in_parallel_attribute_once(catalog):

    _, first = await referrer(catalog, "ref-a")
    _, second = await referrer(catalog, "ref-b")
    friend = await scenario.join(catalog, "friend")
    await scenario.event("e1", starts_in=timedelta(days=3))
    client = Client()
    ticketing = token(Role.TICKETING, "ticketon")
    try:
        recorded = await asyncio.gather(
            client.op("RecordOrder", {"input": friend_order("oa", "friend", first)}, ticketing),
            client.op("RecordOrder", {"input": friend_order("ob", "friend", second)}, ticketing),
        )
        assert all(not r.get("errors") for r in recorded), recorded
        paid = await asyncio.gather(
            client.op("PayOrder", {"id": "oa"}, ticketing), client.op("PayOrder", {"id": "ob"}, ticketing)
        )
        assert all(not r.get("errors") for r in paid), paid
    finally:
        await client.http.aclose()
    rows = await Referral.all().order_by("id")
    assert len(rows) == 2
    assert len([r for r in rows if r.attributed_friend == "friend"]) == 1
    assert [r.rule for r in rows if r.attributed_friend is None] == ["RF-07"]
    # At most one payout for the friend: 500 once (or none, when the other order was paid first: RF-03)
    friend_referral = [e.amount for e in await Entry.filter(wallet_id=friend.id, kind=EntryKind.REFERRAL)]
    rewarded = [r for r in rows if r.status is ReferralStatus.REWARDED]
    assert friend_referral == [500] * len(rewarded) and len(rewarded) <= 1


async def test_rf08_referrals_paid_in_parallel_across_the_threshold_put_exactly_the_excess_in_review(catalog):

    ref_wallet, code = await referrer(catalog)
    await scenario.event("e1", starts_in=timedelta(days=3))
    for n in range(17):  # 17 of the month's 20 rewarded already
        await buy(catalog, f"early{n}", f"early{n}", code)
    client = Client()
    ticketing = token(Role.TICKETING, "ticketon")
    try:
        for n in range(8):
            result = await client.op("RecordOrder", {"input": friend_order(f"p{n}", f"par{n}", code)}, ticketing)
            assert not result.get("errors"), result
        paid = await asyncio.gather(*(client.op("PayOrder", {"id": f"p{n}"}, ticketing) for n in range(8)))
        assert all(not r.get("errors") for r in paid), paid
    finally:
        await client.http.aclose()
    statuses = [r.status for r in await Referral.filter(order_id__startswith="p")]
    # 20 - 17 = 3 more are rewarded; the other 5 wait for review
    assert sorted(statuses) == sorted([ReferralStatus.REWARDED] * 3 + [ReferralStatus.REVIEW] * 5)
    assert (await ledger.balance(ref_wallet.id)).pending == 20 * 200
