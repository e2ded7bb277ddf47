"""«Live Brighter!» participants: LB-15 (personal data), LB-16 (erasure), LB-17 and LB-18 (what plugins add)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from loyalty import erasure, ledger, orders, participants
from loyalty.enums import EntryKind, ParticipantStatus, WalletStatus
from loyalty.errors import BadInput, RuleViolation
from loyalty.facts import Credit, OrderFacts, ParticipantFacts
from loyalty.ledger.balances import Balance
from loyalty.models import Order, Participant, StatusChange, Wallet
from loyalty.money import percent_down
from loyalty.participants import JoinRequest, ProfileChange
from loyalty.programs import Program
from plugins.hookspecs import hookimpl
from tests import scenario
from tests.conftest import START
from tests.scenario import PROGRAM, ticket

DAYS_90 = timedelta(days=90)


async def join_as(catalog, customer: str, *, display_name: str | None = None, marketing: bool = False):
    return await participants.join(
        catalog,
        scenario.verified(customer),
        JoinRequest(
            program_id=PROGRAM,
            accept_rules=True,
            personal_data_consent=True,
            marketing_consent=marketing,
            display_name=display_name,
        ),
        erasure_key=scenario.ERASURE_KEY,
    )


# ---------------------------------------------------------------- LB-15 personal data and marketing


async def test_lb15_participant_edits_personal_data_at_any_time(catalog):
    await join_as(catalog, "c1", display_name="Ann")
    await participants.update_profile(catalog, "c1", ProfileChange(display_name="Anna"))
    await participants.update_profile(catalog, "c1", ProfileChange(birth_date=date(1990, 5, 1), guardian_consent=True))
    stored = await Participant.get(customer_id="c1")
    # Fields left None stay as they were
    assert (stored.display_name, stored.birth_date, stored.guardian_consent) == ("Anna", date(1990, 5, 1), True)


@pytest.mark.parametrize(
    "change",
    [ProfileChange(display_name="x" * 201), ProfileChange(birth_date=START.date() + timedelta(days=1))],
    ids=["name-too-long", "born-tomorrow"],
)
async def test_lb15_bad_profile_change_is_refused_and_changes_nothing(catalog, change):
    await join_as(catalog, "c1", display_name="Ann")
    before = await scenario.snapshot()
    with pytest.raises(BadInput) as refused:
        await participants.update_profile(catalog, "c1", change)
    assert refused.value.code == "BAD_INPUT"
    assert await scenario.snapshot() == before
    assert (await Participant.get(customer_id="c1")).display_name == "Ann"


async def test_lb15_marketing_messages_can_be_turned_off_and_on_at_any_time(catalog):
    await join_as(catalog, "c1", marketing=True)
    assert (await participants.set_marketing_consent("c1", False)).marketing_consent is False
    assert (await Participant.get(customer_id="c1")).marketing_consent is False
    await participants.set_marketing_consent("c1", True)
    assert (await Participant.get(customer_id="c1")).marketing_consent is True


# ---------------------------------------------------------------- LB-16 erasure


async def erased_with_bonuses(catalog) -> tuple[Participant, Wallet]:
    """c1 with 500 active bonuses from order o1, then erased."""
    await join_as(catalog, "c1", display_name="Ann", marketing=True)
    wallet = await participants.wallet_of(await participants.get("c1"), PROGRAM)
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))  # 10,000 x 5 % = 500 active
    return await erasure.erase("c1", scenario.ERASURE_KEY), wallet


async def test_lb16_erasure_removes_personal_data_blocks_the_wallet_and_keeps_the_ledger(catalog):
    await join_as(catalog, "c1", display_name="Ann", marketing=True)
    wallet = await participants.wallet_of(await participants.get("c1"), PROGRAM)
    await scenario.event("e1", "concert", starts_in=timedelta(hours=-1))
    await scenario.buy(catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    ledger_before = await scenario.entry_rows(wallet.id)
    erased = await erasure.erase("c1", scenario.ERASURE_KEY)
    stored = await Participant.get(id=erased.id)
    assert stored.status is ParticipantStatus.ERASED
    assert stored.customer_id.startswith("erased-")
    personal = (stored.display_name, stored.email, stored.phone, stored.birth_date, stored.marketing_consent)
    assert personal == (None, None, None, None, False)
    assert stored.erased_at == START
    assert (await Wallet.get(id=wallet.id)).status is WalletStatus.BLOCKED
    # The ledger stays, under the pseudonym: same entries, the order re-labelled
    assert (
        await scenario.entry_rows(wallet.id)
        == ledger_before
        == [(EntryKind.ACCRUAL, 500, "LB-02", "2021-1", START, START + DAYS_90)]
    )
    assert await Order.filter(customer_id="c1").count() == 0
    assert (await Order.get(id="o1")).customer_id == stored.customer_id
    assert await StatusChange.filter(participant_id=stored.id, action="erase").count() == 1
    # Asking twice returns the same result
    again = await erasure.erase("c1", scenario.ERASURE_KEY)
    assert (again.id, again.customer_id, again.status) == (stored.id, stored.customer_id, ParticipantStatus.ERASED)


async def test_lb16_erased_participant_earns_nothing(catalog):
    _, wallet = await erased_with_bonuses(catalog)
    order = await scenario.buy(catalog, "o2", "c1", ticket("t2", "e1", "10000"))
    assert (order.bonus_to_accrue, order.bonus_accrued) == (0, 0)  # 500 for a living participant
    assert [lot.order_id for lot in await scenario.lots(wallet.id)] == ["o1"]
    # The new order is not tied to the pseudonymous wallet: that would name whose ledger it is
    assert order.wallet_id is None
    assert await Order.filter(wallet_id=wallet.id).values_list("id", "customer_id") == [
        ("o1", (await Participant.get(id=wallet.participant_id)).customer_id)
    ]


async def test_lb16_erased_participant_cannot_spend_and_nothing_changes(catalog):
    erased, wallet = await erased_with_bonuses(catalog)
    # To the ticketing system the former customer id is a customer who has not joined: nothing
    # ties it to the pseudonymous ledger, whose 500 bonuses it neither sees nor spends
    quote = await orders.quote(catalog, scenario.draft("cart", "c1", ticket("t2", "e1", "10000")))
    assert (quote.max_bonus, quote.available, quote.reason) == (0, 0, None)
    # By the pseudonym the ledger's wallet is found, and it is blocked for good
    quote = await orders.quote(catalog, scenario.draft("cart", erased.customer_id, ticket("t2", "e1", "10000")))
    assert (quote.max_bonus, quote.available, quote.reason) == (0, 500, "LB-16")
    before = await scenario.snapshot()
    for customer, rule in (("c1", "LB-01"), (erased.customer_id, "LB-16")):
        with pytest.raises(RuleViolation) as refused:
            await orders.record_order(catalog, scenario.draft("o2", customer, ticket("t2", "e1", "10000"), spend=100))
        assert (refused.value.code, refused.value.rule) == ("RULE", rule)
    assert await scenario.snapshot() == before
    assert await ledger.balance(wallet.id) == Balance(active=500)


async def test_lb16_erasure_is_irreversible(catalog):
    await erased_with_bonuses(catalog)
    before = await scenario.snapshot()
    key = scenario.ERASURE_KEY  # the participant themselves and support find the erased record
    attempts = [
        join_as(catalog, "c1"),
        participants.unblock(catalog, "c1", None, "changed my mind", "admin", erasure_key=key),
        participants.update_profile(catalog, "c1", ProfileChange(display_name="Ann"), key),
        participants.set_marketing_consent("c1", True, key),
    ]
    for attempt in attempts:
        with pytest.raises(RuleViolation) as refused:
            await attempt
        assert refused.value.rule == "LB-16"
    assert await scenario.snapshot() == before


# ---------------------------------------------------------------- LB-17 gamification rewards
# Achievements and their rewards: tests/test_rules_ga.py (GA-01..GA-04, LB-17).


# ---------------------------------------------------------------- LB-18 partners' promotions


class PartnerExtra:
    """A partner's promotion: 2 % more on the money paid for tickets to its own events."""

    def __init__(self, organizer: str) -> None:
        self.organizer = organizer

    @hookimpl
    def accrual_credits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        paid: dict[str, Decimal] = defaultdict(Decimal)
        for item in order.tickets:
            if item.event.organizer_id == self.organizer:
                paid[item.event.id] += item.paid_price
        return [
            Credit(amount=percent_down(base, 2), rule=f"{self.organizer}:plus-2", event_id=event_id)
            for event_id, base in paid.items()
        ]


