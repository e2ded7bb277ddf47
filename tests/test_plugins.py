"""The plugin system (PL-01..PL-05) and every hook of plugins/hookspecs.py, each with a test of its own.

Conventions, in the style of Datasette's plugin tests:
- every hook `X` has at least one test here (or elsewhere under tests/) whose name
  contains `hook_X`, and a docstring saying what it returns, how answers combine, its
  failure policy and an example; the two meta-tests at the bottom enforce both;
- an inline plugin is a small class in the test, registered for that test alone by
  the `with_plugins` fixture (tests/conftest.py).
"""

from __future__ import annotations

import inspect
import logging
import re
from datetime import timedelta
from decimal import Decimal
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import BaseModel

from loyalty import clock, ledger, orders, promo_codes
from loyalty.enums import Channel, OrderMode, OrderStatus
from loyalty.errors import PluginFailure, RuleViolation
from loyalty.facts import (
    AchievementDefinition,
    Credit,
    Limit,
    Notification,
    OrderFacts,
    ParticipantFacts,
    RefundTerms,
    Refusal,
)
from loyalty.models import Entry
from loyalty.programs import Catalog
from plugins import hookspecs, manager
from plugins.config import ConfigError
from plugins.hookspecs import hookimpl
from plugins.manager import PluginHost, build
from tests import scenario
from tests.gql import Client, error_code, token

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


# ---------------------------------------------------------------- inline plugins


class FlatBonus:
    """A partner's rule: a flat number of bonuses per paid order."""

    class Settings(BaseModel):
        amount: int = 7
        rule: str = "flat-bonus"

    def __init__(self, settings: FlatBonus.Settings | None = None) -> None:
        self.settings = settings or FlatBonus.Settings()

    @hookimpl
    def accrual_credits(self, order: OrderFacts) -> list[Credit]:
        event_id = order.tickets[0].event.id if order.tickets else None
        return [Credit(amount=self.settings.amount, rule=self.settings.rule, event_id=event_id)]


class Exploding:
    """A plugin whose rule raises."""

    @hookimpl
    def accrual_credits(self, order: OrderFacts) -> list[Credit]:
        raise RuntimeError("the partner's rule has a bug")


class Misspelled:
    """A plugin with a typo in a hook name."""

    @hookimpl
    def acrual_credits(self, order: OrderFacts) -> list[Credit]:
        return []


def toml(tmp_path: Path, extra: str) -> Path:
    """The repository's plugins.toml with `extra` appended, as a file."""
    path = tmp_path / "plugins.toml"
    path.write_text((ROOT / "plugins.toml").read_text() + "\n" + extra)
    return path


async def paid_concert(catalog: Catalog, customer: str = "c1", order_id: str = "o1", nominal: str = "1000.00"):
    wallet = await scenario.join(catalog, customer)
    await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    order = await scenario.buy(catalog, order_id, customer, scenario.ticket(f"{order_id}-t1", "e1", nominal))
    return wallet, order


# ---------------------------------------------------------------- PL-01..PL-05


async def test_pl01_a_partner_rule_accrues_without_changing_the_gateway(with_plugins):
    catalog = with_plugins(("flat_bonus", FlatBonus(FlatBonus.Settings(amount=25))))
    wallet, order = await paid_concert(catalog)
    # LB-02: concert 5 % of 1,000 = 50; the partner's flat rule: 25 more
    assert order.bonus_accrued == 75
    rules = sorted((e.rule, e.amount) for e in await scenario.entries(wallet.id))
    assert rules == [("LB-02", 50), ("flat-bonus", 25)]


def test_pl02_plugins_toml_enables_an_entry_point_plugin(tmp_path, monkeypatch):
    found = EntryPoint(name="inline_flat", value="tests.test_plugins:FlatBonus", group=manager.ENTRY_POINT_GROUP)
    monkeypatch.setattr(manager, "entry_points", lambda group: [found] if group == manager.ENTRY_POINT_GROUP else [])
    host = build(
        toml(
            tmp_path,
            '[plugins.inline_flat]\nprograms = ["live-brighter"]\n[plugins.inline_flat.settings]\namount = 3\n',
        )
    )
    assert isinstance(host.enabled["inline_flat"].instance, FlatBonus)
    assert host.enabled["inline_flat"].instance.settings.amount == 3


