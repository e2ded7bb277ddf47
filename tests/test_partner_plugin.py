"""The example partner package (examples/partner-plugin), installed from its folder, running in the gateway.

It is found only through its `loyalty.plugins` entry point (PL-02), adds its rules
without a line of the gateway changed (PL-01), and its credits show in the
participant's history and in the partner's report under its rule names (PL-04). Its
achievement, counted by its own function, is counted and rewarded like the built-in
ones (GA-01).
Install it first: `pip install -e examples/partner-plugin`.
"""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from loyalty import achievements, orders, participants
from loyalty.enums import Channel, EntryKind
from plugins.manager import build
from tests import scenario
from tests.conftest import START
from tests.gql import Client, participant_token, token

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not [ep for ep in entry_points(group="loyalty.plugins") if ep.name == "partner_example"],
    reason="the example partner plugin is not installed: pip install -e examples/partner-plugin",
)

STANZA = """
[plugins.partner_example]
programs = ["live-brighter"]
partner = "acme"
[plugins.partner_example.settings]
organizer_id = "acme"
window_start = 2026-03-01T00:00:00Z
window_end = 2026-03-08T00:00:00Z
"""


@pytest.fixture
def plugins_toml(tmp_path: Path) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text((ROOT / "plugins.toml").read_text() + STANZA)
    return path


async def test_pl01_pl04_the_installed_example_plugin_credits_and_reports(plugins_toml):
    host = build(plugins_toml)
    assert type(host.enabled["partner_example"].instance).__module__ == "partner_example"
    catalog = host.catalog
    await scenario.join(catalog, "alice")
    await scenario.event("acme-gig", "concert", organizer="acme")
    draft = scenario.draft(
        "o1", "alice", scenario.ticket("t1", "acme-gig", "10000.00", fee="300.00"), channel=Channel.APP
    )
    await orders.record_order(catalog, draft)
    paid = await orders.pay_order(catalog, "o1")
    # LB-02 concert 5 % of 10,000 = 500; partner-double (inside the window) 5 % = 500; partner-app-5: 500
    assert paid.bonus_accrued == 1500

    gql = Client(plugins=plugins_toml)
    history = await gql.op("BonusHistory", {"programId": "live-brighter", "first": 10}, participant_token("alice"))
    nodes = [edge["node"] for edge in history["data"]["me"]["wallet"]["history"]["edges"]]
    assert sorted((n["kind"], n["rule"], n["amount"]) for n in nodes) == [
        ("ACCRUAL", "LB-02", 500),
        ("ACCRUAL", "partner-app-5", 500),
        ("ACCRUAL", "partner-double", 500),
        ("ACHIEVEMENT", "first-ticket", 100),  # the built-in First ticket (GA-04)
    ]
    period = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    report = await gql.op("PartnerReport", period, token("partner", "acme-staff", partner="acme"))
    assert report["data"]["partnerReport"] == {
        "partnerId": "acme",
        "rules": [
            {"rule": "partner-app-5", "orders": 1, "bonusAccrued": 500},
            {"rule": "partner-double", "orders": 1, "bonusAccrued": 500},
        ],
    }
    # Ticketon owns «Live Brighter!»: its report has LB-02, not the partner's rules
    ticketon = await gql.op("PartnerReport", {**period, "partnerId": "ticketon"}, token("admin", "support"))
    assert ticketon["data"]["partnerReport"]["rules"] == [{"rule": "LB-02", "orders": 1, "bonusAccrued": 500}]
    await gql.http.aclose()


async def test_ga01_the_example_partners_own_achievement_is_counted_and_rewarded(plugins_toml):
    catalog = build(plugins_toml).catalog
    wallet = await scenario.join(catalog, "alice")
    for n in (1, 2, 3):
        await scenario.event(f"acme-{n}", "concert", starts_in=timedelta(days=10 * n), organizer="acme")
    await scenario.event("other-1", "concert", organizer="other")

    async def fan() -> tuple[int, int, bool]:
        found = await achievements.standing(catalog.get(scenario.PROGRAM), await participants.get("alice"))
        (mine,) = [a for a in found if a.id == "acme-fan"]
        return mine.progress, mine.goal, mine.unlocked_at is not None

    t = scenario.ticket
    # Two tickets to acme-1 are one Acme event; the other organizer's does not count
    await scenario.buy(
        catalog, "o1", "alice", t("t1", "acme-1", "100"), t("t2", "acme-1", "100"), t("t3", "other-1", "100")
    )
    assert await fan() == (1, 3, False)
    await scenario.buy(catalog, "o2", "alice", t("t4", "acme-2", "100"))
    assert await fan() == (2, 3, False)
    await scenario.refund(catalog, "o2", "t4")  # returned: it counts no more (GA-03)
    assert await fan() == (1, 3, False)
    await scenario.buy(catalog, "o3", "alice", t("t5", "acme-3", "100"))
    assert await fan() == (2, 3, False)
    await scenario.buy(catalog, "o4", "alice", t("t6", "acme-2", "100"))  # acme-1, acme-3, acme-2
    assert await fan() == (3, 3, True)
    rewards = await scenario.entry_rows(wallet.id, "kind", "amount", "rule", "activates_at", "order_id")
    acme_2 = START + timedelta(days=20)
    # 300, pending until o4's event (acme-2) starts, recorded as the partner plugin's (PL-04)
    assert [r[1:] for r in rewards if r[0] is EntryKind.ACHIEVEMENT and r[2] == "acme-fan"] == [
        (300, "acme-fan", acme_2, "o4")
    ]
    (entry,) = [e for e in await scenario.entries(wallet.id) if e.rule == "acme-fan"]
    assert entry.plugin == "partner_example"
    gql = Client(plugins=plugins_toml)
    try:
        seen = await gql.op("MyAchievements", {"programId": "live-brighter"}, participant_token("alice"))
    finally:
        await gql.http.aclose()
    assert [a for a in seen["data"]["me"]["achievements"] if a["id"] == "acme-fan"] == [
        {
            "id": "acme-fan",
            "title": "Acme fan",
            "description": "Tickets to 3 different Acme events",
            "progress": 3,
            "goal": 3,
            "unlockedAt": START.isoformat(),
            "rewardBonus": 300,
        }
    ]
