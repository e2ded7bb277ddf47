"""Gift campaigns (CA-01..CA-05, LB-14) on the in-process queue: SQLite and PostgreSQL alike.

The arq / Redis paths and the crash test are in test_campaigns_workers.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from loyalty import audiences, campaigns, clock, erasure, ledger, orders, participants, tiers
from loyalty.enums import CampaignStatus, Channel, EntryKind, WalletStatus
from loyalty.errors import BadInput, Conflict
from loyalty.facts import Segment
from loyalty.jobs import dispatch
from loyalty.models import Campaign, CampaignBatch, CampaignGrant, Entry, Lot, Wallet
from loyalty.programs import Catalog
from plugins import hookimpl
from plugins.manager import PluginHost
from tests import scenario
from tests.gql import Client, error_code, participant_token, token
from tests.population import populate
from workers import jobs
from workers.queue import InProcessQueue

PROGRAM = scenario.PROGRAM
MARKETER = token("marketer", "console")


def everyone() -> audiences.Audience:
    return audiences.audience(all=True)


async def gifts(campaign_id: int) -> dict[int, int]:
    """GIFT entries per wallet of one campaign."""
    found: dict[int, int] = {}
    for row in await Entry.filter(campaign_id=campaign_id, kind=EntryKind.GIFT).values("wallet_id"):
        found[row["wallet_id"]] = found.get(row["wallet_id"], 0) + 1
    return found


async def make(
    catalog: Catalog,
    audience: audiences.Audience | None = None,
    *,
    amount: int = 100,
    batch_size: int = 3,
    valid_days: int | None = 30,
    **changes: Any,
) -> Campaign:
    draft = campaigns.Draft(
        name="spring gift",
        program_id=PROGRAM,
        amount=amount,
        audience=audience or everyone(),
        valid_days=valid_days,
        message="A gift from Live Brighter!",
    )
    return await campaigns.create(catalog, replace(draft, **changes), "marketer", batch_size=batch_size)


async def run(queue: InProcessQueue, work: campaigns.Work) -> None:
    await dispatch(queue, work)
    await queue.drain()


# ------------------------------------------------------------------ CA-01


async def test_ca01_marketer_creates_a_draft_campaign_with_its_audience_counted(catalog: Catalog) -> None:
    for n in range(4):
        await scenario.join(catalog, f"c{n}")
    await scenario.join(catalog, "pending", verified_contact=False)
    client = Client()
    variables = {
        "input": {
            "name": "Welcome gift",
            "programId": PROGRAM,
            "amount": 250,
            "validDays": 30,
            "audience": {"all": True},
            "message": "Enjoy!",
        }
    }
    created = await client.op("CreateGiftCampaign", variables, token=MARKETER)
    campaign = created["data"]["createGiftCampaign"]["campaign"]
    assert campaign["status"] == "DRAFT" and campaign["audienceSize"] == 4
    read = await client.op("Campaign", {"id": campaign["id"]}, token=MARKETER)
    shown = read["data"]["campaign"]
    assert (shown["name"], shown["programId"], shown["amount"]) == ("Welcome gift", PROGRAM, 250)
    assert (shown["granted"], shown["skipped"], shown["bonusGranted"], shown["startedAt"]) == (0, 0, 0, None)
    row = await Campaign.get(id=int(campaign["id"]))
    assert (row.valid_days, row.expires_at, row.message, row.starts_at) == (30, None, "Enjoy!", None)
    assert await Lot.all().count() == 0  # creating grants nothing


async def test_ca01_refusals_bad_input_forbidden_not_found(catalog: Catalog) -> None:
    await scenario.join(catalog, "c1")
    client = Client()
    base = {"name": "x", "programId": PROGRAM, "amount": 10, "audience": {"all": True}, "validDays": 10}
    later = (clock.now() + timedelta(days=5)).isoformat()
    bad = [
        {"validDays": None},  # neither validity
        {"expiresAt": later},  # both
        {"amount": 0},
        {"amount": -5},
        {"name": "  "},
        {"audience": {}},
        {"audience": {"all": False}},
        {"audience": {"participantIds": []}},
        {"audience": {"participantIds": ["nobody"]}},  # matches nobody: an empty audience
        {"audience": {"tier": "platinum"}},  # a tier the program lacks
        {"audience": {"segment": "unknown"}},
        {"validDays": None, "expiresAt": (clock.now() - timedelta(days=1)).isoformat()},
    ]
    for change in bad:
        result = await client.op("CreateGiftCampaign", {"input": {**base, **change}}, token=MARKETER)
        assert error_code(result) == "BAD_INPUT", change
    missing = await client.op("CreateGiftCampaign", {"input": {**base, "programId": "nope"}}, token=MARKETER)
    assert error_code(missing) == "NOT_FOUND"
    for who in (participant_token("c1"), token("admin"), token("ticketing")):
        assert error_code(await client.op("CreateGiftCampaign", {"input": base}, token=who)) == "FORBIDDEN"
    assert error_code(await client.op("CreateGiftCampaign", {"input": base})) == "UNAUTHENTICATED"
    assert await Campaign.all().count() == 0


# ------------------------------------------------------------------ CA-02


async def test_ca02_preview_counts_only_active_wallets_of_active_participants(catalog: Catalog) -> None:
    for n in range(5):
        await scenario.join(catalog, f"c{n}")
    await scenario.join(catalog, "pending", verified_contact=False)
    await scenario.join(catalog, "blocked")
    await participants.block(catalog, "blocked", None, "fraud", "staff")
    await scenario.join(catalog, "wallet-blocked")
    await participants.block(catalog, "wallet-blocked", PROGRAM, "abuse", "staff")
    await scenario.join(catalog, "erased")
    await erasure.erase("erased", scenario.ERASURE_KEY)
    client = Client()
    result = await client.op("PreviewAudience", {"programId": PROGRAM, "audience": {"all": True}}, token=MARKETER)
    assert result["data"]["previewAudience"]["count"] == 5
    listed = {"participantIds": ["c1", "c2", "blocked", "erased", "pending", "never-joined"]}
    result = await client.op("PreviewAudience", {"programId": PROGRAM, "audience": listed}, token=MARKETER)
    assert result["data"]["previewAudience"]["count"] == 2
    denied = await client.op(
        "PreviewAudience", {"programId": PROGRAM, "audience": {"all": True}}, token=participant_token("c1")
    )
    assert error_code(denied) == "FORBIDDEN"
    assert (
        error_code(await client.op("PreviewAudience", {"programId": PROGRAM, "audience": {}}, token=MARKETER))
        == "BAD_INPUT"
    )


async def test_ca02_filters_combine_with_and(catalog: Catalog) -> None:
    host = scenario.plugin_host(tiers=("silver", "gold"))
    catalog = host.catalog
    program = catalog.get(PROGRAM)
    for n in range(6):
        await scenario.join(catalog, f"c{n}")
    await Wallet.filter(participant__customer_id__in=["c0", "c1", "c2"]).update(tier="gold")
    await scenario.event("gig", category="Concert")
    await scenario.event("play", category="theatre")
    await scenario.buy(catalog, "o1", "c0", scenario.ticket("t1", "gig", "1000"))
    await scenario.buy(catalog, "o2", "c3", scenario.ticket("t2", "gig", "1000"))
    await scenario.buy(catalog, "o3", "c1", scenario.ticket("t3", "play", "1000"))
    clock.advance(timedelta(days=3))
    since = clock.now()
    await scenario.buy(catalog, "o4", "c2", scenario.ticket("t4", "gig", "1000"))
    await scenario.buy(catalog, "o5", "c4", scenario.ticket("t5", "gig", "1000"))
    await scenario.buy(catalog, "o6", "c5", scenario.ticket("t6", "gig", "1000"))
    await scenario.refund(catalog, "o6", "t6")  # a returned ticket is no purchase

    async def count(**filters: Any) -> int:
        return await audiences.count(program, audiences.audience(**filters))

    assert await count(all=True) == 6
    assert await count(tier="gold") == 3
    assert await count(bought_category="concert") == 4  # c0 c3 c2 c4
    assert await count(bought_category=" CONCERT ") == 4
    assert await count(bought_category="concert", bought_since=since) == 2  # c2 c4
    assert await count(bought_since=since) == 2
    assert await count(tier="gold", bought_category="concert") == 2  # c0 c2
    assert await count(tier="gold", bought_category="concert", bought_since=since) == 1  # c2
    assert await count(all=True, customer_ids=["c0", "c3", "c5"], bought_category="concert") == 2
    with pytest.raises(BadInput):
        await count(tier="bronze")


async def test_ca02_buyers_of_a_category_count_only_the_campaigns_programs_orders(catalog: Catalog) -> None:
    # c1 and c2 are in both programs; c1 bought a concert ticket in MGT+, c2 in «Live Brighter!»
    for customer in ("c1", "c2"):
        await scenario.join(catalog, customer)
        await scenario.join(catalog, customer, program="mgt-plus")
    await scenario.event("gig", category="concert", organizer="mosgubteatr")
    mgt = scenario.draft("o1", "c1", scenario.ticket("t1", "gig", "1000"), program="mgt-plus", channel=Channel.WIDGET)
    await orders.record_order(catalog, mgt)
    await orders.pay_order(catalog, "o1")
    await scenario.buy(catalog, "o2", "c2", scenario.ticket("t2", "gig", "1000"))
    bought = audiences.audience(bought_category="concert")
    assert await audiences.count(catalog.get(PROGRAM), bought) == 1  # c2 alone
    assert await audiences.count(catalog.get("mgt-plus"), bought) == 1  # c1 alone


async def test_ca02_an_explicit_list_of_100000_ids(catalog: Catalog) -> None:
    await populate("big-", 3_000)
    ids = [f"big-{n}" for n in range(1, 100_001)]  # 3,000 participants among 100,000 ids
    program = catalog.get(PROGRAM)
    audience = audiences.audience(customer_ids=ids)
    assert await audiences.count(program, audience) == 3_000
    campaign = await make(catalog, audience, batch_size=1_000)
    assert campaign.audience_size == 3_000
    launched, work = await campaigns.launch(catalog, campaign.id)
    assert launched.audience_size == 3_000 and work.batches == [0, 1, 2]


class Newcomers:
    """A partner's segment: participants who joined since a date (segmentParams.since)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any], str]] = []

    @hookimpl
    def audience_segment(self, name: str, params: dict[str, Any], program: str) -> Segment | None:
        self.asked.append((name, params, program))
        if name == "newcomers":
            from datetime import datetime

            return Segment(joined_since=datetime.fromisoformat(params["since"]))
        if name == "vip-list":
            return Segment(customer_ids=tuple(params["ids"]), marketing_consent=True)
        return None


