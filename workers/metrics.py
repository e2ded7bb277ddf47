"""Job runs by function and outcome (the workers' series, and the in-process queue's), and a
worker's metrics port."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics, start_http_server

log = logging.getLogger("loyalty.workers")

# The *_created series only double what a scrape shows; prometheus-client's switch is process-wide.
disable_created_metrics()

JOBS = Counter("loyalty_jobs", "Jobs run, by function and outcome (ok, failed).", ["function", "outcome"])
DURATION = Histogram(
    "loyalty_job_duration_seconds",
    "Time a job ran, by function.",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0),
)


def measured(name: str, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`job`, counted and timed under `name`; a job that raises (or times out) counts as failed."""

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await job(ctx, *args)
            outcome = "ok"
            return result
        finally:
            JOBS.labels(name, outcome).inc()
            DURATION.labels(name).observe(time.perf_counter() - started)

    return run


def measured_all(functions: dict[str, Callable[..., Awaitable[Any]]]) -> dict[str, Callable[..., Awaitable[Any]]]:
    """Each job of `functions`, counted and timed under its name."""
    return {name: measured(name, job) for name, job in functions.items()}


def serve_worker_metrics(port: int) -> Any:
    """Serve this process's series on `port` (an arq worker's); None when 0 or the port is taken.

    A worker has no HTTP server of its own, so prometheus-client's runs in a thread.
    A taken port (two workers on one host with the same setting) leaves that worker
    without metrics rather than without work; give each worker its own port.
    """
    if port <= 0:
        return None
    try:
        server, _thread = start_http_server(port)
    except OSError as error:
        log.warning("worker metrics: port %s unavailable (%s); this worker serves no metrics", port, error.strerror)
        return None
    log.info("worker metrics on port %s", port)
    return server
