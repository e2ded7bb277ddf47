"""The jobs port: what the domain's callers hand to a job queue, whichever queue it is.

The domain returns work to do (`campaigns.Work`) and never enqueues it itself; the
resolvers and the jobs hand it to a `Queue` with `dispatch`. The queues themselves
(arq on Redis, or in-process) are `workers.queue`, chosen by the composition layer.

A job is a name and JSON-clean arguments. A job id makes a job unique while it waits
or runs: enqueueing it again is a no-op, so work may be re-enqueued freely.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from loyalty import campaigns

# The job names: `workers.jobs` runs a function under each.
GRANT_BATCH = "grant_batch"
START_CAMPAIGN = "start_campaign"
SWEEP = "sweep"
BURN_EXPIRED = "burn_expired"
DELIVER_NOTIFICATIONS = "deliver_notifications"


class QueueUnavailable(Exception):
    """The queue could not take the job (Redis down or unreachable). The database says
    what is left to do, so the sweeper enqueues it once the queue is back."""


class Queue(Protocol):
    """Where jobs go."""

    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
    ) -> None:
        """Queue one job; a job with the same id waiting or running makes it a no-op.
        Raises QueueUnavailable where the queue cannot be reached."""


def start_job_id(token: str) -> str:
    """The queue's key for a scheduled campaign's start."""
    return f"start:{token}"


async def dispatch(queue: Queue, work: campaigns.Work) -> None:
    """Enqueue a campaign's work: its batches now, or its start at startsAt."""
    if work.start_at is not None:
        await queue.enqueue(
            START_CAMPAIGN, work.campaign_id, job_id=start_job_id(work.token), defer_until=work.start_at
        )
    for batch_no in work.batches:
        await queue.enqueue(GRANT_BATCH, work.campaign_id, batch_no, job_id=campaigns.job_id(work.token, batch_no))