class Broken:
    @hookimpl
    def audience_segment(self, name: str, params: dict[str, Any], program: str) -> Segment | None:
        raise RuntimeError("segment service down")


async def test_hook_audience_segment_defines_a_campaign_audience() -> None:
    plugin = Newcomers()
    host: PluginHost = scenario.plugin_host(scenario.enabled("newcomers", plugin))
    catalog = host.catalog
    program = catalog.get(PROGRAM)
    await scenario.join(catalog, "old1")
    await scenario.join(catalog, "old2")
    clock.advance(timedelta(days=2))
    since = clock.now()
    await scenario.join(catalog, "new1")
    await scenario.join(catalog, "new2")
    await participants.set_marketing_consent("new2", True)
    segment = audiences.audience(segment="newcomers", segment_params={"since": since.isoformat()})
    assert await audiences.count(program, segment) == 2
    assert plugin.asked[-1] == ("newcomers", {"since": since.isoformat()}, PROGRAM)
    # AND with the other filters, and with the segment's own fields
    both = audiences.audience(
        customer_ids=["new1", "old1"], segment="newcomers", segment_params={"since": since.isoformat()}
    )
    assert await audiences.count(program, both) == 1
    vip = audiences.audience(segment="vip-list", segment_params={"ids": ["new1", "new2", "old1"]})
    assert await audiences.count(program, vip) == 1  # only new2 accepts marketing
    with pytest.raises(BadInput):
        await audiences.count(program, audiences.audience(segment="nobody-defines-this"))
    # a campaign to a segment: asked again at launch, where the audience is fixed
    campaign = await make(catalog, segment)
    asked = len(plugin.asked)
    launched, work = await campaigns.launch(catalog, campaign.id)
    assert len(plugin.asked) == asked + 1 and launched.audience_size == 2
    queue = InProcessQueue()
    await run(queue, work)
    assert sorted((await gifts(campaign.id)).values()) == [1, 1]


