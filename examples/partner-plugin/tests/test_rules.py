"""The partner's rules, tested on plain facts: no database, no gateway running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from partner_example import PartnerRules

from loyalty.enums import Channel, ItemKind
from loyalty.facts import AchievementFacts, EventFacts, ItemFacts, OrderFacts

START = datetime(2026, 3, 1, tzinfo=UTC)
RULES = PartnerRules(
    PartnerRules.Settings(organizer_id="acme", window_start=START, window_end=START + timedelta(days=7))
)
OURS = EventFacts(
    id="e1", title="Acme live", category="concert", starts_at=START + timedelta(days=30), organizer_id="acme"
)
THEIRS = EventFacts(
    id="e2", title="Other", category="concert", starts_at=START + timedelta(days=30), organizer_id="other"
)


def order(*items: ItemFacts, channel: Channel = Channel.WEBSITE, days: int = 1) -> OrderFacts:
    return OrderFacts(
        id="o1", program_id="live-brighter", channel=channel, items=items, placed_at=START + timedelta(days=days)
    )


def ticket(event: EventFacts, nominal: str, bonus_share: int = 0) -> ItemFacts:
    return ItemFacts(
        id=None,
        event=event,
        kind=ItemKind.TICKET,
        nominal=Decimal(nominal),
        service_fee=Decimal("300.00"),
        bonus_share=bonus_share,
    )


def test_double_in_the_window_on_our_events_only():
    credits = RULES.accrual_credits(order(ticket(OURS, "10000.00"), ticket(THEIRS, "10000.00")))
    # 5 % of 10,000 paid for our ticket (the fee earns nothing); the other organizer's earns nothing
    assert [(c.rule, c.amount, c.event_id) for c in credits] == [("partner-double", 500, "e1")]


def test_nothing_outside_the_window():
    assert RULES.accrual_credits(order(ticket(OURS, "10000.00"), days=7)) == []


def test_five_percent_more_in_the_app_on_the_money_paid():
    credits = RULES.accrual_credits(order(ticket(OURS, "10000.00", bonus_share=1000), channel=Channel.APP, days=8))
    # outside the window; in the app: 5 % of 10,000 - 1,000 bonuses spent = 450
    assert [(c.rule, c.amount) for c in credits] == [("partner-app-5", 450)]


def test_acme_fan_counts_our_distinct_events():
    (fan,) = RULES.achievements()
    assert (fan.id, fan.counts, fan.goal, fan.reward_bonus) == ("acme-fan", "custom", 3, 300)
    again = EventFacts(id="e3", title="Acme 2", category="theatre", starts_at=OURS.starts_at, organizer_id="acme")
    facts = AchievementFacts(
        participant_id="alice",
        purchases=(
            order(ticket(OURS, "100.00"), ticket(OURS, "100.00"), ticket(THEIRS, "100.00")),
            order(ticket(again, "100.00")),
        ),
        referrals_rewarded=0,
        now=START,
    )
    assert fan.count is not None
    # e1 twice counts once, e2 is the other organizer's: e1 and e3
    assert fan.count(facts) == 2
