"""Property tests of the ledger: a hypothesis state machine against a reference model (DESIGN.md, LB).

The machine drives random sequences of joins, event upserts, orders (recorded, paid,
cancelled), refunds, staff adjustments, burns and clock moves through the domain
functions, and keeps a small reference model of every wallet in plain Python: lots
(amount, remaining, activation, expiry, burned), the holds of unpaid orders, and debt.
After every step it checks the ledger invariants (tests/invariants.py), that every
wallet's balance and next burn equal the model's, and that every order's status does.
Every refused operation must be one the model refuses too, with the same error, and
must leave the database exactly as it was.

The model is written from RULES.md and DESIGN.md, not from loyalty.ledger: rates by
category (LB-02) on the money paid for tickets (nominal - discount - the bonuses spent
on them, shared over the items by full value), one lot per event activating at its
start (LB-03; a rescheduled event's pending lots follow it) for 90 days (LB-04), at
most min(active, 30 % of the order's full value) spent (LB-08), spends taking active
lots soonest-expiring first (oldest first on a tie), the first ticket refund revoking
every accrual of the order that has not burned (by the job or by time), withholding
what of it was already used from the money and owing the rest as debt that later
credits pay first (LB-09, LB-10, LB-20), cancelling giving holds back to their lots.

Referral steps (RF-01..RF-10) follow Ticketon's rules: an order carrying a joined
referrer's code attributes its friend once (RF-07; a self-referral is fraud, RF-08;
three frauds exclude the referrer, RF-10); paying it rewards 500 and 200 as lots that
activate with the order's earliest event (RF-02, RF-09) unless the friend bought before
(RF-03), the full value is below 3,500 (RF-04), or the referrer has no purchase of their
own (RF-06: the friend alone); a friend not joined gets the 500 on joining within 30
days; staff approve, reject or revoke (RF-10: spent rewards become debt); the first
ticket refund of the qualifying order revokes both rewards (RF-09, LB-10 on each side).

Achievement steps (GA-01..GA-04) follow the built-in four of plugins.toml: First ticket
(100, a paid purchase with a ticket not returned), Regular (500, 5 distinct events paid
within 365 days), Ambassador (300, 3 rewarded referrals), Explorer (200, 3 distinct
categories), counted from the model's own orders and referrals of the wallet. Each
unlocks once, only in an ACTIVE wallet, when a payment or a referral payout reaches its
goal; a payment's reward activates with the order's earliest event (a referral's at
once) for 90 days, pays debt first like any credit, and a ticket returned while it is
pending cancels it (GA-03; what it paid off is owed again); what is unlocked stays so.

The domain is async and the test database lives in the session's event loop, while
hypothesis' state machines are synchronous: the machine runs in a worker thread and
hands each coroutine to the loop with `asyncio.run_coroutine_threadsafe`.

Size: LOYALTY_HYPOTHESIS_EXAMPLES (default 60) examples of up to
LOYALTY_HYPOTHESIS_STEPS (default 30) steps; the test prints how many ran.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from loyalty import achievements, adjustments, clock, events, ledger, orders, participants, referrals, refunds
from loyalty.achievements.models import AchievementUnlock
from loyalty.enums import Channel, ItemKind, RefundReason
from loyalty.errors import BadInput, Conflict, DomainError, NotFound, RuleViolation
from loyalty.models import Draw, Entry, Event, Lot, Order, OrderItem, Participant, Refund, StatusChange, Wallet
from loyalty.money import allocate, percent_down
from loyalty.programs import Catalog
from loyalty.referrals.models import Referral
from tests import scenario
from tests.conftest import START, truncate
from tests.invariants import assert_ledger_invariants

T = TypeVar("T")

PROGRAM = "live-brighter"
# plugins.toml, [plugins.live_brighter.settings] and [programs.live-brighter]
RATES = {"concert": 5, "theatre": 7, "cinema": 3, "sport": 4}
DEFAULT_RATE = 3
CAP_PERCENT = 30
VALIDITY = timedelta(days=90)
# [plugins.live_brighter.settings.referrals]
FRIEND_BONUS, REFERRER_BONUS, MIN_PURCHASE = 500, 200, Decimal(3500)
MONTHLY_THRESHOLD, FRAUD_LIMIT, JOIN_WINDOW = 20, 3, timedelta(days=30)
FRIENDS = ["c0", "c1", "c2", "f0", "f1"]  # f0, f1 have not joined (RF-02 Decision)
# [plugins.achievements.settings]: (id, what it counts, goal, window in days, reward), GA-04
ACHIEVEMENTS = (
    ("first-ticket", "purchases", 1, None, 100),
    ("regular", "events", 5, 365, 500),
    ("ambassador", "referrals", 3, None, 300),
    ("explorer", "categories", 3, None, 200),
)

EXAMPLES = int(os.environ.get("LOYALTY_HYPOTHESIS_EXAMPLES", "60"))
STEPS = int(os.environ.get("LOYALTY_HYPOTHESIS_STEPS", "30"))

CUSTOMERS = ["c0", "c1", "c2"]
EVENT_IDS = ["e0", "e1", "e2", "e3"]
CATEGORIES = ["concert", "theatre", "cinema", "sport", "opera", " Theatre "]
CREATED, PAID, CANCELLED = "CREATED", "PAID", "CANCELLED"
PARTIAL, REFUNDED = "PARTIALLY_REFUNDED", "REFUNDED"


# ---------------------------------------------------------------------------
# The reference model
# ---------------------------------------------------------------------------


def floor_percent(base: Decimal | Fraction | int, percent: int) -> int:
    """`percent` % of `base`, rounded down to a whole bonus; 0 for a base of 0 or less."""
    exact = Fraction(base) * percent / 100
    return max(0, exact.numerator // exact.denominator)


def split(total: int, weights: list[Decimal]) -> list[int]:
    """Share `total` over `weights` by largest remainder, ties to the earlier weight."""
    whole = sum((Fraction(w) for w in weights), Fraction(0))
    if total == 0 or whole == 0:
        return [total if n == 0 else 0 for n in range(len(weights))]
    exact = [Fraction(w) * total / whole for w in weights]
    parts = [e.numerator // e.denominator for e in exact]
    for n in sorted(range(len(weights)), key=lambda n: (parts[n] - exact[n], n))[: total - sum(parts)]:
        parts[n] += 1
    return parts


@dataclass(frozen=True)
class Refusal:
    """What the model expects a refused operation to raise."""

    kind: type[DomainError]
    rule: str | None = None

    def matches(self, error: DomainError) -> bool:
        if type(error) is not self.kind:
            return False
        return self.rule is None or getattr(error, "rule", None) == self.rule


@dataclass
class MLot:
    seq: int
    customer: str
    order_id: str | None
    amount: int
    remaining: int
    activates: datetime
    expires: datetime
    event: str | None = None
    burned: int = 0
    referral: bool = False  # a REFERRAL lot (RF-02); the others are accruals, gifts, adjustments
    achievement: bool = False  # an ACHIEVEMENT lot (GA-02)

    def active(self, now: datetime) -> bool:
        return self.activates <= now < self.expires


@dataclass
class MWallet:
    customer: str
    db_id: int
    active: bool  # ACTIVE; False: PENDING (no verified contact yet)
    debt: int = 0


@dataclass
class MItem:
    id: str
    event: str
    ticket: bool
    nominal: Decimal
    fee: Decimal
    discount: Decimal
    share: int = 0
    refunded: bool = False

    @property
    def value(self) -> Decimal:
        """Full value (LB-08): nominal - discount + fee."""
        return self.nominal - self.discount + self.fee

    @property
    def paid(self) -> Decimal:
        """Money paid for the item itself (LB-02, LB-20): fees excluded, bonuses spent on it deducted."""
        return max(Decimal("0.00"), self.nominal - self.discount - self.share)


@dataclass
class MOrder:
    id: str
    customer: str
    items: list[MItem]
    spend: int
    status: str = CREATED
    wallet: str | None = None
    holds: list[tuple[MLot, int]] = field(default_factory=list)
    revoked: bool = False
    keys: dict[str, int] = field(default_factory=dict)
    debt: int = 0  # what the purchase still owes after its accruals were revoked (LB-10)
    paid_at: datetime | None = None


@dataclass
class MReferral:
    order_id: str
    referrer: str
    friend: str
    attributed: bool
    status: str = "PENDING"
    rule: str | None = None
    fraud: bool = False
    referrer_paid: bool = False
    friend_paid: bool = False
    friend_due_until: datetime | None = None
    rewarded_at: datetime | None = None
    revoked: bool = False


@dataclass(frozen=True)
class RefundOutcome:
    money: Decimal
    revoked: int
    withheld: int
    debt: int


class Model:
    """A wallet ledger as RULES.md states it, in plain Python, with no database."""

    def __init__(self, now: datetime, seen: Counter[str] | None = None) -> None:
        self.now = now
        self.seen: Counter[str] = Counter() if seen is None else seen  # which paths the run went through
        self.events: dict[str, tuple[str, datetime]] = {}
        self.wallets: dict[str, MWallet] = {}
        self.lots: list[MLot] = []
        self.orders: dict[str, MOrder] = {}
        self.referrals: dict[str, MReferral] = {}
        self.excluded: set[str] = set()  # referrers whose code no longer attributes (RF-10)
        self.unlocked: dict[str, set[str]] = {}  # each customer's achievements, unlocked once (GA-02)

    # -- reading --------------------------------------------------------------

    def rate(self, event_id: str) -> int:
        return RATES.get(self.events[event_id][0], DEFAULT_RATE)

    def lots_of(self, customer: str) -> list[MLot]:
        return [lot for lot in self.lots if lot.customer == customer]

    def spendable(self, customer: str) -> list[MLot]:
        """Active lots with bonuses left, in the order a spend takes them."""
        found = [lot for lot in self.lots_of(customer) if lot.remaining > 0 and lot.active(self.now)]
        return sorted(found, key=lambda lot: (lot.expires, lot.seq))

    def active(self, customer: str) -> int:
        return sum(lot.remaining for lot in self.spendable(customer))

    def may_spend(self, customer: str) -> int:
        """LB-10: while a debt lasts, the active bonuses less the debt."""
        return max(self.active(customer) - self.wallets[customer].debt, 0)

    def balance(self, customer: str) -> ledger.Balance:
        lots = self.lots_of(customer)
        held = sum(
            take
            for order in self.orders.values()
            if order.status == CREATED and order.wallet == customer
            for _, take in order.holds
        )
        return ledger.Balance(
            active=self.active(customer),
            pending=sum(lot.remaining for lot in lots if lot.remaining > 0 and lot.activates > self.now),
            held=held,
            debt=self.wallets[customer].debt,
        )

    def next_burn(self, customer: str) -> tuple[datetime, int] | None:
        lots = self.spendable(customer)
        if not lots:
            return None
        first = min(lot.expires for lot in lots)
        return first, sum(lot.remaining for lot in lots if lot.expires == first)

    def used_accruals(self, order: MOrder) -> int:
        """How much of the order's accruals left their lots (spent, held, paid debt off)."""
        return sum(
            lot.amount - lot.remaining - lot.burned
            for lot in self.lots
            if lot.order_id == order.id and not lot.achievement
        )

    def spend_limit(self, customer: str, total: Decimal) -> tuple[int, int]:
        """(most bonusToSpend accepted, active balance) for an order of this full value."""
        wallet = self.wallets.get(customer)
        if wallet is None:
            return 0, 0
        available = self.may_spend(customer)
        if not wallet.active:
            return 0, available
        return min(available, floor_percent(total, CAP_PERCENT)), available

    # -- writing --------------------------------------------------------------

    def credit(
        self,
        customer: str,
        amount: int,
        activates: datetime,
        expires: datetime,
        order_id: str | None = None,
        event: str | None = None,
        referral: bool = False,
        achievement: bool = False,
    ) -> None:
        wallet = self.wallets[customer]
        paid_off = min(wallet.debt, amount)  # LB-10: debt is paid off first
        wallet.debt -= paid_off
        if paid_off:
            self.seen["model: a credit paid off debt"] += 1
        self.lots.append(
            MLot(
                len(self.lots),
                customer,
                order_id,
                amount,
                amount - paid_off,
                activates,
                expires,
                event,
                0,
                referral,
                achievement,
            )
        )

    def draw(self, customer: str, amount: int) -> list[tuple[MLot, int]]:
        taken = []
        for lot in self.spendable(customer):
            if amount == 0:
                break
            take = min(amount, lot.remaining)
            lot.remaining -= take
            amount -= take
            taken.append((lot, take))
            if lot.order_id is not None:
                self.seen["model: a spend took accrued bonuses"] += 1
        assert amount == 0, "the model drew more than the active balance"
        if len(taken) > 1:
            self.seen["model: a spend took several lots"] += 1
        return taken

    def accrue(self, order: MOrder) -> int:
        """LB-02, LB-03: per event, its category's rate of the money paid for its tickets."""
        assert order.wallet is not None
        bases: dict[str, Decimal] = {}
        for item in order.items:
            if item.ticket:
                bases[item.event] = bases.get(item.event, Decimal(0)) + item.paid
        accrued = 0
        for event_id, base in bases.items():
            amount = floor_percent(base, self.rate(event_id))
            if amount > 0:
                activates = max(self.events[event_id][1], self.now)
                self.seen["model: accrual pending" if activates > self.now else "model: accrual active at once"] += 1
                self.credit(order.wallet, amount, activates, activates + VALIDITY, order.id, event_id)
                accrued += amount
        return accrued

    def revoke(self, customer: str, lots: list[MLot]) -> tuple[int, int]:
        """Revoke what `lots` still hold and what of them was used, less what burned (LB-09,
        LB-04: by the burn job, or by time alone, what an expired lot still holds burned at
        its expiry and is left there for the job). Returns (revoked, used)."""
        live = [lot for lot in lots if self.now < lot.expires]
        gone = sum(lot.burned for lot in lots) + sum(lot.remaining for lot in lots if lot not in live)
        revoked = sum(lot.amount for lot in lots) - gone
        spent = revoked - sum(lot.remaining for lot in live)
        for lot in live:
            lot.remaining = 0
        if gone:
            self.seen["model: refund of an order whose accrual burned"] += 1
        return revoked, spent

    def refund(self, order: MOrder, returned: list[MItem]) -> RefundOutcome:
        money = sum((item.paid for item in returned), Decimal("0.00"))
        revoked = withheld = owed = 0
        ticket = any(item.ticket for item in returned)
        referral = self.referrals.get(order.id)
        reverse = ticket and referral is not None and not referral.revoked  # RF-09, once
        accruals = ticket and not order.revoked
        holder = order.wallet
        if holder is None and reverse and order.customer in self.wallets:
            holder = order.customer  # a friend who joined after paying holds the referral bonus
        if (accruals or reverse) and holder is not None:
            lots = [
                lot
                for lot in self.lots_of(holder)
                if lot.order_id == order.id and not lot.achievement and (reverse if lot.referral else accruals)
            ]
            if accruals and order.wallet is not None:
                order.revoked = True
            revoked, spent = self.revoke(holder, lots)
            withheld = min(spent, int(money))  # LB-10
            owed = spent - withheld
            self.seen["model: refund revoked accruals"] += 1
            if withheld:
                self.seen["model: refund withheld spent bonuses"] += 1
            if owed:
                self.seen["model: refund left a debt"] += 1
            self.wallets[holder].debt += owed
            order.debt += owed
        elif order.debt and order.wallet is not None:
            # LB-10: a later refund of the purchase withholds what it still owes, never
            # more than the wallet still owes (credits may have paid part of it off).
            wallet = self.wallets[order.wallet]
            withheld = min(order.debt, wallet.debt, int(money))
            order.debt -= withheld
            wallet.debt -= withheld
            if withheld:
                self.seen["model: a later refund withheld the purchase's debt"] += 1
        if reverse:
            assert referral is not None
            self.seen["model: a return revoked a referral (RF-09)"] += 1
            self.close(referral, "RF-09", fraud=False)
        if ticket and order.wallet is not None:
            # GA-03: the rewards this purchase unlocked, cancelled while they wait for its event
            pending = [
                lot
                for lot in self.lots_of(order.wallet)
                if lot.achievement and lot.order_id == order.id and lot.activates > self.now
            ]
            if pending:
                _, spent = self.revoke(order.wallet, pending)
                self.wallets[order.wallet].debt += spent  # what it paid off is owed again (LB-10)
                self.seen["model: a return cancelled a pending achievement reward (GA-03)"] += 1
        for item in returned:
            item.refunded = True
        order.status = REFUNDED if all(item.refunded for item in order.items) else PARTIAL
        return RefundOutcome(money - withheld, revoked, withheld, owed)

    # -- referrals (RF) -------------------------------------------------------

    def reject(self, referral: MReferral, rule: str, *, fraud: bool, keep_friend: bool = False) -> None:
        referral.status, referral.rule, referral.fraud = "REJECTED", rule, fraud
        if not keep_friend:
            referral.friend_due_until = None
        self.seen[f"model: referral rejected {rule}"] += 1
        if fraud:
            frauds = sum(1 for r in self.referrals.values() if r.referrer == referral.referrer and r.fraud)
            if frauds >= FRAUD_LIMIT and referral.referrer not in self.excluded:
                self.excluded.add(referral.referrer)
                self.seen["model: a referrer excluded (RF-10)"] += 1

    def attribute(self, order: MOrder, referrer: str) -> None:
        """RF-05, RF-07, RF-08: the order's code names its referrer; a friend once."""
        friend = order.customer
        if referrer in self.excluded:
            self.seen["model: an excluded code attributed nothing"] += 1
            return
        if referrer == friend:
            self.referrals[order.id] = MReferral(order.id, referrer, friend, attributed=False)
            self.reject(self.referrals[order.id], "RF-08", fraud=True)
            return
        holder = next((r for r in self.referrals.values() if r.attributed and r.friend == friend), None)
        if holder is None:
            self.referrals[order.id] = MReferral(order.id, referrer, friend, attributed=True)
            self.seen["model: a friend attributed"] += 1
        elif (
            holder.status == "PENDING"
            and holder.referrer == referrer
            and self.orders[holder.order_id].status == CANCELLED
        ):
            del self.referrals[holder.order_id]
            holder.order_id = order.id
            self.referrals[order.id] = holder
            self.seen["model: attribution moved from a cancelled order"] += 1
        else:
            self.referrals[order.id] = MReferral(order.id, referrer, friend, attributed=False)
            self.reject(self.referrals[order.id], "RF-07", fraud=False)

    def window(self, order: MOrder) -> tuple[datetime, datetime, str]:
        """The rewards activate with the order's earliest event (at once if started), for 90 days."""
        starts, event_id = min((self.events[item.event][1], item.event) for item in order.items)
        activates = max(starts, self.now)
        return activates, activates + VALIDITY, event_id

    def pay_out(self, referral: MReferral, order: MOrder, *, referrer: bool) -> None:
        activates, expires, event_id = self.window(order)
        if referrer:
            self.credit(referral.referrer, REFERRER_BONUS, activates, expires, order.id, event_id, referral=True)
            referral.status, referral.referrer_paid, referral.rewarded_at = "REWARDED", True, self.now
            self.seen["model: a referral rewarded"] += 1
        friend = self.wallets.get(referral.friend)
        if friend is not None and friend.active:
            self.credit(referral.friend, FRIEND_BONUS, activates, expires, order.id, event_id, referral=True)
            referral.friend_paid = True
        else:
            referral.friend_due_until = self.now + JOIN_WINDOW
            self.seen["model: a friend's bonus waits for joining"] += 1
        if referrer:
            self.unlock(referral.referrer, None)  # Ambassador: active at once

    # -- achievements (GA) ----------------------------------------------------

    def achievement_count(self, customer: str, counts: str, window_days: int | None) -> int:
        """GA-02: the count from the facts: paid, unreturned tickets of the wallet's orders, or
        its rewarded referrals; within the window by when paid or rewarded."""
        since = self.now - timedelta(days=window_days) if window_days else None
        if counts == "referrals":
            return sum(
                1
                for r in self.referrals.values()
                if r.referrer == customer
                and r.status == "REWARDED"
                and (since is None or (r.rewarded_at is not None and r.rewarded_at >= since))
            )
        held = [
            (order, item)
            for order in self.orders.values()
            if order.wallet == customer
            and order.status in (PAID, PARTIAL)
            and (since is None or (order.paid_at is not None and order.paid_at >= since))
            for item in order.items
            if item.ticket and not item.refunded
        ]
        if counts == "purchases":
            return len({order.id for order, _ in held})
        if counts == "events":
            return len({item.event for _, item in held})
        return len({self.events[item.event][0] for _, item in held})

    def unlock(self, customer: str, order: MOrder | None) -> None:
        """GA-02: what the facts now reach unlocks once, in an ACTIVE wallet; a payment's reward
        waits for the order's earliest event (GA-03), a referral's is active at once."""
        wallet = self.wallets.get(customer)
        if wallet is None or not wallet.active:
            return
        done = self.unlocked.setdefault(customer, set())
        for achievement_id, counts, goal, window_days, reward in ACHIEVEMENTS:
            if achievement_id in done or self.achievement_count(customer, counts, window_days) < goal:
                continue
            done.add(achievement_id)
            if order is not None and counts != "referrals":
                activates, expires, event_id = self.window(order)
                self.credit(customer, reward, activates, expires, order.id, event_id, achievement=True)
            else:
                self.credit(customer, reward, self.now, self.now + VALIDITY, achievement=True)
            self.seen[f"model: {achievement_id} unlocked"] += 1

    def achievements(self, customer: str) -> dict[str, tuple[int, bool]]:
        """What the participant sees: each achievement's (progress, unlocked)."""
        done = self.unlocked.get(customer, set())
        return {
            achievement_id: (goal, True)
            if achievement_id in done
            else (min(self.achievement_count(customer, counts, window_days), goal), False)
            for achievement_id, counts, goal, window_days, _ in ACHIEVEMENTS
        }

    def qualify(self, order: MOrder) -> None:
        """RF-02..RF-08 when the attributed order is paid."""
        referral = self.referrals.get(order.id)
        if referral is None or referral.status != "PENDING":
            return
        earlier = any(
            o.id != order.id and o.customer == order.customer and o.status in (PAID, PARTIAL, REFUNDED)
            for o in self.orders.values()
        )
        if earlier:
            self.reject(referral, "RF-03", fraud=False)
        elif sum((item.value for item in order.items), Decimal(0)) < MIN_PURCHASE:
            self.reject(referral, "RF-04", fraud=False)
        elif referral.friend in self.excluded:
            self.reject(referral, "RF-08", fraud=True)
        elif not any(o.customer == referral.referrer and o.status in (PAID, PARTIAL) for o in self.orders.values()):
            self.pay_out(referral, order, referrer=False)
            self.reject(referral, "RF-06", fraud=False, keep_friend=True)
        elif not self.wallets[referral.referrer].active:
            self.pay_out(referral, order, referrer=False)
            self.reject(referral, "RF-10", fraud=False, keep_friend=True)
        elif (
            sum(
                1
                for r in self.referrals.values()
                if r.referrer == referral.referrer
                and r.status == "REWARDED"
                and r.rewarded_at is not None
                and r.rewarded_at >= self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            )
            >= MONTHLY_THRESHOLD
        ):
            referral.status, referral.rule = "REVIEW", "RF-08"
        else:
            self.pay_out(referral, order, referrer=True)

    def settle(self, customer: str) -> None:
        """RF-02 Decision: a friend who paid before joining gets the 500 once the wallet is ACTIVE."""
        wallet = self.wallets.get(customer)
        if wallet is None or not wallet.active:
            return
        for referral in self.referrals.values():
            due = referral.friend_due_until
            if referral.friend == customer and not referral.friend_paid and due is not None and due > self.now:
                activates, expires, event_id = self.window(self.orders[referral.order_id])
                self.credit(customer, FRIEND_BONUS, activates, expires, referral.order_id, event_id, referral=True)
                referral.friend_paid, referral.friend_due_until = True, None
                self.seen["model: a friend joined later and got the bonus"] += 1

    def close(self, referral: MReferral, rule: str, *, fraud: bool) -> None:
        """Revoke the referrer's reward (what they used becomes debt) and close the referral."""
        if referral.referrer_paid:
            lots = [
                lot for lot in self.lots_of(referral.referrer) if lot.referral and lot.order_id == referral.order_id
            ]
            _, spent = self.revoke(referral.referrer, lots)
            self.wallets[referral.referrer].debt += spent
            if spent:
                self.seen["model: a revoked referrer owes debt"] += 1
        referral.revoked = True
        referral.friend_due_until = None
        if referral.status != "REJECTED":
            referral.status, referral.rule, referral.fraud = "REJECTED", rule, fraud

    def upsert_event(self, event_id: str, category: str, starts: datetime) -> None:
        """LB-03: a rescheduled event's bonuses still pending activate at its new start
        (never before now), keeping their length of validity (LB-04); active ones stay."""
        self.events[event_id] = (category.strip().lower(), starts)
        for lot in self.lots:
            if lot.event == event_id and lot.activates > self.now and lot.activates != starts:
                moved = max(starts, self.now)
                lot.expires += moved - lot.activates
                lot.activates = moved
                self.seen["model: a rescheduled event moved pending bonuses"] += 1

    def burn(self) -> int:
        burned = 0
        for lot in self.lots:
            if lot.expires <= self.now and lot.remaining > 0:
                lot.burned += lot.remaining
                self.seen["model: lot burned"] += 1
                lot.remaining = 0
                burned += 1
        return burned


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def item_specs(draw: st.DrawFn) -> tuple[int, bool, Decimal, Decimal, Decimal]:
    """(which known event, ticket or goods, nominal, fee, discount)."""
    nominal = draw(
        st.one_of(
            cents(100_00, 30_000_00),
            st.integers(1, 30_000).map(Decimal),
            cents(1, 2_000_00),
            cents(1, 50_00),
            st.just(Decimal("0.00")),
        )
    )
    discount_percent = draw(st.one_of(st.sampled_from([0, 0, 10, 100]), st.integers(0, 100)))
    discount = (nominal * discount_percent / 100).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    fee = draw(st.one_of(st.just(Decimal("0.00")), cents(0, 1_500_00)))
    ticket = draw(st.booleans().map(lambda goods: not goods) | st.just(True))
    return draw(st.integers(0, 3)), ticket, nominal, fee, discount


