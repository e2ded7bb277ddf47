"""Counting the SQL statements a piece of domain code sends, on SQLite and PostgreSQL.

Every statement the ORM or `loyalty.sql` runs goes through Tortoise's connection,
which logs it (at DEBUG, on "tortoise.db_client") before running it; `counted()`
listens there. On PostgreSQL it also counts what asyncpg sends over the wire,
BEGIN and COMMIT included: the round trips.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg


@dataclass
class Statements:
    """The statements seen: `sql` through Tortoise, `wire` through asyncpg (PostgreSQL only)."""

    sql: list[str] = field(default_factory=list)
    wire: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sql)


class _Listener(logging.Handler):
    def __init__(self, seen: Statements) -> None:
        super().__init__(logging.DEBUG)
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and record.args:
            self.seen.sql.append(" ".join(str(record.args[0]).split()))


_WIRE = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


@contextmanager
def counted() -> Iterator[Statements]:
    """The statements run inside the block."""
    seen = Statements()
    log = logging.getLogger("tortoise.db_client")
    listener = _Listener(seen)
    level = log.level
    log.addHandler(listener)
    log.setLevel(logging.DEBUG)
    originals = {name: getattr(asyncpg.Connection, name) for name in _WIRE}

    def spy(name: str) -> Any:
        original = originals[name]

        async def call(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            seen.wire.append(" ".join(query.split()))
            return await original(self, query, *args, **kwargs)

        return call

    for name in _WIRE:
        setattr(asyncpg.Connection, name, spy(name))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
        log.removeHandler(listener)
        log.setLevel(level)
