"""The database guards money too: CHECK constraints on the ledger's rows, and
`loyalty audit`, which finds a broken invariant in a live database and names the wallet."""

from __future__ import annotations

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import adjustments, clock, sql
from loyalty.enums import EntryKind
from loyalty.ledger.audit import audit
from loyalty.models import Entry, Lot, Wallet
from tests import scenario
from tests.test_cli import run_cli


async def two_wallets(catalog) -> tuple[Wallet, Wallet]:
    first = await scenario.join(catalog, "c1")
    second = await scenario.join(catalog, "c2")
    for customer in ("c1", "c2"):
        await adjustments.adjust(catalog, adjustments.Adjustment(customer, scenario.PROGRAM, 100, "seed"))
    return first, second


@pytest.mark.parametrize(
    "corrupt",
    [
        "UPDATE lot SET remaining = amount + 1",
        "UPDATE lot SET remaining = -1",
        "UPDATE wallet SET debt = -5",
        "UPDATE entry SET amount = 0",
        "UPDATE draw SET amount = 0",
    ],
)
async def test_lb10_lb13_the_database_refuses_rows_that_break_the_ledger(catalog, corrupt):
    await two_wallets(catalog)
    await scenario.event("e1")
    await scenario.buy(catalog, "o1", "c1", scenario.goods("g1", "e1", "1000"), spend=50)  # a draw
    with pytest.raises(IntegrityError):
        async with in_transaction():
            await sql.execute(corrupt)


async def test_lb10_the_audit_finds_a_wallet_whose_entries_disagree_with_its_lots(catalog, orm):
    _, second = await two_wallets(catalog)
    assert await audit() == []
    clean = run_cli("audit", "--database-url", orm)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "The ledger is whole" in clean.stdout
    # A value the CHECK allows, but the sums no longer agree: 100 entered, 90 in the lot.
    lot = await Lot.get(wallet_id=second.id)
    await Lot.filter(id=lot.id).update(remaining=90)
    try:
        found = await audit()
        assert [(v.wallet_id, v.invariant) for v in found] == [(second.id, "entries = remaining + held - debt")]
        assert found[0].detail == "entries 100 != remaining 90 + held 0 - debt 0"
        broken = run_cli("audit", "--database-url", orm)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert f"wallet {second.id}: entries = remaining + held - debt" in broken.stdout
        assert broken.stdout.strip().splitlines()[-1] == f"1 violation(s) in 1 wallet(s): {second.id}"
    finally:
        await Lot.filter(id=lot.id).update(remaining=100)


async def test_lb10_the_audit_finds_rows_the_checks_would_refuse_where_they_are_off(catalog):
    first, second = await two_wallets(catalog)
    postgres = sql.is_postgres()

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with in_transaction():
            # An old row from before the checks, or one written with them dropped.
            if postgres:
                await sql.execute("ALTER TABLE lot DROP CONSTRAINT lot_remaining_within_amount")
                await sql.execute("ALTER TABLE wallet DROP CONSTRAINT wallet_debt_not_negative")
            else:
                await sql.execute("PRAGMA ignore_check_constraints = ON")
            try:
                # 105 left of a lot of 100, the entries agreeing: only the lot's range is broken
                await Entry.create(
                    wallet_id=first.id, kind=EntryKind.ADJUSTMENT, amount=5, at=clock.now(), rules_version="2021-1"
                )
                await sql.execute("UPDATE lot SET remaining = 105 WHERE wallet_id = $1", first.id)
                await sql.execute("UPDATE wallet SET debt = -3 WHERE id = $1", second.id)
                found = {(v.wallet_id, v.invariant) for v in await audit()}
            finally:
                if not postgres:
                    await sql.execute("PRAGMA ignore_check_constraints = OFF")
            assert found == {
                (first.id, "0 <= lot remaining <= amount"),
                (second.id, "debt >= 0"),
                (second.id, "entries = remaining + held - debt"),
            }
            raise Rollback
