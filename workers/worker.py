"""The arq worker's configuration, built from values the composition layer hands in.

Nothing here reads the environment: `gateway.worker.WorkerSettings` (what
`arq gateway.worker.WorkerSettings` runs) reads the settings and calls
`worker_settings`. Jobs are JSON, never pickle.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from arq import cron, func
from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.typing import WorkerCoroutine
from arq.worker import Function

from loyalty import jobs as names
from workers import jobs
from workers.metrics import measured
from workers.queue import ArqQueue, deserialize, serialize
from workers.schedule import SCHEDULE, Periodic, cron_times

log = logging.getLogger("loyalty.workers")

Hook = Callable[[dict[str, Any]], Awaitable[None]]

# Seconds a job may run before arq cancels it (the sweeper then re-enqueues what it left).
TIMEOUTS = {
    names.GRANT_BATCH: 600,
    names.START_CAMPAIGN: 600,
    names.SWEEP: 600,
    names.BURN_EXPIRED: 3600,
    names.DELIVER_NOTIFICATIONS: 300,
}


def _coroutine(name: str) -> WorkerCoroutine:
    # Counted and timed (workers.metrics): loyalty_jobs_total, loyalty_job_duration_seconds.
    return cast(WorkerCoroutine, measured(name, jobs.FUNCTIONS[name]))


def functions() -> list[Function]:
    """Every job function under its name, as arq runs it."""
    return [func(_coroutine(name), name=name, timeout=TIMEOUTS[name]) for name in jobs.FUNCTIONS]


def cron_jobs(queue_name: str, schedule: Sequence[Periodic] = SCHEDULE) -> list[CronJob]:
    """The schedule as arq cron jobs; named per queue, so workers of two queues on one Redis never collide."""
    found = []
    for periodic in schedule:
        minute, second = cron_times(periodic.every)
        found.append(
            cron(
                _coroutine(periodic.job),
                name=f"cron:{periodic.job}:{queue_name}",
                minute=minute,
                second=second,
                run_at_startup=periodic.run_at_startup,
                timeout=TIMEOUTS[periodic.job],
            )
        )
    return found


def worker_settings(
    *,
    redis_url: str,
    queue_name: str,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    schedule: Sequence[Periodic] = SCHEDULE,
) -> type:
    """The class arq runs (arq reads its attributes): these functions and this schedule on
    `queue_name` at `redis_url`. `on_startup` opens what the jobs need (the ORM, the
    plugins) and `on_shutdown` closes it; follow-up work goes to the same queue."""

    async def startup(ctx: dict[str, Any]) -> None:
        if on_startup is not None:
            await on_startup(ctx)
        ctx["queue"] = ArqQueue(redis_url, queue_name, pool=ctx["redis"])
        log.info("worker ready on queue %s", queue_name)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if on_shutdown is not None:
            await on_shutdown(ctx)

    return type(
        "WorkerSettings",
        (),
        {
            "__doc__": f"arq's worker settings for the queue {queue_name!r}.",
            "functions": functions(),
            "cron_jobs": cron_jobs(queue_name, schedule),
            "queue_name": queue_name,
            "redis_settings": RedisSettings.from_dsn(redis_url),
            "job_serializer": serialize,
            "job_deserializer": deserialize,
            "on_startup": startup,
            "on_shutdown": shutdown,
            # Results are not kept: a finished job leaves no key, so the same batch can be
            # enqueued again (after a pause and resume) under its id.
            "keep_result": 0,
            "max_jobs": 2,
            "poll_delay": 0.1,
        },
    )
