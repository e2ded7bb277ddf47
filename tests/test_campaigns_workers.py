"""Gift campaigns on PostgreSQL with real Redis and arq workers (CA-03, CA-04).

In-process burst workers (as arq's own tests run them) prove the jobs, their JSON
serialization and the collapsing of duplicate jobs; the crash test runs real
`arq gateway.worker.WorkerSettings` processes, SIGKILLs one in the middle of a campaign,
loses the queue, and checks that restarted workers finish it with every audience
member granted exactly once.

Each test uses its own queue name, and job ids carry the campaign's random token, so
parallel runs never collide; only this test's keys are deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loyalty import audiences, campaigns
from loyalty.enums import CampaignStatus, EntryKind, WalletStatus
from loyalty.jobs import dispatch
from loyalty.models import Campaign, CampaignMember, Entry, Lot, Wallet
from loyalty.programs import Catalog
from tests import scenario
from tests.population import populate
from workers import worker
from workers.queue import ArqQueue, deserialize, serialize

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.postgres


async def _redis_up() -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture
async def queue() -> AsyncIterator[ArqQueue]:
    """An arq queue of this test's own; its keys (and its campaigns' job keys) deleted after."""
    if not await _redis_up():
        pytest.skip(f"no Redis at {REDIS_URL}")
    found = ArqQueue(REDIS_URL, f"loyalty-test:{secrets.token_hex(6)}")
    yield found
    await flush(found)
    await found.close()


async def flush(queue: ArqQueue) -> None:
    """Lose the queue: this queue's keys and every job key of this test's campaigns."""
    pool = await queue.pool()
    keys = [queue.queue_name, f"{queue.queue_name}:health-check"]
    for token in await Campaign.all().values_list("token", flat=True):
        keys += [key async for key in pool.scan_iter(match=f"arq:*{token}*", count=1000)]
    await pool.delete(*keys)


def burst_worker(queue: ArqQueue, pool: object) -> object:
    from arq.worker import Worker

    return Worker(
        functions=worker.functions(),
        queue_name=queue.queue_name,
        redis_pool=pool,
        burst=True,
        poll_delay=0.01,
        keep_result=0,
        job_serializer=serialize,
        job_deserializer=deserialize,
        handle_signals=False,
        ctx={"queue": queue},
    )


async def launched(catalog: Catalog, count: int, batch_size: int, amount: int = 25) -> tuple[Campaign, campaigns.Work]:
    await populate("w-", count)
    campaign = await campaigns.create(
        catalog,
        campaigns.Draft(
            name="workers",
            program_id=scenario.PROGRAM,
            amount=amount,
            audience=audiences.audience(all=True),
            valid_days=30,
        ),
        "marketer",
        batch_size=batch_size,
    )
    return await campaigns.launch(catalog, campaign.id)


async def gift_counts(campaign_id: int) -> dict[int, int]:
    rows = await Entry.filter(campaign_id=campaign_id, kind=EntryKind.GIFT).values("wallet_id")
    found: dict[int, int] = {}
    for row in rows:
        found[row["wallet_id"]] = found.get(row["wallet_id"], 0) + 1
    return found


async def test_ca03_arq_workers_grant_the_batches_with_json_jobs(catalog: Catalog, queue: ArqQueue) -> None:
    campaign, work = await launched(catalog, 2_000, 250)
    assert len(work.batches) == 8
    await dispatch(queue, work)
    await dispatch(queue, work)  # the same batches again: the job ids collapse
    pool = await queue.pool()
    raw = await pool.get(f"arq:job:{campaigns.job_id(campaign.token, 0)}")
    job = json.loads(raw)  # JSON, not pickle
    assert (job["f"], job["a"]) == ("grant_batch", [campaign.id, 0])
    worker = burst_worker(queue, pool)
    await worker.main()  # type: ignore[attr-defined]
    assert (worker.jobs_complete, worker.jobs_failed) == (8, 0)  # type: ignore[attr-defined]
    done = await Campaign.get(id=campaign.id)
    assert done.status is CampaignStatus.FINISHED
    assert (await campaigns.progress([campaign.id]))[campaign.id] == campaigns.Progress(2_000, 0)
    assert set((await gift_counts(campaign.id)).values()) == {1} and len(await gift_counts(campaign.id)) == 2_000


async def test_ca03_pause_stops_arq_batches_and_resume_continues(catalog: Catalog, queue: ArqQueue) -> None:
    campaign, work = await launched(catalog, 1_000, 200)
    await dispatch(queue, work)
    await campaigns.pause(campaign.id)
    pool = await queue.pool()
    worker = burst_worker(queue, pool)
    await worker.main()  # type: ignore[attr-defined]
    assert worker.jobs_complete == 5  # type: ignore[attr-defined]
    assert (await campaigns.progress([campaign.id]))[campaign.id] == campaigns.Progress(0, 0)
    resumed, rest = await campaigns.resume(campaign.id)
    assert resumed.status is CampaignStatus.RUNNING and rest.batches == [0, 1, 2, 3, 4]
    await dispatch(queue, rest)  # the same job ids again: finished jobs kept no key
    worker = burst_worker(queue, pool)
    await worker.main()  # type: ignore[attr-defined]
    assert (await Campaign.get(id=campaign.id)).status is CampaignStatus.FINISHED
    assert len(await gift_counts(campaign.id)) == 1_000


async def test_ca04_the_sweeper_reenqueues_what_a_lost_queue_dropped(catalog: Catalog, queue: ArqQueue) -> None:
    campaign, work = await launched(catalog, 1_500, 300)
    await dispatch(queue, work)
    await flush(queue)  # Redis lost everything before any worker ran
    pool = await queue.pool()
    await queue.enqueue("sweep")
    worker = burst_worker(queue, pool)
    await worker.main()  # type: ignore[attr-defined]
    assert worker.jobs_complete == 1 + 5  # type: ignore[attr-defined]
    assert (await Campaign.get(id=campaign.id)).status is CampaignStatus.FINISHED
    assert set((await gift_counts(campaign.id)).values()) == {1} and len(await gift_counts(campaign.id)) == 1_500


async def test_ca03_a_scheduled_campaign_is_started_by_the_arq_job(catalog: Catalog, queue: ArqQueue) -> None:
    from datetime import timedelta

    from loyalty import clock

    await populate("s-", 300)
    campaign = await campaigns.create(
        catalog,
        campaigns.Draft(
            name="later",
            program_id=scenario.PROGRAM,
            amount=5,
            audience=audiences.audience(all=True),
            valid_days=3,
            starts_at=clock.now() + timedelta(minutes=5),
        ),
        "marketer",
        batch_size=100,
    )
    row, work = await campaigns.launch(catalog, campaign.id)
    assert row.status is CampaignStatus.SCHEDULED and work.start_at is not None
    clock.advance(timedelta(minutes=5))
    # the deferred job, due now by the test's clock: enqueue it without delay
    await queue.enqueue("start_campaign", campaign.id, job_id=f"start:{campaign.token}")
    worker = burst_worker(queue, await queue.pool())
    await worker.main()  # type: ignore[attr-defined]
    assert worker.jobs_complete == 1 + 3  # type: ignore[attr-defined]
    assert (await Campaign.get(id=campaign.id)).status is CampaignStatus.FINISHED


def start_worker(database_url: str, queue: ArqQueue, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "LOYALTY_QUEUE": queue.queue_name,
        "LOYALTY_PLUGINS": str(ROOT / "plugins.toml"),
    }
    arq = Path(sys.executable).with_name("arq")
    return subprocess.Popen(
        [str(arq), "gateway.worker.WorkerSettings"], cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def test_ca04_exactly_once_through_a_worker_crash_and_a_lost_queue(
    catalog: Catalog, queue: ArqQueue, orm: str, tmp_path: Path
) -> None:
    campaign, work = await launched(catalog, 60_000, 300)
    # members blocked after launch, before their batch ran: they are skipped
    late = await CampaignMember.filter(campaign_id=campaign.id, seq__gt=59_900).values_list("wallet_id", flat=True)
    await Wallet.filter(id__in=list(late)).update(status=WalletStatus.BLOCKED)
    await dispatch(queue, work)
    log = tmp_path / "workers.log"
    first, second = start_worker(orm, queue, log), start_worker(orm, queue, log)
    workers = [first, second]
    try:
        deadline = time.monotonic() + 60
        granted = 0
        while time.monotonic() < deadline:
            granted = (await campaigns.progress([campaign.id]))[campaign.id].granted
            if granted >= 3_000:
                break
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # in the middle of the campaign, mid-batch most likely
        first.wait()
        halfway = (await campaigns.progress([campaign.id]))[campaign.id]
        assert 0 < halfway.granted < 60_000 - 100, f"not mid-campaign: {halfway}\n{log.read_text()[-3000:]}"
        await flush(queue)  # the queue is lost too
        workers.append(start_worker(orm, queue, log))  # starts with a sweep (run_at_startup)
        await queue.enqueue("sweep")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (await Campaign.get(id=campaign.id)).status is CampaignStatus.FINISHED:
                break
            await asyncio.sleep(0.2)
        done = await Campaign.get(id=campaign.id)
        assert done.status is CampaignStatus.FINISHED, log.read_text()[-3000:]
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    given = await gift_counts(campaign.id)
    assert len(given) == 59_900 and set(given.values()) == {1}
    assert await Lot.filter(campaign_id=campaign.id).count() == 59_900
    progress = (await campaigns.progress([campaign.id]))[campaign.id]
    assert progress == await campaigns.counted(campaign.id) == campaigns.Progress(59_900, 100)
    assert progress.granted + progress.skipped == done.audience_size == 60_000
