"""What limits each step of the deployment, measured here (docs/scaling.md).

    python bench/scaling.py http [--duration 15] [--connections 32] [--processes 1 2]
    python bench/scaling.py orders [--duration 15] [--clients 32] [--wallets 1 32]
    python bench/scaling.py redis [--jobs 10000]

`http` (the default): the gateway under uvicorn with 1, then N worker processes, on a
scratch PostgreSQL database (migrated with `loyalty migrate`, seeded with
bench/mobile_read.py's participant of 40 ledger entries), driven by wrk over loopback:
`GET /healthz` (the HTTP stack's ceiling) and the contract's `Wallets` document POSTed
with a participant token. Prints req/s, p50/p99 and the CPU the gateway processes
and their PostgreSQL backends used (in cores), and the ratio of N processes to one.

`orders`: the statements the gateway issues for an order recorded then paid (two
transactions, both locking the wallet), replayed by pgbench straight at PostgreSQL on a
scratch database with the real schema: orders/s with every client on one wallet, then
spread over many. The first is the per-wallet lock's serialisation; the second the
primary's write rate.

`redis`: redis-benchmark (set, lpush, zadd) and the rate `workers.queue.ArqQueue`
enqueues jobs at.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; a
scratch database is created next to it and dropped), wrk and pgbench on PATH, and for
`redis` REDIS_URL (default redis://127.0.0.1:6379/12; only a scratch queue is written).
Every figure is printed with the load average at the time: on a shared machine compare
ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import BIN, free_port, load, migrate, pg, scratch_database  # noqa: E402
from mobile_read import ERASURE_KEY, seed  # noqa: E402

from gateway import db  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.auth import issue  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from loyalty import clock, events, sql  # noqa: E402
from loyalty.access import Role  # noqa: E402
from plugins.manager import build  # noqa: E402
from tests.population import populate  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- CPU accounting from /proc


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            for child in (task / "children").read_text().split():
                found += _descendants(int(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_seconds(pid) for pid in pids)


# ---------------------------------------------------------------------------- wrk


@dataclass
class Wrk:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> Wrk:
    """Requests/sec, the 50% and 99% latencies (wrk --latency), and non-2xx plus socket errors."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Wrk(rate, p50, p99, requests, errors)


def per_request(cores: float, result: Wrk) -> float:
    """CPU milliseconds per request: cores busy over requests per second. Less sensitive to a
    shared machine's load than req/s: 1000 / this is the rate one free core would serve."""
    return 1000 * cores / result.rate if result.rate else 0.0


