"""Real parallel requests against PostgreSQL: concurrent spends never overdraw a wallet (LB-13)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from loyalty import adjustments, ledger
from loyalty.access import Role
from tests import scenario
from tests.gql import Client, token

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
