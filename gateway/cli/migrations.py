"""`loyalty migrate`: apply the checked-in migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gateway import db
from gateway.cli.database import apply_migrations, check_sqlite_folder, redact, unreachable
from gateway.settings import Settings


def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="database to migrate (default: DATABASE_URL)", show_default=False)
    ] = None,
) -> None:
    """Apply the checked-in migrations to DATABASE_URL.

    Applies every migration in loyalty/migrations that the database lacks, and
    prints each one.
    """
    url = database_url or Settings().database_url
    check_sqlite_folder(url)
    print(f"Migrating {redact(db.normalise_url(url))}")
    applied = unreachable(lambda: asyncio.run(apply_migrations(url)))
    if applied:
        print(f"Done: {len(applied)} migration(s) applied.")
    else:
        print("Nothing to apply: the database is up to date.")
