"""Plain, frozen data about an order and a participant, handed to the program rules.

Plugins decide from these alone (no database, no I/O), so a decision is fast,
testable, and cannot touch the ledger. Money is Decimal; bonuses are int.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from loyalty.models import Channel, ItemKind, OrderMode, RefundReason, WalletStatus


@dataclass(frozen=True)
class EventFacts:
    """The event an item is for, as the ticketing system last sent it."""

    id: str
    title: str
    category: str
    starts_at: datetime
    organizer_id: str


@dataclass(frozen=True)
class ItemFacts:
    """One ticket or good; `bonus_share` is its part of the bonuses spent on the order."""

    id: str | None
    event: EventFacts
    kind: ItemKind
    nominal: Decimal
    service_fee: Decimal = Decimal("0.00")
    discount: Decimal = Decimal("0.00")
    bonus_share: int = 0

    @property
    def value(self) -> Decimal:
        """Full value (LB-08): nominal - discount + service fee."""
        return self.nominal - self.discount + self.service_fee

    @property
    def paid_price(self) -> Decimal:
        """Money paid for the item itself: nominal - discount - bonuses spent on it, never below 0."""
        return max(Decimal("0.00"), self.nominal - self.discount - self.bonus_share)


@dataclass(frozen=True)
class OrderFacts:
    """An order (or a cart being quoted: `id` None) as the rules see it."""

    id: str | None
    program_id: str
    channel: Channel
    items: tuple[ItemFacts, ...]
    placed_at: datetime
    bonus_to_spend: int = 0
    mode: OrderMode | None = None
    promo_code: str | None = None
    referral_code: str | None = None

    @property
    def total(self) -> Decimal:
        """The order's full value (LB-08 Decision): every item's nominal - discount + fee."""
        return sum((item.value for item in self.items), Decimal("0.00"))

    @property
    def tickets(self) -> tuple[ItemFacts, ...]:
        """The ticket items, goods left out."""
        return tuple(item for item in self.items if item.kind is ItemKind.TICKET)


@dataclass(frozen=True)
class ParticipantFacts:
    """The participant and their wallet in the order's program (None fields: not joined)."""

    id: str
    wallet_status: WalletStatus | None
    tier: str | None = None
    birth_date: date | None = None
    guardian_consent: bool = False
    active_balance: int = 0


@dataclass(frozen=True)
class Credit:
    """Bonuses a rule credits for an order: one lot per (event, rule) (LB-03, PL-04).

    `activates_at` None: at the event's start (LB-03). `valid_for` None: the program's
    validity after activation (LB-04).
    """

    amount: int
    rule: str
    event_id: str | None = None
    activates_at: datetime | None = None
    valid_for: timedelta | None = None
    description: str | None = None


@dataclass(frozen=True)
class Limit:
    """The most bonuses a rule lets the order be paid with, and the rule's id."""

    max_bonus: int
    rule: str


@dataclass(frozen=True)
class Refusal:
    """A rule that forbids something for this order: `what` is "earn" or "spend"."""

    what: str
    rule: str
    message: str


@dataclass(frozen=True)
class RefundFacts:
    """A refund being made: the items returned and why."""

    items: tuple[ItemFacts, ...]
    reason: RefundReason
    requested_at: datetime
    earlier_refunds: int = 0


@dataclass(frozen=True)
class RefundTerms:
    """What a refund pays back and does to accruals, as a program's policy decides.

    `money` is before any withholding (LB-10); `revoke_accruals` False keeps the order's
    accruals (MG-09); `refused_by` set refuses the refund with that rule's id (TK-04).
    """

    money: Decimal
    revoke_accruals: bool
    rule: str
    refused_by: str | None = None
    message: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
