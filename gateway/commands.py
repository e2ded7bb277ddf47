"""What every `loyalty` command shares: the error it stops with and the database it opens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from gateway import db

T = TypeVar("T")


class CommandError(Exception):
    """A command cannot run; the message says why and what to do."""


def check_sqlite_folder(database_url: str) -> None:
    """Refuse an SQLite file whose folder does not exist (Tortoise would hang on it, not fail)."""
    if not database_url.startswith("sqlite://"):
        return
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    if path and path != ":memory:" and not Path(path).resolve().parent.is_dir():
        raise CommandError(f"cannot create the SQLite file {path}: its folder does not exist")


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
