"""Where jobs go: arq on Redis, or this process; the gateway picks one and hands it in.

Both queues are a `loyalty.jobs.Queue` (`enqueue(function, *args, job_id=..., defer_until=...)`)
and run the same job functions (`workers.jobs`). A job id makes a job unique while it
waits or runs: enqueueing it again is a no-op, so the sweeper may re-enqueue freely.
The database, not the queue, says what is done; a lost queue loses no work.

Jobs travel as JSON (never pickle).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from loyalty import clock
from loyalty.jobs import QueueUnavailable
from workers import jobs
from workers.metrics import measured_all

log = logging.getLogger("loyalty.jobs")


def serialize(value: Any) -> bytes:
    """arq's job_serializer: JSON; anything JSON lacks (a datetime, an error) as its text."""
    return json.dumps(value, default=str, separators=(",", ":")).encode()


def deserialize(data: bytes) -> Any:
    """arq's job_deserializer."""
    return json.loads(data)


class ArqQueue:
    """Enqueues to arq (workers run the jobs: `arq gateway.worker.WorkerSettings`)."""

    def __init__(self, redis_url: str, queue_name: str, pool: Any = None) -> None:
        self.redis_url = redis_url
        self.queue_name = queue_name
        self._pool = pool

    async def pool(self) -> Any:
        """The arq Redis pool, opened on first use."""
        if self._pool is None:
            from arq import create_pool
            from arq.connections import RedisSettings

            redis = RedisSettings.from_dsn(self.redis_url)
            # Fail fast: a request waits on this, and the sweeper retries what it misses.
            redis.conn_retries = 1
            self._pool = await create_pool(
                redis,
                job_serializer=serialize,
                job_deserializer=deserialize,
                default_queue_name=self.queue_name,
            )
        return self._pool

    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
    ) -> None:
        """Put one job on the queue; a job with the same id waiting or running makes it a no-op.
        Raises QueueUnavailable where Redis cannot be reached."""
        from redis.exceptions import RedisError

        try:
            pool = await self.pool()
            await pool.enqueue_job(function, *args, _job_id=job_id, _defer_until=defer_until)
        except (RedisError, OSError) as error:
            raise QueueUnavailable(f"{type(error).__name__}: {error}") from error

    async def depth(self) -> int:
        """Jobs waiting on the queue (deferred ones included): the ZCARD of its key."""
        pool = await self.pool()
        return int(await pool.zcard(self.queue_name))

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


Job = Callable[..., Awaitable[Any]]


class InProcessQueue:
    """Runs the job functions as a task of this process, one at a time, in order.

    For a gateway without Redis (and for tests): `drain()` waits until nothing is left.
    A deferred job waits for its instant (by `loyalty.clock`, checked every second);
    a failing job is logged and left to the sweeper.
    """

    def __init__(self, functions: dict[str, Job] | None = None, context: dict[str, Any] | None = None) -> None:
        # What the jobs get in `ctx` besides the queue (the catalog, the retry policy).
        self.context = dict(context or {})
        # The job functions counted and timed, as a worker's are (workers.metrics).
        self.functions = measured_all(jobs.FUNCTIONS) if functions is None else functions
        self._pending: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...], str | None]] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self.done = 0
        self.failed = 0

    def _ensure(self) -> asyncio.Queue[tuple[str, tuple[Any, ...], str | None]]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._runner is None or self._runner.done():
            # An empty context: the runner outlives the request that started it, whose
            # id (gateway.request_context) must not follow every job into the logs.
            self._runner = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())
        return self._queue

    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
    ) -> None:
        """Queue one job (JSON-clean arguments); a pending job with the same id makes it a no-op."""
        if function not in self.functions:
            raise KeyError(f"no job function {function!r}")
        args = tuple(deserialize(serialize(list(args))))  # what arq would hand a worker
        if job_id is not None and job_id in self._pending:
            return
        if job_id is not None:
            self._pending.add(job_id)
        if defer_until is not None and defer_until > clock.now():
            timer = asyncio.get_running_loop().create_task(self._later(defer_until, function, args, job_id))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)
            return
        self._ensure().put_nowait((function, args, job_id))

    async def _later(self, at: datetime, function: str, args: tuple[Any, ...], job_id: str | None) -> None:
        while clock.now() < at:
            await asyncio.sleep(min(1.0, max(0.01, (at - clock.now()).total_seconds())))
        self._ensure().put_nowait((function, args, job_id))

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            function, args, job_id = await self._queue.get()
            try:
                await self.functions[function]({**self.context, "queue": self}, *args)
                self.done += 1
            except Exception:
                self.failed += 1
                log.exception("job %s%r failed; the sweeper will retry what it left undone", function, args)
            finally:
                if job_id is not None:
                    self._pending.discard(job_id)
                self._queue.task_done()

    async def depth(self) -> int:
        """Jobs waiting: queued, or deferred to a later instant."""
        return (self._queue.qsize() if self._queue is not None else 0) + len(self._timers)

    async def drain(self) -> None:
        """Wait until every queued job (not the deferred ones) has run."""
        if self._queue is not None:
            self._ensure()
            await self._queue.join()

    async def close(self) -> None:
        """Stop the runner and the deferred jobs."""
        for task in [*self._timers, *([self._runner] if self._runner else [])]:
            task.cancel()
        self._runner = None
        self._timers.clear()
