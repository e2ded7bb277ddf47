"""Raw SQL for the few set-based statements the ORM cannot say well, on SQLite and PostgreSQL.

Statements are written with PostgreSQL's `$1` placeholders; on SQLite they become `?1`,
SQLite's numbered parameters, so `$2` may come before `$1` and `$1` may repeat. Only
placeholders are rewritten: a `$` inside a string literal, a quoted identifier or a
comment stays as written. Inside `in_transaction()` the statement runs on the transaction's connection.

On PostgreSQL a statement goes to asyncpg directly (the transaction's connection under
the wrapper's own lock, else the pool), not through the client's query methods: their
layers cost a fair share of the gateway's CPU on the write path. Errors are translated
as Tortoise's asyncpg client translates them (`_translated`), rows are dicts as before.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError
from tortoise.models import Model

M = TypeVar("M", bound=Model)
CENT = Decimal("0.01")


def connection() -> BaseDBAsyncClient:
    """The default connection (the current transaction's, inside one)."""
    client: BaseDBAsyncClient = connections.get("default")
    return client


def is_postgres() -> bool:
    """True when the gateway runs on PostgreSQL."""
    return connection().capabilities.dialect == "postgres"


# What SQLite reads as one token: a string literal, a quoted identifier, a comment, or a
# `$N` placeholder (the only one rewritten).
_SQLITE_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/|\$(\d+)""",
    re.DOTALL,
)


@lru_cache(maxsize=512)
def sqlite_placeholders(sql: str) -> str:
    """The statement with its `$N` placeholders as SQLite's `?N`, all else untouched."""
    return _SQLITE_TOKENS.sub(lambda m: f"?{m.group(1)}" if m.group(1) else m.group(0), sql)


def _dialect(sql: str) -> str:
    return sql if is_postgres() else sqlite_placeholders(sql)


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a query as dicts."""
    client = connection()
    if type(client) is TransactionWrapper:
        _logged(client, sql, params)
        async with client._lock:  # the lock Tortoise's own queries take on this connection
            with _translated():
                rows = await client._connection.fetch(sql, *params)
        return [dict(row) for row in rows]
    if isinstance(client, AsyncpgDBClient) and client._pool is not None:
        _logged(client, sql, params)
        with _translated():
            rows = await client._pool.fetch(sql, *params)
        return [dict(row) for row in rows]
    return await client.execute_query_dict(_dialect(sql), list(params))


async def execute(sql: str, *params: Any) -> int:
    """Run a statement; the number of rows it touched (UPDATE, DELETE).

    Not for an INSERT's count: on PostgreSQL, Tortoise reads "INSERT 0 1" as 0. Use
    ``fetch`` with ``RETURNING`` where the rows written matter.
    """
    client = connection()
    if type(client) is TransactionWrapper:
        _logged(client, sql, params)
        async with client._lock:
            with _translated():
                return await _pg_execute(client._connection, sql, params)
    if isinstance(client, AsyncpgDBClient) and client._pool is not None:
        _logged(client, sql, params)
        with _translated():
            async with client._pool.acquire() as conn:
                return await _pg_execute(conn, sql, params)
    count, _ = await client.execute_query(_dialect(sql), list(params))
    return count


def _logged(client: BaseDBAsyncClient, sql: str, params: tuple[Any, ...]) -> None:
    # Tortoise's own DEBUG line for a statement (tortoise.db_client), which tests count by.
    if client.log.isEnabledFor(logging.DEBUG):
        client.log.debug("%s: %s", sql, list(params))


async def _pg_execute(conn: Any, sql: str, params: tuple[Any, ...]) -> int:
    # As Tortoise's execute_query counts: the command tag's second word for a write
    # (so "INSERT 0 1" is 0), else the rows returned.
    if sql.lstrip().upper().startswith(("UPDATE", "DELETE", "INSERT")):
        tag: str = await conn.execute(sql, *params)
        try:
            return int(tag.split(" ")[1])
        except (AttributeError, IndexError, ValueError):
            return 0
    return len(await conn.fetch(sql, *params))


@contextmanager
def _translated() -> Iterator[None]:
    """asyncpg's errors as Tortoise's asyncpg client raises them (its `_translate_exceptions`)."""
    try:
        yield
    except (asyncpg.SyntaxOrAccessError, asyncpg.exceptions.DataError) as exc:
        raise OperationalError(exc) from exc
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(exc) from exc
    except asyncpg.InvalidTransactionStateError as exc:
        raise TransactionManagementError(exc) from exc


def as_datetime(value: Any) -> datetime | None:
    """A timestamp column as an aware UTC datetime (SQLite hands back text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def as_money(value: Any) -> Decimal:
    """A DECIMAL(…, 2) column as a Decimal with two places (SQLite hands back numbers)."""
    return Decimal(value).quantize(CENT)


def columns(model: type[Model], alias: str, prefix: str) -> str:
    """The model's columns for a SELECT list, as `alias."col" AS "prefixcol"`."""
    return ", ".join(f'{alias}."{c}" AS "{prefix}{c}"' for c in model._meta.fields_db_projection.values())


def as_model(model: type[M], row: Mapping[str, Any], prefix: str = "") -> M | None:
    """The model instance a raw row holds (its columns named `prefix` + column); None
    when the row holds none (an outer join's missing side). Values are converted as
    the ORM's own reads convert them, without building a query."""
    values = {c: row[f"{prefix}{c}"] for c in model._meta.fields_db_projection.values()}
    if values[model._meta.db_pk_column] is None:
        return None
    return model._init_from_db(**values)