def lua_post(body: str, headers: dict[str, str]) -> str:
    """A wrk script POSTing one body with these headers."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def run_wrk(url: str, duration: int, connections: int, script: str | None) -> Wrk:
    command = ["wrk", "--latency", "--timeout", "30s", "-t2", f"-c{connections}", f"-d{duration}s", url]
    if script:
        command[1:1] = ["-s", script]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------------------- http: the gateway's processes


@contextlib.contextmanager
def gateway(url: str, secret: str, processes: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn on gateway.app:app with `processes` workers on a free loopback port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # reads only: no queue needed
    env |= {"DATABASE_URL": url, "LOYALTY_JWT_SECRET": secret, "LOYALTY_PLUGINS": str(ROOT / "plugins.toml")}
    env["LOYALTY_ERASURE_KEY"] = ERASURE_KEY  # the key the seed joined with
    command = [str(BIN / "uvicorn"), "gateway.app:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(processes), "--no-access-log", "--log-level", "warning"]
    # The gateway logs a line per GraphQL request, as in production: its cost is measured, its
    # text kept only to explain a failed start.
    with tempfile.TemporaryFile() as logs:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    logs.seek(0)
                    raise RuntimeError("uvicorn did not start:\n" + logs.read().decode(errors="replace")[-4000:])
                time.sleep(0.2)
            yield base, server
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


async def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving the scratch database (the gateways' pools)."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(pg(url))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


async def http(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk); `http` needs it", file=sys.stderr)
        return 2
    secret = secrets.token_hex(32)
    token = issue(secret, role=Role.PARTICIPANT, sub="reader", email="r@example.com", email_verified=True)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    # The mobile app's own document, as it sends it (schema/documents/mobile.graphql).
    plugins = str(ROOT / "plugins.toml")
    registry = create_app(
        Settings(LOYALTY_JWT_SECRET=secret, LOYALTY_PLUGINS=plugins), open_database=False
    ).state.registry
    body = json.dumps({"query": registry["Wallets"].text, "operationName": "Wallets"})
    rows: list[tuple[int, str, Wrk, float, float, str]] = []
    async with scratch_database(args.database_url) as url:
        migrate(url)
        await db.start(url)
        await seed(build(ROOT / "plugins.toml").catalog)
        await db.stop()
        with tempfile.TemporaryDirectory() as folder:
            script = str(Path(folder) / "wallets.lua")
            Path(script).write_text(lua_post(body, headers))
            print(
                f"gateway under uvicorn, wrk -t2 -c{args.connections} -d{args.duration}s over loopback, "
                f"{args.repeat} run(s) each; load = 1-minute load average / cores"
            )
            for processes in args.processes:
                with gateway(url, secret, processes) as (base, server):
                    answer = httpx.post(f"{base}/graphql", content=body, headers=headers, timeout=10).json()
                    assert "errors" not in answer and answer["data"]["me"]["wallets"], answer
                    run_wrk(f"{base}/graphql", 3, args.connections, script)  # warm every process and pool
                    run_wrk(f"{base}/healthz", 2, args.connections, None)
                    gateway_pids = _descendants(server.pid)
                    backends = await backend_pids(url)
                    for _ in range(args.repeat):
                        for label, target, lua in (
                            ("GET /healthz", f"{base}/healthz", None),
                            ("POST Wallets", f"{base}/graphql", script),
                        ):
                            before, before_pg, started = cpu_seconds(gateway_pids), cpu_seconds(backends), time.time()
                            result = run_wrk(target, args.duration, args.connections, lua)
                            wall = time.time() - started
                            gateway_cpu = (cpu_seconds(gateway_pids) - before) / wall
                            pg_cpu = (cpu_seconds(backends) - before_pg) / wall
                            rows.append((processes, label, result, gateway_cpu, pg_cpu, load()))
                            print(
                                f"  {processes} process(es) {label:<13} {result.rate:8.0f} req/s  "
                                f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
                                f"gateway CPU {gateway_cpu:4.2f} ({per_request(gateway_cpu, result):.1f} ms/req)  "
                                f"PostgreSQL CPU {pg_cpu:4.2f} ({per_request(pg_cpu, result):.1f} ms/req)  "
                                f"errors {result.errors}  load {load()}",
                                flush=True,
                            )
    print()
    print(
        "| processes | request | req/s | p50 ms | p99 ms | gateway CPU (cores) | gateway CPU ms/req "
        "| PostgreSQL CPU (cores) | PostgreSQL CPU ms/req | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for processes, label, result, gateway_cpu, pg_cpu, at in rows:
        print(
            f"| {processes} | {label} | {result.rate:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} "
            f"| {gateway_cpu:.2f} | {per_request(gateway_cpu, result):.2f} | {pg_cpu:.2f} "
            f"| {per_request(pg_cpu, result):.2f} | {at} |"
        )
    one = [r for r in rows if r[0] == args.processes[0]]
    for processes in args.processes[1:]:
        for label in ("GET /healthz", "POST Wallets"):
            base_rate = max(r[2].rate for r in one if r[1] == label)
            rate = max(r[2].rate for r in rows if r[0] == processes and r[1] == label)
            print(f"{label}: {processes} processes / {args.processes[0]}: {rate / base_rate:.2f} (best runs)")
    failed = sum(r[2].errors for r in rows)
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------- orders: pgbench at the primary

# The statements bench/scaling.py captured from `orders.record_order` then `orders.pay_order`
# (Tortoise's tortoise.db_client debug log) for a one-ticket order spending 100 bonuses and
# accruing 95, in the same order and transactions. :w is the wallet (and its participant).
ORDER_SCRIPT = r"""
\set w random(1, :wallets)
SELECT nextval('bench_order') AS n \gset
SELECT id FROM orders WHERE id = ('bench-' || :n) LIMIT 2;
SELECT * FROM participant WHERE customer_id = 'b-' || :w LIMIT 2;
SELECT * FROM wallet WHERE participant_id = :w AND program_id = 'live-brighter' LIMIT 2;
SELECT * FROM event WHERE id IN ('e1');
SELECT w.id, w.debt,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND l.remaining > 0
     AND l.activates_at <= now() AND (l.expires_at IS NULL OR l.expires_at > now())) AS active,
  (SELECT COALESCE(SUM(l.remaining), 0) FROM lot l WHERE l.wallet_id = w.id AND l.remaining > 0
     AND l.activates_at > now()) AS pending,
  (SELECT COALESCE(SUM(d.amount), 0) FROM draw d WHERE d.wallet_id = w.id AND d.entry_id IS NULL
     AND d.order_id IS NOT NULL) AS held
  FROM wallet w WHERE w.id IN (:w);
