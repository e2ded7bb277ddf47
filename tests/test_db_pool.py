"""The PostgreSQL pool returns connections without asyncpg's reset query (`gateway.db.keep_session`).

That is safe while nothing leaves session state on a connection: the guard below fails
when code of the gateway starts to (advisory locks, LISTEN, cursors, session SETs), so
`keep_session` is looked at again then.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tortoise import connections

from gateway import db
from loyalty import sql

ROOT = Path(__file__).resolve().parent.parent
# Case-sensitive: the SQL of the code base is written in capitals.
SESSION_STATE = re.compile(
    r"pg_advisory_lock|pg_try_advisory_lock|\bLISTEN\b|\.add_listener\(|\.cursor\(\s*[\"'f]"
    r"|\bDECLARE\b|\bSET\s+(SESSION\b|search_path|ROLE\b|statement_timeout|lock_timeout|application_name)"
    r"|set_config\("
)


def test_postgres_connections_go_back_to_the_pool_without_a_reset_query():
    config = db.connection("postgresql://postgres@127.0.0.1:5432/test")
    assert isinstance(config, dict)
    assert config["engine"] == "tortoise.backends.asyncpg"
    assert config["credentials"]["reset"] is db.keep_session
    assert config["credentials"]["database"] == "test"
    sqlite = db.connection("sqlite:///tmp/x.sqlite3")
    assert isinstance(sqlite, dict) and sqlite["engine"] == "gateway.sqlite"


def test_no_code_of_the_gateway_leaves_session_state_on_a_connection():
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in ("loyalty", "gateway", "workers", "plugins", "schema")
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SESSION_STATE.search(line) and path != ROOT / "gateway" / "db.py"  # its docstring names them
    ]
    assert found == [], "session state on a pooled connection: see gateway.db.keep_session"


async def test_a_connection_released_inside_a_transaction_comes_back_rolled_back():
    if not sql.is_postgres():
        pytest.skip("asyncpg's pool")
    pool = connections.get("default")._pool
    assert pool._reset is db.keep_session
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMPORARY TABLE left_open (n int) ON COMMIT DROP")
        assert connection.is_in_transaction()
    for _ in range(pool.get_size()):
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
