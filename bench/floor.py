"""The floors: a bare Starlette app on a raw asyncpg pool, run under uvicorn like the gateway.

    DATABASE_URL=postgres://... LOYALTY_JWT_SECRET=... uvicorn floor:app --app-dir bench

It answers POST /graphql bodies by `operationName` with hand-written SQL and plain
JSON: no GraphQL, no ORM, no rules engine. Each floor checks the bearer token (HS256,
the gateway's secret) and does the least a real endpoint would for the same answer:

- `Wallets`, `BonusHistory`: the same JSON as the gateway's for the mobile app's
  documents (schema/documents/mobile.graphql), from the same rows (S1; bench/mobile_read.py
  checks the answers are equal before timing).
- `RecordOrder`, `PayOrder`: the rows the gateway writes for an order of one ticket
  that accrues (S2): the order and its item; then, under the wallet's lock
  (SELECT ... FOR UPDATE), the accrual's lot and entry, and the order marked paid.
- `Spend`: RecordOrder's variables, answered by one conditional
  `UPDATE lot ... WHERE remaining >= $n RETURNING` (S3): refused (code RULE) when short.

The accrual rate is the «Live Brighter!» plugin's for the event's category, read from
plugins.toml. The pool holds at most 5 connections, Tortoise's default for the gateway.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "plugins.toml").read_text())
PROGRAMS = CONFIG["programs"]
RATES = CONFIG["plugins"]["live_brighter"]["settings"]
POOL_SIZE = 5

WALLETS = """
SELECT p.customer_id, p.status AS person, p.display_name, p.marketing_consent,
  w.id, w.program_id, w.status, w.tier, w.debt,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND l.remaining > 0
     AND l.activates_at <= $2 AND (l.expires_at IS NULL OR l.expires_at > $2)) AS active,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND l.remaining > 0
     AND l.activates_at > $2) AS pending,
  b.at AS burn_at, b.amount AS burn_amount
FROM participant p
LEFT JOIN wallet w ON w.participant_id = p.id
LEFT JOIN LATERAL (
  SELECT l.expires_at AS at, SUM(l.remaining) AS amount FROM lot l
  WHERE l.wallet_id = w.id AND l.remaining > 0 AND l.activates_at <= $2 AND l.expires_at > $2
  GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1
) b ON TRUE
WHERE p.customer_id = $1 ORDER BY w.id
"""

WALLET = """
SELECT w.id,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND l.remaining > 0
     AND l.activates_at <= $3 AND (l.expires_at IS NULL OR l.expires_at > $3)) AS active
FROM wallet w JOIN participant p ON p.id = w.participant_id WHERE p.customer_id = $1 AND w.program_id = $2
"""

# A credit's validity as known now is its lot's (loyalty/ledger/history.py).
HISTORY = """
SELECT e.id, e.kind, e.amount, e.at, e.description, e.order_id, e.campaign_id, e.rule,
  CASE WHEN l.id IS NOT NULL THEN l.activates_at ELSE e.activates_at END AS activates_at,
  CASE WHEN l.id IS NOT NULL THEN l.expires_at ELSE e.expires_at END AS expires_at
FROM entry e LEFT JOIN lot l ON l.id = e.lot_id AND e.amount > 0
WHERE e.wallet_id = $1 ORDER BY e.id DESC LIMIT $2
"""

RECORD = """
INSERT INTO orders (id, customer_id, program_id, wallet_id, channel, status, total, bonus_requested, bonus_spent,
  bonus_to_accrue, bonus_accrued, accruals_revoked, content_digest, rules_version, created_at)
SELECT $1, $2::varchar, $3::varchar, w.id, $4, 'CREATED', $5, 0, 0, $6, 0, FALSE, $7, $8, $9
FROM participant p JOIN wallet w ON w.participant_id = p.id AND w.program_id = $3::varchar WHERE p.customer_id = $2::varchar
"""

ITEM = """
INSERT INTO order_item (order_id, item_id, position, event_id, kind, nominal, service_fee, discount, bonus_share)
VALUES ($1, $2, 0, $3, $4, $5, 0, 0, 0)
"""

PAYING = """
SELECT o.wallet_id, o.status, o.bonus_to_accrue, o.rules_version, i.event_id, ev.starts_at
FROM orders o JOIN order_item i ON i.order_id = o.id JOIN event ev ON ev.id = i.event_id
WHERE o.id = $1 FOR UPDATE OF o
"""

LOT = """
INSERT INTO lot (wallet_id, kind, amount, remaining, activates_at, expires_at, rule, rules_version, order_id,
  event_id, created_at) VALUES ($1, 'ACCRUAL', $2, $2, $3, $4, 'LB-02', $5, $6, $7, $8) RETURNING id
"""

ENTRY = """
INSERT INTO entry (wallet_id, kind, amount, at, activates_at, expires_at, description, order_id, lot_id, rule,
  plugin, rules_version) VALUES ($1, 'ACCRUAL', $2, $3, $4, $5, 'bonuses for tickets', $6, $7, 'LB-02',
  'live_brighter', $8)
"""

SPEND = """
UPDATE lot SET remaining = remaining - $1
WHERE wallet_id = (SELECT w.id FROM wallet w JOIN participant p ON p.id = w.participant_id
                   WHERE p.customer_id = $2 AND w.program_id = $3)
  AND remaining >= $1
