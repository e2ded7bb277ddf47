"""GA-01..GA-04 and LB-17: achievements defined by plugins, progress from the facts, unlocked and
rewarded once, returns, the built-in four.

The numbers are those of plugins.toml for «Live Brighter!»: concert 5 %, theatre 7 %,
cinema 3 %, sport 4 % (LB-02), 90 days' validity (LB-04), and the built-in achievements
(GA-04): First ticket 100 (1 paid purchase), Regular 500 (5 events in 365 days),
Ambassador 300 (3 rewarded referrals), Explorer 200 (3 categories).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError

from loyalty import achievements, clock, erasure, events, ledger, orders, participants, sql
from loyalty.achievements.models import AchievementUnlock
from loyalty.enums import Channel, EntryKind, RefundReason
from loyalty.facts import AchievementDefinition
from loyalty.ledger import Balance
from loyalty.models import Lot
from plugins.builtin.achievements import Achievements, Tuning
from plugins.config import ConfigError
from plugins.hookspecs import hookimpl
from plugins.manager import check_achievements
from tests import scenario
from tests.conftest import START
from tests.gql import Client, participant_token
from tests.invariants import assert_ledger_invariants
from tests.referrals import buy as friend_buys
from tests.referrals import referrer
from tests.scenario import ticket

DAYS_90 = timedelta(days=90)


@pytest.fixture
def catalog(achieving):
    """Here the catalog is plugins.toml's with its built-in achievements (GA-04)."""
    return achieving


E1_STARTS = START + timedelta(days=10)


async def kinds(wallet_id: int, kind: EntryKind) -> list[tuple[Any, ...]]:
    """The wallet's entries of one kind, oldest first: (amount, rule, activates_at, expires_at)."""
    rows = await scenario.entry_rows(wallet_id, "kind", "amount", "rule", "activates_at", "expires_at")
    return [row[1:] for row in rows if row[0] is kind]


async def progress(catalog, customer_id: str, program: str = scenario.PROGRAM) -> dict[str, tuple[int, int, bool]]:
    """Each achievement's (progress, goal, unlocked) as the participant sees it."""
    found = await achievements.standing(catalog.get(program), await participants.get(customer_id))
    return {a.id: (a.progress, a.goal, a.unlocked_at is not None) for a in found}


# ---------------------------------------------------------------- GA-01 defined by plugins


class Weekly:
    """A plugin's own achievement: 2 purchases within 7 days, 70 bonuses valid 10 days."""

    @hookimpl
    def achievements(self) -> list[AchievementDefinition]:
        return [
            AchievementDefinition(
                id="weekly",
                title="Twice a week",
                goal=2,
                counts="purchase_paid",
                window_days=7,
                reward_bonus=70,
                reward_valid_days=10,
            )
        ]


async def test_ga01_a_plugin_defines_an_achievement_with_a_window_and_a_reward_validity(with_plugins):
    catalog = with_plugins(("weekly", Weekly()), achievements=True)
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("past", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "past", "1000"))
    scenario.until(START + timedelta(days=8))  # o1 was paid 8 days ago: outside the 7-day window
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "past", "1000"))
    assert (await progress(catalog, "c1"))["weekly"] == (1, 2, False)
    scenario.until(START + timedelta(days=9))
    await scenario.buy(catalog, "o3", "c1", ticket("t3", "past", "1000"))  # o2 and o3 within 7 days
    assert (await progress(catalog, "c1"))["weekly"] == (2, 2, True)
    now = START + timedelta(days=9)
    # The event has started: active at once, valid 10 days (not the program's 90)
    assert await kinds(wallet.id, EntryKind.ACHIEVEMENT) == [
        (100, "first-ticket", START, START + DAYS_90),
        (70, "weekly", now, now + timedelta(days=10)),
    ]
    entry = await ledger.history(wallet.id, 1, None)
    assert (entry.entries[0].plugin, entry.entries[0].description) == ("weekly", "achievement unlocked: Twice a week")


class Broken:
    def __init__(self, *found: AchievementDefinition) -> None:
        self.found = list(found)

    @hookimpl
    def achievements(self) -> list[AchievementDefinition]:
        return self.found


def define(id: str = "x", counts: str = "purchase_paid", goal: int = 1, **more: Any) -> AchievementDefinition:
    return AchievementDefinition(id=id, title=id, goal=goal, counts=counts, reward_bonus=10, **more)


