"""The arq workers, composed: `arq gateway.worker.WorkerSettings`.

Settings come from the environment as the gateway's do (REDIS_URL, DATABASE_URL,
LOYALTY_PLUGINS, LOYALTY_QUEUE), read when arq asks for `WorkerSettings`, not when
this module is imported.
"""

from __future__ import annotations

import functools
from typing import Any

from gateway import db
from gateway.settings import Settings
from plugins.manager import build
from workers.worker import worker_settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def compose(settings: Settings) -> type:
    """The worker settings for these settings: the ORM opened and the plugins loaded (and
    so validated) at start-up, as the gateway does."""

    async def open_everything(ctx: dict[str, Any]) -> None:
        await db.start(settings.database_url)
        ctx["host"] = build(settings.plugins_path)

    async def close_everything(ctx: dict[str, Any]) -> None:
        await db.stop()

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
