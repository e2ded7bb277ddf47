"""The database as the `loyalty` commands use it: checked, opened for one piece of work, migrated."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from gateway import db
from gateway.cli.exits import CommandError, ExitCode
from gateway.settings import Settings

T = TypeVar("T")


def redact(url: str) -> str:
    """The database URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def check_sqlite_folder(database_url: str) -> None:
    """Refuse an SQLite file whose folder does not exist (Tortoise would hang on it, not fail)."""
    if not database_url.startswith("sqlite://"):
        return
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    if path and path != ":memory:" and not Path(path).resolve().parent.is_dir():
        raise CommandError(f"cannot create the SQLite file {path}: its folder does not exist")


def unreachable(run: Callable[[], T]) -> T:
    """`run()`, with a database that cannot be reached (or refuses us) as a CommandError."""
    from asyncpg import InvalidAuthorizationSpecificationError, InvalidCatalogNameError
    from tortoise.exceptions import DBConnectionError

    try:
        return run()
    except (OSError, DBConnectionError, InvalidAuthorizationSpecificationError, InvalidCatalogNameError) as error:
        raise CommandError(f"cannot reach the database: {error}", ExitCode.FAILED) from None


async def with_database(database_url: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` with the ORM open on the database, for commands that read or write it.

    No global fallback: a command that then serves (demo) has the app's lifespan open
    the ORM again, with it, under uvicorn.
    """
    await db.start(database_url, global_fallback=False)
    try:
        return await work()
    finally:
        await db.stop()


def run(work: Callable[[], Awaitable[T]], database_url: str | None = None) -> T:
    """Run a command's coroutine function with the ORM open on DATABASE_URL (or the URL given)."""
    from tortoise.exceptions import OperationalError

    url = database_url or Settings().database_url
    check_sqlite_folder(url)
    try:
        return unreachable(lambda: asyncio.run(with_database(url, work)))
    except OperationalError as error:  # most often a database never migrated
        raise CommandError(f"{error} (has `loyalty migrate` run on {redact(url)}?)", ExitCode.FAILED) from None


async def apply_migrations(database_url: str, out: Callable[[str], None] = print) -> list[str]:
    """Apply the missing migrations; the names applied, each also passed to `out`."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate as run_migrations

    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            out(f"  applied {app_label}.{name}")

    try:
        await run_migrations(config=db.tortoise_config(database_url), progress=progress)
    finally:
        await Tortoise.close_connections()
    return applied
