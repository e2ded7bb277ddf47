"""The job functions: thin, each parses its arguments and calls one `loyalty` function.

arq calls them as `fn(ctx, *args)`; the in-process queue calls them the same way.
`ctx["queue"]` is where follow-up work goes (a `loyalty.jobs.Queue`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loyalty import campaigns, ledger, notifications
from loyalty import jobs as names
from loyalty.jobs import dispatch


async def grant_batch(ctx: dict[str, Any], campaign_id: int, batch_no: int) -> dict[str, Any]:
    """Grant one batch of a campaign (CA-03, CA-04); idempotent."""
    outcome = await campaigns.grant_batch(int(campaign_id), int(batch_no))
    return {"state": outcome.state, "granted": outcome.granted, "skipped": outcome.skipped}


async def start_campaign(ctx: dict[str, Any], campaign_id: int) -> int:
    """Start a scheduled campaign whose startsAt has come and enqueue its batches."""
    work = await campaigns.start(int(campaign_id))
    await dispatch(ctx["queue"], work)
    return len(work.batches)


async def sweep(ctx: dict[str, Any]) -> int:
    """Re-enqueue every unfinished batch of running campaigns and start due scheduled ones
    (after a crash or a lost queue); returns how many batches it enqueued."""
    enqueued = 0
    for work in await campaigns.sweep():
        await dispatch(ctx["queue"], work)
        enqueued += len(work.batches)
    return enqueued


async def burn_expired(ctx: dict[str, Any]) -> int:
    """Write the BURN entries of lots that expired (LB-04); returns how many lots burned."""
    return await ledger.burn_expired()


async def deliver_notifications(ctx: dict[str, Any]) -> dict[str, int]:
    """Deliver the due notifications of the outbox through the ``notify`` hook (RF-11, CA-01).

    `ctx["catalog"]` is the programs and their plugins; `ctx["notify_retry"]` the
    retry policy (a `notifications.RetryPolicy`; the defaults without it).
    """
    run = await notifications.deliver_due(ctx["catalog"], ctx.get("notify_retry"))
    return {"sent": run.sent, "failed": run.failed, "dropped": run.dropped}


FUNCTIONS: dict[str, Callable[..., Awaitable[Any]]] = {
    names.GRANT_BATCH: grant_batch,
    names.START_CAMPAIGN: start_campaign,
    names.SWEEP: sweep,
    names.BURN_EXPIRED: burn_expired,
    names.DELIVER_NOTIFICATIONS: deliver_notifications,
}