@pytest.mark.parametrize(
    ("found", "said"),
    [
        ((define("first-ticket"),), "achievement 'first-ticket' of plugin broken: the id is defined twice"),
        ((define(counts="tickets_bought"),), "counts 'tickets_bought' is none of purchase_paid"),
        ((define(goal=0),), "the goal must be a whole number of at least 1, not 0"),
        ((define(counts="custom"),), "a count function is given exactly when counts is 'custom'"),
        ((define(count=lambda facts: 1),), "a count function is given exactly when counts is 'custom'"),
        ((define(window_days=0),), "window_days must be None or a whole number of days of at least 1"),
    ],
)
def test_ga01_start_up_refuses_definitions_that_cannot_work(with_plugins, found, said):
    catalog = with_plugins(("broken", Broken(*found)), achievements=True)
    with pytest.raises(ConfigError) as refused:
        check_achievements(catalog, "plugins.toml")
    assert said in str(refused.value)
    assert "program live-brighter" in str(refused.value)


def test_ga01_the_repository_plugins_toml_passes_the_start_up_check(catalog):
    check_achievements(catalog, "plugins.toml")  # build() ran it too; every program answers
    assert [d.id for d in catalog.get("mgt-plus").rules.achievements()] == []


# ---------------------------------------------------------------- GA-02 progress, once


async def test_ga02_my_achievements_lists_every_one_locked_and_unlocked_with_progress(catalog):
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.event("e2", "theatre", starts_in=timedelta(days=20))
    # One purchase, two events of two categories: First ticket unlocks, Regular 2/5, Explorer 2/3
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"), ticket("t2", "e2", "2000"))
    gql = Client()
    try:
        answer = await gql.op("MyAchievements", {"programId": scenario.PROGRAM}, participant_token("c1"))
        other = await gql.op("MyAchievements", {"programId": "mgt-plus"}, participant_token("c1"))
        unknown = await gql.op("MyAchievements", {"programId": "nope"}, participant_token("c1"))
    finally:
        await gql.http.aclose()
    assert answer["data"]["me"]["achievements"] == [
        {
            "id": "first-ticket",
            "title": "First ticket",
            "description": "Your first paid purchase",
            "progress": 1,
            "goal": 1,
            "unlockedAt": START.isoformat(),
            "rewardBonus": 100,
        },
        {
            "id": "regular",
            "title": "Regular",
            "description": "Tickets to 5 different events within 365 days",
            "progress": 2,
            "goal": 5,
            "unlockedAt": None,
            "rewardBonus": 500,
        },
        {
            "id": "ambassador",
            "title": "Ambassador",
            "description": "3 friends rewarded for a first purchase through your link",
            "progress": 0,
            "goal": 3,
            "unlockedAt": None,
            "rewardBonus": 300,
        },
        {
            "id": "explorer",
            "title": "Explorer",
            "description": "Events in 3 different categories",
            "progress": 2,
            "goal": 3,
            "unlockedAt": None,
            "rewardBonus": 200,
        },
    ]
    assert other["data"]["me"]["achievements"] == []  # not joined (and no achievements there)
    assert unknown["data"]["me"]["achievements"] == []


