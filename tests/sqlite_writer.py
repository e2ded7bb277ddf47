"""One process writing a shared SQLite file, for test_sqlite_two_processes.

`python -m tests.sqlite_writer setup URL`: migrate, join two customers.
`python -m tests.sqlite_writer write URL NAME COUNT`: COUNT adjustments on both wallets,
  as fast as it can; prints a JSON line {"written": n, "errors": [...]}.
`python -m tests.sqlite_writer check URL`: the ledger invariants; prints the entry count.
"""

from __future__ import annotations

import asyncio
import json
import sys

from gateway import db
from loyalty import adjustments
from loyalty.models import Entry
from tests.invariants import assert_ledger_invariants
from tests.scenario import PLUGINS_TOML, PROGRAM, join

CUSTOMERS = ("c-left", "c-right")


async def setup(url: str) -> None:
    from plugins.manager import build

    await db.migrate(url)
    await db.stop()
    await db.start(url)
    catalog = build(PLUGINS_TOML).catalog
    for customer in CUSTOMERS:
        await join(catalog, customer)
    await db.stop()


async def write(url: str, name: str, count: int) -> None:
    from plugins.manager import build

    await db.start(url)
    catalog = build(PLUGINS_TOML).catalog
    written, errors = 0, []
    for n in range(count):
        for customer in CUSTOMERS:
            try:
                await adjustments.adjust(
                    catalog, adjustments.Adjustment(customer, PROGRAM, amount=1, reason=f"{name} {n}")
                )
                written += 1
            except Exception as error:  # counted and reported, never hidden
                errors.append(f"{type(error).__name__}: {error}")
    await db.stop()
    print(json.dumps({"written": written, "errors": errors}))


async def check(url: str) -> None:
    await db.start(url)
    await assert_ledger_invariants()
    print(json.dumps({"entries": await Entry.all().count()}))
    await db.stop()


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "setup":
        asyncio.run(setup(url))
    elif command == "write":
        asyncio.run(write(url, rest[0], int(rest[1])))
    else:
        asyncio.run(check(url))
