"""Background jobs: the job functions, the queues, the cron schedule and the arq worker's
configuration. Run the workers with `arq gateway.worker.WorkerSettings`.

Nothing in this package reads settings: the composition layer (`gateway/`) reads them
and hands in the Redis URL, the queue name and what opens the database and the plugins.

`jobs` (the functions), `queue` (arq, or in-process), `schedule` (the sweep every 15 s,
the burn every 5 minutes), `worker` (what arq runs).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Said plainly to whoever still runs `arq workers.WorkerSettings`.
    if name == "WorkerSettings":
        raise AttributeError("workers.WorkerSettings moved: run `arq gateway.worker.WorkerSettings`")
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
