"""The workers' layering and their one cron schedule.

`import workers` (and the worker's composition module) reads no settings; the arq
worker and the gateway's in-process loop run the same schedule: a sweep every 15 s,
a burn every 5 minutes and a delivery of the outbox's notifications every 5 s, all
also at start-up.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.app import in_process_cron
from gateway.settings import Settings
from gateway.worker import compose
from loyalty.jobs import BURN_EXPIRED, DELIVER_NOTIFICATIONS, SWEEP
from workers.queue import InProcessQueue
from workers.schedule import SCHEDULE, Periodic, cron_times, due, tick

ROOT = Path(__file__).resolve().parent.parent


def python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with a settings value that cannot be read."""
    env = {**os.environ, "LOYALTY_CAMPAIGN_BATCH": "not-a-number"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_importing_the_workers_reads_no_settings() -> None:
    imported = python(
        "import workers, workers.jobs, workers.queue, workers.schedule, workers.worker, gateway.worker, gateway.app"
    )
    assert imported.returncode == 0, imported.stderr
    # The same environment does break the settings: arq asking for them is what reads them.
    asked = python("import gateway.worker; gateway.worker.WorkerSettings")
    assert asked.returncode != 0 and "LOYALTY_CAMPAIGN_BATCH" in asked.stderr


def test_the_old_worker_path_says_where_it_went() -> None:
    old = python("import workers; workers.WorkerSettings")
    assert old.returncode != 0 and "arq gateway.worker.WorkerSettings" in old.stderr


def test_the_schedule_sweeps_every_15_seconds_delivers_every_5_and_burns_every_5_minutes() -> None:
    assert (
        Periodic(SWEEP, timedelta(seconds=15), run_at_startup=True),
        Periodic(BURN_EXPIRED, timedelta(minutes=5), run_at_startup=True),
        Periodic(DELIVER_NOTIFICATIONS, timedelta(seconds=5), run_at_startup=True),
    ) == SCHEDULE
    assert tick() == timedelta(seconds=5)
    assert due(timedelta(0)) == [SWEEP, BURN_EXPIRED, DELIVER_NOTIFICATIONS]
    assert due(timedelta(seconds=5)) == [DELIVER_NOTIFICATIONS]
    assert due(timedelta(seconds=15)) == [SWEEP, DELIVER_NOTIFICATIONS]
    assert due(timedelta(seconds=285)) == [SWEEP, DELIVER_NOTIFICATIONS]
    assert due(timedelta(seconds=300)) == [SWEEP, BURN_EXPIRED, DELIVER_NOTIFICATIONS]
    # One hour of the in-process loop: 3600 / 5 = 720 ticks; a sweep every third (240),
    # a burn at 0, 300, ..., 3300 (12), a delivery at each.
    hour = [job for step in range(720) for job in due(step * timedelta(seconds=5))]
    assert (hour.count(SWEEP), hour.count(BURN_EXPIRED), hour.count(DELIVER_NOTIFICATIONS)) == (240, 12, 720)


def test_arq_runs_the_same_schedule_on_the_wall_clock() -> None:
    assert cron_times(timedelta(seconds=15)) == (None, {0, 15, 30, 45})
    assert cron_times(timedelta(minutes=5)) == ({0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}, {0})
    settings = Settings(redis_url="redis://127.0.0.1:6379/9", queue_name="loyalty-test:schedule")
    worker = compose(settings)
    assert worker.queue_name == "loyalty-test:schedule"  # type: ignore[attr-defined]
    crons = {job.name: job for job in worker.cron_jobs}  # type: ignore[attr-defined]
    sweep, burn = crons["cron:sweep:loyalty-test:schedule"], crons["cron:burn_expired:loyalty-test:schedule"]
    assert (sweep.minute, sweep.second, sweep.run_at_startup) == (None, {0, 15, 30, 45}, True)
    assert (burn.minute, burn.second, burn.run_at_startup) == (set(range(0, 60, 5)), {0}, True)
    deliver = crons["cron:deliver_notifications:loyalty-test:schedule"]
    assert (deliver.minute, deliver.second, deliver.run_at_startup) == (None, set(range(0, 60, 5)), True)
    assert {f.name for f in worker.functions} == {  # type: ignore[attr-defined]
        "grant_batch",
        "start_campaign",
        "sweep",
        "burn_expired",
        "deliver_notifications",
    }


async def test_the_in_process_loop_runs_the_schedule() -> None:
    # The schedule at a thousandth of the speed: sweep every 20 ms, burn every 40 ms but
    # not at start-up; so the first burn comes after the sweeps at 0, 20 and 40 ms.
    ran: list[str] = []
    first_burn = asyncio.get_running_loop().create_future()

    async def sweep(ctx: dict[str, Any]) -> None:
        ran.append(SWEEP)

    async def burn(ctx: dict[str, Any]) -> None:
        ran.append(BURN_EXPIRED)
        if not first_burn.done():
            first_burn.set_result(list(ran))

    queue = InProcessQueue({SWEEP: sweep, BURN_EXPIRED: burn})
    fast = (
        Periodic(SWEEP, timedelta(milliseconds=20)),
        Periodic(BURN_EXPIRED, timedelta(milliseconds=40), run_at_startup=False),
    )
    loop = in_process_cron(queue, fast)
    try:
        assert await asyncio.wait_for(first_burn, timeout=10) == [SWEEP, SWEEP, SWEEP, BURN_EXPIRED]
    finally:
        loop.cancel()
        await queue.close()
