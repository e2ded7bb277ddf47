"""Raw SQL for the few set-based statements the ORM cannot say well, on SQLite and PostgreSQL.

Statements are written with PostgreSQL's `$1` placeholders; on SQLite they become `?1`,
SQLite's numbered parameters, so `$2` may come before `$1` and `$1` may repeat. Only
placeholders are rewritten: a `$` inside a string literal, a quoted identifier or a
comment stays as written. Inside `in_transaction()` the statement runs on the transaction's connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
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
    return await connection().execute_query_dict(_dialect(sql), list(params))


async def execute(sql: str, *params: Any) -> int:
    """Run a statement; the number of rows it touched (UPDATE, DELETE).

    Not for an INSERT's count: on PostgreSQL, Tortoise reads "INSERT 0 1" as 0. Use
    ``fetch`` with ``RETURNING`` where the rows written matter.
    """
    count, _ = await connection().execute_query(_dialect(sql), list(params))
    return count


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
