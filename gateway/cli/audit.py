"""`loyalty audit`: check every ledger invariant of a live database, wallet by wallet.

Exits 0 when the ledger is whole; 1, with one line per broken invariant naming the
wallet, when it is not. It only reads, so it is safe to run against production.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.database import run
from gateway.cli.exits import ExitCode
from loyalty.ledger.audit import Violation
from loyalty.ledger.audit import audit as audit_ledger


def report(violations: list[Violation]) -> list[str]:
    """The lines `loyalty audit` prints: one per violation, then the wallets named."""
    if not violations:
        return ["The ledger is whole: every invariant holds for every wallet."]
    lines = [f"wallet {v.wallet_id if v.wallet_id is not None else '-'}: {v.invariant}: {v.detail}" for v in violations]
    wallets = sorted({v.wallet_id for v in violations if v.wallet_id is not None})
    lines.append(f"{len(violations)} violation(s) in {len(wallets)} wallet(s): {', '.join(map(str, wallets))}")
    return lines


def audit(
    database_url: Annotated[
        str | None, typer.Option(help="database to audit (default: DATABASE_URL)", show_default=False)
    ] = None,
) -> int:
    """Check every ledger invariant, wallet by wallet (read only).

    The invariants of DESIGN.md, for every wallet: entries = lots' remaining + held -
    debt, 0 <= remaining <= amount, debt >= 0, no entry of 0, orders' holds and
    spends, each gift once. Exits 1 naming the wallets that break one. Read only:
    safe on a live database.
    """
    violations = run(audit_ledger, database_url)
    for line in report(violations):
        print(line)
    return ExitCode.FAILED if violations else ExitCode.OK