ITEMS = st.lists(item_specs(), min_size=1, max_size=4)
# How bonusToSpend relates to the quoted max: ("max"), ("none"), ("over", n), ("part", %), ("abs", n).
# The richer choice comes first throughout: hypothesis leans towards the first.
SPEND = st.one_of(
    st.just(("max", 0)),
    st.just(("none", 0)),
    st.tuples(st.just("over"), st.integers(1, 500)),
    st.tuples(st.just("part"), st.integers(0, 100)),
    st.tuples(st.just("abs"), st.integers(1, 3000)),
)
CONTACTS = st.sampled_from(["email", "phone", "unverified", "none"])
CLOCK_MOVES = st.one_of(
    st.integers(1, 48).map(lambda h: timedelta(hours=h)),
    st.integers(1, 120 * 24).map(lambda h: timedelta(hours=h)),
    st.sampled_from([1, 7, 30, 89, 90, 91, 120]).map(lambda d: timedelta(days=d)),
)
KEYS = st.sampled_from([None, None, "k0", "k1"])
# Which order an operation is for: mostly one in the state it applies to, sometimes any, or an unknown id.
WHICH = st.sampled_from(["fresh", "fresh", "any", "unknown"])
# Whom an operation is for: mostly a customer who joined, sometimes anyone, or a stranger.
WHO = st.sampled_from(["joined", "joined", "joined", "any", "stranger"])
REASONS = st.sampled_from(list(RefundReason))
# A staff credit's validity: the program's 90 days, or shorter or longer ones.
DAYS = st.one_of(st.none(), st.integers(1, 120), st.integers(91, 400))