async def test_hook_audience_segment_failure_refuses_or_is_skipped_when_optional() -> None:
    from loyalty.errors import PluginFailure

    strict = scenario.plugin_host(scenario.enabled("broken", Broken())).catalog
    await scenario.join(strict, "c1")
    with pytest.raises(PluginFailure):
        await audiences.count(strict.get(PROGRAM), audiences.audience(segment="any"))
    lenient = scenario.plugin_host(
        scenario.enabled("broken", Broken(), optional=True), scenario.enabled("newcomers", Newcomers())
    ).catalog
    since = (clock.now() - timedelta(days=1)).isoformat()
    found = await audiences.count(
        lenient.get(PROGRAM), audiences.audience(segment="newcomers", segment_params={"since": since})
    )
    assert found == 1


# ------------------------------------------------------------------ CA-03


async def test_ca03_launch_runs_in_batches_with_visible_progress(catalog: Catalog) -> None:
    await populate("p-", 10)
    client = Client()
    created = await client.op(
        "CreateGiftCampaign",
        {"input": {"name": "ten", "programId": PROGRAM, "amount": 50, "validDays": 10, "audience": {"all": True}}},
        token=MARKETER,
    )
    campaign_id = created["data"]["createGiftCampaign"]["campaign"]["id"]
    await Campaign.filter(id=int(campaign_id)).update(batch_size=4)
    launched = await client.op("LaunchCampaign", {"id": campaign_id}, token=MARKETER)
    assert launched["data"]["launchCampaign"]["campaign"]["status"] == "RUNNING"
    assert await CampaignBatch.filter(campaign_id=int(campaign_id)).count() == 3
    queue: InProcessQueue = client.app.state.queue
    await queue.drain()
    assert queue.done == 3 and queue.failed == 0
    shown = (await client.op("Campaign", {"id": campaign_id}, token=MARKETER))["data"]["campaign"]
    assert shown["status"] == "FINISHED"
    assert (shown["audienceSize"], shown["granted"], shown["skipped"], shown["bonusGranted"]) == (10, 10, 0, 500)
    assert shown["startedAt"] is not None and shown["finishedAt"] is not None
    listed = await client.op("Campaigns", {"first": 5}, token=MARKETER)
    edge = listed["data"]["campaigns"]["edges"][0]["node"]
    assert (edge["id"], edge["status"], edge["granted"], edge["audienceSize"]) == (campaign_id, "FINISHED", 10, 10)
    again = await client.op("LaunchCampaign", {"id": campaign_id}, token=MARKETER)
    assert error_code(again) == "CONFLICT"
    assert error_code(await client.op("PauseCampaign", {"id": campaign_id}, token=MARKETER)) == "CONFLICT"
    assert error_code(await client.op("CancelCampaign", {"id": campaign_id}, token=MARKETER)) == "CONFLICT"
    assert error_code(await client.op("LaunchCampaign", {"id": "999"}, token=MARKETER)) == "NOT_FOUND"
    assert (await client.op("Campaign", {"id": "999"}, token=MARKETER))["data"]["campaign"] is None