RETURNING remaining
"""


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def error(code: str, message: str, **extensions: str) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": message, "extensions": {"code": code, **extensions}}]})


async def wallets(conn: asyncpg.Connection, caller: dict[str, Any], _: dict[str, Any]) -> dict[str, Any]:
    rows = await conn.fetch(WALLETS, caller["sub"], datetime.now(UTC))
    person = rows[0]
    found = []
    for w in rows:
        if w["id"] is None:
            continue
        program = PROGRAMS[w["program_id"]]
        burn = {"at": iso(w["burn_at"]), "amount": int(w["burn_amount"])} if w["burn_at"] else None
        found.append(
            {
                "program": {"id": w["program_id"], "name": program["name"], "currency": program["currency"]},
                "status": w["status"],
                "tier": w["tier"],
                "active": int(w["active"]),
                "pending": int(w["pending"]),
                "debt": w["debt"],
                "nextBurn": burn,
            }
        )
    me = {
        "id": person["customer_id"],
        "status": person["person"],
        "displayName": person["display_name"],
        "marketingConsent": person["marketing_consent"],
        "wallets": found,
    }
    return {"me": me}


def cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"entry:{entry_id}".encode()).decode()


async def history(conn: asyncpg.Connection, caller: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    first = int(variables["first"])
    wallet = await conn.fetchrow(WALLET, caller["sub"], variables["programId"], datetime.now(UTC))
    rows = await conn.fetch(HISTORY, wallet["id"], first + 1)
    edges = [
        {
            "cursor": cursor(r["id"]),
            "node": {
                "id": str(r["id"]),
                "kind": r["kind"],
                "amount": r["amount"],
                "at": iso(r["at"]),
                "activatesAt": iso(r["activates_at"]) if r["amount"] > 0 else None,
                "expiresAt": iso(r["expires_at"]) if r["amount"] > 0 else None,
                "description": r["description"],
                "orderId": r["order_id"],
                "campaignId": str(r["campaign_id"]) if r["campaign_id"] else None,
                "rule": r["rule"],
            },
        }
        for r in rows[:first]
    ]
    page = {"hasNextPage": len(rows) > first, "endCursor": edges[-1]["cursor"] if edges else None}
    return {"me": {"wallet": {"active": int(wallet["active"]), "history": {"edges": edges, "pageInfo": page}}}}


async def record_order(conn: asyncpg.Connection, _: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    order = variables["input"]
    (item,) = order["items"]
    total = Decimal(item["nominal"])
    category = await conn.fetchval("SELECT category FROM event WHERE id = $1", item["eventId"])
    rate = RATES["category_rates"].get(category, RATES["default_rate_percent"])
    accrual = int(total * rate / 100)
    digest = hashlib.sha256(json.dumps(order, sort_keys=True).encode()).hexdigest()
    rules_version = PROGRAMS[order["programId"]]["rules_version"]
    async with conn.transaction():
        await conn.execute(
            RECORD,
            order["id"],
            order["participantId"],
            order["programId"],
            order["channel"],
            total,
            accrual,
            digest,
            rules_version,
            datetime.now(UTC),
        )
        await conn.execute(ITEM, order["id"], item["id"], item["eventId"], item["kind"], total)
    recorded = {"id": order["id"], "status": "CREATED", "programId": order["programId"], "bonusSpent": 0}
    return {"recordOrder": {"order": {**recorded, "bonusToAccrue": accrual, "promoCode": None, "total": str(total)}}}


async def pay_order(conn: asyncpg.Connection, _: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    order_id = variables["id"]
    now = datetime.now(UTC)
    async with conn.transaction():
        order = await conn.fetchrow(PAYING, order_id)
        await conn.execute("SELECT id FROM wallet WHERE id = $1 FOR UPDATE", order["wallet_id"])
        activates = max(order["starts_at"], now)
        expires = activates + timedelta(days=PROGRAMS["live-brighter"]["validity_days"])
        amount, version = order["bonus_to_accrue"], order["rules_version"]
        lot = await conn.fetchval(
            LOT, order["wallet_id"], amount, activates, expires, version, order_id, order["event_id"], now
        )
        await conn.execute(ENTRY, order["wallet_id"], amount, now, activates, expires, order_id, lot, version)
        await conn.execute(
            "UPDATE orders SET status = 'PAID', paid_at = $2, bonus_accrued = $3 WHERE id = $1", order_id, now, amount
        )
    return {"payOrder": {"order": {"id": order_id, "status": "PAID", "bonusSpent": 0, "bonusAccrued": amount}}}


async def spend(conn: asyncpg.Connection, _: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any] | None:
    order = variables["input"]
    amount = int(order["bonusToSpend"])
    left = await conn.fetchval(SPEND, amount, order["participantId"], order["programId"])
    if left is None:
        return None
    return {"recordOrder": {"order": {"id": order["id"], "status": "CREATED", "bonusSpent": amount}}}


OPERATIONS = {
    "Wallets": ("participant", wallets),
    "BonusHistory": ("participant", history),
    "RecordOrder": ("ticketing", record_order),
    "PayOrder": ("ticketing", pay_order),
    "Spend": ("ticketing", spend),
}


async def graphql(request: Request) -> JSONResponse:
    try:
        caller = jwt.decode(
            request.headers.get("authorization", "").removeprefix("Bearer "),
            request.app.state.secret,
            algorithms=["HS256"],
        )
    except jwt.PyJWTError:
        return error("UNAUTHENTICATED", "a valid token is needed")
    body = await request.json()
    role, operation = OPERATIONS[body["operationName"]]
    if caller.get("role") != role:
        return error("FORBIDDEN", f"role {role} only")
    async with request.app.state.pool.acquire() as conn:
        data = await operation(conn, caller, body.get("variables") or {})
    if data is None:
        return error("RULE", "not enough bonuses", rule="LB-08")
    return JSONResponse({"data": data})


async def healthz(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    app.state.secret = os.environ["LOYALTY_JWT_SECRET"]
    app.state.pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
