"""A campaign launched while the queue is down (issue 10, item 10): the launch is
committed, so it answers the RUNNING campaign, not INTERNAL; the sweeper enqueues its
batches once the queue is back. Redis here is a redis-server of this test's own, on a
spare port, stopped and started again (the machine's Redis is left alone)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty import audiences, campaigns
from loyalty.access import Role
from loyalty.models import CampaignStatus
from loyalty.programs import Catalog
from tests.gql import Client, token
from tests.scenario import PROGRAM, join
from workers import jobs
from workers.queue import ArqQueue

LAUNCH = "mutation($id: ID!) { launchCampaign(id: $id) { campaign { id status audienceSize } } }"
QUEUE = "loyalty-test:queue-down"


class RedisServer:
    """A redis-server on its own port, in its own folder."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on this machine")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_launch_with_the_queue_down_answers_the_campaign_and_the_sweeper_enqueues_later(
    catalog: Catalog, redis_server: RedisServer
) -> None:
    for n in range(5):
        await join(catalog, f"c{n}")
    draft = await campaigns.create(
        catalog,
        campaigns.Draft(
            name="spring", program_id=PROGRAM, amount=100, audience=audiences.audience(all=True), valid_days=30
        ),
        actor="marketing",
        batch_size=2,
    )
    client = Client(redis_url=redis_server.url, LOYALTY_QUEUE=QUEUE)
    redis_server.stop()
    try:
        result = await client(LAUNCH, {"id": str(draft.id)}, token=token(Role.MARKETER, "marketing"))
    finally:
        await client.app.state.queue.close()
    assert "errors" not in result, result
    assert result["data"]["launchCampaign"]["campaign"]["status"] == "RUNNING"
    assert result["data"]["launchCampaign"]["campaign"]["audienceSize"] == 5

    # The queue is back: the sweeper finds the RUNNING campaign's three batches (2 + 2 + 1).
    redis_server.start()
    queue = ArqQueue(redis_server.url, QUEUE)
    try:
        assert await jobs.sweep({"queue": queue}) == 3
        pool = await queue.pool()
        assert await pool.zcard(QUEUE) == 3
    finally:
        await queue.close()
    assert (await campaigns.find(draft.id)).status is CampaignStatus.RUNNING  # type: ignore[union-attr]