async def test_ca03_pause_resume_and_cancel(catalog: Catalog) -> None:
    await populate("p-", 10)
    queue = InProcessQueue()
    campaign = await make(catalog, batch_size=4)
    _, work = await campaigns.launch(catalog, campaign.id)
    # one batch runs, then marketing pauses: the others do nothing
    await jobs.grant_batch({"queue": queue}, campaign.id, work.batches[0])
    paused = await campaigns.pause(campaign.id)
    assert paused.status is CampaignStatus.PAUSED
    await run(queue, work)
    assert (await campaigns.progress([campaign.id]))[campaign.id] == campaigns.Progress(4, 0)
    with pytest.raises(Conflict):
        await campaigns.pause(campaign.id)
    with pytest.raises(Conflict):
        await campaigns.launch(catalog, campaign.id)
    resumed, rest = await campaigns.resume(campaign.id)
    assert resumed.status is CampaignStatus.RUNNING and rest.batches == [1, 2]
    await jobs.grant_batch({"queue": queue}, campaign.id, rest.batches[0])
    cancelled = await campaigns.cancel(campaign.id)
    assert cancelled.status is CampaignStatus.CANCELLED and cancelled.finished_at is not None
    await run(queue, rest)
    # gifts already granted stay; no more are granted
    assert (await campaigns.progress([campaign.id]))[campaign.id] == campaigns.Progress(8, 0)
    assert len(await gifts(campaign.id)) == 8
    for change in (campaigns.pause, campaigns.resume, campaigns.cancel):
        with pytest.raises(Conflict):
            await change(campaign.id)
    # a DRAFT can be cancelled too, and then not launched
    draft = await make(catalog)
    await campaigns.cancel(draft.id)
    with pytest.raises(Conflict):
        await campaigns.launch(catalog, draft.id)