async def test_lb18_partner_plugin_adds_an_accrual_rule():
    host = scenario.plugin_host(scenario.enabled("partner_extra", PartnerExtra("partner-1")))
    wallet = await scenario.join(host.catalog, "c1")
    theirs = await scenario.event("e1", "concert", organizer="partner-1")
    other = await scenario.event("e2", "theatre", starts_in=timedelta(days=20))
    order = await scenario.buy(host.catalog, "o1", "c1", ticket("t1", "e1", "10000"), ticket("t2", "e2", "2000"))
    # LB-02: e1 10,000 x 5 % = 500, e2 2,000 x 7 % = 140; the partner: e1 10,000 x 2 % = 200
    assert (order.bonus_to_accrue, order.bonus_accrued) == (840, 840)
    lots = sorted((lot.event_id, lot.rule, lot.amount, lot.activates_at) for lot in await scenario.lots(wallet.id))
    assert lots == [
        ("e1", "LB-02", 500, theirs),
        ("e1", "partner-1:plus-2", 200, theirs),
        ("e2", "LB-02", 140, other),
    ]
    # Returning the purchase cancels the partner's bonuses too (LB-09)
    refund = await scenario.refund(host.catalog, "o1", "t2")
    assert refund.bonus_revoked == 840


async def test_lb18_partner_plugin_works_only_in_the_programs_it_is_enabled_for():
    club = Program(
        id="partner-club",
        name="Partner club",
        currency="KZT",
        rules_url="https://example.com/club",
        rules_version="c-1",
    )
    host = scenario.plugin_host(
        scenario.enabled("partner_extra", PartnerExtra("partner-1"), programs=("partner-club",)),
        extra_programs=(club,),
    )
    await scenario.event("e1", "concert", organizer="partner-1")
    lb = await scenario.join(host.catalog, "c1")
    in_lb = await scenario.buy(host.catalog, "o1", "c1", ticket("t1", "e1", "10000"))
    assert in_lb.bonus_accrued == 500  # LB-02 only: 10,000 x 5 %
    club_wallet = await scenario.join(host.catalog, "c1", program="partner-club")
    await orders.record_order(
        host.catalog, scenario.draft("o2", "c1", ticket("t2", "e1", "10000"), program="partner-club")
    )
    in_club = await orders.pay_order(host.catalog, "o2")
    assert in_club.bonus_accrued == 200  # the partner's 2 % only; «Live Brighter!» rates do not apply
    assert await scenario.entry_rows(club_wallet.id, "amount", "rule", "rules_version") == [
        (200, "partner-1:plus-2", "c-1")
    ]
    assert await ledger.balance(lb.id) == Balance(pending=500)