def identity(customer: str, contacts: str) -> participants.Identity:
    if contacts == "email":
        return participants.Identity(customer, email=f"{customer}@example.com", email_verified=True)
    if contacts == "phone":
        return participants.Identity(customer, phone="+77010000000", phone_verified=True)
    if contacts == "unverified":
        return participants.Identity(customer, email=f"{customer}@example.com", email_verified=False)
    return participants.Identity(customer)


# ---------------------------------------------------------------------------
# Database snapshots and checks (run on the session's event loop)
# ---------------------------------------------------------------------------


async def snapshot() -> tuple[Any, ...]:
    """Everything a refused operation must leave as it was."""
    counts = [
        await model.all().count()
        for model in (
            Participant,
            Wallet,
            Lot,
            Entry,
            Draw,
            Order,
            OrderItem,
            Refund,
            Event,
            StatusChange,
            AchievementUnlock,
        )
    ]
    return (
        counts,
        await Lot.all().order_by("id").values_list("id", "remaining", "activates_at", "expires_at"),
        await Wallet.all().order_by("id").values_list("id", "status", "debt"),
        await Order.all()
        .order_by("id")
        .values_list("id", "status", "wallet_id", "bonus_spent", "bonus_accrued", "accruals_revoked"),
        await OrderItem.all().order_by("id").values_list("id", "refund_id"),
        await Draw.all().order_by("id").values_list("id", "lot_id", "amount", "entry_id"),
        await Participant.all().order_by("id").values_list("id", "email", "email_verified", "phone_verified"),
    )


