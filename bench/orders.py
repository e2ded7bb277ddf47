"""S2 and S3, the ticketing system's writes: the gateway under uvicorn against raw asyncpg floors.

    python bench/orders.py [order|spend|both] [--duration 10] [--load auto|wrk|python] [--quick]

`order` (S2): each connection records an order of one 2,000.00 ticket to a concert
(RecordOrder, accruing 5 %) for one of its own participants (`--spread` of them, in
turn, so that no buyer's history grows past what a real one's does in a run: a payment
reads the buyer's purchases for their achievements, GA-02), then pays it (PayOrder), and
again (schema/documents/ticketing.graphql, sent by operationName with a ticketing
token). The floor (bench/floor.py) writes the same rows in raw asyncpg: the order and
its item; then the lot and the ACCRUAL entry under the wallet's lock, the order marked
paid. Rate: orders/s, one order being both requests; p50/p99 over both. wrk or
bench/load.py, 32 connections.

`spend` (S3): 100 concurrent spends of 100 bonuses on one wallet holding 4,000 (so 40
succeed, 60 are refused with RULE LB-08), round after round, each round on a wallet of
its own, for the duration. The gateway's spend is the ticketing system's: RecordOrder
with bonusToSpend, which holds the bonuses; the floor's one conditional
`UPDATE lot ... WHERE remaining >= $n RETURNING`. Always bench/load.py (a burst needs
a barrier wrk has not). Afterwards: no overdraft on any wallet, every accepted spend in
the ledger, and the ledger audit (`loyalty audit`) clean over the gateway's wallets.

`both` (the default) runs S2 then S3. Exits 1 when a request failed, a check failed or
a wallet was overdrawn; the ratios are informational. Needs PostgreSQL: DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/test); a scratch database is made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import ROOT, Plan, Result, Row

from gateway import db
from gateway.auth import issue
from loyalty import clock, events, sql
from loyalty.access import Role
from loyalty.ledger.audit import audit
from tests.population import populate

PROGRAM = "live-brighter"
PLUGINS = str(ROOT / "plugins.toml")
BALANCE, SPEND, BURST = 4000, 100, 100  # each S3 wallet: 4,000 bonuses, 100 spends of 100 at once
WARM_ROUNDS = 3
HISTORY_WALLETS, HISTORY_ORDERS = 2000, 10  # the paid orders of other participants, before the runs


def order_input(order_id: str, customer: str, spend: int = 0) -> dict[str, object]:
    item = {"id": "t1", "eventId": "e1", "kind": "TICKET", "nominal": "2000.00"}
    order: dict[str, object] = {"id": order_id, "participantId": customer, "programId": PROGRAM, "channel": "APP"}
    return {**order, "items": [item], **({"bonusToSpend": spend} if spend else {})}


def record(order_id: str, customer: str, operation: str = "RecordOrder", spend: int = 0) -> str:
    return json.dumps({"operationName": operation, "variables": {"input": order_input(order_id, customer, spend)}})


def pay(order_id: str) -> str:
    return json.dumps({"operationName": "PayOrder", "variables": {"id": order_id}})


async def seed(url: str, buyers: int, spenders: int) -> None:
    """`buyer-1..N` (S2), `gspend-`/`fspend-` wallets of BALANCE each (S3, one lot and its entry),
    and the concert e1 in three days; every wallet ACTIVE."""
    await db.start(url)
    await populate("buyer-", buyers, PROGRAM)
    for prefix in ("gspend-", "fspend-", "gwarm-", "fwarm-"):
        await populate(prefix, spenders if "spend" in prefix else WARM_ROUNDS, PROGRAM)
    await events.upsert(events.EventDraft("e1", "Event 1", "concert", clock.now() + timedelta(days=3), "org"))
    now = clock.now()
    await sql.execute(
        "WITH lots AS (INSERT INTO lot (wallet_id, kind, amount, remaining, activates_at, expires_at, rule,"
        " rules_version, created_at) SELECT w.id, 'GIFT', $1, $1, $2, $3, 'LB-14', '2021-1', $4 FROM wallet w"
        " JOIN participant p ON p.id = w.participant_id WHERE p.customer_id NOT LIKE 'buyer-%'"
        " RETURNING id, wallet_id, amount, activates_at, expires_at)"
        " INSERT INTO entry (wallet_id, kind, amount, at, activates_at, expires_at, description, lot_id, rule,"
        " rules_version) SELECT wallet_id, 'GIFT', amount, $4, activates_at, expires_at, 'bench seed', id,"
        " 'LB-14', '2021-1' FROM lots",
        BALANCE,
        now - timedelta(days=1),
        now + timedelta(days=365),
        now,
    )
    await history(now)
    assert not await audit(), "the seed's ledger is not whole"
    await sql.execute("VACUUM ANALYZE")
    await db.stop()


async def history(now: datetime) -> None:
    """A ledger with a past, as production's: HISTORY_WALLETS other participants, each with
    HISTORY_ORDERS paid orders of one ticket that spent 10 bonuses of a 1,000 gift (the
    order, its item, the SPEND entry and its draw). Analysed empty, the tables the runs fill
    would tell the planner they stay empty, and the statements each connection prepares
    at its first request would scan them whole ever after, slower with every order."""
    await populate("history-", HISTORY_WALLETS, PROGRAM)
    spent = 10 * HISTORY_ORDERS
    await sql.execute(
        "WITH w AS (SELECT w.id FROM wallet w JOIN participant p ON p.id = w.participant_id"
        " WHERE p.customer_id LIKE 'history-%'),"
        " lots AS (INSERT INTO lot (wallet_id, kind, amount, remaining, activates_at, expires_at, rule, rules_version,"
        " created_at) SELECT id, 'GIFT', 1000, 1000 - $1::int, $2, $3, 'LB-14', '2021-1', $2 FROM w"
        " RETURNING id, wallet_id, activates_at, expires_at)"
        " INSERT INTO entry (wallet_id, kind, amount, at, activates_at, expires_at, description, lot_id, rule,"
        " rules_version) SELECT wallet_id, 'GIFT', 1000, activates_at, activates_at, expires_at, 'history', id,"
        " 'LB-14', '2021-1' FROM lots",
        spent,
        now - timedelta(days=HISTORY_ORDERS + 1),
        now + timedelta(days=365),
    )
    await sql.execute(
        "WITH w AS (SELECT w.id AS wallet_id, p.customer_id, l.id AS lot_id FROM wallet w"
        " JOIN participant p ON p.id = w.participant_id JOIN lot l ON l.wallet_id = w.id"
        " WHERE p.customer_id LIKE 'history-%'),"
        " o AS (INSERT INTO orders (id, customer_id, program_id, wallet_id, channel, status, total, bonus_requested,"
        " bonus_spent, bonus_to_accrue, bonus_accrued, accruals_revoked, content_digest, rules_version, created_at,"
        " paid_at) SELECT 'h' || w.wallet_id || '-' || k, w.customer_id, $1, w.wallet_id, 'APP', 'PAID', 2000, 10,"
        " 10, 0, 0, FALSE, 'history', '2021-1', $2::timestamptz - k * INTERVAL '1 day', $2::timestamptz - k * INTERVAL '1 day'"
        " FROM w, generate_series(1, $3::int) AS k RETURNING id, wallet_id, paid_at),"
        " i AS (INSERT INTO order_item (order_id, item_id, position, event_id, kind, nominal, service_fee, discount,"
        " bonus_share) SELECT id, 't1', 0, 'e1', 'TICKET', 2000, 0, 0, 10 FROM o),"
        " s AS (INSERT INTO entry (wallet_id, kind, amount, at, order_id, description, rule, rules_version)"
        " SELECT wallet_id, 'SPEND', -10, paid_at, id, 'history', 'LB-08', '2021-1' FROM o"
        " RETURNING id, wallet_id, order_id, at)"
        " INSERT INTO draw (lot_id, wallet_id, amount, order_id, entry_id, created_at)"
        " SELECT w.lot_id, s.wallet_id, 10, s.order_id, s.id, s.at FROM s JOIN w ON w.wallet_id = s.wallet_id",
        PROGRAM,
        now,
        HISTORY_ORDERS,
    )


def same_shape(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal answers but for the order's id."""

    def strip(answer: dict[str, Any]) -> str:
        return json.dumps(answer).replace('"g-check"', '"ID"').replace('"f-check"', '"ID"')

    return strip(a) == strip(b)