SELECT * FROM event WHERE id IN ('e1');
BEGIN;
SELECT * FROM wallet WHERE id = :w LIMIT 2 FOR UPDATE;
INSERT INTO orders (id, customer_id, program_id, wallet_id, channel, mode, status, promo_code, referral_code,
  fingerprint, total, bonus_requested, bonus_spent, bonus_to_accrue, bonus_accrued, accruals_revoked,
  content_digest, rules_version, created_at, paid_at, cancelled_at)
  VALUES (('bench-' || :n), 'b-' || :w, 'live-brighter', :w, 'APP', NULL, 'CREATED', NULL, NULL, NULL, 2000.00, 100, 100,
  95, 0, FALSE, md5(('bench-' || :n)), '2021-1', now(), NULL, NULL);
INSERT INTO order_item (item_id, position, event_id, kind, nominal, service_fee, discount, bonus_share,
  refund_id, order_id) VALUES ('t1', 0, 'e1', 'TICKET', 2000.00, 0.00, 0.00, 100, NULL, ('bench-' || :n)) RETURNING id;
SELECT id, remaining, expires_at, activates_at FROM lot WHERE wallet_id = :w AND remaining > 0
  AND activates_at <= now();
UPDATE lot SET remaining = remaining - 100 WHERE id = :w AND remaining >= 100;
INSERT INTO draw (wallet_id, amount, order_id, entry_id, created_at, lot_id)
  VALUES (:w, 100, ('bench-' || :n), NULL, now(), :w) RETURNING id;
COMMIT;
BEGIN;
SELECT * FROM orders WHERE id = ('bench-' || :n) LIMIT 2 FOR UPDATE;
SELECT * FROM participant WHERE customer_id = 'b-' || :w LIMIT 2;
SELECT * FROM wallet WHERE participant_id = :w AND program_id = 'live-brighter' LIMIT 2;
SELECT * FROM wallet WHERE id = :w LIMIT 2 FOR UPDATE;
SELECT * FROM order_item WHERE order_id = ('bench-' || :n) ORDER BY position;
SELECT * FROM event WHERE id IN ('e1');
SELECT amount FROM draw WHERE order_id = ('bench-' || :n) AND entry_id IS NULL;
INSERT INTO entry (kind, amount, at, activates_at, expires_at, description, order_id, campaign_id, lot_id,
  refund_id, rule, plugin, rules_version, wallet_id) VALUES ('SPEND', -100, now(), NULL, NULL,
  'bonuses spent on the order', ('bench-' || :n), NULL, NULL, NULL, 'LB-08', NULL, '2021-1', :w) RETURNING id AS spend \gset
UPDATE draw SET entry_id = :spend WHERE order_id = ('bench-' || :n) AND entry_id IS NULL;
INSERT INTO lot (kind, amount, remaining, activates_at, expires_at, rule, rules_version, order_id, event_id,
  campaign_id, created_at, wallet_id) VALUES ('ACCRUAL', 95, 95, now() + interval '30 days',
  now() + interval '120 days', 'LB-02', '2021-1', ('bench-' || :n), 'e1', NULL, now(), :w) RETURNING id AS accrual \gset
INSERT INTO entry (kind, amount, at, activates_at, expires_at, description, order_id, campaign_id, lot_id,
  refund_id, rule, plugin, rules_version, wallet_id) VALUES ('ACCRUAL', 95, now(), now() + interval '30 days',
  now() + interval '120 days', 'bonuses for tickets', ('bench-' || :n), NULL, :accrual, NULL, 'LB-02', 'live_brighter',
  '2021-1', :w) RETURNING id;
