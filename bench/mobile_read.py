"""S1, the mobile app's read: the gateway under uvicorn against its floor, measured in the same run.

    python bench/mobile_read.py [--duration 10] [--connections 32] [--load auto|wrk|python] [--quick]

The read is the contract's `Wallets` and `BonusHistory` (first: 20) documents
(schema/documents/mobile.graphql), sent as the app sends them: by operationName, with
no query text (persisted operations), and a participant token. The participant has
40 ledger entries (accruals on past and future events, spends). The floor
(bench/floor.py) is a bare Starlette + asyncpg endpoint answering the same JSON from the
same rows; both answers are compared once before timing. Each side is one uvicorn
process; the load is wrk (-t N -c N) or, where wrk is missing or with --load python,
bench/load.py, in a process of its own. Prints requests/s, p50 and p99 for each
document and side, then the gateway/floor ratios. Exits 1 when a request failed or
the answers differ (the ratios are informational).

Needs PostgreSQL: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); a
scratch database is created next to it and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import ROOT, Plan, Row

from gateway import db
from gateway.auth import issue
from loyalty import adjustments, clock, events, orders, participants
from loyalty.access import Role
from loyalty.enums import Channel, ItemKind
from loyalty.programs import Catalog
from plugins.manager import build

ERASURE_KEY = secrets.token_hex(32)
PLUGINS = str(ROOT / "plugins.toml")
DOCUMENTS = {
    "Wallets": {"operationName": "Wallets"},
    "BonusHistory": {"operationName": "BonusHistory", "variables": {"programId": "live-brighter", "first": 20}},
}
TARGET_P99_MS = 50


async def seed(catalog: Catalog) -> None:
    """One participant with 40 ledger entries: accruals on past and future events, spends."""
    identity = participants.Identity("reader", email="r@example.com", email_verified=True)
    await participants.join(
        catalog,
        identity,
        participants.JoinRequest("live-brighter", True, True, True, "Reader"),
        erasure_key=ERASURE_KEY.encode(),
    )
    await adjustments.adjust(catalog, adjustments.Adjustment("reader", "live-brighter", 5000, "seed"))
    for n in range(20):
        starts = clock.now() + timedelta(days=(n % 4) - 1)
        await events.upsert(events.EventDraft(f"e{n}", f"Event {n}", "concert", starts, "org"))
        item = orders.ItemDraft(id=f"t{n}", event_id=f"e{n}", kind=ItemKind.TICKET, nominal=Decimal("2000.00"))
        draft = orders.OrderDraft("reader", "live-brighter", Channel.APP, (item,), id=f"o{n}", bonus_to_spend=100)
        await orders.record_order(catalog, draft)
        await orders.pay_order(catalog, f"o{n}")


def gateway_env(url: str, secret: str) -> dict[str, str]:
    """The gateway's settings: the scratch database, the token secret, the seed's erasure key."""
    return {
        "DATABASE_URL": url,
        "LOYALTY_JWT_SECRET": secret,
        "LOYALTY_ERASURE_KEY": ERASURE_KEY,
        "LOYALTY_PLUGINS": PLUGINS,
    }


def same_answers(gateway: str, floor: str, headers: dict[str, str]) -> bool:
    """Each document's answer from both sides, compared as JSON; prints what differs."""
    equal = True
    for name, document in DOCUMENTS.items():
        body = json.dumps(document)
        ours, theirs = harness.post(gateway, body, headers), harness.post(floor, body, headers)
        if "errors" in ours or ours != theirs:
            equal = False
            print(f"{name}: the floor's answer differs from the gateway's", file=sys.stderr)
            print(f"  gateway: {json.dumps(ours)[:2000]}\n  floor:   {json.dumps(theirs)[:2000]}", file=sys.stderr)
        else:
            print(f"  {name}: both answer the same {len(json.dumps(ours))} bytes of JSON")
    return equal


async def run(args: argparse.Namespace) -> int:
    kind = harness.load_kind(args.load)
    secret = secrets.token_hex(32)
    token = issue(secret, role=Role.PARTICIPANT, sub="reader", email="r@example.com", email_verified=True)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    rows: list[Row] = []
    async with harness.scratch_database(args.database_url) as url:
        harness.migrate(url)
        await db.start(url)
        await seed(build(PLUGINS).catalog)
        await db.stop()
        env = gateway_env(url, secret)
        with (
            harness.serve("gateway.app:app", env) as gateway,
            harness.serve("floor:app", env, app_dir=harness.BENCH) as floor,
        ):
            print(
                f"S1 mobile read: one uvicorn process each side, load {kind} with {args.connections} connections, "
                f"{args.duration:g} s per run; load = 1-minute load average / cores"
            )
            if not same_answers(gateway, floor, headers):
                return 1
            plans = {name: Plan([json.dumps(document)], headers) for name, document in DOCUMENTS.items()}
            for plan in plans.values():  # warm both processes and their pools
                for base in (floor, gateway):
                    harness.drive(kind, base, plan, args.connections, args.warmup)
            sides = [("floor", floor), ("gateway", gateway)]
            for n in range(args.repeat):
                for name, plan in plans.items():
                    for side, base in sides if n % 2 == 0 else sides[::-1]:  # who goes first alternates
                        row = Row(name, side, harness.drive(kind, base, plan, args.connections, args.duration))
                        harness.print_row(row)
                        rows.append(row)
    harness.print_table(rows)
    for name in DOCUMENTS:
        worst = max(r.result.p99_ms for r in rows if r.what == name and r.side == "gateway")
        verdict = "meets" if worst < TARGET_P99_MS else "misses"
        print(f"{name}: gateway p99 {worst:.1f} ms at {args.connections} connections ({verdict} < {TARGET_P99_MS} ms)")
    # A read is both documents: its rate is the harmonic sum of theirs.
    read = {
        side: 1 / sum(1 / max(r.result.rate for r in rows if r.what == name and r.side == side) for name in DOCUMENTS)
        for side in ("floor", "gateway")
    }
    print(f"mobile read (Wallets + BonusHistory): gateway {read['gateway']:.0f} vs floor {read['floor']:.0f} reads/s")
    print(f"ratio gateway/floor: {read['gateway'] / read['floor']:.2f}")
    return 1 if harness.failures(rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or harness.DEFAULT_DATABASE)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per document and side")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="measured runs of each document and side")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="auto: wrk if installed")
    parser.add_argument("--quick", action="store_true", help="a short check that it works (CI): 2 s runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 2, 1
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