def check_orders(gateway: str, floor: str, headers: dict[str, str]) -> bool:
    """One order recorded and paid on each side; the answers must match."""
    ok = True
    for label, bodies in (
        ("RecordOrder", (record("g-check", "buyer-1"), record("f-check", "buyer-1"))),
        ("PayOrder", (pay("g-check"), pay("f-check"))),
    ):
        ours, theirs = harness.post(gateway, bodies[0], headers), harness.post(floor, bodies[1], headers)
        if "errors" in ours or not same_shape(ours, theirs):
            print(f"{label}: the floor's answer differs:\n  gateway {ours}\n  floor   {theirs}", file=sys.stderr)
            ok = False
    return ok


def order_plan(side: str, tag: str, headers: dict[str, str], spread: int) -> Plan:
    """Per connection: record order <side><tag>-<conn>-<seq> for its next buyer, then pay it."""
    order_id = f"{side}{tag}-@conn@-@seq@"
    return Plan([record(order_id, "buyer-@buyer@"), pay(order_id)], headers, spread=spread)


def spend_plan(side: str, prefix: str, rounds: int, headers: dict[str, str]) -> Plan:
    """A burst a round: each connection spends SPEND on <prefix><round>."""
    operation = "RecordOrder" if side == "g" else "Spend"
    body = record(f"{prefix}@round@-@conn@", f"{prefix}@round@", operation, SPEND)
    return Plan([body], headers, refusals=["RULE"], rounds=rounds)