async def test_ga02_an_achievement_unlocks_and_rewards_once_whatever_is_replayed(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.event("e2", "theatre")
    await scenario.event("e3", "cinema", starts_in=timedelta(days=30))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"), ticket("t2", "e2", "2000"))
    await orders.pay_order(catalog, "o1")  # the payment replayed: unchanged
    await scenario.buy(catalog, "o2", "c1", ticket("t3", "e3", "1000"))  # a second purchase: no second First ticket
    # o2 brings the third category (concert, theatre, cinema): Explorer, pending until e3 starts
    e3 = START + timedelta(days=30)
    assert await kinds(wallet.id, EntryKind.ACHIEVEMENT) == [
        (100, "first-ticket", E1_STARTS, E1_STARTS + DAYS_90),
        (200, "explorer", e3, e3 + DAYS_90),
    ]
    # Pending: 50 (5 % of 1,000) + 140 (7 % of 2,000) + 30 (3 % of 1,000) + 100 + 200 = 520
    assert await ledger.balance(wallet.id) == Balance(pending=520)
    participant = await participants.get("c1")
    with pytest.raises(IntegrityError):  # the database itself refuses a second unlock
        await AchievementUnlock.create(
            participant_id=participant.id,
            program_id=scenario.PROGRAM,
            achievement_id="first-ticket",
            wallet_id=wallet.id,
            unlocked_at=clock.now(),
        )


async def test_ga02_regular_counts_distinct_events_paid_in_the_last_365_days(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("r1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "r1", "100"))
    scenario.until(START + timedelta(days=366))  # o1 now falls out of Regular's window
    for n in range(2, 6):
        await scenario.event(f"r{n}", "concert")
        await scenario.buy(catalog, f"o{n}", "c1", ticket(f"t{n}", f"r{n}", "100"))
    assert (await progress(catalog, "c1"))["regular"] == (4, 5, False)  # r2..r5; r1 paid 366 days ago
    starts = await scenario.event("r6", "concert", starts_in=timedelta(days=3))
    # Two tickets to one event count as one event: r2..r6 are 5
    await scenario.buy(catalog, "o6", "c1", ticket("t6", "r6", "100"), ticket("t7", "r6", "100"))
    assert (await progress(catalog, "c1"))["regular"] == (5, 5, True)
    assert (await kinds(wallet.id, EntryKind.ACHIEVEMENT))[-1] == (500, "regular", starts, starts + DAYS_90)


async def test_ga02_ambassador_unlocks_at_the_third_rewarded_referral_active_at_once(catalog):
    wallet, code = await referrer(catalog, "ref")  # 1,000 for a concert that has started: 50, and First ticket
    await scenario.event("e1", "concert")
    for n in (1, 2, 3):
        await scenario.join(catalog, f"f{n}")
        await friend_buys(catalog, f"o{n}", f"f{n}", code)  # 4,000 through the link: RF-02 rewards 200
        if n < 3:
            assert (await progress(catalog, "ref"))["ambassador"] == (n, 3, False)
    assert (await progress(catalog, "ref"))["ambassador"] == (3, 3, True)
    assert await kinds(wallet.id, EntryKind.ACHIEVEMENT) == [
        (100, "first-ticket", START, START + DAYS_90),
        (300, "ambassador", START, START + DAYS_90),  # a referral's reward: active at once
    ]
    # Active: 50 + 100 + 300 = 450; pending: the three referral bonuses, 3 x 200 = 600
    assert await ledger.balance(wallet.id) == Balance(active=450, pending=600)
    # A friend returns the purchase: that referral is revoked (RF-09), Ambassador stays unlocked (GA-03)
    await scenario.refund(catalog, "o3", "o3-t1")
    assert (await progress(catalog, "ref"))["ambassador"] == (3, 3, True)
    assert await ledger.balance(wallet.id) == Balance(active=450, pending=400)


async def test_ga02_blocked_erased_and_unverified_participants_unlock_nothing(catalog):
    await scenario.event("past", "concert", starts_in=timedelta(hours=-1))
    unverified = await scenario.join(catalog, "c1", verified_contact=False)
    blocked = await scenario.join(catalog, "c2")
    everywhere = await scenario.join(catalog, "c3")
    erased = await scenario.join(catalog, "c4")
    await participants.block(catalog, "c2", scenario.PROGRAM, "fraud", "admin")
    await participants.block(catalog, "c3", None, "fraud", "admin")
    await erasure.erase("c4", scenario.ERASURE_KEY)
    for n, customer in enumerate(("c1", "c2", "c3", "c4")):
        await scenario.buy(catalog, f"o{n}", customer, ticket(f"t{n}", "past", "1000"))
    for wallet in (unverified, blocked, everywhere, erased):
        assert await kinds(wallet.id, EntryKind.ACHIEVEMENT) == []
    assert await AchievementUnlock.all().count() == 0
    # The PENDING wallet's purchase counts (a fact), but unlocks only once it may earn
    assert (await progress(catalog, "c1"))["first-ticket"] == (1, 1, False)


async def test_ga02_progress_is_one_query_per_program_and_none_where_nothing_is_defined(catalog, monkeypatch):
    await scenario.join(catalog, "c1")
    await scenario.join(catalog, "c1", "mgt-plus")
    await scenario.event("e1", "concert")
    await scenario.event("m1", "theatre", organizer="mosgubteatr")
    statements: list[str] = []
    real_fetch = sql.fetch

    async def fetch(statement: str, *params: Any) -> list[dict[str, Any]]:
        statements.append(statement)
        return await real_fetch(statement, *params)

    monkeypatch.setattr(sql, "fetch", fetch)
    assert len(await progress(catalog, "c1")) == 4
    # Four achievements, one counting query (the participant's lookup is raw SQL too).
    assert len([s for s in statements if "FROM participant p WHERE" not in s]) == 1
    monkeypatch.setattr(sql, "fetch", real_fetch)
    asked: list[tuple[tuple[str, ...], set[str]]] = []
    real_counts = achievements.progress.unlocked_and_counts

    async def counts(found: list[AchievementDefinition], **where: Any) -> tuple[set[str], dict[str, int]]:
        done, counted = await real_counts(found, **where)
        asked.append((tuple(d.id for d in found), done))
        return done, counted

    monkeypatch.setattr(achievements.progress, "unlocked_and_counts", counts)
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"))
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "e1", "1000"))
    draft = scenario.draft("m-o1", "c1", ticket("mt1", "m1", "1000"), program="mgt-plus", channel=Channel.WIDGET)
    await orders.record_order(catalog, draft)
    await orders.pay_order(catalog, "m-o1")
    # One count per payment, which also reads what is unlocked already; МГТ+ defines none:
    # its payment asks nothing
    every = ("first-ticket", "regular", "ambassador", "explorer")
    assert asked == [(every, set()), (every, {"first-ticket"})]


# ---------------------------------------------------------------- GA-03 returns


async def test_ga03_buying_and_returning_a_ticket_before_its_event_earns_nothing(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"))
    refund = await scenario.refund(catalog, "o1", "t1")
    assert refund.bonus_revoked == 50  # the order's accrual (5 % of 1,000); the achievement's REVOKE is its own
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "rule") == [
        (EntryKind.ACCRUAL, 50, "LB-02"),
        (EntryKind.ACHIEVEMENT, 100, "first-ticket"),
        (EntryKind.REVOKE, -50, "LB-09"),
        (EntryKind.REVOKE, -100, "GA-03"),
    ]
    assert await ledger.balance(wallet.id) == Balance()
    unlock = await AchievementUnlock.get(achievement_id="first-ticket")
    assert (unlock.unlocked_at, unlock.revoked_at, unlock.order_id) == (START, START, "o1")
    # Unlocked stays unlocked; a later purchase rewards nothing again
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "e1", "1000"))
    assert (await progress(catalog, "c1"))["first-ticket"] == (1, 1, True)
    assert [row[0] for row in await kinds(wallet.id, EntryKind.ACHIEVEMENT)] == [100]


