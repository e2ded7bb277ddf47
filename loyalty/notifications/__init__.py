"""Notifications (RF-11, CA-01): a transactional outbox delivered through the ``notify`` hook.

`outbox` writes notifications in the transaction of the change they announce and
records delivery outcomes; `delivery` delivers the due ones at least once, with a
stable id. The package re-exports their public names.
"""

from __future__ import annotations

from loyalty.notifications.delivery import DeliveryRun, deliver_due
from loyalty.notifications.outbox import (
    Claimed,
    RetryPolicy,
    announce,
    drop_for_erased,
    due,
    dumps,
    mark_failed,
    mark_sent,
)

__all__ = [
    "Claimed",
    "DeliveryRun",
    "RetryPolicy",
    "announce",
    "deliver_due",
    "drop_for_erased",
    "due",
    "dumps",
    "mark_failed",
    "mark_sent",
]