async def run_orders(
    args: argparse.Namespace, kind: str, gateway: str, floor: str, headers: dict[str, str]
) -> list[Row]:
    print(f"S2 order (RecordOrder then PayOrder, 1 ticket, accrual): load {kind}, {args.connections} connections")
    if not check_orders(gateway, floor, headers):
        return [Row("order", "check", Result(0, 0, 0, 0, 1, sample="the floor answers otherwise"))]
    for side, base in (("f", floor), ("g", gateway)):
        harness.drive(kind, base, order_plan(side, "warm", headers, args.spread), args.connections, args.warmup)
    rows = []
    sides = [("floor", floor), ("gateway", gateway)]
    for n in range(args.repeat):
        for side, base in sides if n % 2 == 0 else sides[::-1]:  # who goes first alternates
            plan = order_plan(side[0], str(n), headers, args.spread)
            result = harness.drive(kind, base, plan, args.connections, args.duration)
            rows.append(Row("order", side, result, unit="orders/s", per=2))
            harness.print_row(rows[-1])
    return rows


async def run_spends(args: argparse.Namespace, gateway: str, floor: str, headers: dict[str, str]) -> list[Row]:
    print(
        f"S3 contention: {BURST} concurrent spends of {SPEND} on one wallet of {BALANCE} a round "
        f"({BALANCE // SPEND} can succeed), one wallet per round, up to {args.wallets} rounds or {args.duration:g} s; "
        "load bench/load.py"
    )
    for side, base in (("g", gateway), ("f", floor)):
        harness.drive("python", base, spend_plan(side, f"{side}warm-", WARM_ROUNDS, headers), BURST, args.duration)
    rows = []
    for side, base in (("floor", floor), ("gateway", gateway)):
        plan = spend_plan(side[0], f"{side[0]}spend-", args.wallets, headers)
        rows.append(Row("spend", side, harness.drive("python", base, plan, BURST, args.duration), unit="spends/s"))
        harness.print_row(rows[-1])
        print(f"    {len(rows[-1].result.per_round)} rounds, {sum(rows[-1].result.per_round)} spends accepted")
    return rows


