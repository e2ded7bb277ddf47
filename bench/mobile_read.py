"""The mobile app's hot read, through the gateway, against a raw floor measured in the same run.

    python bench/mobile_read.py [--requests 2000] [--concurrency 8]

The read: a participant's wallets (balance, pending, debt, next burn) and the first 20
history rows: the mobile app's `Wallets` and `BonusHistory` documents (schema/documents).
The floor is a bare Starlette endpoint that answers the same data with hand-written SQL
on a raw asyncpg pool (no ORM, no GraphQL). Both are called in-process over ASGI, so the
ratio is the cost of the gateway's layers, not of the network. Needs PostgreSQL:
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); a scratch database is
created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway import db  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.auth import issue  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from loyalty import adjustments, clock, events, orders, participants  # noqa: E402
from loyalty.access import Role  # noqa: E402
from loyalty.enums import Channel, ItemKind  # noqa: E402
from plugins.manager import build  # noqa: E402

SECRET = secrets.token_hex(32)
ERASURE_KEY = secrets.token_hex(32)


async def seed(catalog) -> None:
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


def raw_app(pool: asyncpg.Pool) -> Starlette:
    """The floor: the same data, hand-written SQL, plain JSON."""

    async def wallets(request: Request) -> JSONResponse:
        now = datetime.now(UTC)
        async with pool.acquire() as conn:
            person = await conn.fetchrow(
                "SELECT id, customer_id, status, display_name, marketing_consent FROM participant WHERE customer_id=$1",
                "reader",
            )
            rows = await conn.fetch(
                """SELECT w.id, w.program_id, w.status, w.tier, w.debt,
                     COALESCE(SUM(l.remaining) FILTER (WHERE l.activates_at <= $2 AND l.expires_at > $2), 0) AS active,
                     COALESCE(SUM(l.remaining) FILTER (WHERE l.activates_at > $2), 0) AS pending,
                     MIN(l.expires_at) FILTER (WHERE l.remaining > 0 AND l.activates_at <= $2 AND l.expires_at > $2)
                       AS burn_at
                   FROM wallet w LEFT JOIN lot l ON l.wallet_id = w.id AND l.remaining > 0
                   WHERE w.participant_id = $1 GROUP BY w.id""",
                person["id"],
                now,
            )
            result = []
            for w in rows:
                burn = None
                if w["burn_at"] is not None:
                    amount = await conn.fetchval(
                        "SELECT SUM(remaining) FROM lot WHERE wallet_id=$1 AND expires_at=$2 AND activates_at <= $3",
                        w["id"],
                        w["burn_at"],
                        now,
                    )
                    burn = {"at": w["burn_at"].isoformat(), "amount": amount}
                result.append(
                    {
                        "program": {"id": w["program_id"]},
                        "status": w["status"],
                        "tier": w["tier"],
                        "active": w["active"],
                        "pending": w["pending"],
                        "debt": w["debt"],
                        "nextBurn": burn,
                    }
                )
        return JSONResponse(
            {
                "data": {
                    "me": {
                        "id": person["customer_id"],
                        "status": person["status"],
                        "displayName": person["display_name"],
                        "marketingConsent": person["marketing_consent"],
                        "wallets": result,
                    }
                }
            }
        )

    async def history(request: Request) -> JSONResponse:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT e.id, e.kind, e.amount, e.at, e.activates_at, e.expires_at, e.description, e.order_id,
                          e.campaign_id, e.rule
                   FROM entry e JOIN wallet w ON w.id = e.wallet_id JOIN participant p ON p.id = w.participant_id
                   WHERE p.customer_id = $1 AND w.program_id = $2 ORDER BY e.id DESC LIMIT 21""",
                "reader",
                "live-brighter",
            )
        edges = [
            {
                "cursor": str(r["id"]),
                "node": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(r).items()},
            }
            for r in rows[:20]
        ]
        return JSONResponse(
            {"data": {"me": {"wallet": {"history": {"edges": edges, "pageInfo": {"hasNextPage": len(rows) > 20}}}}}}
        )

    return Starlette(routes=[Route("/wallets", wallets), Route("/history", history)])


async def measure(label: str, call, requests: int, concurrency: int) -> float:
    for _ in range(50):
        await call()
    started = time.perf_counter()
    done = 0
    while done < requests:
        batch = min(concurrency, requests - done)
        await asyncio.gather(*(call() for _ in range(batch)))
        done += batch
    rate = requests / (time.perf_counter() - started)
    print(f"  {label:<28} {rate:8.0f} requests/s")
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    base = db.normalise_url(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    name = f"loyalty_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        await db.migrate(url)
        await db.stop()
        await db.start(url)
        host = build(ROOT / "plugins.toml")
        await seed(host.catalog)
        pool = await asyncpg.create_pool(url.replace("postgres://", "postgresql://", 1), min_size=2, max_size=10)
        gateway = create_app(
            Settings(
                LOYALTY_JWT_SECRET=SECRET, LOYALTY_ERASURE_KEY=ERASURE_KEY, LOYALTY_PLUGINS=str(ROOT / "plugins.toml")
            ),
            open_database=False,
        )
        # The mobile app's own documents, as it sends them (schema/documents/mobile.graphql).
        wallets, history = (gateway.state.registry[name].text for name in ("Wallets", "BonusHistory"))
        token = issue(SECRET, role=Role.PARTICIPANT, sub="reader", email="r@example.com", email_verified=True)
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as g,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=raw_app(pool)), base_url="http://r") as r,
        ):

            async def gateway_read() -> None:
                a = await g.post("/graphql", json={"query": wallets}, headers=headers)
                b = await g.post(
                    "/graphql",
                    json={"query": history, "variables": {"programId": "live-brighter", "first": 20}},
                    headers=headers,
                )
                assert "errors" not in a.json() and "errors" not in b.json(), (a.text, b.text)

            async def raw_read() -> None:
                await r.get("/wallets")
                await r.get("/history")

            print(
                f"mobile read (Wallets + BonusHistory 20 rows), {args.requests} reads, concurrency {args.concurrency}"
            )
            floor = await measure("floor: Starlette + asyncpg", raw_read, args.requests, args.concurrency)
            ours = await measure("gateway: GraphQL + Tortoise", gateway_read, args.requests, args.concurrency)
            print(f"  ratio gateway/floor: {ours / floor:.2f}")
        await pool.close()
        await db.stop()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
