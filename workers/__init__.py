"""Background workers: `arq workers.WorkerSettings` runs the jobs on Redis.

Environment (as the gateway): REDIS_URL, DATABASE_URL, LOYALTY_PLUGINS, and
LOYALTY_QUEUE (the queue name, default "arq:queue"). Jobs are JSON, never pickle.

Functions: `grant_batch` (one batch of a gift campaign), `start_campaign` (a scheduled
campaign at its startsAt), `sweep` and `burn_expired`. Cron: `sweep` every 15 s
(re-enqueues unfinished batches of running campaigns and starts due scheduled ones;
the database is the source of truth, so a crash or a lost queue loses nothing) and
`burn_expired` every 5 minutes (LB-04).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from gateway.settings import Settings
from workers import jobs
from workers.queue import ArqQueue, deserialize, serialize

log = logging.getLogger("loyalty.workers")

_settings = Settings()
_redis_url = _settings.redis_url or "redis://127.0.0.1:6379"


async def startup(ctx: dict[str, Any]) -> None:
    """Open the ORM and load the plugins, as the gateway does."""
    from gateway import db
    from plugins.manager import build

    settings = Settings()
    await db.start(settings.database_url)
    ctx["host"] = build(settings.plugins_path)
    ctx["queue"] = ArqQueue(_redis_url, settings.queue_name, pool=ctx["redis"])
    log.info("worker ready on queue %s", settings.queue_name)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the ORM."""
    from gateway import db

    await db.stop()


class WorkerSettings:
    """`arq workers.WorkerSettings`."""

    functions: ClassVar[list[Any]] = [
        func(jobs.grant_batch, name="grant_batch", timeout=600),
        func(jobs.start_campaign, name="start_campaign", timeout=600),
        func(jobs.sweep, name="sweep", timeout=600),
        func(jobs.burn_expired, name="burn_expired", timeout=3600),
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(
            jobs.sweep,
            name=f"cron:sweep:{_settings.queue_name}",
            second={0, 15, 30, 45},
            run_at_startup=True,
            timeout=600,
        ),
        cron(
            jobs.burn_expired,
            name=f"cron:burn:{_settings.queue_name}",
            minute=set(range(0, 60, 5)),
            second={0},
            timeout=3600,
        ),
    ]
    queue_name = _settings.queue_name
    redis_settings = RedisSettings.from_dsn(_redis_url)
    job_serializer = staticmethod(serialize)
    job_deserializer = staticmethod(deserialize)
    on_startup = startup
    on_shutdown = shutdown
    # Results are not kept: a finished job leaves no key, so the same batch can be
    # enqueued again (after a pause and resume) under its id.
    keep_result = 0
    max_jobs = 2
    poll_delay = 0.1
