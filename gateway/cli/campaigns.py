"""`loyalty campaign watch ID` and `loyalty campaign list`: gift campaigns from a terminal.

`watch` shows a live progress bar (granted, skipped, rate, time left) until the
campaign is FINISHED or CANCELLED; progress is read from the database (the committed
batches), so it shows what workers anywhere have done. Where the output is not a
terminal (CI, a pipe) it prints a plain line whenever the progress changes. `list`
shows recent campaigns as a table.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from gateway.cli import database
from gateway.cli.exits import EPILOG, CommandError, ExitCode
from loyalty import campaigns, sql
from loyalty.enums import CampaignStatus
from loyalty.models import Campaign
from loyalty.pagination import PAGE_LIMIT

ENDED = (CampaignStatus.FINISHED, CampaignStatus.CANCELLED)
BAR = 30  # the plain line's bar, in characters
SAMPLES = 10  # refreshes the live rate is measured over

app = typer.Typer(help="Watch and list gift campaigns.", no_args_is_help=True, epilog=EPILOG)


class CampaignNotFound(CommandError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign {campaign_id}", ExitCode.NOT_FOUND)


@dataclass(frozen=True)
class Snapshot:
    """A campaign's progress at one refresh."""

    campaign: Campaign
    granted: int
    skipped: int
    rate: float | None  # participants done per second
    left: float | None  # seconds

    @property
    def done(self) -> int:
        return self.granted + self.skipped

    @property
    def share(self) -> float:
        size = self.campaign.audience_size
        if size:
            return min(1.0, self.done / size)
        return 1.0 if self.campaign.status is CampaignStatus.FINISHED else 0.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _rate(rate: float | None) -> str:
    return f"{rate:,.0f}/s" if rate is not None else "--/s"


def progress_line(snapshot: Snapshot, width: int = BAR) -> str:
    """One plain line: bar, percent, granted, skipped, rate per second, time left, status."""
    campaign = snapshot.campaign
    filled = min(width, int(snapshot.share * width))
    return (
        f"campaign {campaign.id} [{'#' * filled}{'.' * (width - filled)}] {snapshot.share * 100:5.1f}%"
        f"  granted {snapshot.granted:,}  skipped {snapshot.skipped:,} of {campaign.audience_size:,}"
        f"  {_rate(snapshot.rate)}  left {_duration(snapshot.left)}  {campaign.status.value}"
    )


def _overall_rate(campaign: Campaign, done: int) -> float | None:
    started, finished = sql.as_datetime(campaign.started_at), sql.as_datetime(campaign.finished_at)
    if started is None or finished is None or finished <= started:
        return None
    return done / (finished - started).total_seconds()


