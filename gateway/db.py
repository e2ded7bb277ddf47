"""The database: Tortoise configuration, start-up, and the checked-in migrations."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as run_migrations

APP = "loyalty"


def normalise_url(url: str) -> str:
    """Accept the usual spellings: postgresql:// is postgres:// to Tortoise."""
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


def connection(database_url: str) -> str | dict[str, Any]:
    """One connection's configuration: SQLite goes through `gateway.sqlite` (WAL, busy
    timeout, BEGIN IMMEDIATE), so a worker beside the gateway can write the same file;
    PostgreSQL through `gateway.postgres` (a fair pool without asyncpg's reset query)."""
    url = normalise_url(database_url)
    config = expand_db_url(url)
    if url.startswith("sqlite://"):
        config["engine"] = "gateway.sqlite"
    elif config["engine"] == "tortoise.backends.asyncpg":
        config["engine"] = "gateway.postgres"
    else:
        return url
    return config


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise configuration for one database URL."""
    return {
        "connections": {"default": connection(database_url)},
        "apps": {
            APP: {
                "models": [
                    "loyalty.models",
                    "loyalty.notifications.models",
                    "loyalty.referrals.models",
                    "loyalty.achievements.models",
                ],
                "default_connection": "default",
                "migrations": "loyalty.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def start(database_url: str, *, global_fallback: bool = True) -> None:
    """Open the ORM for this process.

    `global_fallback`: uvicorn runs the lifespan in one task and every request in
    others; without the global fallback the requests would not see the ORM that the
    lifespan initialised.
    """
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=global_fallback)


async def migrate(database_url: str) -> None:
    """Apply every checked-in migration that the database lacks."""
    await run_migrations(config=tortoise_config(database_url))


async def stop() -> None:
    """Close the ORM's connections."""
    await Tortoise.close_connections()


# For Tortoise's own CLI: `tortoise -c gateway.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(__import__("os").environ.get("DATABASE_URL", "sqlite://loyalty.sqlite3"))
