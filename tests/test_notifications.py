"""Notifications (RF-11, CA-01, LB-15, LB-16): the transactional outbox and the webhook notifier.

The webhook plugin is tested against a real HTTP server on a free local port (a
`ThreadingHTTPServer` in a thread) that checks signatures and, like a well-behaved
receiver, drops duplicates by notification id. The clock is frozen at START, so
backoff and leases are moved through by `clock.advance`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from loyalty import audiences, campaigns, clock, erasure, notifications, participants
from loyalty.enums import NotificationKind, NotificationStatus
from loyalty.facts import Notification as NotificationFacts
from loyalty.jobs import dispatch
from loyalty.models import Participant
from loyalty.notifications.delivery import facts
from loyalty.notifications.models import Notification
from loyalty.programs import Catalog
from plugins.builtin.webhook import Webhook
from plugins.config import ConfigError
from plugins.hookspecs import hookimpl
from plugins.manager import build
from tests import scenario
from tests.conftest import START
from workers import jobs
from workers.queue import InProcessQueue

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = scenario.PROGRAM
SECRET_ENV = "LOYALTY_TEST_WEBHOOK_SECRET"
SECRET = "test-only-webhook-secret"
RETRY = notifications.RetryPolicy(
    first_delay=timedelta(seconds=10), max_delay=timedelta(hours=1), max_attempts=5, lease=timedelta(minutes=5)
)


class Receiver:
    """A partner's webhook endpoint: verifies the signature, fails the first `fail_first`
    requests with HTTP 500 (or answers after `delay` seconds), and applies each
    notification once, by id."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay = delay
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.effects: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    failing = len(receiver.requests) <= receiver.fail_first
                time.sleep(receiver.delay)
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if failing or not hmac.compare_digest(self.headers.get("X-Loyalty-Signature", ""), expected):
                    self.send_response(500 if failing else 401)
                else:
                    document = json.loads(body)
                    with receiver.lock:
                        receiver.effects.setdefault(document["id"], document)  # dedupe by id
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/loyalty-hook"

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        started.append(Receiver(**options))
        return started[-1]

    yield start
    for one in started:
        one.close()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Catalog]:
    """The catalog with the built-in webhook plugin enabled for live-brighter, POSTing to `url`."""
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def enable(url: str, timeout_seconds: float = 2.0) -> Catalog:
        plugin = Webhook(Webhook.Settings(url=url, secret_env=SECRET_ENV, timeout_seconds=timeout_seconds))
        return scenario.plugin_host(scenario.enabled("webhook", plugin)).catalog

    return enable


async def member(catalog: Catalog, customer_id: str, *, marketing: bool = False) -> Participant:
    await scenario.join(catalog, customer_id)
    if marketing:
        await participants.set_marketing_consent(customer_id, True)
    return await Participant.get(customer_id=customer_id)


async def announced(participant: Participant, key: str = "referral:7:friend", bonus: int = 500) -> bool:
    """A transactional notification, written in a transaction as a payout would write it."""
    async with in_transaction():
        return await notifications.announce(
            key,
            NotificationKind.REFERRAL_REWARDED,
            program_id=PROGRAM,
            participant_id=participant.id,
            payload={"referral": 7, "side": "friend", "bonus": bonus},
        )


async def stored(key: str = "referral:7:friend") -> Notification:
    return await Notification.get(id=key)


# ------------------------------------------------------------------ the outbox


async def test_announce_writes_in_the_callers_transaction_and_once_per_id(catalog: Catalog) -> None:
    c1 = await member(catalog, "c1")
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await notifications.announce(
                "referral:7:friend",
                NotificationKind.REFERRAL_REWARDED,
                program_id=PROGRAM,
                participant_id=c1.id,
                payload={"bonus": 500},
            )
            raise RuntimeError("the payout failed")  # rolled back: no notification either
    assert await Notification.all().count() == 0
    assert await announced(c1) is True
    assert await announced(c1, bonus=999) is False  # written again (a retried payout): a no-op
    row = await stored()
    assert (row.kind, row.status, row.attempts, row.payload) == (
        NotificationKind.REFERRAL_REWARDED,
        NotificationStatus.PENDING,
        0,
        {"referral": 7, "side": "friend", "bonus": 500},
    )
    assert (row.next_attempt_at, row.created_at, row.marketing) == (START, START, False)


async def test_the_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    policy = notifications.RetryPolicy(first_delay=timedelta(seconds=10), max_delay=timedelta(minutes=1))
    assert [policy.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]


# ------------------------------------------------------------------ the webhook notifier


