"""The PostgreSQL engine the gateway runs on: asyncpg's pool, fair, without a reset query.

asyncpg's pool sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`
each time a connection goes back to it: a round trip per statement outside a
transaction, the dearest part of a spend after the statements themselves. The gateway
leaves no such state behind (`keep_session`), so its pool skips that query.

Skipping it alone made the pool unfair. asyncpg's queue wakes the longest waiter when a
connection comes back, but leaves the connection in the queue until that waiter runs;
released at once, with no round trip in between, it is taken first by whichever newer
request asks in the meantime, and the woken waiter goes to the back of the line (the
mobile read's p99 tripled). `HandoffQueue` gives a returned connection to the longest
waiter directly, so connections are served in the order they were asked for, a
request already under way before one that has not begun.

Named as the engine in `gateway.db.tortoise_config`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from contextvars import ContextVar
from typing import Any

import asyncpg
from asyncpg.pool import Pool, PoolConnectionProxy, _PoolConnectionHolderQueue
from tortoise.backends.asyncpg.client import AsyncpgDBClient


async def keep_session(connection: Any) -> None:
    """asyncpg's pool `reset`, run when a connection goes back to the pool: nothing to do.

    The gateway, its workers and its CLI leave no session state behind to undo: no
    advisory locks (only row locks, `SELECT ... FOR UPDATE`, which end with their
    transaction), no cursors (asyncpg's `fetch` reads whole results), no LISTEN, no
    session `SET` (the server settings are the connection's start-up parameters, which
    RESET ALL would keep anyway); tests/test_db_pool.py fails when code starts to. What a
    reset must still do, asyncpg's pool does before calling this: roll back a
    transaction left open and drop the connection's listener callbacks.
    """


# Set in a task (a request) once it has had a connection: its next wait goes first.
_begun: ContextVar[bool] = ContextVar("loyalty_pool_begun", default=False)


class HandoffQueue(_PoolConnectionHolderQueue):  # type: ignore[misc]
    """asyncpg's queue of free connections, first come first served: a connection put
    back goes straight to the longest waiter; one asked for while others wait waits too.

    Work begun is finished first: a task that has had a connection before (a request on
    its second statement) waits ahead of those that have not, in the order they asked.
    So a burst of requests completes one by one instead of all of them reading first
    and writing last, and a later request reads what the earlier ones wrote. "Had a
    connection" is a context variable: uvicorn starts each request in a context of its
    own; a task started from a context that had one (a job of a worker that queried
    first) counts as begun, which only puts it in the first line with its peers.
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize=maxsize)
        self._begun: collections.deque[asyncio.Future[Any]] = collections.deque()

    def put_nowait(self, item: Any) -> None:
        for waiters in (self._begun, self._getters):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(item)
                    return
        super().put_nowait(item)

    async def get(self) -> Any:
        begun = _begun.get()
        _begun.set(True)
        if not self.empty():  # put_nowait hands off while anyone waits, so none does now
            return self.get_nowait()
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._begun if begun else self._getters
        waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over as the wait was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)
            raise


class FairPool(Pool):  # type: ignore[misc]
    """asyncpg's pool with a `HandoffQueue`, and releases without a task of their own."""

    async def fetch(self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None) -> Any:
        """asyncpg's `Pool.fetch`, without the context manager and proxy call around the query."""
        connection = await self._acquire(None)
        try:
            return await connection._con.fetch(query, *args, timeout=timeout, record_class=record_class)
        finally:
            await self.release(connection)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        """asyncpg's release, without its shield where nothing can interrupt it.

        asyncpg shields every release in a new task, so that a cancelled caller still puts
        the connection back. With `keep_session` a release outside a transaction never
        suspends (nothing to roll back, no query sent), so no cancellation can land in it;
        the rest (a transaction left open, a connection to close or being cancelled) goes
        the shielded way.
        """
        holder, con = getattr(connection, "_holder", None), getattr(connection, "_con", None)
        if (
            type(connection) is not PoolConnectionProxy
            or holder is None
            or holder._pool is not self
            or con is None
            or con.is_closed()
            or con.is_in_transaction()
            or con._protocol._is_cancelling()
            or con._protocol.queries_count >= holder._max_queries
            or holder._generation != self._generation
            or self._reset is not keep_session
        ):
            await super().release(connection, timeout=timeout)
            return
        self._check_init()
        con._on_release()
        await holder.release(timeout if timeout is not None else holder._timeout)

    async def _initialize(self) -> None:
        await super()._initialize()
        free: list[Any] = []
        queue: Any = self._queue  # type: ignore[has-type]
        while not queue.empty():
            free.append(queue.get_nowait())
        fair = HandoffQueue(maxsize=self._maxsize)
        for holder in reversed(free):  # the same order: the queue is last in, first out
            fair.put_nowait(holder)
        self._queue = fair


class GatewayPostgresClient(AsyncpgDBClient):
    """Tortoise's asyncpg client on a `FairPool` that returns connections without a reset query."""

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        # asyncpg.create_pool's defaults, which Pool itself does not have.
        defaults = {"max_queries": 50_000, "max_inactive_connection_lifetime": 300.0, "record_class": asyncpg.Record}
        return await FairPool(None, reset=keep_session, **{**defaults, **kwargs})


client_class = GatewayPostgresClient
