"""The example partner package (examples/partner-plugin), installed from its folder, running in the gateway.

It is found only through its `loyalty.plugins` entry point (PL-02), adds its rules
without a line of the gateway changed (PL-01), and its credits show in the
participant's history and in the partner's report under its rule names (PL-04).
Install it first: `pip install -e examples/partner-plugin`.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from loyalty import orders
from loyalty.enums import Channel
from plugins.manager import build
from tests import scenario
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