class _Sampler:
    """Turns the campaign read at each refresh into a Snapshot, with a rate over the last refreshes."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.samples: deque[tuple[float, int]] = deque(maxlen=SAMPLES)

    def snapshot(self, campaign: Campaign, progress: campaigns.Progress) -> Snapshot:
        done = progress.granted + progress.skipped
        self.samples.append((self.now(), done))
        (first_at, first_done), (last_at, last_done) = self.samples[0], self.samples[-1]
        rate: float | None = None
        left: float | None = None
        if campaign.status in ENDED:
            rate = _overall_rate(campaign, done)
        elif last_at > first_at:
            rate = (last_done - first_done) / (last_at - first_at)
        if campaign.status is CampaignStatus.FINISHED:
            left = 0.0
        elif campaign.status is CampaignStatus.RUNNING and rate:
            left = max(0, campaign.audience_size - done) / rate
        return Snapshot(campaign, progress.granted, progress.skipped, rate, left)


def live_bar(console: Console) -> Progress:
    """The rich progress bar of `watch`: one task, its fields drawn by the columns."""
    return Progress(
        BarColumn(bar_width=24),
        TaskProgressColumn(),
        TextColumn("granted [green]{task.fields[granted]:,}[/]"),
        TextColumn("skipped [yellow]{task.fields[skipped]:,}[/]"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("left {task.fields[left]}"),
        TextColumn("[bold]{task.fields[status]}"),
        console=console,
        auto_refresh=False,  # redrawn when the database is read, not on a timer
    )


def _title(campaign: Campaign) -> Text:
    title = Text.assemble((f"Campaign {campaign.id}", "bold"), f" {campaign.name}")
    title.append(f" ({campaign.program_id}, {campaign.amount} to each of {campaign.audience_size:,})", "dim")
    return title


def _fields(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "completed": snapshot.share,
        "granted": snapshot.granted,
        "skipped": snapshot.skipped,
        "rate": _rate(snapshot.rate),
        "left": _duration(snapshot.left),
        "status": snapshot.campaign.status.value,
    }


async def watch(
    campaign_id: str,
    *,
    console: Console,
    interval: float = 1.0,
    now: Callable[[], float] = time.monotonic,
    limit: int | None = None,
) -> CampaignStatus:
    """Show the campaign's progress until it ends (the ORM must be open); its last status.

    A rich progress bar on an interactive console, else a plain line per change. `limit` stops after
    that many refreshes (for tests). CampaignNotFound if there is no such campaign.
    """
    sampler = _Sampler(now)

    async def read() -> Snapshot:
        campaign = await campaigns.find(campaign_id)
        if campaign is None:
            raise CampaignNotFound(campaign_id)
        return sampler.snapshot(campaign, (await campaigns.progress([campaign.id]))[campaign.id])

    async def follow(snapshot: Snapshot, show: Callable[[Snapshot], None]) -> CampaignStatus:
        refreshes = 0
        while True:
            show(snapshot)
            refreshes += 1
            status = snapshot.campaign.status
            if status in ENDED or (limit is not None and refreshes >= limit):
                return status
            await asyncio.sleep(interval)
            snapshot = await read()

    first = await read()
    if not console.is_interactive:
        last = ""

        def print_line(snapshot: Snapshot) -> None:
            nonlocal last
            line = progress_line(snapshot)
            if line != last:
                console.out(line, highlight=False)
            last = line

        return await follow(first, print_line)

    console.print(_title(first.campaign), overflow="ellipsis", no_wrap=True)
    with live_bar(console) as bar:
        task = bar.add_task("", total=1.0, **_fields(first))

        def draw(snapshot: Snapshot) -> None:
            bar.update(task, **_fields(snapshot))
            bar.refresh()

        return await follow(first, draw)


def _when(value: Any) -> str:
    moment: datetime | None = sql.as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


COLUMNS = ("ID", "STATUS", "PROGRAM", "AMOUNT", "AUDIENCE", "GRANTED", "SKIPPED", "CREATED", "NAME")
NUMERIC = {"ID", "AMOUNT", "AUDIENCE", "GRANTED", "SKIPPED"}


async def table(limit: int = 20, *, boxed: bool = True) -> Table:
    """Recent campaigns, newest first. Unboxed, it prints as plain aligned columns (for pipes)."""
    page = await campaigns.page(limit)
    progress = await campaigns.progress([c.id for c in page.campaigns])
    found = Table(box=box.SIMPLE_HEAD if boxed else None, show_edge=False, pad_edge=False, collapse_padding=boxed)
    for name in COLUMNS:
        if name in NUMERIC or name == "STATUS":
            found.add_column(name, justify="right" if name in NUMERIC else "left", no_wrap=True)
        else:  # on a narrow terminal these wrap, the name first
            found.add_column(name, overflow="fold", min_width=10 if name == "NAME" else None)
    for c in page.campaigns:
        done = progress[c.id]
        found.add_row(
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
    return found


def _console() -> Console:
    """Standard output. Live drawing and borders only on a real terminal: FORCE_COLOR (set
    by many CI systems) may colour a log, but never fills it with redrawn frames."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=1000, force_interactive=False)  # wide: no row wraps


@app.command("watch", epilog=EPILOG)
def watch_command(
    campaign_id: Annotated[str, typer.Argument(metavar="ID", help="the campaign's id", show_default=False)],
    interval: Annotated[float, typer.Option(help="seconds between refreshes", min=0.05)] = 1.0,
) -> None:
    """Live progress of one campaign until it ends.

    Granted, skipped, rate (participants per second) and time left, read from the
    database every --interval seconds; waits through PAUSED. A progress bar on a
    terminal, a plain line per change otherwise. Exits 0 when the campaign FINISHED,
    1 when it was CANCELLED, 3 when there is no such campaign.
    """
    console = _console()
    status = database.run(lambda: watch(campaign_id, console=console, interval=interval))
    if status is not CampaignStatus.FINISHED:
        raise typer.Exit(ExitCode.FAILED)


@app.command("list", epilog=EPILOG)
def list_command(
    limit: Annotated[int, typer.Option(help="how many", min=1, max=PAGE_LIMIT)] = 20,
) -> None:
    """Recent campaigns, newest first.

    A table of id, status, program, amount, audience, granted, skipped, creation time
    and name. Where the output is not a terminal the table has no borders: plain
    columns, one campaign a line, for scripts.
    """
    console = _console()
    console.print(database.run(lambda: table(limit, boxed=console.is_interactive)))