def test_pl02_an_enabled_plugin_that_is_not_installed_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match=r"plugin 'no_such_plugin' is enabled in plugins\.toml but not installed"):
        build(toml(tmp_path, '[plugins.no_such_plugin]\nprograms = ["live-brighter"]\n'))


def test_pl02_a_setting_of_the_wrong_type_stops_start_up_naming_plugin_and_setting(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(
        (ROOT / "plugins.toml").read_text().replace("cap_percent = 30           # MG-08", 'cap_percent = "thirty"')
    )
    with pytest.raises(ConfigError, match=r"plugins\.mgt_plus\.settings\.cap_percent"):
        build(path)
    # The app refuses to start with it, before serving anything.
    with pytest.raises(ConfigError, match=r"plugins\.mgt_plus\.settings\.cap_percent"):
        Client(plugins=path)


class WrongArgument:
    """A plugin whose hook takes an argument the hook does not give."""

    @hookimpl
    def accrual_credits(self, order: OrderFacts, wallet: object) -> list[Credit]:
        return []


def test_pl02_a_misspelled_hook_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match=r"plugin 'typo'.*acrual_credits"):
        build(toml(tmp_path, '[plugins.typo]\nmodule = "tests.test_plugins:Misspelled"\n'))
    with pytest.raises(ConfigError, match=r"(?s)plugin 'wrong_argument'.*wallet"):
        build(toml(tmp_path, '[plugins.wrong_argument]\nmodule = "tests.test_plugins:WrongArgument"\n'))


async def test_pl03_a_failing_plugin_refuses_the_operation_and_writes_nothing(with_plugins, caplog):
    catalog = with_plugins(("exploding", Exploding()))
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    before = await scenario.snapshot()
    with caplog.at_level(logging.ERROR, logger="loyalty.plugins"), pytest.raises(PluginFailure) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", scenario.ticket("t1", "e1", "1000.00")))
    assert refused.value.plugin == "exploding" and refused.value.code == "UNAVAILABLE"
    assert "plugin exploding failed in accrual_credits" in caplog.text
    assert await scenario.snapshot() == before


async def test_pl03_through_graphql_the_contract_error_and_the_plugin_in_the_log(catalog, tmp_path, caplog):
    await scenario.join(catalog, "c1")
    gql = Client(
        plugins=toml(
            tmp_path, '[plugins.exploding]\nmodule = "tests.test_plugins:Exploding"\nprograms = ["live-brighter"]\n'
        )
    )
    ticketing = token("ticketing", "ticketon")
    await scenario.event("e1", "concert")
    with caplog.at_level(logging.ERROR):
        result = await gql.op(
            "RecordOrder",
            {
                "input": {
                    "id": "o1",
                    "participantId": "c1",
                    "programId": "live-brighter",
                    "channel": "WEBSITE",
                    "items": [{"id": "t1", "eventId": "e1", "kind": "TICKET", "nominal": "100.00"}],
                }
            },
            ticketing,
        )
    await gql.http.aclose()
    assert error_code(result) == "UNAVAILABLE"
    assert "exploding" not in result["errors"][0]["message"]  # the client sees no internals
    assert "plugin exploding" in caplog.text
    assert await orders.get_order("o1") is None


async def test_pl03_an_optional_failing_plugin_is_logged_and_skipped(with_plugins, caplog):
    catalog = with_plugins(("exploding", Exploding(), (scenario.PROGRAM,), True))
    with caplog.at_level(logging.ERROR, logger="loyalty.plugins"):
        _, order = await paid_concert(catalog)
    assert order.bonus_accrued == 50  # LB-02 alone: 5 % of 1,000
    assert "optional plugin exploding failed in accrual_credits; skipped" in caplog.text