async def observe(wallet_ids: list[int]) -> tuple[dict[int, ledger.Balance], dict[int, Any], dict[str, str]]:
    await assert_ledger_invariants()
    statuses = {row[0]: str(row[1]) for row in await Order.all().values_list("id", "status")}
    return await ledger.balances(wallet_ids), await ledger.next_burns(wallet_ids), statuses


async def referral_states() -> dict[str, tuple[str, str | None]]:
    """Each referral's (status, rule), by the order that made it."""
    return {row[0]: (str(row[1]), row[2]) for row in await Referral.all().values_list("order_id", "status", "rule")}


async def achievement_states(catalog: Catalog, customers: list[str]) -> dict[str, dict[str, tuple[int, bool]]]:
    """Each customer's achievements as they see them (GA-02): (progress, unlocked) by id."""
    program = catalog.get(PROGRAM)
    found = {}
    for customer in customers:
        seen = await achievements.standing(program, await participants.get(customer))
        found[customer] = {a.id: (a.progress, a.unlocked_at is not None) for a in seen}
    return found


async def referral_id(order_id: str) -> int:
    return (await Referral.get(order_id=order_id)).id


async def code_of(customer: str, catalog: Catalog) -> str:
    found = await referrals.standing(catalog.get(PROGRAM), await participants.get(customer))
    assert found is not None
    return found.code


