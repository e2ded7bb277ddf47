"""The PostgreSQL pool keeps asyncpg's reset when a connection goes back (see `gateway.db.connection`).

A no-op reset was tried for the round trip it saves and taken out: the mobile read's
p99 went from 25 ms to 70-240 ms at 32 connections. These tests keep it out, and check
what the reset is for: a connection released mid-transaction comes back clean.
"""

from __future__ import annotations

import pytest
from tortoise import connections

from gateway import db
from loyalty import sql


def test_postgres_connections_keep_asyncpgs_reset():
    assert db.connection("postgresql://postgres@127.0.0.1:5432/test") == "postgres://postgres@127.0.0.1:5432/test"
    sqlite = db.connection("sqlite:///tmp/x.sqlite3")
    assert isinstance(sqlite, dict) and sqlite["engine"] == "gateway.sqlite"


async def test_a_connection_released_inside_a_transaction_comes_back_rolled_back():
    if not sql.is_postgres():
        pytest.skip("asyncpg's pool")
    pool = connections.get("default")._pool
    assert pool._reset is None  # asyncpg's own Connection.reset
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMPORARY TABLE left_open (n int) ON COMMIT DROP")
        assert connection.is_in_transaction()
    for _ in range(pool.get_size()):
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
