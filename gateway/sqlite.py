"""The SQLite engine the gateway runs on: WAL, a busy timeout, and write transactions.

A gateway and an arq worker on one SQLite file are two processes writing one database.
SQLite's default `BEGIN` is deferred: the transaction reads under a snapshot and asks for
the write lock at its first write; if another process committed in between, the upgrade
fails at once with "database is locked", whatever the busy timeout. Every transaction of
the gateway writes (the ledger's above all), so each takes the write lock when it begins
(`BEGIN IMMEDIATE`), waiting up to the busy timeout for the other process to commit.
On SQLite that is what `loyalty.ledger.lock_wallet` relies on in place of FOR UPDATE.

Named as the engine in `gateway.db.tortoise_config`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError

# How long a writer waits for the other process's transaction to end, in milliseconds.
BUSY_TIMEOUT_MS = 5000
PRAGMAS: dict[str, Any] = {"journal_mode": "WAL", "busy_timeout": BUSY_TIMEOUT_MS, "foreign_keys": "ON"}


class ImmediateTransaction(SqliteTransactionWrapper):
    """A transaction that holds the database's write lock from its first statement."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class GatewaySqliteClient(SqliteClient):
    """Tortoise's SQLite client with the gateway's pragmas and immediate transactions."""

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **{**PRAGMAS, **kwargs})

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransaction(self), self._lock)


client_class = GatewaySqliteClient
