"""`loyalty campaign watch ID` and `loyalty campaign list`: gift campaigns from a terminal.

`watch` shows a live progress bar (granted, skipped, rate, time left) until the
campaign is FINISHED or CANCELLED; progress is read from the database (the committed
batches), so it shows what workers anywhere have done. `list` shows recent campaigns.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from gateway.commands import check_sqlite_folder, with_database
from gateway.settings import Settings
from loyalty import campaigns, sql
from loyalty.enums import CampaignStatus
from loyalty.models import Campaign

ENDED = (CampaignStatus.FINISHED, CampaignStatus.CANCELLED)
BAR = 30


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(campaign: Campaign, progress: campaigns.Progress, rate: float | None, width: int = BAR) -> str:
    """One line: bar, percent, granted, skipped, rate per second, time left, status."""
    size = campaign.audience_size
    done = progress.granted + progress.skipped
    share = done / size if size else (1.0 if campaign.status is CampaignStatus.FINISHED else 0.0)
    filled = min(width, int(share * width))
    left = None
    if rate and rate > 0 and campaign.status is CampaignStatus.RUNNING:
        left = (size - done) / rate
    elif campaign.status is CampaignStatus.FINISHED:
        left = 0.0
    rate_text = f"{rate:,.0f}/s" if rate is not None else "--/s"
    return (
        f"campaign {campaign.id} [{'#' * filled}{'.' * (width - filled)}] {share * 100:5.1f}%"
        f"  granted {progress.granted:,}  skipped {progress.skipped:,} of {size:,}"
        f"  {rate_text}  left {_duration(left)}  {campaign.status.value}"
    )


def _overall_rate(campaign: Campaign, progress: campaigns.Progress) -> float | None:
    started, finished = sql.as_datetime(campaign.started_at), sql.as_datetime(campaign.finished_at)
    if started is None or finished is None or finished <= started:
        return None
    return (progress.granted + progress.skipped) / (finished - started).total_seconds()


async def watch(
    campaign_id: str,
    *,
    out: TextIO = sys.stdout,
    interval: float = 1.0,
    tty: bool | None = None,
    now: Callable[[], float] = time.monotonic,
    limit: int | None = None,
) -> int:
    """Draw the campaign's progress until it ends (the ORM must be open). Exit code:
    0 when it ended, 1 when there is no such campaign (or `limit` refreshes ran out)."""
    tty = out.isatty() if tty is None else tty
    samples: deque[tuple[float, int]] = deque(maxlen=10)
    last = ""
    refreshes = 0
    while True:
        campaign = await campaigns.find(campaign_id)
        if campaign is None:
            print(f"no campaign {campaign_id}", file=out)
            return 1
        progress = (await campaigns.progress([campaign.id]))[campaign.id]
        samples.append((now(), progress.granted + progress.skipped))
        rate: float | None = None
        if campaign.status in ENDED:
            rate = _overall_rate(campaign, progress)
        elif len(samples) > 1 and samples[-1][0] > samples[0][0]:
            rate = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
        line = progress_line(campaign, progress, rate)
        if tty:
            out.write("\r\x1b[2K" + line)
            out.flush()
        elif line != last or campaign.status in ENDED:
            print(line, file=out)
        last = line
        if campaign.status in ENDED:
            if tty:
                out.write("\n")
            out.flush()
            return 0
        refreshes += 1
        if limit is not None and refreshes >= limit:
            if tty:
                out.write("\n")
            return 1
        await asyncio.sleep(interval)


def _when(value: Any) -> str:
    moment: datetime | None = sql.as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


async def rows(limit: int = 20) -> list[str]:
    """Recent campaigns, newest first, as aligned text rows (a header first)."""
    page = await campaigns.page(limit)
    progress = await campaigns.progress([c.id for c in page.campaigns])
    table = [("ID", "STATUS", "PROGRAM", "AMOUNT", "AUDIENCE", "GRANTED", "SKIPPED", "CREATED", "NAME")]
    for c in page.campaigns:
        done = progress[c.id]
        table.append(
            (
                str(c.id),
                c.status.value,
                c.program_id,
                str(c.amount),
                f"{c.audience_size:,}",
                f"{done.granted:,}",
                f"{done.skipped:,}",
                _when(c.created_at),
                c.name,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in table]


def _run(work: Any) -> int:
    """Run a command's coroutine function with the ORM open, as every `loyalty` command does."""
    url = Settings().database_url
    check_sqlite_folder(url)
    return int(asyncio.run(with_database(url, work)))


def watch_command(args: argparse.Namespace) -> int:
    """`loyalty campaign watch ID`."""
    return _run(lambda: watch(args.id, interval=args.interval))


def list_command(args: argparse.Namespace) -> int:
    """`loyalty campaign list`."""

    async def show() -> int:
        for line in await rows(args.limit):
            print(line)
        return 0

    return _run(show)


def add_campaign(subparsers: Any) -> None:
    """Declare `loyalty campaign watch|list`."""
    parser = subparsers.add_parser(
        "campaign", help="watch and list gift campaigns", description=__doc__.splitlines()[0]
    )
    inner = parser.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")
    watching = inner.add_parser("watch", help="live progress of one campaign until it ends")
    watching.add_argument("id", help="the campaign's id")
    watching.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    watching.set_defaults(run=watch_command)
    listing = inner.add_parser("list", help="recent campaigns, newest first")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 100)")
    listing.set_defaults(run=list_command)
