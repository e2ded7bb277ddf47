"""The PostgreSQL pool (`gateway.postgres`): no reset query, and connections served in turn.

Without asyncpg's reset query a released connection is free at once, which made the
plain pool unfair (the mobile read's p99 tripled): the tests below hold the pool to
first come, first served, check what a reset is still for (a connection released
mid-transaction comes back clean), and fail when code starts to leave session state on
a connection, so that `keep_session` is looked at again then.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from pathlib import Path

import asyncpg
import pytest
from tortoise import connections

from gateway import db, postgres
from loyalty import sql

ROOT = Path(__file__).resolve().parent.parent
# Case-sensitive: the SQL of the code base is written in capitals.
SESSION_STATE = re.compile(
    r"pg_advisory_lock|pg_try_advisory_lock|\bLISTEN\b|\.add_listener\(|\.cursor\(\s*[\"'f]"
    r"|\bDECLARE\b|\bSET\s+(SESSION\b|search_path|ROLE\b|statement_timeout|lock_timeout|application_name)"
    r"|set_config\("
)


def test_postgres_runs_on_the_gateways_engine_and_sqlite_on_its_own():
    config = db.connection("postgresql://postgres@127.0.0.1:5432/test")
    assert isinstance(config, dict)
    assert config["engine"] == "gateway.postgres"
    assert config["credentials"]["database"] == "test"
    sqlite = db.connection("sqlite:///tmp/x.sqlite3")
    assert isinstance(sqlite, dict) and sqlite["engine"] == "gateway.sqlite"


def test_no_code_of_the_gateway_leaves_session_state_on_a_connection():
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in ("loyalty", "gateway", "workers", "plugins", "schema")
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SESSION_STATE.search(line) and path != ROOT / "gateway" / "postgres.py"  # its docstring names them
    ]
    assert found == [], "session state on a pooled connection: see gateway.postgres.keep_session"


def _postgres_pool() -> postgres.FairPool:
    if not sql.is_postgres():
        pytest.skip("asyncpg's pool")
    pool = connections.get("default")._pool
    assert isinstance(pool, postgres.FairPool)
    assert isinstance(pool._queue, postgres.HandoffQueue)
    assert pool._reset is postgres.keep_session
    return pool


async def test_a_connection_released_inside_a_transaction_comes_back_rolled_back():
    await sql.fetch("SELECT 1")  # the pool is made on first use
    pool = _postgres_pool()
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMPORARY TABLE left_open (n int) ON COMMIT DROP")
        assert connection.is_in_transaction()
    for _ in range(pool.get_size()):
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT to_regclass('pg_temp.left_open')") is None


async def test_connections_are_served_in_the_order_they_were_asked_for(database_url):
    """One connection, a holder and three waiters: each release goes to the longest waiter,
    though the releaser asks again at once (asyncpg's own queue let it jump the line)."""
    if not database_url.startswith("postgres"):
        pytest.skip("asyncpg's pool")
    dsn = database_url.replace("postgres://", "postgresql://", 1)
    pool = await postgres.FairPool(
        dsn,
        min_size=1,
        max_size=1,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        reset=postgres.keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
    )
    served: list[str] = []

    async def use(name: str, again: bool) -> None:
        async with pool.acquire() as connection:
            served.append(name)
            await connection.fetchval("SELECT 1")
        if again:  # released, and asked for again in the same step
            async with pool.acquire():
                served.append(name)

    try:
        first = await pool.acquire()
        waiters = [asyncio.create_task(use(name, again=True)) for name in ("a", "b", "c")]
        await asyncio.sleep(0.05)  # all three wait
        await pool.release(first)
        await asyncio.wait_for(asyncio.gather(*waiters), 10)
    finally:
        await pool.close()
    assert served == ["a", "b", "c", "a", "b", "c"]


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_passes_it_on():
    queue = postgres.HandoffQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("connection")  # handed to `first`, which is cancelled before it runs
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "connection"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert queue.empty()


class _Holder(str):
    """A stand-in for asyncpg's connection holder, as the queue sees it."""

    def is_connected(self) -> bool:
        return True


async def test_a_request_on_its_second_statement_is_served_before_one_on_its_first():
    """Work begun is finished first: `begun` had a connection before and asks again after
    `new` asked for its first; the next connection put back goes to `begun`."""
    queue = postgres.HandoffQueue()
    queue.put_nowait(_Holder("c1"))
    served: list[str] = []
    first_done = asyncio.Event()

    async def begun() -> None:
        await queue.get()  # its first statement, at once
        first_done.set()
        await asyncio.sleep(0.01)  # `new` asks meanwhile
        served.append(f"begun got {await queue.get()}")

    async def new() -> None:
        await first_done.wait()
        served.append(f"new got {await queue.get()}")

    # Each in a context of its own, as uvicorn starts each request: none has had a connection.
    tasks = [
        asyncio.create_task(begun(), context=contextvars.Context()),
        asyncio.create_task(new(), context=contextvars.Context()),
    ]
    await asyncio.sleep(0.05)  # both wait now, `new` the longer
    queue.put_nowait(_Holder("c2"))
    await asyncio.sleep(0)
    queue.put_nowait(_Holder("c3"))
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert served == ["begun got c2", "new got c3"]
