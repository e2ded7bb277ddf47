"""Benchmark: a gift campaign to N participants with two arq workers, and the burn job,
each beside its floor measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/campaign.py --participants 1000000

It creates a scratch database next to DATABASE_URL's (dropped at the end), migrates it,
writes N participants with ACTIVE wallets (set-based), then:

- campaign floor: ONE INSERT ... SELECT (a data-modifying WITH) writing the same GIFT
  lots and GIFT entries the campaign writes, for every wallet;
- campaign: launch (the audience fixed: members and batches written) and two
  `arq gateway.worker.WorkerSettings` processes granting every batch, until FINISHED; it
  also writes the grants (unique per campaign and participant) the floor does not;
- burn floor: ONE statement writing a BURN entry for each of the N expired gift lots
  and zeroing them;
- burn job: `loyalty.ledger.burns.burn_expired` (the cron job's function) over the same lots.

Prints each time, its floor and the ratio (target: at most 2x), and one JSON line.
`--max-ratio R` exits 1 when a ratio is above R (CI's smoke run does not set it:
at 10,000 rows fixed costs dominate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from gateway import db  # noqa: E402
from loyalty import audiences, campaigns, clock, ledger, sql  # noqa: E402
from loyalty.enums import CampaignStatus  # noqa: E402
from loyalty.jobs import dispatch  # noqa: E402
from loyalty.models import Campaign  # noqa: E402
from plugins.manager import build  # noqa: E402
from tests.population import populate  # noqa: E402
from workers.queue import ArqQueue  # noqa: E402

PROGRAM = "live-brighter"
AMOUNT = 100

FLOOR_CAMPAIGN = """
WITH l AS (
  INSERT INTO lot (wallet_id, kind, amount, remaining, activates_at, expires_at, rule, rules_version,
                   campaign_id, created_at)
  SELECT w.id, 'GIFT', $2, $2, $3, $4, 'LB-14', '2021-1', 0, $3
  FROM wallet w JOIN participant p ON p.id = w.participant_id
  WHERE w.program_id = $1 AND w.status = 'ACTIVE' AND p.status = 'ACTIVE'
  RETURNING id, wallet_id
)
INSERT INTO entry (wallet_id, kind, amount, at, activates_at, expires_at, description, campaign_id, lot_id,
                   rule, rules_version)
