"""pluggy calls the hooks: order (tryfirst, trylast), firstresult, wrappers, and PL-03 inside the call.

The rules are asked directly with plain facts where no database is needed; a plugin
host holding only the test's plugins (`alone`) keeps the built-in programs' answers out.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any, get_args, get_type_hints

import pytest

from loyalty import clock, orders
from loyalty.errors import PluginFailure
from loyalty.facts import AchievementDefinition, Credit, Limit, OrderFacts, ParticipantFacts
from loyalty.models import Channel, Entry
from loyalty.programs import NoRules, ProgramRules
from plugins import hookspecs
from plugins.config import ConfigError
from plugins.hookspecs import hookimpl
from plugins.manager import PluginHost, ProgramHooks
from plugins.policy import HOOKS
from tests import scenario
from tests.test_plugins import Exploding, FlatBonus, _credit, paid_concert

WHO = ParticipantFacts(id="c1", wallet_status=None)
ORDER = OrderFacts(id="o1", program_id=scenario.PROGRAM, channel=Channel.APP, items=(), placed_at=clock.now())


def alone(*plugins: tuple[str, object] | tuple[str, object, bool], program: str = scenario.PROGRAM) -> ProgramRules:
    """The rules of `program` when only these plugins (name, instance[, optional]) are enabled."""
    programs = list(scenario.plugin_host().catalog)
    enabled = [scenario.enabled(name, instance, (program,), *rest) for name, instance, *rest in plugins]
    return PluginHost(enabled, programs).catalog.get(program).rules


def achievement(id: str) -> AchievementDefinition:
    return AchievementDefinition(id=id, title=id, goal=1, counts="purchase_paid", reward_bonus=1)


# ---------------------------------------------------------------- order


def test_tryfirst_plugins_are_asked_first_trylast_last_each_group_in_plugins_toml_order():
    asked: list[str] = []

    def plugin(name: str, **mark: bool) -> object:
        class Defines:
            @hookimpl(**mark)
            def achievements(self) -> list[AchievementDefinition]:
                asked.append(name)
                return [achievement(name)]

        return Defines()

    rules = alone(
        ("a_last", plugin("a_last", trylast=True)),
        ("b_plain", plugin("b_plain")),
        ("c_first", plugin("c_first", tryfirst=True)),
        ("d_plain", plugin("d_plain")),
        ("e_last", plugin("e_last", trylast=True)),
        ("f_first", plugin("f_first", tryfirst=True)),
    )
    expected = ["c_first", "f_first", "b_plain", "d_plain", "a_last", "e_last"]
    assert [a.id for a in rules.achievements()] == expected
    assert asked == expected


def test_firstresult_stops_at_the_first_answer_and_a_tryfirst_plugin_listed_last_answers_first():
    asked: list[str] = []

    class Tier:
        def __init__(self, name: str, tier: str | None) -> None:
            self.name, self.tier = name, tier

        @hookimpl
        def tier_for(self, spend_365_days: Decimal) -> str | None:
            asked.append(self.name)
            return self.tier

    class Eager(Tier):
        @hookimpl(tryfirst=True)
        def tier_for(self, spend_365_days: Decimal) -> str | None:
            asked.append(self.name)
            return self.tier

    # tkt-ge defines Basic, Silver, Gold
    rules = alone(
        ("silent", Tier("silent", None)),
        ("silver", Tier("silver", "Silver")),
        ("gold", Tier("gold", "Gold")),
        program="tkt-ge",
    )
    assert rules.tier_for(Decimal(0), WHO) == "Silver"
    assert asked == ["silent", "silver"]  # "gold" is never asked
    asked.clear()
    rules = alone(("silver", Tier("silver", "Silver")), ("eager", Eager("eager", "Gold")), program="tkt-ge")
    assert rules.tier_for(Decimal(0), WHO) == "Gold"
    assert asked == ["eager"]


# ---------------------------------------------------------------- wrappers


class Doubler:
    """A partner's new-style wrapper: every credit of the order doubled, and one bonus of its own."""

    @hookimpl(wrapper=True)
    def accrual_credits(self, order: OrderFacts) -> Any:
        answers = yield  # every plugin's list of credits
        doubled = [[replace(credit, amount=credit.amount * 2) for credit in answer] for answer in answers]
        return [*doubled, [Credit(amount=1, rule="wrap-bonus")]]


