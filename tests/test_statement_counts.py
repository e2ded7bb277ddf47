"""The write path's statement counts (issue 11, S2/S3): a guard, so the gain cannot silently regress.

Counted through Tortoise's connection (`tests.statements`), on SQLite and PostgreSQL; on
PostgreSQL also the round trips asyncpg sends, BEGIN and COMMIT included (a connection
goes back to the pool without a reset query: `gateway.postgres`). A 1-ticket accrual order: RecordOrder reads once (the
order's id, the buyer, the wallet, its balance, the event) and writes once (the order
with its item; SQLite, in-process, takes two inserts); PayOrder locks the order reading
its buyer, wallet and items, locks the wallet, writes the lot with its entry and marks
the order paid (one statement on PostgreSQL, two on SQLite). Spending adds the SPEND to PayOrder, and nothing to RecordOrder on
PostgreSQL (the order, its item, the wallet's lock and the FIFO draw are one statement,
in autocommit); on SQLite the wallet's read and the draw's statements. With
plugins.toml's built-in achievements (GA-04) a payment reads the unlocks with the
progress in one statement, under the wallet's lock. A change that needs more statements
changes these numbers on purpose.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty import orders, sql
from tests import scenario
from tests.statements import counted

# (statements on SQLite, on PostgreSQL, round trips on PostgreSQL)
EXPECTED = {
    "record": (3, 2, 2),
    "pay": (5, 3, 5),
    "record with spend": (7, 2, 2),
    "pay with spend": (8, 4, 6),
    "record again": (2, 2, 2),
    "pay again": (1, 1, 3),
}


async def _counts(catalog) -> dict[str, tuple[int, int]]:
    await scenario.active_wallet(catalog, "c1", "1000.00")  # 50 active
    await scenario.event("e1", "concert", starts_in=timedelta(days=5))
    seen: dict[str, tuple[int, int]] = {}

    async def run(name, call):
        with counted() as statements:
            await call()
        seen[name] = (len(statements.sql), len(statements.wire))

    plain = scenario.draft("o1", "c1", scenario.ticket("t1", "e1", "1000.00"))
    spending = scenario.draft("o2", "c1", scenario.ticket("t1", "e1", "1000.00"), spend=10)
    await run("record", lambda: orders.record_order(catalog, plain))
    await run("pay", lambda: orders.pay_order(catalog, "o1"))
    await run("record with spend", lambda: orders.record_order(catalog, spending))
    await run("pay with spend", lambda: orders.pay_order(catalog, "o2"))
    await run("record again", lambda: orders.record_order(catalog, plain))
    await run("pay again", lambda: orders.pay_order(catalog, "o1"))
    return seen


async def test_statements_of_record_and_pay_for_a_one_ticket_order(catalog):
    seen = await _counts(catalog)
    column = 1 if sql.is_postgres() else 0
    assert {name: count[0] for name, count in seen.items()} == {name: n[column] for name, n in EXPECTED.items()}


@pytest.mark.postgres
async def test_round_trips_of_record_and_pay_on_postgres(catalog):
    seen = await _counts(catalog)
    assert {name: count[1] for name, count in seen.items()} == {name: n[2] for name, n in EXPECTED.items()}


# Paying a second 1-ticket order with plugins.toml exactly (First ticket already unlocked):
# the core's statements and the achievements' one read. (SQLite, PostgreSQL, round trips)
WITH_ACHIEVEMENTS = (6, 4, 6)


async def test_statements_of_a_payment_with_the_built_in_achievements(achieving):
    await scenario.active_wallet(achieving, "c1", "1000.00")  # its first purchase: First ticket
    await scenario.event("e1", "concert", starts_in=timedelta(days=5))
    await orders.record_order(achieving, scenario.draft("o1", "c1", scenario.ticket("t1", "e1", "1000.00")))
    with counted() as statements:
        await orders.pay_order(achieving, "o1")
    if sql.is_postgres():
        assert (len(statements.sql), len(statements.wire)) == WITH_ACHIEVEMENTS[1:]
    else:
        assert len(statements.sql) == WITH_ACHIEVEMENTS[0]