async def test_ga03_a_returned_purchase_no_longer_counts_towards_locked_progress(catalog):
    await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.event("e2", "theatre")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"), ticket("t2", "e2", "1000"))
    assert (await progress(catalog, "c1"))["explorer"] == (2, 3, False)
    assert (await progress(catalog, "c1"))["regular"] == (2, 5, False)
    await scenario.refund(catalog, "o1", "t2")  # the theatre ticket back: one category, one event left
    assert (await progress(catalog, "c1"))["explorer"] == (1, 3, False)
    assert (await progress(catalog, "c1"))["regular"] == (1, 5, False)
    await scenario.refund(catalog, "o1", "t1")  # wholly returned: the purchase counts no more
    found = await progress(catalog, "c1")
    assert (found["explorer"], found["regular"], found["first-ticket"]) == ((0, 3, False), (0, 5, False), (1, 1, True))


async def test_ga03_a_reward_already_active_stays_when_the_purchase_is_returned(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("past", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "past", "1000"))  # started: 50 and 100 active at once
    refund = await scenario.refund(catalog, "o1", "t1", reason=RefundReason.EVENT_CANCELLED)
    assert refund.bonus_revoked == 50
    assert [row[2] for row in await scenario.entry_rows(wallet.id, "kind", "amount", "rule")] == [
        "LB-02",
        "first-ticket",
        "LB-09",
    ]
    assert await ledger.balance(wallet.id) == Balance(active=100)