# ---------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    catalog: ClassVar[Catalog]
    stats: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.call(truncate())
        clock.freeze(START)
        self.model = Model(START, self.stats)
        self.next_order = 0
        self.coded: dict[str, str] = {}  # the referral code each order carried
        self.stats["examples"] += 1

    # -- plumbing ---------------------------------------------------------------

    def call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    def attempt(
        self, name: str, action: Callable[[], Awaitable[T]], refusal: Refusal | None, *, noop: bool = False
    ) -> T | None:
        """Run one operation; a refusal must be the model's and change nothing, as must a no-op."""
        self.stats["steps"] += 1
        before = self.call(snapshot()) if refusal is not None or noop else None
        try:
            result = self.call(action())
        except DomainError as error:
            assert refusal is not None, f"{name}: refused with {error!r}, the model accepts it"
            assert refusal.matches(error), f"{name}: refused with {error!r}, the model expects {refusal}"
            assert self.call(snapshot()) == before, f"{name}: refused ({error!r}) but the database changed"
            self.stats[f"{name} refused {type(error).__name__} {getattr(error, 'rule', '')}".rstrip()] += 1
            return None
        assert refusal is None, f"{name}: accepted, the model expects {refusal}"
        if noop:
            assert self.call(snapshot()) == before, f"{name}: a repeat changed the database"
            self.stats[name if name == "quote" else f"{name} repeat"] += 1
        else:
            self.stats[name] += 1
        return result

    def customer(self, data: st.DataObject, who: str) -> str:
        joined = sorted(self.model.wallets)
        if who == "stranger" or (who == "joined" and not joined):
            return "stranger"
        return data.draw(st.sampled_from(joined if who == "joined" else CUSTOMERS), label="customer")

    def pick(self, data: st.DataObject, statuses: tuple[str, ...] | None) -> MOrder:
        candidates = [o for o in self.model.orders.values() if statuses is None or o.status in statuses]
        if not candidates:
            candidates = list(self.model.orders.values())
        return self.model.orders[data.draw(st.sampled_from([o.id for o in candidates]), label="order")]

    # -- setting up ---------------------------------------------------------------

    @initialize(
        event_id=st.sampled_from(EVENT_IDS),
        category=st.sampled_from(CATEGORIES),
        hours=st.integers(-30 * 24, 60 * 24),
        customer=st.sampled_from(CUSTOMERS),
        contacts=st.sampled_from(["email", "phone", "email", "unverified"]),
        bought=st.one_of(st.lists(item_specs(), min_size=2, max_size=3), st.lists(item_specs(), max_size=3)),
        gift=st.sampled_from([0, 100, 0, 300, 0, 5000]),
        days=DAYS,
        then=st.one_of(st.lists(item_specs(), min_size=1, max_size=3), st.just([])),
        how=SPEND,
        pay=st.sampled_from([True, False]),
    )
    def start(
        self,
        event_id: str,
        category: str,
        hours: int,
        customer: str,
        contacts: str,
        bought: list[tuple[int, bool, Decimal, Decimal, Decimal]],
        gift: int,
        days: int | None,
        then: list[tuple[int, bool, Decimal, Decimal, Decimal]],
        how: tuple[str, int],
        pay: bool,
    ) -> None:
        """An event and a participant to begin with; maybe a history: a purchase for an event
        that has started (its bonuses active at once), a staff credit, and a purchase that
        spends bonuses (held, or paid)."""
        self.upsert_event(event_id, category, hours)
        self.join(customer, contacts, True)
        if bought:
            self.upsert_event("past", category, -1)
            self.record(
                customer, [MItem(f"i{n + 1}", "past", *spec) for n, (_, *spec) in enumerate(bought)], ("none", 0), True
            )
        if gift:
            self.adjust_by(customer, gift, days)
        if then:
            self.record(customer, [MItem(f"i{n + 1}", event_id, *spec) for n, (_, *spec) in enumerate(then)], how, pay)

    @rule(
        event_id=st.sampled_from(EVENT_IDS), category=st.sampled_from(CATEGORIES), hours=st.integers(-30 * 24, 60 * 24)
    )
    def upsert_event(self, event_id: str, category: str, hours: int) -> None:
        starts = self.model.now + timedelta(hours=hours)
        draft = events.EventDraft(id=event_id, title=event_id, category=category, starts_at=starts, organizer_id="org")
        self.attempt("upsert event", lambda: events.upsert(draft), None)
        self.model.upsert_event(event_id, category, starts)

    @rule(customer=st.sampled_from(CUSTOMERS), contacts=CONTACTS, accept=st.booleans() | st.just(True))
    def join(self, customer: str, contacts: str, accept: bool) -> None:
        """LB-01: a wallet is ACTIVE with a verified contact, PENDING until then."""
        request = participants.JoinRequest(
            program_id=PROGRAM, accept_rules=accept, personal_data_consent=True, marketing_consent=False
        )
        refusal = None if accept else Refusal(RuleViolation, "LB-01")
        joined = self.attempt(
            "join",
            lambda: participants.join(
                self.catalog, identity(customer, contacts), request, erasure_key=scenario.ERASURE_KEY
            ),
            refusal,
        )
        if joined is None:
            return
        _, wallet = joined
        verified = contacts in ("email", "phone")
        known = self.model.wallets.get(customer)
        if known is None:
            self.model.wallets[customer] = MWallet(customer, wallet.id, verified)
        else:
            assert known.db_id == wallet.id
            known.active = known.active or verified
        assert str(wallet.status) == ("ACTIVE" if self.model.wallets[customer].active else "PENDING")
        self.model.settle(customer)

    @rule(delta=CLOCK_MOVES, burn=st.booleans())
    def move_clock(self, delta: timedelta, burn: bool) -> None:
        """Time passes; LB-04: the burn job may run (balances are right without it)."""
        self.stats["steps"] += 1
        self.stats["clock moves"] += 1
        clock.advance(delta)
        self.model.now += delta
        assert clock.now() == self.model.now
        if burn:
            burned = self.attempt("burn job", ledger.burn_expired, None)
            assert burned == self.model.burn()

    # -- orders -----------------------------------------------------------------

    def order_draft(
        self, order_id: str | None, customer: str, items: list[MItem], spend: int, code: str | None = None
    ) -> orders.OrderDraft:
        return orders.OrderDraft(
            referral_code=code,
            id=order_id,
            customer_id=customer,
            program_id=PROGRAM,
            channel=Channel.WEBSITE,
            items=tuple(
                orders.ItemDraft(
                    id=None if order_id is None else item.id,
                    event_id=item.event,
                    kind=ItemKind.TICKET if item.ticket else ItemKind.GOODS,
                    nominal=item.nominal,
                    service_fee=item.fee,
                    discount=item.discount,
                )
                for item in items
            ),
            bonus_to_spend=spend,
        )

    @rule(
        data=st.data(),
        who=WHO,
        specs=ITEMS,
        ghost=st.sampled_from([False] * 9 + [True]),
        how=SPEND,
        pay=st.sampled_from([True, True, False]),
    )
    def record_order(
        self,
        data: st.DataObject,
        who: str,
        specs: list[tuple[int, bool, Decimal, Decimal, Decimal]],
        ghost: bool,
        how: tuple[str, int],
        pay: bool,
    ) -> None:
        """LB-08: bonusToSpend up to min(active, 30 % of the full value) is held; above it is refused."""
        known = sorted(self.model.events)
        items = [
            MItem(f"i{n + 1}", "ghost" if ghost and n == 0 else known[index % len(known)], *spec)
            for n, (index, *spec) in enumerate(specs)
        ]
        self.record(self.customer(data, who), items, how, pay)

    def record(
        self, customer: str, items: list[MItem], how: tuple[str, int], pay: bool, referrer: str | None = None
    ) -> None:
        model = self.model
        total = sum((item.value for item in items), Decimal("0.00"))
        missing = any(item.event not in model.events for item in items)
        most, available = model.spend_limit(customer, total)
        quoted = self.attempt(
            "quote",
            lambda: orders.quote(self.catalog, self.order_draft(None, customer, items, 0)),
            Refusal(NotFound) if missing else None,
            noop=True,
        )
        if quoted is not None:
            assert (quoted.max_bonus, quoted.available) == (most, available), (quoted, most, available)
        kind, n = how
        spend = {"none": 0, "max": most, "over": most + n, "part": most * n // 100, "abs": n}[kind]
        wallet = model.wallets.get(customer)
        if missing:
            refusal: Refusal | None = Refusal(NotFound)
        elif spend > 0 and (wallet is None or not wallet.active):
            refusal = Refusal(RuleViolation, "LB-01")
        elif spend > most:
            refusal = Refusal(RuleViolation, "LB-08")
        else:
            refusal = None
        order_id = f"o{self.next_order}"
        code = self.call(code_of(referrer, self.catalog)) if referrer else None
        draft = self.order_draft(order_id, customer, items, spend, code)
        recorded = self.attempt("record order", lambda: orders.record_order(self.catalog, draft), refusal)
        if recorded is None:
            return
        self.next_order += 1
        if code is not None:
            self.coded[order_id] = code
        for item, share in zip(items, split(spend, [item.value for item in items]), strict=True):
            item.share = share
        order = MOrder(order_id, customer, items, spend, wallet=wallet and customer)
        if spend:
            order.holds = model.draw(customer, spend)
        model.orders[order_id] = order
        if referrer is not None:
            model.attribute(order, referrer)
        assert recorded.bonus_spent == spend and Decimal(recorded.total) == total
        if pay:
            self.pay(order)

    @precondition(lambda self: self.model.orders)
    @rule(data=st.data(), same=st.booleans())
    def record_again(self, data: st.DataObject, same: bool) -> None:
        """An order id recorded again: the same content is a no-op, other content a CONFLICT."""
        order = self.pick(data, None)
        spend = order.spend if same else order.spend + 1
        draft = self.order_draft(order.id, order.customer, order.items, spend, self.coded.get(order.id))
        self.attempt(
            "record again",
            lambda: orders.record_order(self.catalog, draft),
            None if same else Refusal(Conflict),
            noop=same,
        )

    def pay(self, order: MOrder) -> None:
        """LB-02, LB-03: paying takes the hold and credits one lot per event, from its start."""
        model = self.model
        refusal = Refusal(Conflict) if order.status == CANCELLED else None
        repeat = order.status != CREATED
        paid = self.attempt("pay", lambda: orders.pay_order(self.catalog, order.id), refusal, noop=repeat)
        if paid is None or repeat:
            return
        order.status = PAID
        order.paid_at = model.now
        if order.wallet is None and order.customer in model.wallets:
            order.wallet = order.customer  # joined after recording: the wallet earns
        accrued = 0
        if order.wallet is not None and model.wallets[order.wallet].active:
            accrued = model.accrue(order)
        assert paid.bonus_accrued == accrued, (paid.bonus_accrued, accrued)
        model.qualify(order)
        if order.wallet is not None:
            model.unlock(order.wallet, order)  # GA-02, after the referral's payout, as the payment does

    @precondition(lambda self: self.model.orders)
    @rule(data=st.data(), which=WHICH)
    def pay_order(self, data: st.DataObject, which: str) -> None:
        if which == "unknown":
            self.attempt("pay", lambda: orders.pay_order(self.catalog, "nope"), Refusal(NotFound))
            return
        self.pay(self.pick(data, (CREATED,) if which == "fresh" else None))

    @precondition(lambda self: self.model.orders)
    @rule(data=st.data(), which=WHICH)
    def cancel_order(self, data: st.DataObject, which: str) -> None:
        """LB-20: cancelling an unpaid order gives its hold back; a paid one is a CONFLICT."""
        if which == "unknown":
            self.attempt("cancel", lambda: orders.cancel_order("nope"), Refusal(NotFound))
            return
        order = self.pick(data, (CREATED,) if which == "fresh" else None)
        refusal = Refusal(Conflict) if order.status not in (CREATED, CANCELLED) else None
        repeat = order.status == CANCELLED
        done = self.attempt("cancel", lambda: orders.cancel_order(order.id), refusal, noop=repeat)
        if done is None or repeat:
            return
        for lot, take in order.holds:
            lot.remaining += take
            self.model.seen["model: cancel released a hold"] += 1
            if lot.expires <= self.model.now:
                self.model.seen["model: cancel released a hold into an expired lot"] += 1
            if lot.order_id is not None and self.model.orders[lot.order_id].revoked:
                self.model.seen["model: cancel released a hold into a revoked lot"] += 1
        order.holds = []
        order.status = CANCELLED

    @precondition(lambda self: self.model.orders)
    @rule(
        data=st.data(),
        which=WHICH,
        flaw=st.sampled_from([None] * 6 + ["empty", "twice", "unknown item"]),
        key=KEYS,
        reason=REASONS,
    )
    def refund(self, data: st.DataObject, which: str, flaw: str | None, key: str | None, reason: RefundReason) -> None:
        """LB-09..LB-11, LB-20: money back for the items; the first ticket revokes every accrual."""
        if which == "unknown":
            request = refunds.RefundRequest("nope", ("i1",), reason, key)
            self.attempt("refund", lambda: refunds.refund_items(self.catalog, request), Refusal(NotFound))
            return
        if which == "fresh":
            # Prefer an order whose accruals were used: its refund withholds them or leaves a debt.
            used = [
                o
                for o in self.model.orders.values()
                if o.status in (PAID, PARTIAL) and not o.revoked and self.model.used_accruals(o) > 0
            ]
            order = self.model.orders[data.draw(st.sampled_from([o.id for o in used]))] if used else None
            order = order or self.pick(data, (PAID, PARTIAL))
        else:
            order = self.pick(data, None)
        ids = [item.id for item in order.items]
        # The cheapest ticket alone is the sharpest LB-10 case: little money to withhold from.
        cheapest = min(order.items, key=lambda item: (not item.ticket, item.refunded, item.paid))
        item_ids = data.draw(
            st.one_of(
                st.just([cheapest.id]),
                st.sampled_from(ids).map(lambda item_id: [item_id]),
                st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True),
            ),
            label="items",
        )
        if flaw == "empty":
            item_ids = []
        elif flaw == "twice":
            item_ids = [*item_ids, item_ids[0]]
        elif flaw == "unknown item":
            item_ids = [*item_ids, "i9"]
        by_id = {item.id: item for item in order.items}
        refusal: Refusal | None = None
        repeat = False
        if not item_ids or len(set(item_ids)) != len(item_ids):
            refusal = Refusal(BadInput)
        elif key is not None and key in order.keys:
            repeat = True  # the first answer, whatever this request says
        elif order.status not in (PAID, PARTIAL):
            refusal = Refusal(Conflict)
        else:
            for item_id in item_ids:
                if item_id not in by_id:
                    refusal = Refusal(NotFound)
                    break
                if by_id[item_id].refunded:
                    refusal = Refusal(Conflict)
                    break
        request = refunds.RefundRequest(order.id, tuple(item_ids), reason, key)
        done = self.attempt("refund", lambda: refunds.refund_items(self.catalog, request), refusal, noop=repeat)
        if done is None:
            return
        if repeat:
            assert key is not None and done.id == order.keys[key]
            return
        if key is not None:
            order.keys[key] = done.id
        outcome = self.model.refund(order, [by_id[item_id] for item_id in item_ids])
        got = RefundOutcome(Decimal(done.money_refund), done.bonus_revoked, done.bonus_withheld, done.bonus_debt)
        assert got == outcome, (got, outcome)

    @precondition(lambda self: self.model.wallets and self.model.events)
    @rule(data=st.data(), index=st.integers(0, 3), nominal=st.sampled_from([Decimal(1000), Decimal(20)]))
    def buy_and_return(self, data: st.DataObject, index: int, nominal: Decimal) -> None:
        """GA-03: a purchase paid and returned at once: what it unlocked waits for its event, so
        the return cancels it (where the event has started, it stays); LB-09 as any return."""
        customer = data.draw(st.sampled_from(sorted(self.model.wallets)), label="customer")
        event_id = sorted(self.model.events)[index % len(self.model.events)]
        order_id = f"o{self.next_order}"
        self.record(customer, [MItem("i1", event_id, True, nominal, Decimal(0), Decimal(0))], ("none", 0), True)
        order = self.model.orders.get(order_id)
        if order is None or order.status != PAID:
            return
        request = refunds.RefundRequest(order_id, ("i1",), RefundReason.CUSTOMER, None)
        done = self.attempt("refund", lambda: refunds.refund_items(self.catalog, request), None)
        assert done is not None
        outcome = self.model.refund(order, list(order.items))
        got = RefundOutcome(Decimal(done.money_refund), done.bonus_revoked, done.bonus_withheld, done.bonus_debt)
        assert got == outcome, (got, outcome)

    # -- referrals (RF) -------------------------------------------------------------

    @precondition(lambda self: self.model.wallets and self.model.events)
    @rule(
        data=st.data(),
        friend=st.sampled_from(FRIENDS),
        specs=st.lists(item_specs(), min_size=1, max_size=3),
        big=st.booleans(),
        pay=st.sampled_from([True, True, False]),
    )
    def refer(
        self,
        data: st.DataObject,
        friend: str,
        specs: list[tuple[int, bool, Decimal, Decimal, Decimal]],
        big: bool,
        pay: bool,
    ) -> None:
        """RF-05: an order carrying a joined participant's code; `big` adds a 4,000 ticket (RF-04)."""
        referrer = data.draw(st.sampled_from(sorted(self.model.wallets)), label="referrer")
        known = sorted(self.model.events)
        items = [MItem(f"i{n + 1}", known[index % len(known)], *spec) for n, (index, *spec) in enumerate(specs)]
        if big:
            items.append(MItem(f"i{len(items) + 1}", known[0], True, Decimal(4000), Decimal(0), Decimal(0)))
        self.record(friend, items, ("none", 0), pay, referrer=referrer)

    @precondition(lambda self: self.model.referrals)
    @rule(data=st.data(), approve=st.booleans(), note=st.sampled_from([None, "checked"]))
    def review(self, data: st.DataObject, approve: bool, note: str | None) -> None:
        """RF-10: staff decide a PENDING or REVIEW referral; a decided one is a CONFLICT."""
        order_id = data.draw(st.sampled_from(sorted(self.model.referrals)), label="referral")
        referral = self.model.referrals[order_id]
        order = self.model.orders[order_id]
        if referral.status not in ("PENDING", "REVIEW") or (approve and order.status != PAID):
            refusal: Refusal | None = Refusal(Conflict)
        else:
            refusal = None
        row_id = self.call(referral_id(order_id))
        done = self.attempt(
            "review referral", lambda: referrals.decide(self.catalog, row_id, approve=approve, note=note), refusal
        )
        if done is None:
            return
        if approve:
            self.model.pay_out(referral, order, referrer=True)
        else:
            self.model.reject(referral, "RF-10", fraud=True)

    @precondition(lambda self: self.model.referrals)
    @rule(data=st.data())
    def revoke_referral(self, data: st.DataObject) -> None:
        """RF-10: fraud found after the payout: both rewards revoked, what was used becomes debt."""
        order_id = data.draw(st.sampled_from(sorted(self.model.referrals)), label="referral")
        referral = self.model.referrals[order_id]
        refusal = None if referral.status == "REWARDED" and not referral.revoked else Refusal(Conflict)
        row_id = self.call(referral_id(order_id))
        done = self.attempt("revoke referral", lambda: referrals.revoke(self.catalog, row_id, "fraud"), refusal)
        if done is None:
            return
        friend = [
            lot for lot in self.model.lots_of(referral.friend) if lot.referral and lot.order_id == referral.order_id
        ]
        if friend:
            _, spent = self.model.revoke(referral.friend, friend)
            self.model.wallets[referral.friend].debt += spent
        self.model.close(referral, "RF-10", fraud=True)
        self.model.reject(referral, "RF-10", fraud=True)  # counts towards exclusion (RF-10)

    # -- staff --------------------------------------------------------------------

    @rule(
        data=st.data(),
        who=WHO,
        amount=st.one_of(st.integers(-300, 300), st.integers(-3000, 3000), st.sampled_from([0, -1, 1])),
        days=DAYS,
    )
    def adjust(self, data: st.DataObject, who: str, amount: int, days: int | None) -> None:
        """Staff credits (a lot valid `days`, paying debt first) and debits (active lots only)."""
        self.adjust_by(self.customer(data, who), amount, days)

    def adjust_by(self, customer: str, amount: int, days: int | None) -> None:
        model = self.model
        if amount == 0:
            refusal: Refusal | None = Refusal(BadInput)
        elif customer not in model.wallets:
            refusal = Refusal(NotFound)
        elif amount < 0 and -amount > model.may_spend(customer):
            refusal = Refusal(BadInput)
        else:
            refusal = None
        change = adjustments.Adjustment(customer, PROGRAM, amount, "support case", valid_days=days)
        done = self.attempt("adjust", lambda: adjustments.adjust(self.catalog, change), refusal)
        if done is None:
            return
        if amount > 0:
            model.credit(customer, amount, model.now, model.now + timedelta(days=days or 90))
        else:
            model.draw(customer, -amount)
        assert done.amount == amount

    # -- after every step -----------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        wallets = self.model.wallets
        ids = [wallet.db_id for wallet in wallets.values()]
        balances, burns, statuses = self.call(observe(ids))
        for customer, wallet in wallets.items():
            assert balances[wallet.db_id] == self.model.balance(customer), (
                f"{customer}: gateway {balances[wallet.db_id]} != model {self.model.balance(customer)}"
            )
            burn = burns[wallet.db_id]
            assert (None if burn is None else (burn.at, burn.amount)) == self.model.next_burn(customer), customer
        assert statuses == {o.id: o.status for o in self.model.orders.values()}
        found = self.call(referral_states())
        assert found == {r.order_id: (r.status, r.rule) for r in self.model.referrals.values()}, found
        seen = self.call(achievement_states(self.catalog, sorted(wallets)))
        expected = {customer: self.model.achievements(customer) for customer in sorted(wallets)}
        assert seen == expected, (seen, expected)
        for lot in self.model.lots:
            assert 0 <= lot.remaining <= lot.amount