async def test_hook_notify_webhook_delivers_a_signed_notification(catalog: Catalog, receiver, webhook) -> None:
    c1 = await member(catalog, "c1")
    await announced(c1)
    endpoint = receiver()
    run = await notifications.deliver_due(webhook(endpoint.url), RETRY)
    assert run == notifications.DeliveryRun(sent=1)
    ((headers, body),) = endpoint.requests
    assert headers["X-Loyalty-Signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Loyalty-Notification-Id"] == "referral:7:friend"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "id": "referral:7:friend",
        "kind": "referral_rewarded",
        "program": PROGRAM,
        "participant": "c1",  # the ticketing system's customer id, read at delivery
        "payload": {"referral": 7, "side": "friend", "bonus": 500},
        "marketing": False,
        "created_at": START.isoformat(),
        "attempt": 1,
    }
    row = await stored()
    assert (row.status, row.attempts, row.sent_at, row.last_error) == (NotificationStatus.SENT, 1, START, None)
    # delivered once: the next run has nothing to do
    assert await notifications.deliver_due(webhook(endpoint.url), RETRY) == notifications.DeliveryRun()
    assert len(endpoint.requests) == 1


async def test_webhook_retries_a_failing_receiver_with_backoff(catalog: Catalog, receiver, webhook) -> None:
    c1 = await member(catalog, "c1")
    await announced(c1)
    endpoint = receiver(fail_first=2)
    hooked = webhook(endpoint.url)
    # attempt 1 at START: HTTP 500; due again 10 s later
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun(failed=1)
    row = await stored()
    assert (row.status, row.attempts, row.next_attempt_at) == (
        NotificationStatus.PENDING,
        1,
        START + timedelta(seconds=10),
    )
    assert "HTTP 500" in (row.last_error or "")
    clock.advance(timedelta(seconds=9))
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun()  # not yet
    # attempt 2 at +10 s: HTTP 500 again; the wait doubles to 20 s
    clock.advance(timedelta(seconds=1))
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun(failed=1)
    row = await stored()
    assert (row.attempts, row.next_attempt_at) == (2, START + timedelta(seconds=30))
    clock.advance(timedelta(seconds=19))
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun()
    # attempt 3 at +30 s, through the job function: delivered
    clock.advance(timedelta(seconds=1))
    assert await jobs.deliver_notifications({"catalog": hooked, "notify_retry": RETRY}) == {
        "sent": 1,
        "failed": 0,
        "dropped": 0,
    }
    row = await stored()
    assert (row.status, row.attempts, row.sent_at) == (NotificationStatus.SENT, 3, START + timedelta(seconds=30))
    assert [b["id"] for b in endpoint.bodies()] == ["referral:7:friend"] * 3
    assert [b["attempt"] for b in endpoint.bodies()] == [1, 2, 3]
    assert list(endpoint.effects) == ["referral:7:friend"]


async def test_webhook_a_receiver_too_slow_for_the_timeout_is_a_failure_then_given_up(
    catalog: Catalog, receiver, webhook
) -> None:
    c1 = await member(catalog, "c1")
    await announced(c1)
    endpoint = receiver(delay=1.0)
    hooked = webhook(endpoint.url, timeout_seconds=0.2)
    once = notifications.RetryPolicy(first_delay=timedelta(seconds=10), max_attempts=2)
    assert await notifications.deliver_due(hooked, once) == notifications.DeliveryRun(failed=1)
    row = await stored()
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert "timed out" in (row.last_error or "").lower()
    clock.advance(timedelta(seconds=10))
    assert await notifications.deliver_due(hooked, once) == notifications.DeliveryRun(failed=1)
    row = await stored()
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 2)  # the last attempt: given up
    clock.advance(timedelta(days=1))
    assert await notifications.deliver_due(hooked, once) == notifications.DeliveryRun()


async def test_webhook_no_duplicate_effects_after_a_worker_restart(catalog: Catalog, receiver, webhook) -> None:
    c1 = await member(catalog, "c1")
    await announced(c1)
    endpoint = receiver()
    hooked = webhook(endpoint.url)
    # A worker claims the notification and POSTs it, then dies before recording success.
    (claimed,) = await notifications.due(10, RETRY)
    hooked.get(PROGRAM).rules.notify(facts(claimed, "c1"))
    assert len(endpoint.requests) == 1 and (await stored()).status is NotificationStatus.PENDING
    # The restarted worker leaves it alone while the claim's lease runs ...
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun()
    # ... then delivers it again, with the same id: the receiver applies it once.
    clock.advance(RETRY.lease)
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun(sent=1)
    first, second = endpoint.bodies()
    assert first["id"] == second["id"] == "referral:7:friend"
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert endpoint.requests[0][0]["X-Loyalty-Notification-Id"] == endpoint.requests[1][0]["X-Loyalty-Notification-Id"]
    assert list(endpoint.effects) == ["referral:7:friend"]
    row = await stored()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)


