"""Test harness: the real database (SQLite by default, PostgreSQL when DATABASE_URL says so).

Each test session gets a database of its own (a fresh SQLite file, or a PostgreSQL
database created for the run and dropped after), migrated with the checked-in
migrations. Every test starts from empty tables and a frozen clock, and ends by
checking the ledger invariants.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from tortoise import Tortoise, connections

from gateway import db
from loyalty import clock
from loyalty.programs import Catalog
from plugins.manager import PluginHost, build
from tests import scenario
from tests.invariants import assert_ledger_invariants

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return db.normalise_url(url) if url.startswith(("postgres://", "postgresql://")) else None


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database for this test session alone."""
    base = postgres_url()
    if base is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite://{folder}/test.sqlite3"
        return
    import asyncio

    name = f"loyalty_test_{secrets.token_hex(4)}"
    admin = base.replace("postgres://", "postgresql://", 1)

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
async def orm(database_url: str) -> AsyncIterator[str]:
    """The ORM, open for the whole session, on a migrated database."""
    await db.migrate(database_url)
    await Tortoise.close_connections()
    await db.start(database_url)
    yield database_url
    await db.stop()


@pytest.fixture(scope="session")
def host() -> PluginHost:
    """The plugins of the repository's plugins.toml, its built-in achievements left out.

    The achievements (GA-04) reward every first purchase, so the tests of the other rules
    run without them, and tests/test_rules_ga.py, the ledger state machine and the tests
    that go through the whole app (tests.gql.Client) run with them (`achieving`).
    """
    return scenario.plugin_host()


@pytest.fixture
def catalog(host: PluginHost) -> Catalog:
    return host.catalog


@pytest.fixture(scope="session")
def achieving_host() -> PluginHost:
    """The plugins of the repository's plugins.toml, exactly."""
    return build(ROOT / "plugins.toml")


@pytest.fixture
def achieving(achieving_host: PluginHost) -> Catalog:
    """The catalog of plugins.toml with its built-in achievements (GA-04)."""
    return achieving_host.catalog


@pytest.fixture
def with_plugins() -> Callable[..., Catalog]:
    """Register inline plugins for one test: `with_plugins(("name", instance, programs, optional), ...)`.

    Returns the catalog of the repository's plugins.toml with those plugins added (its
    built-in achievements only with `achievements=True`).
    """

    def register(
        *plugins: tuple[str, object] | tuple[str, object, tuple[str, ...]] | tuple[str, object, tuple[str, ...], bool],
        achievements: bool = False,
    ) -> Catalog:
        enabled = []
        for spec in plugins:
            name, instance, *rest = spec
            programs = rest[0] if rest else (scenario.PROGRAM,)
            optional = rest[1] if len(rest) > 1 else False
            enabled.append(scenario.enabled(name, instance, programs=programs, optional=optional))
        return scenario.plugin_host(*enabled, achievements=achievements).catalog

    return register


def tables() -> list[str]:
    """Every table of the domain's models (new models need no change here)."""
    return [model._meta.db_table for model in Tortoise.apps[db.APP].values()]


async def truncate() -> None:
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(f"TRUNCATE {', '.join(tables())} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("PRAGMA foreign_keys = OFF")
        for table in tables():
            await conn.execute_script(f"DELETE FROM {table}")
        await conn.execute_script("PRAGMA foreign_keys = ON")


@pytest.fixture(autouse=True)
async def ledger_scenario(orm: str) -> AsyncIterator[None]:
    """Empty tables and the clock frozen at START; the ledger invariants checked at the end."""
    await truncate()
    clock.freeze(START)
    yield
    await assert_ledger_invariants()
    clock.unfreeze()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs only on PostgreSQL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if postgres_url() is not None:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)