async def test_ledger_matches_reference_model(achieving: Catalog) -> None:
    """The ledger, referrals and achievements (GA-01..GA-04: plugins.toml's built-in four) agree with the model."""
    LedgerMachine.loop = asyncio.get_running_loop()
    LedgerMachine.catalog = achieving
    LedgerMachine.stats = Counter()
    started = time.monotonic()
    await asyncio.to_thread(
        run_state_machine_as_test,
        LedgerMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    stats = LedgerMachine.stats
    print(
        f"\nledger state machine: {stats['examples']} examples, {stats['steps']} steps "
        f"in {time.monotonic() - started:.1f}s (max_examples={EXAMPLES}, stateful_step_count={STEPS})"
    )
    for name, count in sorted(stats.items()):
        if name not in ("examples", "steps"):
            print(f"  {name}: {count}")


# ---------------------------------------------------------------------------
# loyalty.money
# ---------------------------------------------------------------------------

MONEY = cents(0, 10**10)
PERCENTS = st.one_of(st.integers(0, 100).map(Decimal), cents(0, 100_00))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total=st.integers(0, 10**9), weights=st.lists(MONEY | st.just(Decimal(0)), min_size=1, max_size=12))
def test_allocate_sums_exactly_and_is_proportional_within_one(total: int, weights: list[Decimal]) -> None:
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    assert all(part >= 0 for part in parts)
    whole = sum(weights, Decimal(0))
    if whole:
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - Fraction(weight) * total / Fraction(whole)) < 1
    else:
        assert parts == [total] + [0] * (len(weights) - 1)
    assert parts == split(total, weights)  # the model's own largest remainder agrees


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.one_of(MONEY, cents(-(10**6), 0), st.fractions(-(10**6), 10**9)), percent=PERCENTS)
def test_percent_down_never_exceeds_the_exact_value_and_is_within_one(
    base: Decimal | Fraction, percent: Decimal
) -> None:
    got = percent_down(base, percent)
    assert isinstance(got, int) and got >= 0
    exact = Fraction(base) * Fraction(percent) / 100
    if base <= 0 or percent <= 0:
        assert got == 0
    else:
        assert got <= exact < got + 1