async def test_ca03_pause_resume_cancel_over_graphql(catalog: Catalog) -> None:
    await populate("p-", 3)
    client = Client()
    created = await client.op(
        "CreateGiftCampaign",
        {
            "input": {
                "name": "later",
                "programId": PROGRAM,
                "amount": 5,
                "validDays": 3,
                "audience": {"all": True},
                "startsAt": (clock.now() + timedelta(hours=1)).isoformat(),
            }
        },
        token=MARKETER,
    )
    cid = created["data"]["createGiftCampaign"]["campaign"]["id"]
    assert error_code(await client.op("ResumeCampaign", {"id": cid}, token=MARKETER)) == "CONFLICT"
    launched = await client.op("LaunchCampaign", {"id": cid}, token=MARKETER)
    assert launched["data"]["launchCampaign"]["campaign"]["status"] == "SCHEDULED"
    paused = await client.op("PauseCampaign", {"id": cid}, token=MARKETER)
    assert paused["data"]["pauseCampaign"]["campaign"]["status"] == "PAUSED"
    resumed = await client.op("ResumeCampaign", {"id": cid}, token=MARKETER)
    assert resumed["data"]["resumeCampaign"]["campaign"]["status"] == "SCHEDULED"  # startsAt is ahead
    cancelled = await client.op("CancelCampaign", {"id": cid}, token=MARKETER)
    assert cancelled["data"]["cancelCampaign"]["campaign"]["status"] == "CANCELLED"
    await client.app.state.queue.close()
    assert error_code(await client.op("PauseCampaign", {"id": cid}, token=participant_token("p-1"))) == "FORBIDDEN"