async def test_notify_from_the_outbox_tells_every_plugin_and_a_failure_makes_it_due_again(with_plugins) -> None:
    told: list[tuple[str, str | None, int]] = []

    class Inbox:
        @hookimpl
        def notify(self, event: NotificationFacts) -> None:
            told.append(("inbox", event.id, event.attempt))

    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        @hookimpl
        def notify(self, event: NotificationFacts) -> None:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("partner down")
            told.append(("flaky", event.id, event.attempt))

    catalog = with_plugins(("flaky", Flaky()), ("inbox", Inbox()))
    c1 = await member(catalog, "c1")
    await announced(c1)
    assert await notifications.deliver_due(catalog, RETRY) == notifications.DeliveryRun(failed=1)
    assert told == [("inbox", "referral:7:friend", 1)]  # the other plugin was still told
    assert "flaky: ConnectionError: partner down" in ((await stored()).last_error or "")
    clock.advance(timedelta(seconds=10))
    assert await notifications.deliver_due(catalog, RETRY) == notifications.DeliveryRun(sent=1)
    # at least once: told again, same id; a receiver drops the duplicate by it
    assert told[1:] == [("flaky", "referral:7:friend", 2), ("inbox", "referral:7:friend", 2)]


def plugins_toml(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "plugins.toml"
    webhook = f'\n[plugins.webhook]\nprograms = ["{PROGRAM}"]\n[plugins.webhook.settings]\n{settings}\n'
    path.write_text((ROOT / "plugins.toml").read_text(encoding="utf-8") + webhook, encoding="utf-8")
    return path


def test_the_webhook_is_configured_in_plugins_toml_with_its_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = f'url = "http://127.0.0.1:9/hook"\nsecret_env = "{SECRET_ENV}"\ntimeout_seconds = 3'
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"{SECRET_ENV} .* is not set"):
        build(plugins_toml(tmp_path, settings))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    host = build(plugins_toml(tmp_path, settings))
    plugin = host.enabled["webhook"].instance
    assert isinstance(plugin, Webhook)
    assert (plugin.settings.url, plugin.settings.timeout_seconds, plugin.secret) == (
        "http://127.0.0.1:9/hook",
        3.0,
        SECRET.encode(),
    )
    assert host.enabled["webhook"].config.programs == [PROGRAM]
    with pytest.raises(ConfigError, match="url"):
        build(plugins_toml(tmp_path, f'url = "ftp://x"\nsecret_env = "{SECRET_ENV}"'))


# ------------------------------------------------------------------ CA-01, LB-15, LB-16


async def test_lb15_a_campaign_message_goes_only_to_granted_participants_with_marketing_consent(
    catalog: Catalog, receiver, webhook
) -> None:
    consenting = await member(catalog, "c1", marketing=True)
    await member(catalog, "c2")  # no marketing consent: the gift, but no message
    also = await member(catalog, "c3", marketing=True)
    draft = campaigns.Draft(
        name="spring gift",
        program_id=PROGRAM,
        amount=100,
        audience=audiences.audience(all=True),
        valid_days=30,
        message="A gift from Live Brighter!",
    )
    campaign = await campaigns.create(catalog, draft, "marketer", batch_size=2)
    launched, work = await campaigns.launch(catalog, campaign.id)
    queue = InProcessQueue()
    await dispatch(queue, work)
    await queue.drain()
    await queue.close()
    assert (await campaigns.progress([campaign.id]))[campaign.id] == campaigns.Progress(3, 0)
    rows = await Notification.all().order_by("id")
    assert [(r.id, r.kind, r.participant_id, r.marketing) for r in rows] == [
        (f"campaign:{campaign.id}:{consenting.id}", NotificationKind.CAMPAIGN_MESSAGE, consenting.id, True),
        (f"campaign:{campaign.id}:{also.id}", NotificationKind.CAMPAIGN_MESSAGE, also.id, True),
    ]
    assert rows[0].payload == {
        "campaign": launched.token,
        "bonus": 100,
        "message": "A gift from Live Brighter!",
        "expires_at": (START + timedelta(days=30)).isoformat(),
    }
    # granting a batch again writes nothing twice
    await campaigns.grant_batch(campaign.id, 0)
    assert await Notification.all().count() == 2
    # c3 withdraws consent before delivery: its message is dropped, not sent (LB-15)
    await participants.set_marketing_consent("c3", False)
    endpoint = receiver()
    assert await notifications.deliver_due(webhook(endpoint.url), RETRY) == notifications.DeliveryRun(sent=1, dropped=1)
    assert [(b["participant"], b["kind"], b["marketing"]) for b in endpoint.bodies()] == [
        ("c1", "campaign_message", True)
    ]
    # and a marketing announcement for someone without consent is not even written
    async with in_transaction():
        written = await notifications.announce(
            "campaign:x:c2",
            NotificationKind.CAMPAIGN_MESSAGE,
            program_id=PROGRAM,
            participant_id=(await Participant.get(customer_id="c2")).id,
            payload={"message": "hi"},
            marketing=True,
        )
    assert written is False and not await Notification.exists(id="campaign:x:c2")


