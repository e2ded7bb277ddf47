"""The transactional outbox: notifications written with the change they announce (RF-11, CA-01).

`announce` runs inside the caller's transaction (``in_transaction()`` passes its
connection implicitly, as the ledger writes rely on), so a notification exists if and
only if its change committed. The stable id is the primary key: announcing again is a
no-op. Delivery (`loyalty.notifications.delivery`) claims due rows with `due`, and
records the outcome with `mark_sent` or `mark_failed` (exponential backoff, then
FAILED after the last attempt). `drop_for_erased` empties an erased participant's
undelivered notifications (LB-16).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loyalty import clock, sql
from loyalty.enums import NotificationKind, NotificationStatus
from loyalty.models import Participant

_PENDING = NotificationStatus.PENDING.value


@dataclass(frozen=True)
class RetryPolicy:
    """How delivery retries: `first_delay` after the first failure, doubling up to
    `max_delay`; FAILED after `max_attempts`. A claimed notification is due again
    `lease` after the claim unless its outcome was recorded (a worker died mid-way)."""

    first_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 10
    lease: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: first_delay * 2^(attempts-1), capped."""
        delay: timedelta = self.first_delay * 2 ** max(attempts - 1, 0)
        return min(delay, self.max_delay)


@dataclass(frozen=True)
class Claimed:
    """A due notification claimed for one delivery attempt (`attempts` counts this one)."""

    id: str
    kind: NotificationKind
    program_id: str
    participant_id: int
    payload: dict[str, Any]
    marketing: bool
    attempts: int
    created_at: datetime


def dumps(payload: dict[str, Any]) -> str:
    """A payload as the JSON the outbox stores."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)


async def announce(
    notification_id: str,
    kind: NotificationKind,
    *,
    program_id: str,
    participant_id: int,
    payload: dict[str, Any],
    marketing: bool = False,
) -> bool:
    """Write one notification in the caller's transaction; False if it exists already.

    Call it inside the ``in_transaction()`` of the change it announces. `payload`
    holds amounts, ids and message text, never personal data. A `marketing` one is
    written only for a participant whose marketing consent is on (LB-15).
    """
    if marketing and not await Participant.exists(id=participant_id, marketing_consent=True):
        return False
    now = clock.now()
    cast = "::jsonb" if sql.is_postgres() else ""
    # RETURNING, not the statement's count: Tortoise reads PostgreSQL's "INSERT 0 1" as 0.
    written = await sql.fetch(
        "INSERT INTO notification (id, kind, program_id, participant_id, payload, marketing, status,"
        " attempts, next_attempt_at, created_at)"
        f" VALUES ($1, $2, $3, $4, $5{cast}, $6, $7, 0, $8, $8) ON CONFLICT (id) DO NOTHING RETURNING id",
        notification_id,
        kind.value,
        program_id,
        participant_id,
        dumps(payload),
        marketing,
        _PENDING,
        now,
    )
    return bool(written)


def _claimed(row: dict[str, Any]) -> Claimed:
    payload = row["payload"]
    created = sql.as_datetime(row["created_at"])
    assert created is not None
    return Claimed(
        id=str(row["id"]),
        kind=NotificationKind(row["kind"]),
        program_id=str(row["program_id"]),
        participant_id=int(row["participant_id"]),
        payload=json.loads(payload) if isinstance(payload, str | bytes) else dict(payload or {}),
        marketing=bool(row["marketing"]),
        attempts=int(row["attempts"]),
        created_at=created,
    )


async def due(limit: int, policy: RetryPolicy | None = None) -> list[Claimed]:
    """Claim up to `limit` notifications due now, oldest first, for one attempt each.

    The claim counts the attempt and pushes the row's due time `policy.lease` ahead,
    so concurrent deliverers never take the same row, and a row whose deliverer died
    before recording the outcome is delivered again (at least once) after the lease.
    """
    policy = policy or RetryPolicy()
    now = clock.now()
    lock = " FOR UPDATE SKIP LOCKED" if sql.is_postgres() else ""
    rows = await sql.fetch(
        "UPDATE notification SET attempts = attempts + 1, next_attempt_at = $2"
        " WHERE id IN (SELECT id FROM notification WHERE status = $3 AND next_attempt_at <= $1"
        f" ORDER BY next_attempt_at, id LIMIT $4{lock})"
        " RETURNING id, kind, program_id, participant_id, payload, marketing, attempts, created_at",
        now,
        now + policy.lease,
        _PENDING,
        limit,
    )
    return sorted((_claimed(row) for row in rows), key=lambda c: (c.created_at, c.id))


async def mark_sent(notification_id: str) -> None:
    """Record that the notification was delivered."""
    await sql.execute(
        "UPDATE notification SET status = $2, sent_at = $3, last_error = NULL WHERE id = $1 AND status = $4",
        notification_id,
        NotificationStatus.SENT.value,
        clock.now(),
        _PENDING,
    )


async def mark_failed(notification_id: str, attempts: int, error: str, policy: RetryPolicy | None = None) -> bool:
    """Record a failed attempt (the `attempts`-th): due again after the backoff, or FAILED
    after the policy's last attempt (True then)."""
    policy = policy or RetryPolicy()
    gave_up = attempts >= policy.max_attempts
    await sql.execute(
        "UPDATE notification SET status = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1 AND status = $5",
        notification_id,
        (NotificationStatus.FAILED if gave_up else NotificationStatus.PENDING).value,
        clock.now() + policy.delay(attempts),
        error[:500],
        _PENDING,
    )
    return gave_up


async def drop(notification_id: str, reason: str) -> None:
    """Give up one undelivered notification for good, emptying its payload."""
    await sql.execute(
        "UPDATE notification SET status = $2, payload = '{}', last_error = $3 WHERE id = $1",
        notification_id,
        NotificationStatus.DROPPED.value,
        reason,
    )


async def drop_for_erased(participant_id: int) -> int:
    """Drop every undelivered notification of an erased participant, payload emptied (LB-16).

    Called in the erasure's transaction; delivered ones stay as a record (they carry
    no personal data, and the participant they name is now a pseudonym).
    """
    return await sql.execute(
        "UPDATE notification SET status = $2, payload = '{}', last_error = $3"
        " WHERE participant_id = $1 AND status IN ($4, $5)",
        participant_id,
        NotificationStatus.DROPPED.value,
        "the participant was erased (LB-16)",
        _PENDING,
        NotificationStatus.FAILED.value,
    )
