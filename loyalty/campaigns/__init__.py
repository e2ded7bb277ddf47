"""Gift campaigns (CA-01..CA-05, LB-14): create, launch, pause, resume, cancel, grant, report.

`lifecycle` moves a campaign through its statuses and fixes its audience at launch,
`grants` grants its batches, `reports` counts what it did, `listing` pages through
campaigns. The package re-exports their public names, so `campaigns.launch(...)`
reads as before.
"""

from __future__ import annotations

from loyalty.campaigns.grants import BatchOutcome, grant_batch
from loyalty.campaigns.lifecycle import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    OPEN,
    RULE,
    Draft,
    Work,
    cancel,
    create,
    find,
    finish_if_done,
    get,
    job_id,
    launch,
    pause,
    preview,
    resume,
    start,
    sweep,
)
from loyalty.campaigns.listing import Page, cursor, page
from loyalty.campaigns.reports import Progress, bonuses_burned, bonuses_spent, counted, progress

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "OPEN",
    "RULE",
    "BatchOutcome",
    "Draft",
    "Page",
    "Progress",
    "Work",
    "bonuses_burned",
    "bonuses_spent",
    "cancel",
    "counted",
    "create",
    "cursor",
    "find",
    "finish_if_done",
    "get",
    "grant_batch",
    "job_id",
    "launch",
    "page",
    "pause",
    "preview",
    "progress",
    "resume",
    "start",
    "sweep",
]