async def test_lb15_a_campaign_without_a_message_announces_nothing(catalog: Catalog) -> None:
    await member(catalog, "c1", marketing=True)
    draft = campaigns.Draft(
        name="quiet", program_id=PROGRAM, amount=10, audience=audiences.audience(all=True), valid_days=3
    )
    campaign = await campaigns.create(catalog, draft, "marketer", batch_size=10)
    _, work = await campaigns.launch(catalog, campaign.id)
    for batch_no in work.batches:
        await campaigns.grant_batch(campaign.id, batch_no)
    assert (await campaigns.progress([campaign.id]))[campaign.id] == campaigns.Progress(1, 0)
    assert await Notification.all().count() == 0


async def test_lb16_an_erased_participants_pending_notifications_are_dropped_with_no_personal_data(
    catalog: Catalog, receiver, webhook
) -> None:
    c1 = await member(catalog, "c1", marketing=True)
    await member(catalog, "c2")
    c2 = await Participant.get(customer_id="c2")
    await announced(c1, "referral:7:friend")
    await announced(c1, "referral:8:referrer")
    await announced(c2, "referral:9:friend")
    endpoint = receiver()
    hooked = webhook(endpoint.url)
    await notifications.mark_sent("referral:8:referrer")  # delivered before the erasure; the others wait
    await erasure.erase("c1", scenario.ERASURE_KEY)
    rows = {r.id: r for r in await Notification.all()}
    assert rows["referral:7:friend"].status is NotificationStatus.DROPPED
    assert rows["referral:7:friend"].payload == {}
    assert rows["referral:8:referrer"].status is NotificationStatus.SENT  # the record stays
    assert rows["referral:9:friend"].status is NotificationStatus.PENDING  # someone else's
    assert await notifications.deliver_due(hooked, RETRY) == notifications.DeliveryRun(sent=1)
    assert [b["id"] for b in endpoint.bodies()] == ["referral:9:friend"]
    # nothing in the outbox names c1: no customer id, e-mail or name
    dump = json.dumps([dict(r) for r in await Notification.all().values()], default=str)
    assert "c1" not in dump
    assert await Participant.filter(customer_id="c1").count() == 0


# ------------------------------------------------------------------ a real arq worker

REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.postgres
async def test_an_arq_worker_delivers_the_outbox_through_the_webhook(
    catalog: Catalog, receiver, orm: str, tmp_path: Path
) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:
        pytest.skip(f"no Redis at {REDIS_URL}")
    c1 = await member(catalog, "c1")
    await announced(c1)
    endpoint = receiver()
    queue_name = f"loyalty-test:{secrets.token_hex(6)}"
    env = {
        **os.environ,
        "DATABASE_URL": orm,
        "REDIS_URL": REDIS_URL,
        "LOYALTY_QUEUE": queue_name,
        "LOYALTY_PLUGINS": str(plugins_toml(tmp_path, f'url = "{endpoint.url}"\nsecret_env = "{SECRET_ENV}"')),
        "LOYALTY_WORKER_METRICS_PORT": "0",
        SECRET_ENV: SECRET,
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("arq")), "gateway.worker.WorkerSettings"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (await stored()).status is NotificationStatus.SENT:
                break
            await asyncio.sleep(0.2)
        assert (await stored()).status is NotificationStatus.SENT, log.read_text()
        assert list(endpoint.effects) == ["referral:7:friend"]
        assert endpoint.bodies()[0]["participant"] == "c1"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        keys = [key async for key in client.scan_iter(match=f"*{queue_name}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