async def test_ca03_a_scheduled_campaign_starts_at_starts_at(catalog: Catalog) -> None:
    await populate("p-", 5)
    queue = InProcessQueue()
    starts = clock.now() + timedelta(days=1)
    campaign = await make(catalog, starts_at=starts)
    launched, work = await campaigns.launch(catalog, campaign.id)
    assert launched.status is CampaignStatus.SCHEDULED and work.start_at == starts and work.batches == []
    await jobs.sweep({"queue": queue})
    await queue.drain()
    assert (await Campaign.get(id=campaign.id)).status is CampaignStatus.SCHEDULED
    await jobs.start_campaign({"queue": queue}, campaign.id)  # early: changes nothing
    assert (await Campaign.get(id=campaign.id)).status is CampaignStatus.SCHEDULED
    clock.advance(timedelta(days=1))
    assert await jobs.sweep({"queue": queue}) == 2
    await queue.drain()
    done = await Campaign.get(id=campaign.id)
    assert done.status is CampaignStatus.FINISHED and len(await gifts(campaign.id)) == 5
    assert sql_time(done.started_at) == starts


def sql_time(value: Any) -> Any:
    from loyalty import sql

    return sql.as_datetime(value)


async def test_ca03_the_deferred_start_job_runs_in_process(catalog: Catalog) -> None:
    await populate("p-", 2)
    queue = InProcessQueue()
    campaign = await make(catalog, starts_at=clock.now() + timedelta(seconds=30))
    _, work = await campaigns.launch(catalog, campaign.id)
    await dispatch(queue, work)
    clock.advance(timedelta(seconds=31))
    for _ in range(100):
        await asyncio.sleep(0.05)
        await queue.drain()
        if (await Campaign.get(id=campaign.id)).status is CampaignStatus.FINISHED:
            break
    assert (await Campaign.get(id=campaign.id)).status is CampaignStatus.FINISHED
    await queue.close()


# ------------------------------------------------------------------ CA-04


async def test_ca04_each_member_gets_the_gift_exactly_once_whatever_the_retries(catalog: Catalog) -> None:
    await populate("p-", 20)
    queue = InProcessQueue()
    campaign = await make(catalog, batch_size=6)
    _, work = await campaigns.launch(catalog, campaign.id)
    # every batch run three times, some concurrently, plus sweeps
    await asyncio.gather(*(campaigns.grant_batch(campaign.id, b) for b in work.batches * 2))
    for batch_no in work.batches:
        assert (await campaigns.grant_batch(campaign.id, batch_no)).state in ("done", "idle")
    await jobs.sweep({"queue": queue})
    await queue.drain()
    assert set((await gifts(campaign.id)).values()) == {1} and len(await gifts(campaign.id)) == 20
    assert await CampaignGrant.filter(campaign_id=campaign.id).count() == 20
    done = await Campaign.get(id=campaign.id)
    assert done.status is CampaignStatus.FINISHED
    progress = (await campaigns.progress([campaign.id]))[campaign.id]
    assert progress == await campaigns.counted(campaign.id) == campaigns.Progress(20, 0)
    for wallet in await Wallet.all():
        assert (await ledger.balance(wallet.id)).active == 100


async def test_ca04_blocked_and_erased_members_are_skipped_late_joiners_not_granted(catalog: Catalog) -> None:
    for n in range(6):
        await scenario.join(catalog, f"c{n}")
    campaign = await make(catalog, batch_size=2)  # c0 c1 | c2 c3 | c4 c5
    _, work = await campaigns.launch(catalog, campaign.id)
    await campaigns.grant_batch(campaign.id, 0)
    await participants.block(catalog, "c0", None, "fraud", "staff")  # after their batch: keeps the gift
    await participants.block(catalog, "c2", PROGRAM, "abuse", "staff")  # before their batch: skipped
    await erasure.erase("c5", scenario.ERASURE_KEY)
    await scenario.join(catalog, "late")  # joined after launch: not in the audience
    queue = InProcessQueue()
    await run(queue, work)
    done = await Campaign.get(id=campaign.id)
    assert done.status is CampaignStatus.FINISHED and done.audience_size == 6
    progress = (await campaigns.progress([campaign.id]))[campaign.id]
    assert (progress.granted, progress.skipped) == (4, 2)
    assert progress.granted + progress.skipped == done.audience_size
    by_customer = {
        w.participant.customer_id if not w.participant.customer_id.startswith("erased") else "c5": w.id
        for w in await Wallet.all().prefetch_related("participant")
    }
    given = await gifts(campaign.id)
    assert set(given) == {by_customer[c] for c in ("c0", "c1", "c3", "c4")}
    assert by_customer["late"] not in given
    # unblocking later does not grant the skipped member: the outcome is fixed
    await participants.unblock(catalog, "c2", PROGRAM, "ok", "staff")
    await jobs.sweep({"queue": queue})
    await queue.drain()
    assert by_customer["c2"] not in await gifts(campaign.id)