UPDATE orders SET status = 'PAID', paid_at = now(), bonus_accrued = 95, wallet_id = :w WHERE id = ('bench-' || :n);
COMMIT;
"""


async def seed_wallets(url: str, count: int) -> None:
    """`count` participants with ACTIVE wallets b-1.., each with one lot (id = wallet id) to spend from."""
    await db.start(url)
    await populate("b-", count, "live-brighter")
    await events.upsert(events.EventDraft("e1", "Event 1", "concert", clock.now(), "org"))
    await sql.execute(
        "INSERT INTO lot (id, wallet_id, kind, amount, remaining, activates_at, expires_at, rule, rules_version,"
        " created_at) SELECT id, id, 'GIFT', 1000000000, 1000000000, now() - interval '1 day',"
        " now() + interval '1 year', 'LB-14', '2021-1', now() FROM wallet ORDER BY id"
    )
    ids = await sql.fetch("SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM wallet")
    assert (ids[0]["lo"], ids[0]["hi"], ids[0]["n"]) == (1, count, count), ids  # wallet, participant, lot ids match
    await sql.execute("SELECT setval(pg_get_serial_sequence('lot', 'id'), $1)", count)
    await sql.execute("CREATE SEQUENCE bench_order")
    await sql.execute("VACUUM ANALYZE")
    await db.stop()


def parse_pgbench(output: str) -> tuple[float, float]:
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", output).group(1))  # type: ignore[union-attr]
    return tps, latency


async def orders(args: argparse.Namespace) -> int:
    if shutil.which("pgbench") is None:
        print("pgbench is not installed (it ships with postgresql-client); `orders` needs it", file=sys.stderr)
        return 2
    spread = max(args.wallets)
    rows = []
    async with scratch_database(args.database_url) as url:
        migrate(url)
        await seed_wallets(url, spread)
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "order.sql"
            script.write_text(ORDER_SCRIPT)
            print(
                f"an order recorded then paid (the gateway's 24 statements, 2 transactions), pgbench -M "
                f"prepared -c{args.clients} -j2 -T{args.duration}, straight at PostgreSQL"
            )
            for _ in range(args.repeat):
                for wallets in args.wallets:
                    command = ["pgbench", "-n", "-M", "prepared", "-f", str(script), f"-c{args.clients}", "-j2"]
                    command += [f"-T{args.duration}", "-D", f"wallets={wallets}", pg(url)]
                    done = subprocess.run(command, capture_output=True, text=True)
                    if done.returncode != 0:
                        print(done.stdout, done.stderr, file=sys.stderr)
                        return 1
                    tps, latency = parse_pgbench(done.stdout)
                    rows.append((wallets, tps, latency, load()))
                    print(
                        f"  {wallets:>4} wallet(s): {tps:8.0f} orders/s  latency {latency:7.1f} ms  load {load()}",
                        flush=True,
                    )
    print()
    print("| wallets | orders/s | mean latency ms | load |")
    print("|---|---|---|---|")
    for wallets, tps, latency, at in rows:
        print(f"| {wallets} | {tps:,.0f} | {latency:.1f} | {at} |")
    return 0


# ---------------------------------------------------------------------------- redis: the queue


async def redis(args: argparse.Namespace) -> int:
    from workers.queue import ArqQueue

    host, port, number = re.fullmatch(r"redis://([^:/]+):(\d+)/(\d+)", args.redis_url).groups()  # type: ignore[union-attr]
    if number == "0":
        print("use a Redis db other than 0", file=sys.stderr)
        return 2
    print(f"redis-benchmark -q -t set,lpush,zadd -n 100000 (load {load()}):", flush=True)
    if shutil.which("redis-benchmark"):
        command = ["redis-benchmark", "-h", host, "-p", port, "--dbnum", number, "-q", "-t", "set,lpush,zadd"]
        done = subprocess.run([*command, "-n", "100000"], check=True, capture_output=True, text=True)
        for line in done.stdout.replace("\r", "\n").splitlines():
            if "requests per second" in line:
                print(f"  {line.strip()}")
        cleanup = await ArqQueue(args.redis_url, "unused").pool()
        for pattern in ("key:*", "mylist*", "myzset*", "counter:*"):  # what redis-benchmark wrote
            keys = [k async for k in cleanup.scan_iter(match=pattern)]
            if keys:
                await cleanup.delete(*keys)
        await cleanup.aclose()
    else:
        print("  redis-benchmark is not installed: skipped")
    for _ in range(args.repeat):
        queue = ArqQueue(args.redis_url, f"loyalty-bench:{secrets.token_hex(4)}")
        pool = await queue.pool()
        try:
            started = time.perf_counter()
            for n in range(args.jobs):
                await queue.enqueue("grant_batch", 1, n, job_id=f"bench:{n}")
            elapsed = time.perf_counter() - started
            assert await pool.zcard(queue.queue_name) == args.jobs
            print(f"  ArqQueue.enqueue, one at a time: {args.jobs / elapsed:,.0f} jobs/s  load {load()}", flush=True)
        finally:
            keys = [k async for k in pool.scan_iter(match="arq:job:bench:*")]
            await pool.delete(queue.queue_name, *keys)
            await queue.close()
    return 0


# ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk or pgbench run")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement")
    sub = parser.add_subparsers(dest="command")
    web = sub.add_parser("http", help="the gateway: 1 process, then N (the default command)")
    web.add_argument("--connections", type=int, default=32)
    web.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    db_ = sub.add_parser("orders", help="an order recorded and paid, as pgbench at PostgreSQL")
    db_.add_argument("--clients", type=int, default=32)
    db_.add_argument("--wallets", type=int, nargs="+", default=[1, 32])
    queue = sub.add_parser("redis", help="redis-benchmark and ArqQueue's enqueue rate")
    queue.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "http"])
    if not db.normalise_url(args.database_url).startswith("postgres://"):
        parser.error("DATABASE_URL must be a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test")
    command = {"http": http, "orders": orders, "redis": redis}[args.command]
    return asyncio.run(command(args))


if __name__ == "__main__":
    sys.exit(main())
