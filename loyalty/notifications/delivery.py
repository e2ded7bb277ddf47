"""Delivering the outbox through the ``notify`` hook, at least once (RF-11, CA-01).

`deliver_due` claims due notifications, tells each to its program's plugins (the
``notify`` hook, in a thread: a webhook plugin does blocking I/O with a timeout), and
records the outcome. A plugin's failure leaves the notification due again after the
backoff; the id stays the same, so receivers drop the duplicates that at-least-once
delivery brings (after a retry, or a worker that died before recording success).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from loyalty.enums import ParticipantStatus
from loyalty.errors import DomainError, Undelivered
from loyalty.facts import Notification as NotificationFacts
from loyalty.models import Participant
from loyalty.notifications.outbox import Claimed, RetryPolicy, drop, due, mark_failed, mark_sent
from loyalty.programs import Catalog

log = logging.getLogger("loyalty.notifications")


@dataclass(frozen=True)
class DeliveryRun:
    """What one `deliver_due` did: delivered, failed (to retry or given up), dropped."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0


def facts(claimed: Claimed, customer_id: str) -> NotificationFacts:
    """The notification as the ``notify`` hook gets it."""
    bonus = claimed.payload.get("bonus", 0)
    return NotificationFacts(
        kind=claimed.kind.value,
        program_id=claimed.program_id,
        at=claimed.created_at,
        participant_id=customer_id,
        bonus=bonus if isinstance(bonus, int) else 0,
        id=claimed.id,
        payload=dict(claimed.payload),
        marketing=claimed.marketing,
        attempt=claimed.attempts,
    )


async def _deliver(catalog: Catalog, claimed: Claimed, participant: Participant | None, policy: RetryPolicy) -> str:
    if participant is None or participant.status is ParticipantStatus.ERASED:
        await drop(claimed.id, "the participant was erased (LB-16)")
        return "dropped"
    if claimed.marketing and not participant.marketing_consent:
        await drop(claimed.id, "marketing consent withdrawn before delivery (LB-15)")
        return "dropped"
    try:
        program = catalog.get(claimed.program_id)
        await asyncio.to_thread(program.rules.notify, facts(claimed, participant.customer_id))
    except (Undelivered, DomainError) as error:
        gave_up = await mark_failed(claimed.id, claimed.attempts, error.message, policy)
        log.warning(
            "notification %s not delivered (attempt %d%s): %s",
            claimed.id,
            claimed.attempts,
            ", given up" if gave_up else "",
            error.message,
        )
        return "failed"
    await mark_sent(claimed.id)
    return "sent"


async def deliver_due(
    catalog: Catalog, policy: RetryPolicy | None = None, *, limit: int = 100, concurrency: int = 8
) -> DeliveryRun:
    """Deliver up to `limit` due notifications, `concurrency` at a time; safe to run at once anywhere.

    An erased participant's notification is dropped (LB-16), and so is a marketing
    one whose participant withdrew consent since (LB-15).
    """
    policy = policy or RetryPolicy()
    claimed = await due(limit, policy)
    if not claimed:
        return DeliveryRun()
    people = {p.id: p for p in await Participant.filter(id__in={c.participant_id for c in claimed})}
    gate = asyncio.Semaphore(concurrency)

    async def one(notification: Claimed) -> str:
        async with gate:
            return await _deliver(catalog, notification, people.get(notification.participant_id), policy)

    outcomes = await asyncio.gather(*(one(c) for c in claimed))
    return DeliveryRun(outcomes.count("sent"), outcomes.count("failed"), outcomes.count("dropped"))