async def overdrafts(url: str, rows: list[Row]) -> int:
    """The S3 wallets after the bursts: problems found (overdrafts, or a ledger that disagrees
    with the answers), each printed; the audit over the gateway's wallets included."""
    await db.start(url)
    problems = 0
    try:
        for row in rows:
            prefix = "gspend-" if row.side == "gateway" else "fspend-"
            found = await sql.fetch(
                "SELECT p.customer_id, w.id, (SELECT MIN(l.remaining) FROM lot l WHERE l.wallet_id = w.id) AS low,"
                " (SELECT SUM(l.remaining) FROM lot l WHERE l.wallet_id = w.id) AS left_,"
                " (SELECT COALESCE(SUM(d.amount), 0) FROM draw d WHERE d.wallet_id = w.id AND d.entry_id IS NULL)"
                " AS held FROM wallet w JOIN participant p ON p.id = w.participant_id"
                " WHERE p.customer_id LIKE $1 || '%'",
                prefix,
            )
            by_round = {int(r["customer_id"].removeprefix(prefix)): r for r in found}
            for number, accepted in enumerate(row.result.per_round, start=1):
                wallet = by_round[number]
                taken = BALANCE - int(wallet["left_"])
                if int(wallet["low"]) < 0 or taken > BALANCE or accepted * SPEND > BALANCE:
                    print(f"  OVERDRAFT on {prefix}{number}: {accepted} spends accepted, {wallet}", file=sys.stderr)
                    problems += 1
                elif taken != accepted * SPEND or (row.side == "gateway" and int(wallet["held"]) != taken):
                    print(f"  {prefix}{number}: {accepted} accepted but the ledger says {wallet}", file=sys.stderr)
                    problems += 1
        floor_wallets = {
            int(r["id"])
            for r in await sql.fetch(
                "SELECT w.id FROM wallet w JOIN participant p ON p.id = w.participant_id"
                " WHERE p.customer_id LIKE 'fspend-%' OR p.customer_id LIKE 'fwarm-%'"
            )
        }
        # The spend floor moves lots alone, with no entry: the audit is the gateway's.
        broken = [v for v in await audit() if v.wallet_id not in floor_wallets]
        for violation in broken[:20]:
            print(f"  audit: {violation}", file=sys.stderr)
        problems += len(broken)
        rounds = sum(len(row.result.per_round) for row in rows)
        print(f"  after S3: {rounds} wallets checked, {problems} problems (overdrafts, mismatches, audit violations)")
    finally:
        await db.stop()
    return problems


async def audited(url: str) -> int:
    """The ledger audit over the whole database after S2; violations, printed."""
    await db.start(url)
    try:
        found = await audit()
        paid = await sql.fetch(
            "SELECT LEFT(id, 1) AS side, COUNT(*) AS n FROM orders WHERE status = 'PAID' AND LEFT(id, 1) IN ('g', 'f')"
            " GROUP BY 1"
        )
    finally:
        await db.stop()
    for violation in found[:20]:
        print(f"  audit: {violation}", file=sys.stderr)
    counts = ", ".join(f"{'gateway' if r['side'] == 'g' else 'floor'} {r['n']}" for r in sorted(paid, key=str))
    print(f"  after S2: orders paid: {counts}; ledger audit: {len(found)} violations")
    return len(found)


async def run(args: argparse.Namespace) -> int:
    kind = harness.load_kind(args.load)
    secret = secrets.token_hex(32)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {issue(secret, role=Role.TICKETING, sub='bench')}",
    }
    rows: list[Row] = []
    problems = 0
    async with harness.scratch_database(args.database_url) as url:
        harness.migrate(url)
        await seed(url, args.connections * args.spread, args.wallets)
        env = {"DATABASE_URL": url, "LOYALTY_JWT_SECRET": secret, "LOYALTY_PLUGINS": PLUGINS}
        with (
            harness.serve("gateway.app:app", env) as gateway,
            harness.serve("floor:app", env, app_dir=harness.BENCH) as floor,
        ):
            print(f"one uvicorn process each side, {args.duration:g} s per run; load = 1-minute load average / cores")
            if args.scenario in ("order", "both"):
                found = await run_orders(args, kind, gateway, floor, headers)
                rows += found
                problems += await audited(url) if all(r.side != "check" for r in found) else 1
            if args.scenario in ("spend", "both"):
                spends = await run_spends(args, gateway, floor, headers)
                rows += spends
                problems += await overdrafts(url, spends)
    rows = [r for r in rows if r.side != "check"]
    harness.print_table(rows)
    failed = harness.failures(rows)
    if problems:
        print(f"{problems} checks failed: see above", file=sys.stderr)
    return 1 if failed or problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", choices=("order", "spend", "both"), default="both")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or harness.DEFAULT_DATABASE)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of S2 warm-up per side")
    parser.add_argument("--connections", type=int, default=32, help="S2's connections")
    parser.add_argument("--spread", type=int, default=20, help="S2: buyers per connection, in turn")
    parser.add_argument("--wallets", type=int, default=600, help="S3: wallets per side, so at most this many rounds")
    parser.add_argument("--repeat", type=int, default=1, help="S2: measured runs per side")
    parser.add_argument(
        "--load", choices=("auto", "wrk", "python"), default="auto", help="S2's; auto: wrk if installed"
    )
    parser.add_argument("--quick", action="store_true", help="a short check that it works (CI): 2 s runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.wallets = 2, 1, min(args.wallets, 60)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