async def test_pl04_every_credit_records_its_rule_and_plugin(with_plugins):
    catalog = with_plugins(("flat_bonus", FlatBonus()))
    wallet, _ = await paid_concert(catalog)
    credits = [(e.kind.value, e.rule, e.plugin) for e in await scenario.entries(wallet.id) if e.amount > 0]
    assert sorted(credits) == [("ACCRUAL", "LB-02", "live_brighter"), ("ACCRUAL", "flat-bonus", "flat_bonus")]


async def test_pl04_partner_report_for_the_partner_and_admin(catalog):
    # mosgubteatr owns mgt-plus, so the mgt_plus plugin's rules are its own (plugins.toml).
    gql = Client()
    await scenario.join(catalog, "c1", program="mgt-plus")
    await scenario.event("m1", "theatre", organizer="mosgubteatr")
    for n, nominal in enumerate(("1000.00", "2500.00")):
        await orders.record_order(
            catalog,
            orders.OrderDraft(
                id=f"o{n}",
                customer_id="c1",
                program_id="mgt-plus",
                channel=Channel.WIDGET,
                items=(scenario.ticket(f"t{n}", "m1", nominal),),
                mode=OrderMode.EARN,
            ),
        )
        await orders.pay_order(catalog, f"o{n}")
    period = {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-03T00:00:00+00:00"}
    partner = token("partner", "theatre-staff", partner="mosgubteatr")
    mine = await gql.op("PartnerReport", period, partner)
    # MG-05: 10 % of 1,000 + 10 % of 2,500 = 100 + 250 = 350, on 2 orders
    assert mine["data"]["partnerReport"] == {
        "partnerId": "mosgubteatr",
        "rules": [{"rule": "MG-05", "orders": 2, "bonusAccrued": 350}],
    }
    admin = await gql.op("PartnerReport", {**period, "partnerId": "mosgubteatr"}, token("admin", "support"))
    assert admin["data"] == mine["data"]
    # [from, to) excludes what was credited at or after `to`
    before = await gql.op(
        "PartnerReport", {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-02T12:00:00+00:00"}, partner
    )
    assert before["data"]["partnerReport"]["rules"] == []
    assert error_code(await gql.op("PartnerReport", {**period, "partnerId": "ticketon"}, partner)) == "FORBIDDEN"
    assert error_code(await gql.op("PartnerReport", period, token("admin", "support"))) == "BAD_INPUT"
    assert error_code(await gql.op("PartnerReport", period, token("ticketing", "x"))) == "FORBIDDEN"
    await gql.http.aclose()


async def test_pl05_the_three_programs_are_built_in_plugins_of_plugins_toml():
    gql = Client()
    result = await gql.op("Programs")
    await gql.http.aclose()
    assert [(p["id"], p["currency"], p["organizerIds"]) for p in result["data"]["programs"]] == [
        ("live-brighter", "KZT", []),
        ("mgt-plus", "RUB", ["mosgubteatr"]),
        ("tkt-ge", "GEL", []),
    ]
    assert set(manager.BUILTIN) >= {"live_brighter", "mgt_plus", "tkt_ge"}


def test_pl05_the_core_names_no_program():
    names = (
        "live-brighter",
        "live_brighter",
        "mgt-plus",
        "mgt_plus",
        "tkt-ge",
        "tkt_ge",
        "LiveBrighter",
        "MgtPlus",
        "TktGe",
    )
    for path in (ROOT / "loyalty").rglob("*.py"):
        text = path.read_text()
        assert not [name for name in names if name in text], path


# ---------------------------------------------------------------- one test per hook


async def test_hook_accrual_credits_joins_every_plugin_and_stamps_the_plugin(with_plugins):
    catalog = with_plugins(
        ("flat_a", FlatBonus(FlatBonus.Settings(amount=3, rule="a"))),
        ("flat_b", FlatBonus(FlatBonus.Settings(amount=4, rule="b"))),
    )
    _, order = await paid_concert(catalog)
    assert order.bonus_accrued == 50 + 3 + 4
    rows = await Entry.filter(kind="ACCRUAL").order_by("id").values_list("rule", "plugin", "amount")
    assert sorted(rows) == [("LB-02", "live_brighter", 50), ("a", "flat_a", 3), ("b", "flat_b", 4)]


async def test_hook_accrual_credits_answer_that_is_no_list_fails_cleanly(with_plugins):
    class NoList:
        @hookimpl
        def accrual_credits(self, order):
            return Credit(amount=1, rule="x")

    catalog = with_plugins(("no_list", NoList()))
    await scenario.join(catalog, "c1")
    await scenario.event("e1")
    with pytest.raises(PluginFailure) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", scenario.ticket("t1", "e1", "10.00")))
    assert refused.value.plugin == "no_list"


async def test_hook_redemption_limit_the_smallest_limit_wins(with_plugins):
    class AtMost100:
        @hookimpl
        def redemption_limit(self, order, participant):
            return Limit(max_bonus=100, rule="partner-cap")

    catalog = with_plugins(("cap", AtMost100()))
    wallet = await scenario.join(catalog, "c1")
    await _credit(wallet, 1000)
    await scenario.event("e1")
    quote = await orders.quote(catalog, scenario.draft(None, "c1", scenario.ticket(None, "e1", "10000.00")))
    # LB-08: 30 % of 10,000 = 3,000; the partner's: 100; the smallest wins
    assert (quote.max_bonus, quote.available, quote.reason) == (100, 1000, "partner-cap")


async def _credit(wallet, amount: int) -> None:
    from loyalty.enums import EntryKind

    await ledger.credit(
        wallet,
        kind=EntryKind.ADJUSTMENT,
        amount=amount,
        rule=None,
        rules_version="t",
        expires_at=clock.now() + timedelta(days=300),
    )


async def test_hook_order_refusals_a_spend_refusal_zeroes_the_cap_an_earn_refusal_the_accrual(with_plugins):
    class NoApp:
        @hookimpl
        def order_refusals(self, order):
            if order.channel is Channel.APP:
                return [Refusal("spend", "P-1", "app"), Refusal("earn", "P-2", "app")]
            return []

    catalog = with_plugins(("no_app", NoApp()))
    wallet = await scenario.join(catalog, "c1")
    await _credit(wallet, 500)
    await scenario.event("e1")
    app = scenario.draft("o1", "c1", scenario.ticket("t1", "e1", "1000.00"), channel=Channel.APP)
    quote = await orders.quote(catalog, app)
    assert (quote.max_bonus, quote.reason) == (0, "P-1")
    recorded = await orders.record_order(catalog, app)
    assert recorded.bonus_to_accrue == 0
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(
            catalog,
            scenario.draft("o2", "c1", scenario.ticket("t2", "e1", "1000.00"), channel=Channel.APP, spend=10),
        )
    assert refused.value.rule == "P-1"


async def test_hook_refund_terms_the_first_plugin_listed_that_answers_decides(with_plugins):
    class Silent:
        @hookimpl
        def refund_terms(self, order, refund):
            return None

    class Keep:
        def __init__(self, money: str, rule: str) -> None:
            self.money, self.rule = Decimal(money), rule

        @hookimpl
        def refund_terms(self, order, refund, participant):
            return RefundTerms(money=self.money, revoke_accruals=False, rule=self.rule)

    catalog = with_plugins(
        ("silent", Silent()), ("keep_first", Keep("1.00", "K-1")), ("keep_second", Keep("2.00", "K-2"))
    )
    await paid_concert(catalog)
    refund = await scenario.refund(catalog, "o1", "o1-t1")
    assert (refund.money_refund, refund.rule, refund.bonus_revoked) == (Decimal("1.00"), "K-1", 0)


async def test_lb20_a_plugins_refund_money_is_capped_at_what_was_paid_for_the_items(with_plugins):
    class Generous:
        @hookimpl
        def refund_terms(self, order, refund, participant):
            return RefundTerms(money=Decimal("5000.00"), revoke_accruals=False, rule="GEN-1")

    catalog = with_plugins(("generous", Generous()))
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    items = (
        scenario.ticket("t1", "e1", "1000.00", fee="80.00", discount="100.00"),
        scenario.ticket("t2", "e1", "500.00"),
    )
    await scenario.buy(catalog, "o1", "c1", *items)
    # t1 was paid 1,000 - 100 discount + 80 fee = 980, never 5,000
    refund = await scenario.refund(catalog, "o1", "t1")
    assert (refund.money_refund, refund.rule) == (Decimal("980.00"), "GEN-1")
    # t2: 500; the order's 1,480 less the 980 paid back leaves 500 as well
    assert (await scenario.refund(catalog, "o1", "t2")).money_refund == Decimal("500.00")


async def test_hook_promo_code_refusal_refuses_record_order_with_the_plugins_rule(with_plugins):
    class AppOnly:
        @hookimpl
        def promo_code_refusal(self, code, order, participant):
            if order.channel is not Channel.APP:
                return Refusal("promo", "APP-ONLY", f"{code.code} works in the app only")
            return None

    catalog = with_plugins(("app_only", AppOnly(), ("tkt-ge",)))
    await scenario.event("e1", "concert")
    _, codes = await promo_codes.issue(catalog, promo_codes.BatchRequest("tkt-ge", "e1", 1, discount_percent=10), "m")
    web = orders.OrderDraft(
        id="o1",
        customer_id="c1",
        program_id="tkt-ge",
        channel=Channel.WEBSITE,
        items=(scenario.ticket("t1", "e1", "10.00", discount="1.00"),),
        promo_code=codes[0],
    )
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, web)
    assert refused.value.rule == "APP-ONLY"
    from dataclasses import replace

    app = await orders.record_order(catalog, replace(web, channel=Channel.APP))
    assert app.promo_code == codes[0]


def test_hook_tier_for_first_answer_wins_and_an_undefined_tier_is_a_plugin_failure():
    class Platinum:
        @hookimpl
        def tier_for(self, spend_365_days):
            return "Platinum"

    who = ParticipantFacts(id="c1", wallet_status=None)
    base = scenario.plugin_host()
    rules = base.catalog.get("tkt-ge").rules
    # tkt_ge's thresholds: Basic 0, Silver 500, Gold 1,500 GEL
    assert [rules.tier_for(Decimal(s), who) for s in ("0", "499.99", "500", "1500")] == [
        "Basic",
        "Basic",
        "Silver",
        "Gold",
    ]
    host = scenario.plugin_host(scenario.enabled("platinum", Platinum(), programs=("tkt-ge",)))
    # plugins.toml order: tkt_ge is listed first, so it answers first
    assert host.catalog.get("tkt-ge").rules.tier_for(Decimal(0), who) == "Basic"
    alone = PluginHost([scenario.enabled("platinum", Platinum(), programs=("tkt-ge",))], list(base.catalog))
    with pytest.raises(PluginFailure) as failed:
        alone.catalog.get("tkt-ge").rules.tier_for(Decimal(0), who)
    assert failed.value.plugin == "platinum"


def test_hook_achievements_the_lists_of_every_plugin_are_joined():
    class First:
        @hookimpl
        def achievements(self):
            return [
                AchievementDefinition(
                    id="first-ticket", title="First ticket", goal=1, counts="purchase_paid", reward_bonus=50
                )
            ]

    class More:
        @hookimpl
        def achievements(self):
            return [
                AchievementDefinition(id="regular", title="Regular", goal=5, counts="event_attended", reward_bonus=200),
                AchievementDefinition(id="explorer", title="Explorer", goal=3, counts="category", reward_bonus=300),
            ]

    host = scenario.plugin_host(scenario.enabled("first", First()), scenario.enabled("more", More()))
    assert [a.id for a in host.catalog.get(scenario.PROGRAM).rules.achievements()] == [
        "first-ticket",
        "regular",
        "explorer",
    ]
    assert host.catalog.get("mgt-plus").rules.achievements() == []  # only the plugins' programs


def test_hook_referral_refusal_the_first_refusal_wins():
    class NoBoxOffice:
        @hookimpl
        def referral_refusal(self, order, referrer, friend):
            if order.channel is Channel.BOX_OFFICE:
                return Refusal("referral", "R-1", "box office sales are not referred")
            return None

    class Never:
        @hookimpl
        def referral_refusal(self, order):
            return Refusal("referral", "R-2", "never")

    host = scenario.plugin_host(scenario.enabled("no_box", NoBoxOffice()), scenario.enabled("never", Never()))
    rules = host.catalog.get(scenario.PROGRAM).rules
    who = ParticipantFacts(id="x", wallet_status=None)
    order = OrderFacts(
        id="o1", program_id=scenario.PROGRAM, channel=Channel.BOX_OFFICE, items=(), placed_at=clock.now()
    )
    assert rules.referral_refusal(order, who, who) == Refusal("referral", "R-1", "box office sales are not referred")
    from dataclasses import replace

    assert rules.referral_refusal(replace(order, channel=Channel.APP), who, who).rule == "R-2"


async def test_hook_notify_is_told_after_commit_and_its_failure_never_fails_anything(with_plugins, caplog):
    told: list[Notification] = []

    class Recorder:
        @hookimpl
        def notify(self, event):
            told.append(event)

    class Broken:
        @hookimpl
        def notify(self, event):
            raise RuntimeError("mail server down")

    catalog = with_plugins(("broken", Broken()), ("recorder", Recorder()))
    with caplog.at_level(logging.ERROR, logger="loyalty.plugins"):
        _, order = await paid_concert(catalog)
    assert order.status is OrderStatus.PAID
    assert [(n.kind, n.order_id, n.bonus, n.participant_id) for n in told] == [("order_paid", "o1", 50, "c1")]
    assert "plugin broken failed in notify(order_paid)" in caplog.text
    await scenario.refund(catalog, "o1", "o1-t1")
    assert [n.kind for n in told] == ["order_paid", "order_refunded"]
    # a refused payment tells nobody
    from loyalty.errors import Conflict

    await scenario.event("e2")
    await orders.record_order(catalog, scenario.draft("o2", "c1", scenario.ticket("t2", "e2", "10.00")))
    await orders.cancel_order("o2")
    with pytest.raises(Conflict):
        await orders.pay_order(catalog, "o2")
    assert len(told) == 2


# ---------------------------------------------------------------- the conventions themselves


def hook_names() -> list[str]:
    return sorted(
        name
        for name, spec in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(spec, hookspecs.PROJECT + "_spec")
    )


def test_every_hook_is_documented():
    assert len(hook_names()) >= 9
    for name in hook_names():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        for part in (":return:", "Combining:", "Failure:", "Example"):
            assert part in doc, f"hook {name}: its docstring lacks {part!r}"
        signature = inspect.signature(getattr(hookspecs, name))
        assert signature.return_annotation is not inspect.Signature.empty, f"hook {name}: no return type"
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, f"hook {name}: {parameter.name} untyped"
        assert f"``{name}``" in (hookspecs.__doc__ or ""), f"hook {name} is missing from the module's table"


def test_every_hook_has_a_test_of_its_own():
    text = "\n".join(path.read_text() for path in TESTS.rglob("test_*.py"))
    tested = set(re.findall(r"def test_\w*?hook_(\w+)", text))
    missing = [name for name in hook_names() if not any(found.startswith(name) for found in tested)]
    assert missing == [], f"hooks without a test named test_..hook_<name>..: {missing}"
