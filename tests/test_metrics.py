"""GET /metrics: requests by operation and outcome, bonuses, campaigns, queue, plugin failures, jobs."""

from __future__ import annotations

import socket
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from loyalty import audiences, campaigns, clock, ledger
from loyalty.access import Role
from loyalty.models import Entry, EntryKind
from loyalty.programs import Catalog
from tests import scenario
from tests.gql import Client, participant_token, token
from workers import metrics as worker_metrics

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = scenario.PROGRAM

WALLETS = "query Wallets { me { id wallets { program { id } active pending } } }"
PARTICIPANT = "query Participant($id: ID!) { participant(id: $id) { id } }"


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return series(text).get((name, frozenset(labels.items())), 0.0)


async def scrape(gql: Client) -> str:
    response = await gql.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_operation_and_outcome_with_latency():
    gql = Client(LOYALTY_GRAPHIQL=True)  # its page is served, and not counted
    before = await scrape(gql)
    alice = participant_token("alice")
    for _ in range(2):
        assert (await gql(WALLETS, token=alice))["data"] == {"me": None}
    assert (await gql(PARTICIPANT, {"id": "alice"}))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await gql("query NoSuchField { nope }")  # fails validation: a name never labelled
    await gql("{ programs { id } }")  # no operation name
    # A query over GET counts; GraphiQL's page does not.
    assert (await gql.http.get("/graphql", params={"query": "query Programs { programs { id } }"})).status_code == 200
    assert (await gql.http.get("/graphql", headers={"Accept": "text/html"})).status_code == 200
    after = await scrape(gql)
    await gql.http.aclose()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("loyalty_graphql_requests_total", operation="Wallets", outcome="ok") == 2
    assert grew("loyalty_graphql_requests_total", operation="Participant", outcome="UNAUTHENTICATED") == 1
    assert grew("loyalty_graphql_requests_total", operation="other", outcome="BAD_INPUT") == 1
    assert grew("loyalty_graphql_requests_total", operation="anonymous", outcome="ok") == 1
    assert grew("loyalty_graphql_requests_total", operation="Programs", outcome="ok") == 1
    assert grew("loyalty_graphql_request_duration_seconds_count", operation="Wallets", outcome="ok") == 2
    assert grew("loyalty_graphql_request_duration_seconds_bucket", operation="Wallets", outcome="ok", le="+Inf") == 2
    assert value(after, "loyalty_graphql_request_duration_seconds_sum", operation="Wallets", outcome="ok") > 0
    # A scrape is no GraphQL request.
    assert not any(
        name.startswith("loyalty_graphql") and ("operation", "metrics") in labels for name, labels in series(after)
    )


def test_operation_labels_are_bounded(monkeypatch):
    monkeypatch.setattr(metrics, "_labelled", {f"Op{n}" for n in range(metrics.MAX_OPERATIONS - 1)})
    assert metrics.operation_label(None, valid=True) == "anonymous"
    assert metrics.operation_label("Op7", valid=False) == "Op7"  # labelled already
    assert metrics.operation_label("Unknown", valid=False) == "other"  # its document did not validate
    assert metrics.operation_label("x" * 65, valid=True) == "other"
    assert metrics.operation_label("Last", valid=True) == "Last"  # the 200th name
    assert metrics.operation_label("OneTooMany", valid=True) == "other"
    assert metrics.outcome_label([]) == "ok"


async def test_bonuses_campaign_progress_and_queue_depth_come_from_the_database(catalog: Catalog):
    # Two wallets with active bonuses: a 1,000 concert ticket each accrues 5 % = 50.
    await scenario.active_wallet(catalog, "c1", "1000.00")
    await scenario.active_wallet(catalog, "c2", "1000.00")
    # c1 spends 30 on a 500 ticket, which accrues 5 % of the 470 paid in money = 23 (rounded down).
    await scenario.event("e2", "concert")
    await scenario.buy(catalog, "o2", "c1", scenario.ticket("o2-t0", "e2", "500.00"), spend=30)
    # A 100-bonus gift to both, one per batch; only the first batch has run.
    campaign = await campaigns.create(
        catalog,
        campaigns.Draft(
            name="gift",
            program_id=PROGRAM,
            amount=100,
            audience=audiences.Audience(all=True),
            valid_days=10,
            message=None,
        ),
        "marketer",
        batch_size=1,
    )
    await campaigns.launch(catalog, campaign.id)
    await campaigns.grant_batch(campaign.id, 0)
    # The gift burns unspent 10 days on.
    clock.advance(timedelta(days=11))
    await ledger.burn_expired()
    gql = Client()
    await gql.app.state.queue.enqueue("sweep", job_id="later", defer_until=clock.now() + timedelta(hours=1))
    text = await scrape(gql)
    await gql.app.state.queue.close()
    await gql.http.aclose()

    accrued = sum(abs(e.amount) for e in await Entry.filter(kind=EntryKind.ACCRUAL))
    assert accrued == 50 + 50 + 23
    assert value(text, "loyalty_bonuses_total", program=PROGRAM, kind="accrual") == 123
    assert value(text, "loyalty_bonuses_total", program=PROGRAM, kind="spend") == 30
    assert value(text, "loyalty_bonuses_total", program=PROGRAM, kind="gift") == 100
    assert value(text, "loyalty_bonuses_total", program=PROGRAM, kind="burn") == 100
    live = {"campaign": str(campaign.id), "program": PROGRAM, "status": "running"}
    assert value(text, "loyalty_campaign_audience", **live) == 2
    assert value(text, "loyalty_campaign_granted", **live) == 1
    assert value(text, "loyalty_campaign_skipped", **live) == 0
    assert value(text, "loyalty_campaigns", status="running") == 1
    assert value(text, "loyalty_queue_depth", queue="in-process") == 1