async def test_ga03_a_pending_reward_follows_its_rescheduled_event_and_is_cancelled_until_it_starts(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"))
    later = START + timedelta(days=40)
    await events.upsert(events.EventDraft("e1", "e1", "concert", later, "org-1"))
    moved = await Lot.filter(wallet_id=wallet.id, kind=EntryKind.ACHIEVEMENT).values_list("activates_at", "expires_at")
    assert moved == [(later, later + DAYS_90)]
    scenario.until(START + timedelta(days=20))  # past the old start, before the new one: still pending
    await scenario.refund(catalog, "o1", "t1")
    assert (await kinds(wallet.id, EntryKind.REVOKE))[-1][:2] == (-100, "GA-03")
    assert await ledger.balance(wallet.id) == Balance()


# ---------------------------------------------------------------- GA-04 built in


def test_ga04_first_ticket_regular_ambassador_explorer_are_built_in_for_live_brighter(catalog):
    found = catalog.get(scenario.PROGRAM).rules.achievements()
    assert [(d.id, d.title, d.goal, d.counts, d.window_days, d.reward_bonus, d.plugin) for d in found] == [
        ("first-ticket", "First ticket", 1, "purchase_paid", None, 100, "achievements"),
        ("regular", "Regular", 5, "event_attended", 365, 500, "achievements"),
        ("ambassador", "Ambassador", 3, "referral_rewarded", None, 300, "achievements"),
        ("explorer", "Explorer", 3, "category", None, 200, "achievements"),
    ]


def test_ga04_titles_and_rewards_are_settings_and_one_can_be_turned_off():
    settings = Achievements.Settings(
        first_ticket=Tuning(title="Premier billet", reward_bonus=75), explorer=Tuning(enabled=False)
    )
    found = Achievements(settings).achievements()
    assert [(d.id, d.title, d.reward_bonus) for d in found] == [
        ("first-ticket", "Premier billet", 75),
        ("regular", "Regular", 500),
        ("ambassador", "Ambassador", 300),
    ]


async def test_ga04_explorer_unlocks_with_the_third_category_across_purchases(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.event("e2", "concert")
    await scenario.event("e3", "theatre")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"), ticket("t2", "e2", "1000"))
    await scenario.buy(catalog, "o2", "c1", ticket("t3", "e3", "1000"))
    assert (await progress(catalog, "c1"))["explorer"] == (2, 3, False)  # two concerts are one category
    starts = await scenario.event("e4", "sport", starts_in=timedelta(days=5))
    await scenario.buy(catalog, "o3", "c1", ticket("t4", "e4", "1000"))
    assert (await progress(catalog, "c1"))["explorer"] == (3, 3, True)
    assert (await kinds(wallet.id, EntryKind.ACHIEVEMENT))[-1] == (200, "explorer", starts, starts + DAYS_90)


# ---------------------------------------------------------------- LB-17 gamification rewards


async def test_lb17_an_achievement_reward_is_a_ledger_credit_spendable_and_burning_like_others(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("past", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "past", "1000"))
    # 50 accrued (5 % of 1,000) and First ticket's 100, both active at once, both burning at START + 90 days
    assert await ledger.balance(wallet.id) == Balance(active=150)
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "e1", "1000"), spend=120)  # cap 30 % of 1,000 = 300
    # o2 earns 5 % of 1,000 - 120 = 880: 44, pending; 150 - 120 = 30 active left
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == ledger.BurnForecast(at=START + DAYS_90, amount=30)
    scenario.until(START + DAYS_90)
    assert await ledger.burn_expired() >= 1
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "rule") == [
        (EntryKind.ACCRUAL, 50, "LB-02"),
        (EntryKind.ACHIEVEMENT, 100, "first-ticket"),
        (EntryKind.SPEND, -120, "LB-08"),
        (EntryKind.ACCRUAL, 44, "LB-02"),
        (EntryKind.BURN, -30, "LB-04"),
    ]
    await assert_ledger_invariants()


async def test_ga02_a_payment_reads_no_purchase_once_every_purchase_achievement_is_unlocked(catalog):
    """First ticket, Regular and Explorer unlocked: the payment's one statement reads which
    are, and counts only Ambassador's referrals (the purchases' counts stay 0, unread)."""
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000"))  # First ticket, 1 purchase
    for achievement in ("regular", "explorer"):
        await AchievementUnlock.create(
            participant_id=wallet.participant_id,
            program_id=scenario.PROGRAM,
            achievement_id=achievement,
            wallet_id=wallet.id,
            unlocked_at=clock.now(),
        )
    program = catalog.get(scenario.PROGRAM)
    where = {
        "wallet_id": wallet.id,
        "participant_id": wallet.participant_id,
        "customer_id": "c1",
        "program_id": program.id,
    }
    found = achievements.definitions(program)
    done, counted = await achievements.progress.unlocked_and_counts(found, **where)
    assert done == {"first-ticket", "regular", "explorer"}
    assert counted == {"first-ticket": 0, "regular": 0, "ambassador": 0, "explorer": 0}
    assert (await achievements.progress.counts(found, **where))["first-ticket"] == 1  # the listing's count
