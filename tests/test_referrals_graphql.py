"""The referral documents of the contract (MyReferral, ReferralLanding, ReferralsForReview,
ReviewReferral) and revokeReferral, through the real app: answers, roles, the landing's 429."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

import pytest

from loyalty import clock
from loyalty.access import Role
from tests.gql import Client, error_code, participant_token, token

PROGRAM = "live-brighter"
TICKETING = token(Role.TICKETING, "ticketon")
ADMIN = token(Role.ADMIN, "support")
OWNER = token(Role.PARTNER, "ticketon-staff", partner="ticketon")
OTHER_PARTNER = token(Role.PARTNER, "mgt-staff", partner="mosgubteatr")


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


async def ok(gql, name: str, variables: dict | None = None, who: str | None = None) -> dict:
    result = await gql.op(name, variables, who)
    assert "errors" not in result, result
    return result["data"]


async def join(gql, who: str) -> None:
    await ok(
        gql,
        "JoinProgram",
        {"input": {"programId": PROGRAM, "acceptRules": True, "personalDataConsent": True, "marketingConsent": False}},
        participant_token(who),
    )


async def buy(gql, order_id: str, who: str, nominal: str, code: str | None = None, event: str = "e1") -> None:
    order = {
        "id": order_id,
        "participantId": who,
        "programId": PROGRAM,
        "channel": "WEBSITE",
        "referralCode": code,
        "items": [{"id": f"{order_id}-t", "eventId": event, "kind": "TICKET", "nominal": nominal}],
    }
    await ok(gql, "RecordOrder", {"input": order}, TICKETING)
    await ok(gql, "PayOrder", {"id": order_id}, TICKETING)


async def events(gql) -> None:
    for event_id, days in (("past", -1), ("e1", 10)):
        starts = (clock.now() + timedelta(days=days)).isoformat()
        await ok(
            gql,
            "UpsertEvent",
            {
                "input": {
                    "id": event_id,
                    "title": event_id,
                    "category": "concert",
                    "startsAt": starts,
                    "organizerId": "o",
                }
            },
            TICKETING,
        )


async def my_referral(gql, who: str) -> dict:
    return (await ok(gql, "MyReferral", {"programId": PROGRAM}, participant_token(who)))["me"]["referral"]


async def test_rf01_rf02_my_referral_and_the_landing(gql):
    await events(gql)
    await join(gql, "ref")
    await buy(gql, "own", "ref", "1000", event="past")
    mine = await my_referral(gql, "ref")
    code = mine["code"]
    assert mine == {
        "code": code,
        "link": f"https://ticketon.kz/r/{code}",
        "invited": 0,
        "rewarded": 0,
        "earned": 0,
        "blocked": False,
        "friends": [],
    }
    landing = await ok(gql, "ReferralLanding", {"code": code})  # no token
    assert landing["referralLanding"] == {"valid": True, "friendBonus": 500, "minPurchase": "3500", "currency": "KZT"}
    assert (await ok(gql, "ReferralLanding", {"code": "ABCDEFGHJKLM"}))["referralLanding"] == {
        "valid": False,
        "friendBonus": None,
        "minPurchase": None,
        "currency": None,
    }
    await buy(gql, "o1", "fr", "4000", code)  # the friend has not joined yet
    await buy(gql, "o2", "small", "1000", code)
    mine = await my_referral(gql, "ref")
    assert (mine["invited"], mine["rewarded"], mine["earned"]) == (2, 1, 200)
    assert [(f["status"], f["reason"]) for f in mine["friends"]] == [("REJECTED", "MIN_PURCHASE"), ("REWARDED", None)]
    # RF-11: the REFERRAL entry in the referrer's bonus history
    history = await ok(gql, "BonusHistory", {"programId": PROGRAM, "first": 1}, participant_token("ref"))
    entry = history["me"]["wallet"]["history"]["edges"][0]["node"]
    assert (entry["kind"], entry["amount"], entry["rule"], entry["orderId"]) == ("REFERRAL", 200, "RF-02", "o1")
    await join(gql, "fr")  # within 30 days: the friend's 500 now
    history = await ok(gql, "BonusHistory", {"programId": PROGRAM, "first": 1}, participant_token("fr"))
    entry = history["me"]["wallet"]["history"]["edges"][0]["node"]
    assert (entry["kind"], entry["amount"], entry["rule"]) == ("REFERRAL", 500, "RF-02")


async def test_rf01_referral_is_null_where_the_program_runs_none(gql):
    await join(gql, "ann")
    result = await ok(gql, "MyReferral", {"programId": "mgt-plus"}, participant_token("ann"))
    assert result["me"]["referral"] is None


async def review_one(gql) -> str:
    """21 friends of one referrer this month: the 21st waits in REVIEW (RF-08); its id."""
    await events(gql)
    await join(gql, "ref")
    await buy(gql, "own", "ref", "1000", event="past")
    code = (await my_referral(gql, "ref"))["code"]
    for n in range(21):
        await buy(gql, f"o{n}", f"fr{n}", "4000", code)
    page = await ok(gql, "ReferralsForReview", {"first": 5}, ADMIN)
    edges = page["referralsForReview"]["edges"]
    assert len(edges) == 1 and page["referralsForReview"]["pageInfo"]["hasNextPage"] is False
    node = edges[0]["node"]
    assert {k: v for k, v in node.items() if k not in ("id", "at")} == {
        "programId": PROGRAM,
        "referrerId": "ref",
        "friendId": "fr20",
        "status": "REVIEW",
        "reason": "RF-08: 20 referrals rewarded this month (threshold 20)",
        "orderId": "o20",
    }
    return node["id"]


async def test_rf10_review_referrals_roles_and_approval(gql):
    referral_id = await review_one(gql)
    assert error_code(await gql.op("ReferralsForReview", {"first": 5}, participant_token("ref"))) == "FORBIDDEN"
    owned = await ok(gql, "ReferralsForReview", {"first": 5}, OWNER)
    assert len(owned["referralsForReview"]["edges"]) == 1
    others = await ok(gql, "ReferralsForReview", {"first": 5}, OTHER_PARTNER)
    assert others["referralsForReview"]["edges"] == []  # only its own programs' referrals
    refused = await gql.op("ReviewReferral", {"id": referral_id, "approve": True}, OTHER_PARTNER)
    assert error_code(refused) == "FORBIDDEN"
    approved = await ok(gql, "ReviewReferral", {"id": referral_id, "approve": True}, OWNER)
    assert approved["reviewReferral"]["referral"] == {"id": referral_id, "status": "REWARDED", "reason": None}
    again = await gql.op("ReviewReferral", {"id": referral_id, "approve": False}, ADMIN)
    assert error_code(again) == "CONFLICT"
    assert error_code(await gql.op("ReviewReferral", {"id": "999999", "approve": True}, ADMIN)) == "NOT_FOUND"
    mine = await my_referral(gql, "ref")
    assert (mine["rewarded"], mine["earned"]) == (21, 21 * 200)


async def test_rf10_review_rejection_with_a_note_and_revoking_a_rewarded_one(gql):
    referral_id = await review_one(gql)
    rejected = await ok(gql, "ReviewReferral", {"id": referral_id, "approve": False, "note": "bulk buyer"}, ADMIN)
    assert rejected["reviewReferral"]["referral"] == {
        "id": referral_id,
        "status": "REJECTED",
        "reason": "RF-10: bulk buyer",
    }
    assert next(f["reason"] for f in (await my_referral(gql, "ref"))["friends"]) == "REJECTED"
    revoke = "mutation($id: ID!, $reason: String!) { revokeReferral(id: $id, reason: $reason) { referral { id status reason } } }"
    first_id = str(int(referral_id) - 20)  # o0's referral, REWARDED
    result = await gql(revoke, {"id": first_id, "reason": "fraud ring"}, ADMIN)
    assert result["data"]["revokeReferral"]["referral"] == {
        "id": first_id,
        "status": "REJECTED",
        "reason": "RF-10: fraud ring",
    }
    assert error_code(await gql(revoke, {"id": first_id, "reason": "again"}, ADMIN)) == "CONFLICT"
    assert error_code(await gql(revoke, {"id": first_id, "reason": "x"}, participant_token("ref"))) == "FORBIDDEN"


async def landing_status(client: Client, code: str, address: str = "10.0.0.1") -> tuple[int, str | None]:
    response = await client.http.post(
        "/graphql",
        json={"query": "query($c: String!) { referralLanding(code: $c) { valid } }", "variables": {"c": code}},
    )
    return response.status_code, response.headers.get("retry-after")


async def test_rf01_the_landing_is_rate_limited_per_client_address():
    client = Client(LOYALTY_LANDING_RATE="3/minute")
    try:
        assert [await landing_status(client, "ABCDEFGHJKLM") for _ in range(3)] == [(200, None)] * 3
        status, retry = await landing_status(client, "ABCDEFGHJKLM")
        assert status == 429 and retry is not None and 1 <= int(retry) <= 60
        # Other operations are not limited
        assert (await client.http.post("/graphql", json={"query": "{ programs { id } }"})).status_code == 200
    finally:
        await client.http.aclose()
    # Another client address has its own allowance
    other = Client(LOYALTY_LANDING_RATE="3/minute")
    other.http._transport = type(other.http._transport)(app=other.app, client=("10.9.9.9", 1234))  # type: ignore[attr-defined]
    try:
        assert (await landing_status(other, "ABCDEFGHJKLM"))[0] == 200
    finally:
        await other.http.aclose()


REDIS = os.environ.get("LOYALTY_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS, reason="needs LOYALTY_TEST_REDIS_URL (a Redis database of its own)")
async def test_rf01_with_redis_the_landing_limit_holds_across_gateway_processes():
    rate = "2/minute"
    # Two apps stand for two gateway processes; a fresh address keeps earlier runs out of the count
    address = (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}", 4000)
    first = Client(redis_url=REDIS, LOYALTY_LANDING_RATE=rate)
    second = Client(redis_url=REDIS, LOYALTY_LANDING_RATE=rate)
    for client in (first, second):
        client.http._transport = type(client.http._transport)(app=client.app, client=address)  # type: ignore[attr-defined]
    try:
        assert (await landing_status(first, "ABCDEFGHJKLM"))[0] == 200
        assert (await landing_status(second, "ABCDEFGHJKLM"))[0] == 200
        assert (await landing_status(first, "ABCDEFGHJKLM"))[0] == 429
        assert (await landing_status(second, "ABCDEFGHJKLM"))[0] == 429
    finally:
        await first.http.aclose()
        await second.http.aclose()


@pytest.mark.parametrize("referral_id", ["¹", "١٢", "9" * 19, "-1", " 7"])
async def test_a_referral_id_that_is_no_number_we_issue_is_not_found_never_internal(gql, referral_id):
    """ "¹" passes str.isdigit but not int(); 19 nines overflow a BIGINT: both are NOT_FOUND (the fuzzer's case)."""
    revoke = "mutation($id: ID!, $reason: String!) { revokeReferral(id: $id, reason: $reason) { referral { id } } }"
    assert error_code(await gql(revoke, {"id": referral_id, "reason": "x"}, ADMIN)) == "NOT_FOUND"
    review = await gql.op("ReviewReferral", {"id": referral_id, "approve": True}, ADMIN)
    assert error_code(review) == "NOT_FOUND"