async def test_ca04_the_unique_key_refuses_a_second_gift(catalog: Catalog) -> None:
    from tortoise.exceptions import IntegrityError

    await populate("p-", 2)
    campaign = await make(catalog)
    _, work = await campaigns.launch(catalog, campaign.id)
    await run(InProcessQueue(), work)
    grant = await CampaignGrant.filter(campaign_id=campaign.id).first()
    assert grant is not None
    with pytest.raises(IntegrityError):
        await CampaignGrant.create(
            campaign_id=campaign.id,
            participant_id=grant.participant_id,
            wallet_id=grant.wallet_id,
            batch_no=9,
            granted=True,
            at=clock.now(),
        )


# ------------------------------------------------------------------ CA-05, LB-14


async def test_ca05_report_what_was_granted_spent_and_burned(catalog: Catalog) -> None:
    for n in range(3):
        await scenario.join(catalog, f"c{n}")
    campaign = await make(catalog, amount=100, valid_days=10)
    _, work = await campaigns.launch(catalog, campaign.id)
    await run(InProcessQueue(), work)
    await scenario.event("gig", starts_in=timedelta(days=30))
    await scenario.buy(catalog, "o1", "c0", scenario.ticket("t1", "gig", "1000"), spend=60)
    await scenario.buy(catalog, "o2", "c1", scenario.ticket("t2", "gig", "1000"), spend=100)
    await scenario.buy(catalog, "o3", "c2", scenario.ticket("t3", "gig", "200"), spend=10)
    client = Client()
    shown = (await client.op("Campaign", {"id": str(campaign.id)}, token=MARKETER))["data"]["campaign"]
    assert (shown["granted"], shown["bonusGranted"], shown["bonusSpent"], shown["bonusBurned"]) == (3, 300, 170, 0)
    clock.advance(timedelta(days=10))
    assert await ledger.burn_expired() == 2
    assert await ledger.burn_expired() == 0  # idempotent
    shown = (await client.op("Campaign", {"id": str(campaign.id)}, token=MARKETER))["data"]["campaign"]
    assert (shown["bonusSpent"], shown["bonusBurned"]) == (170, 130)
    burns = await Entry.filter(kind=EntryKind.BURN).values("amount", "campaign_id", "rule")
    assert sorted(b["amount"] for b in burns) == [-90, -40]
    assert {b["campaign_id"] for b in burns} == {campaign.id}


async def test_lb14_gift_validity_from_the_campaign_and_gift_pays_debt_first(catalog: Catalog) -> None:
    wallet = await scenario.join(catalog, "c0")
    await scenario.join(catalog, "c1")
    # a debt as LB-10 leaves it: a REVOKE of bonuses already spent, owed by the wallet
    await Entry.create(
        wallet_id=wallet.id, kind=EntryKind.REVOKE, amount=-30, at=clock.now(), rule="LB-10", rules_version="2021-1"
    )
    await Wallet.filter(id=wallet.id).update(debt=30)
    ends = clock.now() + timedelta(days=45)
    fixed = await make(catalog, amount=100, valid_days=None, expires_at=ends)
    _, work = await campaigns.launch(catalog, fixed.id)
    await run(InProcessQueue(), work)
    lot = await Lot.get(wallet_id=wallet.id, campaign_id=fixed.id)
    entry = await Entry.get(wallet_id=wallet.id, campaign_id=fixed.id)
    assert (lot.kind, lot.amount, lot.remaining, lot.rule) == (EntryKind.GIFT, 100, 70, "LB-14")
    assert (entry.kind, entry.amount, entry.lot_id) == (EntryKind.GIFT, 100, lot.id)  # the full amount
    assert sql_time(lot.expires_at) == ends and sql_time(lot.activates_at) == clock.now()
    assert (await Wallet.get(id=wallet.id)).debt == 0
    assert (await ledger.balance(wallet.id)).active == 70
    clock.advance(timedelta(days=1))
    rolling = await make(catalog, amount=10, valid_days=7)
    _, work = await campaigns.launch(catalog, rolling.id)
    await run(InProcessQueue(), work)
    lot = await Lot.get(wallet_id=wallet.id, campaign_id=rolling.id)
    assert sql_time(lot.expires_at) == clock.now() + timedelta(days=7)
    history = await ledger.history(wallet.id, 10)
    assert [e.kind for e in history.entries][:2] == [EntryKind.GIFT, EntryKind.GIFT]