SELECT wallet_id, 'GIFT', $2, $3, $3, $4, 'floor', 0, id, 'LB-14', '2021-1' FROM l
"""

FLOOR_BURN = """
WITH due AS (
  SELECT id, wallet_id, remaining, expires_at, rules_version, campaign_id FROM lot
  WHERE expires_at <= $1 AND remaining > 0
), burn AS (
  INSERT INTO entry (wallet_id, kind, amount, at, description, campaign_id, lot_id, rule, rules_version)
  SELECT wallet_id, 'BURN', -remaining, expires_at, 'bonuses expired', campaign_id, id, 'LB-04', rules_version
  FROM due
)
UPDATE lot SET remaining = 0 FROM due WHERE lot.id = due.id
"""


def log(message: str) -> None:
    print(message, flush=True)


async def admin(base: str, statement: str) -> None:
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def settle() -> None:
    """Same starting line for each timed run: dead rows vacuumed, statistics fresh, dirty pages written."""
    for table in ("lot", "entry", "wallet", "participant", "campaign_member", "campaign_grant", "campaign_batch"):
        await sql.execute(f"VACUUM ANALYZE {table}")
    await sql.execute("CHECKPOINT")


def start_worker(database_url: str, redis_url: str, queue_name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOYALTY_QUEUE": queue_name,
        "LOYALTY_PLUGINS": str(ROOT / "plugins.toml"),
    }
    arq = Path(sys.executable).with_name("arq")
    return subprocess.Popen(
        [str(arq), "gateway.worker.WorkerSettings"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_for_connections(name: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await sql.fetch("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1", name)
        if int(rows[0]["n"]) >= count:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the workers did not connect to the database")


async def run(args: argparse.Namespace) -> dict[str, float]:
    base = db.normalise_url(args.database_url)
    name = f"loyalty_bench_{secrets.token_hex(4)}"
    url = base.rsplit("/", 1)[0] + "/" + name
    await admin(base, f'CREATE DATABASE "{name}"')
    workers: list[subprocess.Popen[bytes]] = []
    queue = ArqQueue(args.redis_url, f"loyalty-bench:{secrets.token_hex(4)}")
    try:
        await db.migrate(url)
        await db.stop()
        await db.start(url)
        n = args.participants
        t = time.perf_counter()
        await populate("b-", n, PROGRAM)
        log(f"{n:,} participants with ACTIVE wallets written in {time.perf_counter() - t:.1f} s")
        now = clock.now()

        # ---- campaign floor
        await settle()
        t = time.perf_counter()
        await sql.execute(FLOOR_CAMPAIGN, PROGRAM, AMOUNT, now, now + timedelta(days=30))
        floor_campaign = time.perf_counter() - t
        rows = await sql.fetch("SELECT COUNT(*) AS n FROM lot")
        assert int(rows[0]["n"]) == n
        await sql.execute("TRUNCATE draw, entry, lot")
        log(f"campaign floor (one INSERT ... SELECT of {n:,} lots + entries): {floor_campaign:.2f} s")

        # ---- the campaign, two worker processes
        catalog = build(ROOT / "plugins.toml").catalog
        campaign = await campaigns.create(
            catalog,
            campaigns.Draft(
                name="bench", program_id=PROGRAM, amount=AMOUNT, audience=audiences.audience(all=True), valid_days=30
            ),
            "bench",
            batch_size=args.batch_size,
        )
        workers = [start_worker(url, args.redis_url, queue.queue_name) for _ in range(args.workers)]
        await wait_for_connections(name, 1 + args.workers)
        await settle()
        t = time.perf_counter()
        _, work = await campaigns.launch(catalog, campaign.id)
        launched = time.perf_counter() - t
        await dispatch(queue, work)
        while (await Campaign.get(id=campaign.id)).status is not CampaignStatus.FINISHED:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - t
        done = (await campaigns.progress([campaign.id]))[campaign.id]
        gifts = await sql.fetch("SELECT COUNT(*) AS n FROM entry WHERE kind = 'GIFT' AND campaign_id = $1", campaign.id)
        assert done.granted == n and int(gifts[0]["n"]) == n, (done, gifts)
        log(
            f"campaign ({len(work.batches)} batches of {args.batch_size:,}, {args.workers} workers): "
            f"{elapsed:.2f} s (launch {launched:.2f} s, grants {elapsed - launched:.2f} s), "
            f"{n / elapsed:,.0f} participants/s; ratio to floor {elapsed / floor_campaign:.2f}"
        )

        # ---- burn floor, then the burn job, over the same N expired lots
        later = now + timedelta(days=31)
        await settle()
        t = time.perf_counter()
        await sql.execute(FLOOR_BURN, later)
        floor_burn = time.perf_counter() - t
        log(f"burn floor (one statement over {n:,} expired lots): {floor_burn:.2f} s")
        await sql.execute("DELETE FROM entry WHERE kind = 'BURN'")
        await sql.execute("UPDATE lot SET remaining = amount")
        await settle()
        clock.freeze(later)
        t = time.perf_counter()
        burned = await ledger.burn_expired()
        burn = time.perf_counter() - t
        clock.unfreeze()
        assert burned == n, burned
        log(f"burn job (ledger.burn_expired): {burn:.2f} s; ratio to floor {burn / floor_burn:.2f}")
        return {
            "participants": n,
            "campaign_s": round(elapsed, 3),
            "campaign_floor_s": round(floor_campaign, 3),
            "campaign_ratio": round(elapsed / floor_campaign, 3),
            "launch_s": round(launched, 3),
            "burn_s": round(burn, 3),
            "burn_floor_s": round(floor_burn, 3),
            "burn_ratio": round(burn / floor_burn, 3),
        }
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        try:
            pool = await queue.pool()
            await pool.delete(queue.queue_name, f"{queue.queue_name}:health-check")
            await queue.close()
        except Exception:  # Redis trouble must not keep the scratch database
            pass
        await db.stop()
        if not args.keep:
            await admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--max-ratio", type=float, default=None, help="exit 1 when a ratio is above this")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error(
            "set DATABASE_URL (or --database-url) to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test"
        )
    figures = asyncio.run(run(args))
    print(json.dumps(figures), flush=True)
    if args.max_ratio is not None and max(figures["campaign_ratio"], figures["burn_ratio"]) > args.max_ratio:
        print(f"a ratio is above {args.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