async def test_a_new_style_wrapper_alters_the_accrual_and_its_own_credit_records_its_plugin(with_plugins):
    catalog = with_plugins(("flat_bonus", FlatBonus()), ("doubler", Doubler()))
    _, order = await paid_concert(catalog)
    # LB-02: 5 % of 1,000 = 50, the flat rule 7; doubled: 100 + 14; the wrapper's own 1
    assert order.bonus_accrued == 100 + 14 + 1
    rows = await Entry.filter(kind="ACCRUAL").values_list("rule", "plugin", "amount")
    assert sorted(rows) == [
        ("LB-02", "live_brighter", 100),
        ("flat-bonus", "flat_bonus", 14),
        ("wrap-bonus", "doubler", 1),
    ]


class CapAt100:
    """A partner's old-style hookwrapper: adds a 100-bonus cap to whatever the others answered."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    @hookimpl(hookwrapper=True)
    def redemption_limit(self, order: OrderFacts) -> Any:
        outcome = yield
        self.seen.append(outcome.get_result())
        outcome.force_result([*outcome.get_result(), Limit(max_bonus=100, rule="W-1")])


async def test_an_old_style_hookwrapper_alters_the_redemption_limit(with_plugins):
    wrapper = CapAt100()
    catalog = with_plugins(("cap_wrapper", wrapper))
    wallet = await scenario.join(catalog, "c1")
    await _credit(wallet, 1000)
    await scenario.event("e1")
    quote = await orders.quote(catalog, scenario.draft(None, "c1", scenario.ticket(None, "e1", "10000.00")))
    # LB-08: 30 % of 10,000 = 3,000; the wrapper's cap, 100, is smaller and wins
    assert (quote.max_bonus, quote.reason) == (100, "W-1")
    assert wrapper.seen == [[Limit(max_bonus=3000, rule="LB-08")]]


def test_wrappers_run_around_every_plain_implementation_tryfirst_wrapper_outermost():
    calls: list[str] = []

    class Plain:
        @hookimpl
        def achievements(self) -> list[AchievementDefinition]:
            calls.append("plain")
            return [achievement("plain")]

    class Outer:
        @hookimpl(wrapper=True, tryfirst=True)
        def achievements(self) -> Any:
            calls.append("outer in")
            result = yield
            calls.append("outer out")
            return result

    class Inner:
        @hookimpl(hookwrapper=True)
        def achievements(self) -> Any:
            calls.append("inner in")
            yield
            calls.append("inner out")

    rules = alone(("inner", Inner()), ("plain", Plain()), ("outer", Outer()))
    assert [a.id for a in rules.achievements()] == ["plain"]
    assert calls == ["outer in", "inner in", "plain", "inner out", "outer out"]


# ---------------------------------------------------------------- PL-03 inside the call chain


class BrokenWrapper:
    def __init__(self, when: str) -> None:
        self.when = when

    @hookimpl(wrapper=True)
    def accrual_credits(self, order: OrderFacts) -> Any:
        if self.when == "before":
            raise RuntimeError("the wrapper has a bug")
        answers = yield
        if self.when == "after":
            raise RuntimeError("the wrapper has a bug")
        return answers


class BrokenHookwrapper:
    def __init__(self, when: str) -> None:
        self.when = when

    @hookimpl(hookwrapper=True)
    def accrual_credits(self, order: OrderFacts) -> Any:
        if self.when == "before":
            raise RuntimeError("the wrapper has a bug")
        outcome = yield
        outcome.force_result([])  # undone: the wrapper fails right after
        if self.when == "after":
            raise RuntimeError("the wrapper has a bug")


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_pl03_a_failing_wrapper_refuses_and_an_optional_one_is_skipped(style, when, caplog):
    broken = BrokenWrapper(when) if style == "wrapper" else BrokenHookwrapper(when)
    flat = FlatBonus(FlatBonus.Settings(amount=7))
    with pytest.raises(PluginFailure) as refused:
        alone(("flat", flat), ("broken", broken)).accrual_credits(ORDER, WHO)
    assert (refused.value.plugin, refused.value.code) == ("broken", "UNAVAILABLE")
    with caplog.at_level(logging.ERROR, logger="loyalty.plugins"):
        credits = alone(("flat", flat), ("broken", broken, True)).accrual_credits(ORDER, WHO)
    assert [(c.rule, c.amount, c.plugin) for c in credits] == [("flat-bonus", 7, "flat")]
    assert "optional plugin broken failed in accrual_credits; skipped" in caplog.text


def test_pl03_a_required_plugin_inside_a_wrapper_refuses_with_its_own_name():
    seen: list[BaseException] = []

    class Watching:
        @hookimpl(wrapper=True)
        def accrual_credits(self) -> Any:
            try:
                return (yield)
            except PluginFailure as refused:
                seen.append(refused)
                raise

    with pytest.raises(PluginFailure) as refused:
        alone(("watching", Watching()), ("exploding", Exploding())).accrual_credits(ORDER, WHO)
    assert refused.value.plugin == "exploding"
    assert seen == [refused.value]


def test_pl03_an_optional_plugins_wrong_answer_is_left_out_a_required_ones_refuses(caplog):
    class Wrong:
        @hookimpl
        def accrual_credits(self) -> Any:
            return [Limit(max_bonus=1, rule="not a credit")]

    flat = FlatBonus(FlatBonus.Settings(amount=7))
    with caplog.at_level(logging.ERROR, logger="loyalty.plugins"):
        credits = alone(("wrong", Wrong(), True), ("flat", flat)).accrual_credits(ORDER, WHO)
    assert [(c.amount, c.plugin) for c in credits] == [(7, "flat")]
    assert "optional plugin wrong failed in accrual_credits; skipped: answered list, not list[Credit]" in caplog.text
    with pytest.raises(PluginFailure) as refused:
        alone(("wrong", Wrong()), ("flat", flat)).accrual_credits(ORDER, WHO)
    assert refused.value.plugin == "wrong"


def test_pl03_a_wrapper_answering_the_wrong_type_is_a_plugin_failure():
    class Garbling:
        @hookimpl(wrapper=True)
        def achievements(self) -> Any:
            yield
            return "not a list"

    with pytest.raises(PluginFailure) as refused:
        alone(("garbling", Garbling())).achievements()
    assert refused.value.plugin == "garbling"


# ---------------------------------------------------------------- one declaration


def test_program_rules_mirror_the_hookspecs_exactly():
    """`loyalty.programs.ProgramRules` is hookspecs.py seen from the domain: same names and arguments."""
    declared = {name for name in vars(ProgramRules) if not name.startswith("_")}
    assert declared == set(HOOKS)
    for hook in HOOKS.values():
        spec = get_type_hints(getattr(hookspecs, hook.name))
        mine = get_type_hints(getattr(ProgramRules, hook.name))
        assert list(mine)[:-1] == list(hook.argnames), hook.name
        assert {k: v for k, v in mine.items() if k != "return"} == {k: v for k, v in spec.items() if k != "return"}
        if hook.notice or hook.firstresult or hook.listed:
            combined = hook.answer  # nothing; the first answer; the lists joined
        else:
            (answer,) = [t for t in get_args(hook.answer) if t is not type(None)]
            combined = list[answer]  # every plugin's answer
        assert mine["return"] == combined, hook.name


def test_no_rules_answers_as_a_program_with_no_plugins():
    nobody = alone()
    assert isinstance(nobody, ProgramHooks)
    args = {"order": ORDER, "participant": WHO, "referrer": WHO, "friend": WHO, "event": None, "program": "p"}
    for hook in HOOKS.values():
        kwargs = {name: args.get(name) for name in hook.argnames}
        expected = [] if (hook.listed or not (hook.firstresult or hook.notice)) else None
        assert getattr(NoRules(), hook.name)(**kwargs) == expected, hook.name
        assert getattr(nobody, hook.name)(**kwargs) == expected, hook.name


def test_a_wrapper_that_is_no_generator_stops_start_up():
    class NotAGenerator:
        @hookimpl(wrapper=True)
        def accrual_credits(self, order: OrderFacts) -> list[Credit]:
            return []

    with pytest.raises(ConfigError, match=r"(?s)plugin 'not_a_generator'.*not a generator function"):
        alone(("not_a_generator", NotAGenerator()))