async def test_lb14_gifts_burn_like_any_others(catalog: Catalog) -> None:
    wallet = await scenario.join(catalog, "c0")
    campaign = await make(catalog, amount=40, valid_days=5)
    _, work = await campaigns.launch(catalog, campaign.id)
    await run(InProcessQueue(), work)
    clock.advance(timedelta(days=5))
    assert (await ledger.balance(wallet.id)).active == 0  # right before any job ran
    queue = InProcessQueue()
    await queue.enqueue("burn_expired", job_id="burn")
    await queue.drain()
    burn = await Entry.get(wallet_id=wallet.id, kind=EntryKind.BURN)
    assert (burn.amount, burn.campaign_id, burn.rule) == (-40, campaign.id, "LB-04")
    assert (await Wallet.get(id=wallet.id)).status is WalletStatus.ACTIVE


async def test_ca02_a_tier_audience_counts_tiers_earned_by_spend_and_set_by_staff() -> None:
    # tkt-ge: Basic from 0, Silver from 500, Gold from 1,500 GEL spent in 365 days (plugins.toml).
    catalog = scenario.plugin_host().catalog
    program = catalog.get("tkt-ge")
    for who in ("spender", "saver", "staffed"):
        await scenario.join(catalog, who, program="tkt-ge", birth_date=date(1990, 5, 1))  # adults (TK-07)
    await scenario.event("film", category="cinema", organizer="org-1")
    await orders.record_order(
        catalog, scenario.draft("o-gold", "spender", scenario.ticket("t1", "film", "1600.00"), program="tkt-ge")
    )
    await orders.pay_order(catalog, "o-gold")  # 1,600 paid: Gold by spend, no staff tier stored
    await tiers.set_tier(catalog, "staffed", "tkt-ge", "Gold")  # Gold by staff, nothing spent

    async def count(tier: str) -> int:
        return await audiences.count(program, audiences.audience(tier=tier))

    assert await count("Gold") == 2  # spender (spend) + staffed (staff)
    assert await count("Basic") == 1  # saver: no spend earns Basic
    assert await count("Silver") == 0


@pytest.mark.parametrize("campaign_id", ["١٢", "9" * 20, "-1", "1e3", " 1"])
async def test_a_campaign_id_that_is_no_number_we_issue_is_not_found(catalog: Catalog, campaign_id: str) -> None:
    """int() reads "١٢" as 12 and 20 nines overflow a BIGINT: neither names a campaign."""
    await scenario.join(catalog, "c1")
    client = Client()
    created = await client.op(
        "CreateGiftCampaign",
        {"input": {"name": "x", "programId": PROGRAM, "amount": 10, "audience": {"all": True}, "validDays": 10}},
        token=MARKETER,
    )
    assert "errors" not in created
    assert await client.op("Campaign", {"id": campaign_id}, token=MARKETER) == {"data": {"campaign": None}}
    for operation in ("LaunchCampaign", "CancelCampaign"):
        assert error_code(await client.op(operation, {"id": campaign_id}, token=MARKETER)) == "NOT_FOUND", operation
