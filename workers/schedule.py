"""The cron schedule, declared once: what runs on its own, and how often.

The arq workers turn it into their `cron_jobs` (`workers.worker`); a gateway without
Redis runs the same schedule in its own process (`gateway.app.in_process_cron`).
Every job here is safe to run twice, at once or in a row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from loyalty import jobs


@dataclass(frozen=True)
class Periodic:
    """A job (one of `loyalty.jobs`' names, without arguments) run every `every`."""

    job: str
    every: timedelta
    # Also once as soon as a worker (or the gateway) starts, not only at the next slot.
    run_at_startup: bool = True


SCHEDULE: tuple[Periodic, ...] = (
    # Re-enqueues unfinished batches and starts due scheduled campaigns (CA-04): the
    # database is the record, so a crash or a lost queue is repaired within 15 s.
    Periodic(jobs.SWEEP, timedelta(seconds=15)),
    # Writes the BURN entries of expired lots (LB-04); balances never wait for it.
    Periodic(jobs.BURN_EXPIRED, timedelta(minutes=5)),
    # Delivers the outbox's due notifications (RF-11, CA-01), at least once, with backoff.
    Periodic(jobs.DELIVER_NOTIFICATIONS, timedelta(seconds=5)),
)


def cron_times(every: timedelta) -> tuple[set[int] | None, set[int]]:
    """arq's cron (minutes, seconds) for `every`: a whole number of seconds dividing a
    minute (every minute: None), or of minutes dividing an hour. arq's cron matches
    wall-clock fields, not intervals."""
    seconds = every.total_seconds()
    if seconds.is_integer() and 0 < seconds < 60 and 60 % seconds == 0:
        return None, set(range(0, 60, int(seconds)))
    minutes = seconds / 60
    if minutes.is_integer() and 0 < minutes < 60 and 60 % minutes == 0:
        return set(range(0, 60, int(minutes))), {0}
    raise ValueError(f"cannot run every {every} on arq's cron: use seconds or minutes that divide 60")


def tick(schedule: Sequence[Periodic] = SCHEDULE) -> timedelta:
    """The step of an interval loop that meets every job's slot (the intervals' gcd, by the millisecond)."""
    return timedelta(milliseconds=math.gcd(*(round(p.every / timedelta(milliseconds=1)) for p in schedule)))


def due(elapsed: timedelta, schedule: Sequence[Periodic] = SCHEDULE) -> list[str]:
    """The jobs due `elapsed` after the start of an interval loop (a multiple of `tick`)."""
    if elapsed <= timedelta(0):
        return [p.job for p in schedule if p.run_at_startup]
    return [p.job for p in schedule if elapsed % p.every == timedelta(0)]