async def test_ledger_totals_count_an_entry_committed_late_below_the_highest_id_seen(catalog: Catalog):
    """Ids are taken in one order and committed in another: an entry that appears below the
    highest id already read is still counted, while it is inside the settle window."""
    from gateway.collectors import LedgerTotals

    wallet = await scenario.active_wallet(catalog, "c1", "1000.00")  # accrues 50
    totals = LedgerTotals(settle=60.0)
    await totals.refresh(now=0.0)
    assert totals.totals == {(PROGRAM, "accrual"): 50}
    first = await Entry.filter(wallet_id=wallet.id).order_by("id").first()
    assert first is not None
    top = first.id + 10
    adjustment = {"wallet_id": wallet.id, "kind": EntryKind.ADJUSTMENT, "at": clock.now(), "rules_version": "x"}
    await Entry.create(id=top, amount=7, **adjustment)
    await totals.refresh(now=1.0)
    assert totals.totals[(PROGRAM, "adjustment")] == 7
    await Entry.create(id=top - 5, amount=-3, **adjustment)  # took its id earlier, committed now
    await totals.refresh(now=2.0)
    assert totals.totals[(PROGRAM, "adjustment")] == 10
    # A minute on, what was seen is settled and no longer read again; totals stay.
    await totals.refresh(now=62.0)
    assert totals.settled_id == top
    assert totals.totals == {(PROGRAM, "accrual"): 50, (PROGRAM, "adjustment"): 10}
    await Entry.create(id=top + 1, amount=1, **adjustment)
    await totals.refresh(now=63.0)
    assert totals.totals[(PROGRAM, "adjustment")] == 11
    await Entry.filter(kind=EntryKind.ADJUSTMENT).delete()  # not a real ledger line: keep the invariants


def toml(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text((ROOT / "plugins.toml").read_text() + "\n" + extra)
    return path


async def test_plugin_failures_are_counted_by_plugin_hook_and_policy(catalog: Catalog, tmp_path: Path):
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    gql = Client(
        plugins=toml(
            tmp_path, '[plugins.exploding]\nmodule = "tests.test_plugins:Exploding"\nprograms = ["live-brighter"]\n'
        )
    )
    before = await scrape(gql)
    order = {
        "id": "o1",
        "participantId": "c1",
        "programId": PROGRAM,
        "channel": "WEBSITE",
        "items": [{"id": "t1", "eventId": "e1", "kind": "TICKET", "nominal": "100.00"}],
    }
    result = await gql(
        "mutation RecordOrder($input: OrderInput!) { recordOrder(input: $input) { order { id } } }",
        {"input": order},
        token(Role.TICKETING, "ticketon"),
    )
    after = await scrape(gql)
    await gql.http.aclose()
    assert result["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    labels = {"plugin": "exploding", "hook": "accrual_credits", "policy": "refused"}
    assert (
        value(after, "loyalty_plugin_failures_total", **labels)
        - value(before, "loyalty_plugin_failures_total", **labels)
        == 1
    )
    assert value(after, "loyalty_graphql_requests_total", operation="RecordOrder", outcome="UNAVAILABLE") >= 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_worker_serves_its_job_series_on_its_own_port():
    async def job(ctx: dict, n: int) -> int:
        return n + 1

    async def failing(ctx: dict) -> None:
        raise RuntimeError("no")

    assert await worker_metrics.measured("test_job", job)({}, 1) == 2
    with pytest.raises(RuntimeError):
        await worker_metrics.measured("test_failing", failing)({})
    assert worker_metrics.serve_worker_metrics(0) is None
    port = free_port()
    server = worker_metrics.serve_worker_metrics(port)
    assert server is not None
    try:
        assert worker_metrics.serve_worker_metrics(port) is None  # taken: the worker runs on without metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert value(text, "loyalty_jobs_total", function="test_job", outcome="ok") >= 1
    assert value(text, "loyalty_jobs_total", function="test_failing", outcome="failed") >= 1
    assert value(text, "loyalty_job_duration_seconds_count", function="test_job") >= 1
