"""The arq workers, composed: `arq gateway.worker.WorkerSettings`.

Settings come from the environment as the gateway's do (REDIS_URL, DATABASE_URL,
LOYALTY_PLUGINS, LOYALTY_QUEUE), read when arq asks for `WorkerSettings`, not when
this module is imported. Logs are JSON lines (LOYALTY_LOG_LEVEL); each worker serves
its metrics on LOYALTY_WORKER_METRICS_PORT (default 9101, 0 for none): see
docs/operations.md.
"""

from __future__ import annotations

import functools
from typing import Any

from gateway import db, logs
from gateway.settings import Settings
from plugins.manager import build
from workers.metrics import serve_worker_metrics
from workers.worker import worker_settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def compose(settings: Settings) -> type:
    """The worker settings for these settings: the ORM opened and the plugins loaded (and
    so validated) at start-up, as the gateway does."""

    async def open_everything(ctx: dict[str, Any]) -> None:
        logs.configure(settings.log_level)  # after arq's own (plain-text) logging set-up
        ctx["metrics"] = serve_worker_metrics(settings.worker_metrics_port)
        await db.start(settings.database_url)
        ctx["host"] = build(settings.plugins_path)
        ctx["catalog"] = ctx["host"].catalog
        ctx["notify_retry"] = settings.notify_retry()

    async def close_everything(ctx: dict[str, Any]) -> None:
        await db.stop()
        if ctx.get("metrics") is not None:
            ctx["metrics"].shutdown()

    return worker_settings(
        redis_url=settings.redis_url or DEFAULT_REDIS_URL,
        queue_name=settings.queue_name,
        on_startup=open_everything,
        on_shutdown=close_everything,
    )


@functools.cache
def _from_environment() -> type:
    return compose(Settings())


def __getattr__(name: str) -> Any:
    # arq finds `WorkerSettings` by getattr on this module: built then, from the environment.
    if name == "WorkerSettings":
        return _from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
