"""Ticketon's referral program: RF-01 .. RF-11, proved on the domain with hand-worked numbers.

The «Live Brighter!» settings of plugins.toml: friend 500, referrer 200, minimum purchase
3,500 KZT (full value), 20 rewarded referrals a month before review, 3 fraud rejections
exclude, 30 days for a friend to join after paying. The referrer "ref" has one paid
purchase of their own (1,000 at a concert: 50 active). The friend's order is one
4,000 ticket to concert e1 in 10 days: 200 accrued (5 %), pending until e1 starts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import clock, erasure, ledger, orders, participants, referrals
from loyalty.enums import Channel, EntryKind, ReferralStatus
from loyalty.errors import BadInput, Conflict
from loyalty.facts import ReferralTerms, Refusal
from loyalty.ledger.balances import Balance
from loyalty.referrals.codes import ALPHABET, LENGTH
from loyalty.referrals.models import Referral, ReferralCode
from plugins.hookspecs import hookimpl
from tests import scenario
from tests.referrals import buy, code_of, friend_events, of_order, record, referrer

REFERRAL, REVOKE, ACCRUAL = EntryKind.REFERRAL, EntryKind.REVOKE, EntryKind.ACCRUAL
DAYS_90 = timedelta(days=90)


async def referral_rows(wallet_id: int) -> list[tuple[object, ...]]:
    return [
        r for r in await scenario.entry_rows(wallet_id, "kind", "amount", "rule", "order_id") if r[0] is not ACCRUAL
    ]


# ---------------------------------------------------------------- RF-01 codes and links


async def test_rf01_one_random_readable_code_per_participant_and_a_link(catalog):
    await scenario.join(catalog, "a")
    await scenario.join(catalog, "b")
    program = catalog.get(scenario.PROGRAM)
    first = await referrals.standing(program, await participants.get("a"))
    again = await referrals.standing(program, await participants.get("a"))
    other = await referrals.standing(program, await participants.get("b"))
    assert first is not None and again is not None and other is not None
    assert first.code == again.code != other.code
    assert len(first.code) == LENGTH == 12  # 12 symbols x 5 bits = 60 random bits
    assert set(first.code) <= set(ALPHABET) and not set(first.code) & set("0O1I")
    assert first.link == "https://ticketon.kz/r/" + first.code
    assert (first.invited, first.rewarded, first.earned, first.blocked, first.friends) == (0, 0, 0, False, [])
    assert await ReferralCode.all().count() == 2


async def test_rf01_no_standing_where_not_joined_or_the_program_runs_no_referrals(catalog):
    await scenario.join(catalog, "a")
    a = await participants.get("a")
    assert await referrals.standing(catalog.get("mgt-plus"), a) is None  # MGT+ runs no referral program
    await scenario.join(catalog, "m", program="mgt-plus")
    assert await referrals.standing(catalog.get(scenario.PROGRAM), await participants.get("m")) is None


async def test_rf01_landing_is_valid_for_a_code_that_attributes(catalog):
    await scenario.join(catalog, "a")
    code = await code_of(catalog, "a")
    found = await referrals.landing(catalog, code.lower())  # typed in lower case: same code
    assert found == referrals.Landing(valid=True, friend_bonus=500, min_purchase=Decimal(3500), currency="KZT")
    assert await referrals.landing(catalog, "NOSUCHCODE22") == referrals.Landing(valid=False)


async def test_rf01_hook_referral_terms_a_plugin_runs_a_referral_program_with_its_own_numbers(catalog):
    class MgtReferrals:
        @hookimpl
        def referral_terms(self):
            return ReferralTerms(
                link_base="https://mgt.example/r/",
                friend_bonus=300,
                referrer_bonus=100,
                min_purchase=Decimal(1000),
                monthly_threshold=5,
                fraud_limit=2,
                join_window=timedelta(days=7),
            )

    host = scenario.plugin_host(scenario.enabled("mgt_referrals", MgtReferrals(), programs=("mgt-plus",)))
    await scenario.join(host.catalog, "m", program="mgt-plus")
    found = await referrals.standing(host.catalog.get("mgt-plus"), await participants.get("m"))
    assert found is not None and found.link == "https://mgt.example/r/" + found.code
    landing = await referrals.landing(host.catalog, found.code)
    assert (landing.friend_bonus, landing.min_purchase, landing.currency) == (300, Decimal(1000), "RUB")
    assert catalog.get("tkt-ge").rules.referral_terms() is None  # no plugin answers: no referrals


# ---------------------------------------------------------------- RF-02 both sides rewarded at payment


async def test_rf02_friend_500_and_referrer_200_as_referral_entries_at_payment(catalog):
    ref_wallet, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    starts = clock.now() + timedelta(days=10)
    await buy(catalog, "o1", "fr", code)
    referral = await of_order("o1")
    assert (referral.status, referral.referrer_bonus, referral.friend_bonus) == (ReferralStatus.REWARDED, 200, 500)
    # friend: 4,000 x 5 % = 200 accrued + 500 referral, all pending until e1 starts (LB-03, RF-09)
    assert await ledger.balance(friend.id) == Balance(pending=700)
    assert await referral_rows(friend.id) == [(REFERRAL, 500, "RF-02", "o1")]
    # referrer: own 50 active + 200 pending, the entry naming the friend's order
    assert await ledger.balance(ref_wallet.id) == Balance(active=50, pending=200)
    assert await referral_rows(ref_wallet.id) == [(REFERRAL, 200, "RF-02", "o1")]
    lot = (await scenario.lots(ref_wallet.id))[-1]
    assert (lot.activates_at, lot.expires_at) == (starts, starts + DAYS_90)
    standing = await referrals.standing(catalog.get(scenario.PROGRAM), await participants.get("ref"))
    assert standing is not None
    assert (standing.invited, standing.rewarded, standing.earned) == (1, 1, 200)
    assert [(f.status, f.reason) for f in standing.friends] == [(ReferralStatus.REWARDED, None)]


async def test_rf02_friend_who_joins_within_30_days_of_paying_gets_500_then(catalog):
    ref_wallet, code = await referrer(catalog)
    await friend_events(catalog)
    await buy(catalog, "o1", "late", code)  # not joined: the ticketing system reports the order anyway
    assert (await of_order("o1")).status is ReferralStatus.REWARDED
    assert await ledger.balance(ref_wallet.id) == Balance(active=50, pending=200)  # the referrer is paid now
    clock.advance(timedelta(days=29))
    wallet = await scenario.join(catalog, "late")
    # Day 29 of 30: the 500 is credited on joining; e1 started on day 10, so active at once
    assert await ledger.balance(wallet.id) == Balance(active=500)
    assert await referral_rows(wallet.id) == [(REFERRAL, 500, "RF-02", "o1")]
    await scenario.join(catalog, "late")  # joining again pays nothing more
    assert await ledger.balance(wallet.id) == Balance(active=500)


async def test_rf02_friend_who_joins_after_30_days_gets_nothing(catalog):
    _, code = await referrer(catalog)
    await friend_events(catalog)
    await buy(catalog, "o1", "late", code)
    clock.advance(timedelta(days=30, seconds=1))
    wallet = await scenario.join(catalog, "late")
    assert await ledger.balance(wallet.id) == Balance()


async def test_rf02_unverified_friend_gets_500_once_the_wallet_becomes_active(catalog):
    _, code = await referrer(catalog)
    await friend_events(catalog)
    wallet = await scenario.join(catalog, "fr", verified_contact=False)  # PENDING earns nothing (LB-01)
    await buy(catalog, "o1", "fr", code)
    assert await ledger.balance(wallet.id) == Balance()
    await participants.recognise(
        scenario.verified("fr"), scenario.ERASURE_KEY
    )  # the token now carries a verified email
    assert await ledger.balance(wallet.id) == Balance(pending=500)


# ---------------------------------------------------------------- RF-03 new customers only


async def test_rf03_friend_with_an_earlier_paid_order_in_any_channel_gets_nothing(catalog):
    ref_wallet, code = await referrer(catalog)
    await friend_events(catalog)
    # An earlier purchase through a partner's widget, before joining: a customer already
    await orders.record_order(
        catalog, scenario.draft("w1", "fr", scenario.ticket("w1-t", "e1", "1000"), channel=Channel.WIDGET)
    )
    await orders.pay_order(catalog, "w1")
    friend = await scenario.join(catalog, "fr")
    await buy(catalog, "o1", "fr", code)
    referral = await of_order("o1")
    assert (referral.status, referrals.staff_reason(referral)) == (
        ReferralStatus.REJECTED,
        "RF-03: the friend has an earlier paid order",
    )
    assert referrals.public_reason(referral) == "NOT_NEW_CUSTOMER"
    assert await ledger.balance(friend.id) == Balance(pending=200)  # the accrual only
    assert await ledger.balance(ref_wallet.id) == Balance(active=50)


# ---------------------------------------------------------------- RF-04 minimum purchase, full value


async def test_rf04_below_3500_full_value_nobody_gets_referral_bonuses(catalog):
    ref_wallet, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code, "3499.99")
    referral = await of_order("o1")
    assert referrals.public_reason(referral) == "MIN_PURCHASE"
    assert referral.rule == "RF-04" and not referral.fraud
    assert await referral_rows(friend.id) == [] and await referral_rows(ref_wallet.id) == []


async def test_rf04_the_full_value_counts_service_fees(catalog):
    _, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    # 3,000 ticket + 500 service fee = 3,500 full value (LB-08): reaches the minimum
    await buy(catalog, "o1", "fr", code, "3000", fee="500")
    assert (await of_order("o1")).status is ReferralStatus.REWARDED
    # 3,000 x 5 % = 150 accrued (fees earn nothing) + 500 referral
    assert await ledger.balance(friend.id) == Balance(pending=650)


# ---------------------------------------------------------------- RF-05 only the order carrying the code


async def test_rf05_only_the_order_that_carries_the_code_attributes(catalog):
    _, _code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", None)  # the visitor closed the link and came back directly
    assert await Referral.all().count() == 0
    assert await ledger.balance(friend.id) == Balance(pending=200)
    await record(catalog, "o2", "fr", "UNKNOWNCODE2")  # an unknown code attributes nothing, the sale stands
    assert await Referral.all().count() == 0
    assert (await orders.get_order("o2")).referral_code == "UNKNOWNCODE2"


async def test_rf05_attribution_happens_at_recording_and_a_repeat_changes_nothing(catalog):
    _, code = await referrer(catalog)
    await friend_events(catalog)
    await record(catalog, "o1", "fr", code)
    referral = await of_order("o1")
    assert (referral.status, referral.friend_customer_id, referral.referrer_customer_id) == (
        ReferralStatus.PENDING,
        "fr",
        "ref",
    )
    await record(catalog, "o1", "fr", code)
    assert await Referral.all().count() == 1


# ---------------------------------------------------------------- RF-06 the referrer must have bought


async def test_rf06_referrer_without_a_purchase_gets_nothing_the_friend_gets_500(catalog):
    ref_wallet = await scenario.join(catalog, "ref")  # joined, never bought
    code = await code_of(catalog, "ref")
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code)
    referral = await of_order("o1")
    assert (referral.status, referral.rule, referrals.public_reason(referral)) == (
        ReferralStatus.REJECTED,
        "RF-06",
        "REJECTED",
    )
    assert await ledger.balance(friend.id) == Balance(pending=700)  # 200 accrued + 500
    assert await ledger.balance(ref_wallet.id) == Balance()


async def test_rf06_a_wholly_returned_purchase_does_not_count(catalog):
    ref_wallet, code = await referrer(catalog)
    await scenario.refund(catalog, "ref-first", "ref-t0")  # the referrer's only purchase returned
    await friend_events(catalog)
    await scenario.join(catalog, "fr")
    await buy(catalog, "o1", "fr", code)
    assert (await of_order("o1")).rule == "RF-06"
    assert await referral_rows(ref_wallet.id) == [(REVOKE, -50, "LB-09", "ref-first")]


# ---------------------------------------------------------------- RF-07 one referrer, once


async def test_rf07_a_second_referrer_is_rejected_already_referred(catalog):
    first_wallet, first = await referrer(catalog, "ref")
    second_wallet, second = await referrer(catalog, "ref2")
    await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await record(catalog, "o1", "fr", first)
    await record(catalog, "o2", "fr", second)
    rejected = await of_order("o2")
    assert (rejected.status, rejected.rule, referrals.public_reason(rejected)) == (
        ReferralStatus.REJECTED,
        "RF-07",
        "ALREADY_REFERRED",
    )
    await orders.pay_order(catalog, "o2")
    await orders.pay_order(catalog, "o1")  # o2 was paid first: o1 is no first purchase any more (RF-03)
    assert (await of_order("o1")).rule == "RF-03"
    assert await referral_rows(first_wallet.id) == [] and await referral_rows(second_wallet.id) == []
    standing = await referrals.standing(catalog.get(scenario.PROGRAM), await participants.get("ref2"))
    assert standing is not None and [f.reason for f in standing.friends] == ["ALREADY_REFERRED"]


async def test_rf07_a_cancelled_attributed_order_hands_its_attribution_to_the_next_with_the_same_code(catalog):
    _, code = await referrer(catalog)
    await friend_events(catalog)
    await record(catalog, "o1", "fr", code)
    await orders.cancel_order("o1")
    await buy(catalog, "o2", "fr", code)
    referral = await of_order("o2")
    assert referral.status is ReferralStatus.REWARDED and await Referral.all().count() == 1


# ---------------------------------------------------------------- RF-08 fraud and the monthly threshold


async def test_rf08_the_referrer_buying_through_their_own_link_is_rejected(catalog):
    ref_wallet, code = await referrer(catalog)
    await friend_events(catalog)
    await buy(catalog, "o1", "ref", code)
    referral = await of_order("o1")
    assert referrals.staff_reason(referral) == "RF-08: the referrer bought through their own link"
    assert referrals.public_reason(referral) == "REJECTED" and referral.fraud
    assert await ledger.balance(ref_wallet.id) == Balance(active=50, pending=200)  # the accrual only


async def test_rf08_same_fingerprint_as_the_referrer_is_rejected(catalog):
    ref_wallet, code = await referrer(catalog)
    await orders.record_order(
        catalog, replace(scenario.draft("own", "ref", scenario.ticket("own-t", "ref-past", "100")), fingerprint="fp-1")
    )
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code, fingerprint="fp-1")
    referral = await of_order("o1")
    assert referrals.staff_reason(referral) == "RF-08: same device or payment fingerprint as the referrer"
    assert referral.fraud and await ledger.balance(friend.id) == Balance(pending=200)
    assert await referral_rows(ref_wallet.id) == []


async def test_rf08_a_blocked_friend_is_rejected(catalog):
    _, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await participants.block(catalog, "fr", scenario.PROGRAM, "abuse", actor="admin")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code)
    referral = await of_order("o1")
    assert referrals.staff_reason(referral) == "RF-08: the friend is blocked"
    assert await ledger.balance(friend.id) == Balance()


async def test_rf08_hook_referral_refusal_a_partner_plugin_refuses_the_reward(catalog):
    class NoBoxOffice:
        @hookimpl
        def referral_refusal(self, order, referrer, friend):
            if order.channel is Channel.BOX_OFFICE:
                return Refusal("referral", "ACME-2", "box office sales are not referred")
            return None

    host = scenario.plugin_host(scenario.enabled("no_box_office", NoBoxOffice()))
    _, code = await referrer(host.catalog)
    await friend_events(host.catalog)
    await buy(host.catalog, "o1", "fr", code, channel=Channel.BOX_OFFICE)
    assert referrals.staff_reason(await of_order("o1")) == "ACME-2: box office sales are not referred"
    await buy(host.catalog, "o2", "fr2", code)
    assert (await of_order("o2")).status is ReferralStatus.REWARDED


async def test_rf08_past_20_rewarded_this_month_a_referral_waits_for_review(catalog):
    ref_wallet, code = await referrer(catalog)
    await friend_events(catalog)
    for n in range(21):
        await buy(catalog, f"o{n}", f"fr{n}", code)
    statuses = [(await of_order(f"o{n}")).status for n in range(21)]
    assert statuses == [ReferralStatus.REWARDED] * 20 + [ReferralStatus.REVIEW]
    waiting = await of_order("o20")
    assert referrals.staff_reason(waiting) == "RF-08: 20 referrals rewarded this month (threshold 20)"
    assert referrals.public_reason(waiting) == "UNDER_REVIEW"
    # 20 x 200 = 4,000 pending for the referrer; nothing yet for the 21st
    assert await ledger.balance(ref_wallet.id) == Balance(active=50, pending=4000)
    # A new calendar month (2 March -> 1 April) starts a new count
    scenario.until(clock.now().replace(month=4, day=1, hour=0))
    await buy(catalog, "o21", "fr21", code)
    assert (await of_order("o21")).status is ReferralStatus.REWARDED


# ---------------------------------------------------------------- RF-09 returns revoke both; activation and burn


async def test_rf09_returning_the_qualifying_purchase_revokes_both_rewards(catalog):
    ref_wallet, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await scenario.event("now", "concert", starts_in=timedelta(hours=-1))  # started: rewards active at once
    await buy(catalog, "o1", "fr", code, event="now")
    assert await ledger.balance(friend.id) == Balance(active=700)  # 200 accrued + 500
    assert await ledger.balance(ref_wallet.id) == Balance(active=250)  # 50 own + 200
    # The friend spends 300 (30 % of 1,000), the referrer all 250 (cap 30 % of 1,000 = 300)
    await scenario.buy(catalog, "f-spend", "fr", scenario.ticket("fs", "now", "1000"), spend=300)
    await scenario.buy(catalog, "r-spend", "ref", scenario.ticket("rs", "now", "1000"), spend=250)
    refund = await scenario.refund(catalog, "o1", "o1-t1")
    # The friend's refund: 700 revoked (200 LB-09 + 500 RF-09); 300 of them were spent: withheld from 4,000
    assert (refund.money_refund, refund.bonus_revoked, refund.bonus_withheld, refund.bonus_debt) == (
        Decimal("3700.00"),
        700,
        300,
        0,
    )
    assert await referral_rows(friend.id) == [
        (REFERRAL, 500, "RF-02", "o1"),
        (EntryKind.SPEND, -300, "LB-08", "f-spend"),
        (REVOKE, -200, "LB-09", "o1"),
        (REVOKE, -500, "RF-09", "o1"),
        (EntryKind.WITHHOLD, 300, "LB-10", "o1"),
    ]
    # The referrer's wallet: the 200 was spent, no money comes back to them: 200 debt (LB-10)
    assert await referral_rows(ref_wallet.id) == [
        (REFERRAL, 200, "RF-02", "o1"),
        (EntryKind.SPEND, -250, "LB-08", "r-spend"),
        (REVOKE, -200, "RF-09", "o1"),
    ]
    # r-spend earned (1,000 - 250) x 5 % = 37 (37.5 down), active: the event has started
    assert await ledger.balance(ref_wallet.id) == Balance(active=37, debt=200)
    referral = await of_order("o1")
    assert referrals.staff_reason(referral) == "RF-09: the qualifying purchase was returned"
    standing = await referrals.standing(catalog.get(scenario.PROGRAM), await participants.get("ref"))
    assert standing is not None and (standing.rewarded, standing.earned) == (0, 0)
    await scenario.refund(catalog, "f-spend", "fs")  # another order's return revokes no referral


async def test_rf09_referral_bonuses_activate_with_the_event_and_burn_90_days_later(catalog):
    ref_wallet, code = await referrer(catalog)
    await scenario.join(catalog, "fr")
    await friend_events(catalog)
    starts = clock.now() + timedelta(days=10)
    await buy(catalog, "o1", "fr", code)
    scenario.until(starts)
    assert await ledger.balance(ref_wallet.id) == Balance(active=250)
    scenario.until(starts + DAYS_90)
    await ledger.burn_expired()
    # day 100: the own 50 (active from START) and the 200 (active from day 10) have both burned
    assert (await ledger.balance(ref_wallet.id)).active == 0
    burns = [row for row in await scenario.entry_rows(ref_wallet.id, "kind", "amount") if row[0] is EntryKind.BURN]
    assert sorted(burns) == [(EntryKind.BURN, -200), (EntryKind.BURN, -50)]


# ---------------------------------------------------------------- RF-10 exclusion, review, revocation


async def test_rf10_three_fraud_rejections_exclude_the_referrer(catalog):
    _, code = await referrer(catalog)
    await friend_events(catalog)
    await orders.record_order(
        catalog, replace(scenario.draft("own", "ref", scenario.ticket("own-t", "ref-past", "100")), fingerprint="fp")
    )
    for n in range(3):
        await buy(catalog, f"o{n}", f"fr{n}", code, fingerprint="fp")
    standing = await referrals.standing(catalog.get(scenario.PROGRAM), await participants.get("ref"))
    assert standing is not None and standing.blocked
    assert [f.reason for f in standing.friends] == ["REJECTED"] * 3
    await buy(catalog, "o3", "fr3", code)  # the code no longer attributes
    assert await Referral.filter(order_id="o3").count() == 0
    assert await referrals.landing(catalog, code) == referrals.Landing(valid=False)


async def test_rf10_staff_approve_a_review_pays_both_sides_once(catalog):
    ref_wallet, code = await referrer(catalog)
    await friend_events(catalog)
    for n in range(20):
        await buy(catalog, f"o{n}", f"fr{n}", code)
    friend = await scenario.join(catalog, "fr20")
    await buy(catalog, "o20", "fr20", code)
    waiting = await of_order("o20")
    page = await referrals.for_review(None, 10, None)
    assert [r.id for r in page.referrals] == [waiting.id]
    approved = await referrals.decide(catalog, waiting.id, approve=True, note=None)
    assert approved.status is ReferralStatus.REWARDED
    assert await ledger.balance(friend.id) == Balance(pending=700)
    assert await ledger.balance(ref_wallet.id) == Balance(active=50, pending=21 * 200)
    with pytest.raises(Conflict):
        await referrals.decide(catalog, waiting.id, approve=True, note=None)
    assert (await referrals.for_review(None, 10, None)).referrals == []


async def test_rf10_staff_reject_records_rf10_and_the_note(catalog):
    _, code = await referrer(catalog)
    await friend_events(catalog)
    await record(catalog, "o1", "fr", code)
    rejected = await referrals.decide(catalog, (await of_order("o1")).id, approve=False, note="a reseller")
    assert referrals.staff_reason(rejected) == "RF-10: a reseller"
    await orders.pay_order(catalog, "o1")  # decided already: payment pays no referral
    assert (await of_order("o1")).status is ReferralStatus.REJECTED
    await record(catalog, "o2", "fr2", code)
    with pytest.raises(Conflict):  # approving before the order is paid
        await referrals.decide(catalog, (await of_order("o2")).id, approve=True, note=None)


async def test_rf10_staff_revoke_a_rewarded_referral_spent_bonuses_become_debt(catalog):
    ref_wallet, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await scenario.event("now", "concert", starts_in=timedelta(hours=-1))
    await buy(catalog, "o1", "fr", code, event="now")
    await scenario.buy(catalog, "f-spend", "fr", scenario.ticket("fs", "now", "1000"), spend=300)
    referral = await of_order("o1")
    with pytest.raises(BadInput):
        await referrals.revoke(catalog, referral.id, "  ")
    revoked = await referrals.revoke(catalog, referral.id, "the friend is the referrer's second account")
    assert referrals.staff_reason(revoked) == "RF-10: the friend is the referrer's second account"
    # friend: 700 active, 300 spent (the 200 accrual drawn first, then 100 of the 500); f-spend
    # earned (1,000 - 300) x 5 % = 35. The 500 revoked, 100 of it spent: 100 debt (no money back).
    # The referrer's 200 was unspent: revoked whole.
    assert await ledger.balance(friend.id) == Balance(active=35, debt=100)
    assert await ledger.balance(ref_wallet.id) == Balance(active=50)
    with pytest.raises(Conflict):
        await referrals.revoke(catalog, referral.id, "again")
    refund = await scenario.refund(catalog, "o1", "o1-t1")  # revoked already: the return revokes the accrual only
    assert refund.bonus_revoked == 200


# ---------------------------------------------------------------- RF-11 both sides' bonus history


async def test_rf11_the_payout_appears_in_both_sides_bonus_history(catalog):
    ref_wallet, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code)
    mine = (await ledger.history(ref_wallet.id, 1, None)).entries[0]
    theirs = next(e for e in (await ledger.history(friend.id, 5, None)).entries if e.kind is REFERRAL)
    assert (mine.kind, mine.amount, mine.rule, mine.order_id) == (REFERRAL, 200, "RF-02", "o1")
    assert mine.description == "bonuses for a friend's first purchase through your link"
    assert (theirs.amount, theirs.description) == (500, "bonuses for a first purchase through a friend's link")


async def test_lb16_rf01_erasure_takes_the_customer_id_out_of_the_referral_records(catalog):
    _, code = await referrer(catalog)
    await scenario.join(catalog, "fr")
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code)
    await erasure.erase("fr", scenario.ERASURE_KEY)
    await erasure.erase("ref", scenario.ERASURE_KEY)
    referral = await of_order("o1")
    assert referral.friend_customer_id.startswith("erased-") and referral.referrer_customer_id.startswith("erased-")
    assert referral.attributed_friend == referral.friend_customer_id
    assert not await ReferralCode.filter(customer_id="ref").exists()


async def test_rf11_both_sides_are_notified_when_a_referral_pays_out(catalog):
    from loyalty.notifications.models import Notification

    ref_wallet, code = await referrer(catalog)
    friend = await scenario.join(catalog, "fr")
    # Transactional: told even with marketing messages turned off (LB-15 is for marketing).
    await participants.set_marketing_consent("fr", False, scenario.ERASURE_KEY)
    await friend_events(catalog)
    await buy(catalog, "o1", "fr", code)
    referral = await of_order("o1")
    written = {
        n.id: (n.kind, n.participant_id, n.payload["side"], n.payload["bonus"], n.marketing)
        for n in await Notification.all()
    }
    assert written == {
        f"referral:{referral.id}:referrer": ("referral_rewarded", ref_wallet.participant_id, "referrer", 200, False),
        f"referral:{referral.id}:friend": ("referral_rewarded", friend.participant_id, "friend", 500, False),
    }


async def test_rf11_a_friend_paid_on_joining_is_notified_then(catalog):
    from loyalty.notifications.models import Notification

    _, code = await referrer(catalog)
    await friend_events(catalog)
    await buy(catalog, "o1", "late", code)
    referral = await of_order("o1")
    assert [n.id for n in await Notification.all()] == [f"referral:{referral.id}:referrer"]
    clock.advance(timedelta(days=1))
    wallet = await scenario.join(catalog, "late")
    await scenario.join(catalog, "late")  # joining again announces nothing more
    friend_notes = [n for n in await Notification.all() if n.id.endswith(":friend")]
    assert [(n.participant_id, n.payload["bonus"]) for n in friend_notes] == [(wallet.participant_id, 500)]
