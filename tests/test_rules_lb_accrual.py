"""«Live Brighter!» accrual rules: LB-01 .. LB-07 and LB-19, proved on the domain.

Rates from plugins.toml: concert 5 %, theatre 7 %, cinema 3 %, sport 4 %, default 3 %;
validity 90 days after activation; rules version "2021-1".
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import clock, events, ledger, orders, participants
from loyalty.enums import Channel, EntryKind, OrderStatus, WalletStatus
from loyalty.errors import RuleViolation
from loyalty.facts import Credit, OrderFacts, ParticipantFacts
from loyalty.ledger.balances import Balance, BurnForecast
from loyalty.models import Entry, Lot, OrderItem, Participant, Wallet
from loyalty.participants import Identity, JoinRequest
from plugins.builtin.live_brighter import LiveBrighter
from plugins.hookspecs import hookimpl
from plugins.manager import PluginHost
from tests import scenario
from tests.conftest import START
from tests.scenario import PROGRAM, goods, ticket

V1 = "2021-1"
DAYS_90 = timedelta(days=90)
ACCRUAL, SPEND, BURN, REVOKE, WITHHOLD = (
    EntryKind.ACCRUAL,
    EntryKind.SPEND,
    EntryKind.BURN,
    EntryKind.REVOKE,
    EntryKind.WITHHOLD,
)


# ---------------------------------------------------------------- LB-01 joining


async def test_lb01_join_records_rules_acceptance_and_both_consents_apart(catalog):
    for customer, marketing in (("c1", True), ("c2", False)):
        await participants.join(
            catalog,
            scenario.verified(customer),
            JoinRequest(program_id=PROGRAM, accept_rules=True, personal_data_consent=True, marketing_consent=marketing),
            erasure_key=scenario.ERASURE_KEY,
        )
    rows = (
        await Participant.all()
        .order_by("id")
        .values_list("customer_id", "personal_data_consent_at", "marketing_consent", "email", "email_verified")
    )
    assert [tuple(r) for r in rows] == [
        ("c1", START, True, "c1@example.com", True),
        ("c2", START, False, "c2@example.com", True),
    ]
    wallets = (
        await Wallet.all().order_by("id").values_list("program_id", "status", "rules_accepted_at", "rules_version")
    )
    assert [tuple(w) for w in wallets] == [
        (PROGRAM, WalletStatus.ACTIVE, START, V1),
        (PROGRAM, WalletStatus.ACTIVE, START, V1),
    ]


@pytest.mark.parametrize(("accept_rules", "personal_data"), [(False, True), (True, False), (False, False)])
async def test_lb01_join_without_rules_or_personal_data_consent_is_refused(catalog, accept_rules, personal_data):
    await scenario.join(catalog, "other")
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await participants.join(
            catalog,
            scenario.verified("c1"),
            JoinRequest(
                program_id=PROGRAM,
                accept_rules=accept_rules,
                personal_data_consent=personal_data,
                marketing_consent=True,
            ),
            erasure_key=scenario.ERASURE_KEY,
        )
    assert (refused.value.code, refused.value.rule) == ("RULE", "LB-01")
    assert await scenario.snapshot() == before
    assert await Participant.filter(customer_id="c1").count() == 0


async def test_lb01_unverified_participant_earns_nothing_until_a_contact_is_verified(catalog):
    wallet = await scenario.join(catalog, "c1", verified_contact=False)
    assert wallet.status is WalletStatus.PENDING
    await scenario.event("e1", "concert")
    await orders.record_order(
        catalog, scenario.draft("o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e1", "5000"))
    )
    order = await orders.pay_order(catalog, "o1")
    # PENDING wallet: 2 x 5,000 concert would be 500, but nothing accrues
    assert (order.bonus_to_accrue, order.bonus_accrued) == (0, 0)
    assert await Lot.filter(wallet_id=wallet.id).count() == 0
    assert await ledger.balance(wallet.id) == Balance()
    # The token now carries a verified email: the wallet becomes ACTIVE and earns
    await participants.recognise(scenario.verified("c1"), scenario.ERASURE_KEY)
    assert (await Wallet.get(id=wallet.id)).status is WalletStatus.ACTIVE
    paid = await scenario.buy(catalog, "o2", "c1", ticket("t3", "e1", "10000"))
    # 10,000 concert 5 % = 500
    assert paid.bonus_accrued == 500
    assert await ledger.balance(wallet.id) == Balance(pending=500)


async def test_lb01_unverified_contact_in_token_does_not_activate(catalog):
    wallet = await scenario.join(catalog, "c1", verified_contact=False)
    await participants.recognise(
        Identity(customer_id="c1", email="c1@example.com", email_verified=False), scenario.ERASURE_KEY
    )
    assert (await Wallet.get(id=wallet.id)).status is WalletStatus.PENDING


async def test_lb01_customer_who_never_joined_earns_nothing(catalog):
    await scenario.event("e1", "concert")
    order = await scenario.buy(catalog, "o1", "stranger", ticket("t1", "e1", "10000"))
    assert (order.status, order.wallet_id, order.bonus_to_accrue, order.bonus_accrued) == (
        OrderStatus.PAID,
        None,
        0,
        0,
    )
    assert (await Wallet.all().count(), await Lot.all().count(), await Entry.all().count()) == (0, 0, 0)


# ---------------------------------------------------------------- LB-02 rates and base


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("concert", 50),  # 1,000 x 5 % = 50
        ("theatre", 70),  # 1,000 x 7 % = 70
        ("cinema", 30),  # 1,000 x 3 % = 30
        ("sport", 40),  # 1,000 x 4 % = 40
        ("opera", 30),  # no rate of its own: default 3 % = 30
        ("Theatre", 70),  # categories are case-insensitive: 7 % = 70
    ],
)
async def test_lb02_rate_depends_on_event_category(catalog, category, expected):
    wallet = await scenario.join(catalog, "c1")
    starts = await scenario.event("e1", category)
    order = await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "1000.00"))
    assert (order.bonus_to_accrue, order.bonus_accrued) == (expected, expected)
    assert await scenario.entry_rows(wallet.id) == [(ACCRUAL, expected, "LB-02", V1, starts, starts + DAYS_90)]


async def test_lb02_earns_and_spends_only_on_the_website_and_the_app(catalog):
    wallet = await scenario.active_wallet(catalog, "c1", "10000")  # concert 5 % of 10,000 = 500, active
    await scenario.event("gig", "concert")
    for n, channel in enumerate((Channel.BOX_OFFICE, Channel.WIDGET)):
        cart = scenario.draft(None, "c1", ticket(None, "gig", "1000"), channel=channel)
        quote = await orders.quote(catalog, cart)
        assert (quote.max_bonus, quote.reason) == (0, "LB-02")
        spending = scenario.draft(f"s{n}", "c1", ticket(f"s{n}-t", "gig", "1000"), channel=channel, spend=10)
        with pytest.raises(RuleViolation) as refused:
            await orders.record_order(catalog, spending)
        assert refused.value.rule == "LB-02"
        # the order itself is recorded (RF-03 sees every order) and earns nothing
        await orders.record_order(
            catalog, scenario.draft(f"o{n}", "c1", ticket(f"o{n}-t", "gig", "1000"), channel=channel)
        )
        assert (await orders.pay_order(catalog, f"o{n}")).bonus_accrued == 0
    # the app: 5 % of 1,000 = 50; at most 30 % of 1,000 = 300 spendable
    app = scenario.draft("a1", "c1", ticket("a1-t", "gig", "1000"), channel=Channel.APP)
    assert (await orders.quote(catalog, app)).max_bonus == 300
    await orders.record_order(catalog, app)
    assert (await orders.pay_order(catalog, "a1")).bonus_accrued == 50
    assert (await ledger.balance(wallet.id)).active == 500


async def test_lb02_percentage_is_rounded_down_to_whole_bonuses(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "theatre")
    await scenario.event("e2", "concert")
    theatre = await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "999.99"))
    # 999.99 x 7 % = 69.9993 -> 69
    assert theatre.bonus_accrued == 69
    cheap = await scenario.buy(catalog, "o2", "c1", ticket("t2", "e2", "19.99"))
    # 19.99 x 5 % = 0.9995 -> 0: no lot at all
    assert cheap.bonus_accrued == 0
    assert [lot.amount for lot in await scenario.lots(wallet.id)] == [69]


async def test_lb02_base_is_money_paid_for_tickets_without_fees_goods_or_bonuses(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e0", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o0", "c1", ticket("t0", "e0", "20000"))
    # 20,000 x 5 % = 1,000, active at once (the event has started)
    assert await ledger.balance(wallet.id) == Balance(active=1000)
    starts = await scenario.event("e1", "concert")
    draft = scenario.draft(
        "o1",
        "c1",
        ticket("t1", "e1", "5000", fee="400", discount="500"),
        goods("g1", "e1", "1000", fee="100"),
        spend=600,
    )
    recorded = await orders.record_order(catalog, draft)
    # full value: ticket 5,000 - 500 + 400 = 4,900; goods 1,000 + 100 = 1,100; total 6,000
    # 600 bonuses split by value: 600 x 4,900 / 6,000 = 490 on the ticket, 110 on the goods
    # base: 5,000 - 500 discount - 490 bonuses = 4,010 (fee and goods earn nothing); 5 % = 200.5 -> 200
    assert (recorded.total, recorded.bonus_to_accrue) == (Decimal("6000.00"), 200)
    shares = await OrderItem.filter(order_id="o1").order_by("position").values_list("bonus_share", flat=True)
    assert list(shares) == [490, 110]
    paid = await orders.pay_order(catalog, "o1")
    assert (paid.bonus_spent, paid.bonus_accrued) == (600, 200)
    assert (await scenario.entry_rows(wallet.id))[-1] == (ACCRUAL, 200, "LB-02", V1, starts, starts + DAYS_90)
    # 1,000 - 600 spent = 400 active; 200 pending until e1 starts
    assert await ledger.balance(wallet.id) == Balance(active=400, pending=200)


# ---------------------------------------------------------------- LB-03 activation


async def test_lb03_accrual_is_pending_until_the_event_starts_then_active(catalog):
    wallet = await scenario.join(catalog, "c1")
    starts = await scenario.event("e1", "concert", starts_in=timedelta(days=10))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "5000"), ticket("t2", "e1", "5000"))
    # 2 tickets x 5,000, concert 5 %: 10,000 x 5 % = 500, activating at the event's start
    assert await scenario.entry_rows(wallet.id) == [(ACCRUAL, 500, "LB-02", V1, starts, starts + DAYS_90)]
    scenario.until(starts - timedelta(microseconds=1))
    assert await ledger.balance(wallet.id) == Balance(pending=500)
    assert (await ledger.next_burns([wallet.id]))[wallet.id] is None
    scenario.until(starts)
    assert await ledger.balance(wallet.id) == Balance(active=500)
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == BurnForecast(at=starts + DAYS_90, amount=500)


async def test_lb03_order_for_several_events_makes_one_lot_per_event(catalog):
    wallet = await scenario.join(catalog, "c1")
    concert = await scenario.event("e1", "concert", starts_in=timedelta(days=5))
    play = await scenario.event("e2", "theatre", starts_in=timedelta(days=20))
    order = await scenario.buy(
        catalog, "o1", "c1", ticket("t1", "e1", "3000"), ticket("t2", "e1", "3000"), ticket("t3", "e2", "2000")
    )
    # e1: 2 x 3,000 = 6,000 x 5 % = 300; e2: 2,000 x 7 % = 140; 440 in all
    assert order.bonus_accrued == 440
    lots = [(lot.event_id, lot.amount, lot.activates_at, lot.expires_at) for lot in await scenario.lots(wallet.id)]
    assert lots == [("e1", 300, concert, concert + DAYS_90), ("e2", 140, play, play + DAYS_90)]
    assert await ledger.balance(wallet.id) == Balance(pending=440)
    scenario.until(concert)
    assert await ledger.balance(wallet.id) == Balance(active=300, pending=140)
    scenario.until(play)
    assert await ledger.balance(wallet.id) == Balance(active=440)


async def test_lb03_event_already_started_activates_on_payment(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "sport", starts_in=timedelta(hours=-2))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    # sport 4 % of 10,000 = 400; the event started 2 h ago, so active from payment (START)
    assert await scenario.entry_rows(wallet.id) == [(ACCRUAL, 400, "LB-02", V1, START, START + DAYS_90)]
    assert await ledger.balance(wallet.id) == Balance(active=400)


# ---------------------------------------------------------------- LB-04 burning


async def test_lb04_active_bonuses_burn_90_days_after_activation(catalog):
    wallet = await scenario.join(catalog, "c1")
    starts = await scenario.event("e1", "concert", starts_in=timedelta(days=10))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    burns_at = starts + DAYS_90  # 10,000 x 5 % = 500, active from the start for 90 days
    scenario.until(burns_at - timedelta(seconds=1))
    assert await ledger.balance(wallet.id) == Balance(active=500)
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == BurnForecast(at=burns_at, amount=500)
    scenario.until(burns_at)
    # Burned by time even before the burn job writes it
    assert await ledger.balance(wallet.id) == Balance()
    assert (await ledger.next_burns([wallet.id]))[wallet.id] is None
    assert await ledger.burn_expired() == 1
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "at", "rule", "rules_version") == [
        (ACCRUAL, 500, START, "LB-02", V1),
        (BURN, -500, burns_at, "LB-04", V1),
    ]
    assert await ledger.burn_expired() == 0  # idempotent: nothing left to burn
    assert [lot.remaining for lot in await scenario.lots(wallet.id)] == [0]


async def test_lb04_burned_bonuses_never_come_back(catalog):
    wallet = await scenario.join(catalog, "c1")
    starts = await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    scenario.until(starts + DAYS_90)
    assert await ledger.burn_expired() == 1
    clock.advance(timedelta(days=30))
    assert await ledger.balance(wallet.id) == Balance()
    # Returning the purchase now: the 500 burned, nothing is left to cancel or withhold
    refund = await scenario.refund(catalog, "o1", "t1")
    assert (refund.money_refund, refund.bonus_revoked, refund.bonus_withheld, refund.bonus_debt) == (
        Decimal("10000.00"),
        0,
        0,
        0,
    )
    assert await scenario.entry_rows(wallet.id, "kind", "amount") == [(ACCRUAL, 500), (BURN, -500)]
    assert await ledger.balance(wallet.id) == Balance()


class ThirtyDayPromotion:
    """A promotion granting 100 bonuses per order, valid 30 days after activation."""

    @hookimpl
    def accrual_credits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        return [Credit(amount=100, rule="promo-30d", event_id=order.tickets[0].event.id, valid_for=timedelta(days=30))]


async def test_lb04_promotion_that_grants_bonuses_sets_their_validity():
    host = scenario.plugin_host(scenario.enabled("promo_30d", ThirtyDayPromotion()))
    wallet = await scenario.join(host.catalog, "c1")
    starts = await scenario.event("e1", "concert", starts_in=timedelta(days=2))
    order = await scenario.buy(host.catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    # LB-02: 10,000 x 5 % = 500 valid 90 days; the promotion: 100 valid 30 days
    assert order.bonus_accrued == 600
    rows = sorted(await scenario.entry_rows(wallet.id, "amount", "rule", "activates_at", "expires_at"))
    assert rows == [
        (100, "promo-30d", starts, starts + timedelta(days=30)),
        (500, "LB-02", starts, starts + DAYS_90),
    ]
    scenario.until(starts)
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == BurnForecast(at=starts + timedelta(days=30), amount=100)
    scenario.until(starts + timedelta(days=30))
    assert await ledger.balance(wallet.id) == Balance(active=500)


# ---------------------------------------------------------------- LB-05 what the participant sees


async def test_lb05_history_shows_accruals_with_validity_spends_balance_and_next_burn(catalog):
    wallet = await scenario.join(catalog, "c1")
    first = await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))  # 5 % = 500
    scenario.until(first)
    second = await scenario.event("e2", "theatre", starts_in=timedelta(days=30))
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "e2", "2000"), spend=300)
    # o2: cap 30 % of 2,000 = 600 >= 300; base 2,000 - 300 = 1,700 x 7 % = 119
    assert await ledger.balance(wallet.id) == Balance(active=200, pending=119)  # 500 - 300 = 200 active
    assert (await ledger.next_burns([wallet.id]))[wallet.id] == BurnForecast(at=first + DAYS_90, amount=200)
    page = await ledger.history(wallet.id, first=2)
    assert [(e.kind, e.amount, e.order_id, e.activates_at, e.expires_at) for e in page.entries] == [
        (ACCRUAL, 119, "o2", second, second + DAYS_90),
        (SPEND, -300, "o2", None, None),
    ]
    assert page.has_next is True
    rest = await ledger.history(wallet.id, first=2, after=ledger.entry_cursor(page.entries[-1]))
    assert [(e.kind, e.amount, e.order_id, e.activates_at, e.expires_at) for e in rest.entries] == [
        (ACCRUAL, 500, "o1", first, first + DAYS_90),
    ]
    assert rest.has_next is False


async def test_lb05_next_burn_adds_lots_ending_at_the_same_instant(catalog):
    wallet = await scenario.join(catalog, "c1")
    empty = await scenario.join(catalog, "c2")
    starts = await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    await scenario.event("e2", "concert", starts_in=timedelta(days=3))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))  # 500
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "e1", "4000"))  # 200, same event: same instant
    await scenario.buy(catalog, "o3", "c1", ticket("t3", "e2", "2000"))  # 100, two days later
    scenario.until(starts)
    assert await ledger.next_burns([wallet.id, empty.id]) == {
        wallet.id: BurnForecast(at=starts + DAYS_90, amount=700),  # 500 + 200
        empty.id: None,
    }
    assert await ledger.balance(wallet.id) == Balance(active=700, pending=100)


# ---------------------------------------------------------------- LB-06 not in the same order


async def test_lb06_bonuses_accrued_by_an_order_cannot_pay_for_that_order(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e0", "concert", starts_in=timedelta(hours=-1))  # started: accruals active at once
    await scenario.buy(catalog, "o0", "c1", ticket("t0", "e0", "2000"))  # 2,000 x 5 % = 100 active
    # o1 would accrue 10,000 x 5 % = 500 (active at once), cap 3,000: only the 100 held before may pay
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o1", "c1", ticket("t1", "e0", "10000"), spend=101))
    assert refused.value.rule == "LB-08"
    assert await scenario.snapshot() == before
    order = await scenario.buy(catalog, "o1", "c1", ticket("t1", "e0", "10000"), spend=100)
    # base 10,000 - 100 = 9,900 x 5 % = 495, active now; the order still spent only 100
    assert (order.bonus_spent, order.bonus_accrued) == (100, 495)
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "order_id") == [
        (ACCRUAL, 100, "o0"),
        (SPEND, -100, "o1"),
        (ACCRUAL, 495, "o1"),
    ]
    assert await ledger.balance(wallet.id) == Balance(active=495)


# ---------------------------------------------------------------- LB-07 one participant's bonuses


async def test_lb07_bonuses_are_never_spent_from_another_participants_wallet(catalog):
    alice = await scenario.join(catalog, "alice")
    bob = await scenario.join(catalog, "bob")
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "alice", ticket("t1", "e1", "10000"))  # 500 active for alice
    before = await scenario.snapshot()
    with pytest.raises(RuleViolation) as refused:
        await orders.record_order(catalog, scenario.draft("o2", "bob", ticket("t2", "e1", "10000"), spend=100))
    assert refused.value.rule == "LB-08"  # bob has 0 active; alice's 500 are not his
    assert await scenario.snapshot() == before
    await scenario.buy(catalog, "o2", "bob", ticket("t2", "e1", "2000"))  # 2,000 x 5 % = 100 for bob
    await scenario.refund(catalog, "o2", "t2")  # bob's return touches bob's wallet only
    assert await ledger.balance(alice.id) == Balance(active=500)
    assert await ledger.balance(bob.id) == Balance()
    assert await scenario.entry_rows(alice.id, "kind", "amount") == [(ACCRUAL, 500)]
    assert await scenario.entry_rows(bob.id, "kind", "amount") == [(ACCRUAL, 100), (REVOKE, -100)]


async def test_lb07_joining_again_never_makes_a_second_wallet(catalog):
    wallet = await scenario.join(catalog, "alice")
    again = await scenario.join(catalog, "alice")
    assert again.id == wallet.id
    assert await Wallet.filter(participant_id=wallet.participant_id).count() == 1


# ---------------------------------------------------------------- LB-19 rules versions


def published_v2() -> PluginHost:
    """The operator publishes rules "2026-2": concert now earns 10 %."""
    settings = LiveBrighter.Settings(category_rates={"concert": Decimal(10)}, cap_percent=Decimal(30))
    return scenario.plugin_host(scenario.enabled("live_brighter", LiveBrighter(settings)), rules_version="2026-2")


async def test_lb19_every_ledger_entry_records_the_rules_version_that_produced_it(catalog):
    wallet = await scenario.join(catalog, "c1")
    first = await scenario.event("e1", "concert", starts_in=timedelta(days=1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))  # v1: 5 % = 500
    scenario.until(first)
    second = await scenario.event("e2", "concert", starts_in=timedelta(days=10))
    await scenario.buy(catalog, "o2", "c1", ticket("t2", "e2", "2000"), spend=300)  # v1: 1,700 x 5 % = 85
    v2 = published_v2()
    await scenario.buy(v2.catalog, "o3", "c1", ticket("t3", "e2", "10000"))  # v2: 10 % = 1,000
    refund = await scenario.refund(v2.catalog, "o1", "t1")
    # o1's 500 cancelled; 300 of them were spent: withheld from 10,000 -> 9,700
    assert (refund.money_refund, refund.bonus_revoked, refund.bonus_withheld) == (Decimal("9700.00"), 500, 300)
    scenario.until(second + DAYS_90)
    assert await ledger.burn_expired() == 2
    # A BURN keeps the version of the lot that burns
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "rule", "rules_version") == [
        (ACCRUAL, 500, "LB-02", V1),
        (SPEND, -300, "LB-08", V1),
        (ACCRUAL, 85, "LB-02", V1),
        (ACCRUAL, 1000, "LB-02", "2026-2"),
        (REVOKE, -500, "LB-09", "2026-2"),
        (WITHHOLD, 300, "LB-10", "2026-2"),
        (BURN, -85, "LB-04", V1),
        (BURN, -1000, "LB-04", "2026-2"),
    ]
    assert await ledger.balance(wallet.id) == Balance()


async def test_lb19_rules_change_applies_from_its_publication(catalog):
    wallet = await scenario.join(catalog, "c1")
    await scenario.event("e1", "concert")
    before = await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    recorded = await orders.record_order(catalog, scenario.draft("o2", "c1", ticket("t2", "e1", "10000")))
    assert (before.bonus_accrued, recorded.bonus_to_accrue) == (500, 500)  # 5 % under "2021-1"
    v2 = published_v2()
    # Paid after publication: the accrual is made under the new rules, 10 % = 1,000
    paid = await orders.pay_order(v2.catalog, "o2")
    assert paid.bonus_accrued == 1000
    assert await scenario.entry_rows(wallet.id, "kind", "amount", "order_id", "rules_version") == [
        (ACCRUAL, 500, "o1", V1),
        (ACCRUAL, 1000, "o2", "2026-2"),
    ]


async def test_lb03_postponed_event_moves_the_activation_of_its_pending_bonuses(catalog):
    wallet = await scenario.join(catalog, "pat")
    old_start = await scenario.event("gig", "concert", starts_in=timedelta(days=5))
    await scenario.buy(catalog, "o-gig", "pat", scenario.ticket("t1", "gig", "2000.00"))
    # concert 5 % of 2,000 = 100, pending until the event starts
    new_start = old_start + timedelta(days=30)
    await events.upsert(
        events.EventDraft(id="gig", title="gig", category="concert", starts_at=new_start, organizer_id="org-1")
    )
    lot = await Lot.get(wallet_id=wallet.id)
    assert (lot.activates_at, lot.expires_at) == (new_start, new_start + timedelta(days=90))
    clock.advance(timedelta(days=6))  # past the old start, before the new one
    assert (await ledger.balance(wallet.id)).pending == 100
    clock.advance(timedelta(days=30))
    assert (await ledger.balance(wallet.id)).active == 100
    page = await ledger.history(wallet.id, 5)
    assert (page.entries[0].activates_at, page.entries[0].expires_at) == (new_start, new_start + timedelta(days=90))
