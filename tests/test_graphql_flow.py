"""The «Live Brighter!» flow end to end through the contract's documents, as written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty import clock
from loyalty.access import Role
from tests.gql import Client, error_code, participant_token, token


@pytest.fixture
async def gql():
    client = Client()
    yield client
    await client.http.aclose()


async def test_lb02_lb05_flow_through_the_contract_documents(gql):
    ticketing = token(Role.TICKETING, "ticketon")
    alice = participant_token("alice")
    joined = await gql.op(
        "JoinProgram",
        {
            "input": {
                "programId": "live-brighter",
                "acceptRules": True,
                "personalDataConsent": True,
                "marketingConsent": True,
                "displayName": "Alice",
            }
        },
        alice,
    )
    assert joined == {
        "data": {
            "joinProgram": {
                "participant": {"id": "alice", "status": "ACTIVE"},
                "wallet": {"program": {"id": "live-brighter"}, "status": "ACTIVE"},
            }
        }
    }
    starts = (clock.now() + timedelta(days=2)).isoformat()
    event = await gql.op(
        "UpsertEvent",
        {"input": {"id": "e1", "title": "Concert", "category": "concert", "startsAt": starts, "organizerId": "org-1"}},
        ticketing,
    )
    assert event["data"]["upsertEvent"]["event"]["category"] == "concert"
    # 2 tickets x 5,000 + 300 fee each: total 10,600; concert 5 % of 10,000 paid for tickets = 500
    order = {
        "id": "o1",
        "participantId": "alice",
        "programId": "live-brighter",
        "channel": "WEBSITE",
        "items": [
            {"id": "t1", "eventId": "e1", "kind": "TICKET", "nominal": "5000.00", "serviceFee": "300.00"},
            {"id": "t2", "eventId": "e1", "kind": "TICKET", "nominal": "5000.00", "serviceFee": "300.00"},
        ],
    }
    recorded = await gql.op("RecordOrder", {"input": order}, ticketing)
    assert recorded["data"]["recordOrder"]["order"] == {
        "id": "o1",
        "status": "CREATED",
        "programId": "live-brighter",
        "bonusSpent": 0,
        "bonusToAccrue": 500,
        "promoCode": None,
        "total": "10600.00",
    }
    paid = await gql.op("PayOrder", {"id": "o1"}, ticketing)
    assert paid["data"]["payOrder"]["order"] == {"id": "o1", "status": "PAID", "bonusSpent": 0, "bonusAccrued": 500}
    wallets = await gql.op("Wallets", token=alice)
    wallet = wallets["data"]["me"]["wallets"][0]
    # The first purchase also unlocks First ticket (GA-04): 100 more, waiting for e1 too (GA-03)
    assert (wallet["active"], wallet["pending"], wallet["debt"], wallet["nextBurn"]) == (0, 600, 0, None)
    clock.advance(timedelta(days=2))
    wallets = await gql.op("Wallets", token=alice)
    wallet = wallets["data"]["me"]["wallets"][0]
    assert (wallet["active"], wallet["pending"]) == (600, 0)
    assert wallet["nextBurn"]["amount"] == 600
    history = await gql.op("BonusHistory", {"programId": "live-brighter", "first": 10}, alice)
    nodes = [edge["node"] for edge in history["data"]["me"]["wallet"]["history"]["edges"]]
    assert [(n["kind"], n["amount"], n["orderId"], n["rule"]) for n in nodes] == [
        ("ACHIEVEMENT", 100, "o1", "first-ticket"),
        ("ACCRUAL", 500, "o1", "LB-02"),
    ]
    found = await gql.op("MyAchievements", {"programId": "live-brighter"}, alice)
    unlocked = [(a["id"], a["progress"], a["goal"]) for a in found["data"]["me"]["achievements"] if a["unlockedAt"]]
    assert unlocked == [("first-ticket", 1, 1)]


async def test_errors_carry_contract_codes(gql):
    assert error_code(await gql.op("Wallets")) == "UNAUTHENTICATED"
    assert error_code(await gql.op("PayOrder", {"id": "nope"}, participant_token("bob"))) == "FORBIDDEN"
    assert error_code(await gql.op("PayOrder", {"id": "nope"}, token(Role.TICKETING))) == "NOT_FOUND"
    bad = await gql("{ programs { id } }", token=None)
    assert bad["data"]["programs"][0]["id"] == "live-brighter"
