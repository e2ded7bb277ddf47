"""Plain, frozen data about an order and a participant, handed to the program rules.

Plugins decide from these alone (no database, no I/O), so a decision is fast,
testable, and cannot touch the ledger. Money is Decimal; bonuses are int.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty.enums import Channel, ItemKind, OrderMode, RefundReason, WalletStatus


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
    paid_at: datetime | None = None  # None until paid (and for a cart)

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
    joined_at: datetime | None = None  # when the wallet was opened (TK-04: bought while a member)


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
    # Set by the gateway, never by a plugin: the plugin that made the credit (PL-04).
    plugin: str | None = None


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


@dataclass(frozen=True)
class PromoCodeFacts:
    """A promo code the gateway issued, as a promo code check sees it (TK-01, TK-02)."""

    code: str
    program_id: str
    event_id: str
    expires_at: datetime
    discount_percent: int | None = None
    discount_amount: Decimal | None = None


@dataclass(frozen=True)
class AchievementFacts:
    """What a partner's own counter (``counts="custom"``) counts from (GA-01).

    ``purchases``: the participant's paid orders of the program, paid as a member and
    within the achievement's window, oldest first, each with only the items not
    returned (GA-03: a returned purchase no longer counts), orders wholly returned left
    out. ``referrals_rewarded``: their referrals rewarded in the window (RF-02).
    """

    participant_id: str
    purchases: tuple[OrderFacts, ...]
    referrals_rewarded: int
    now: datetime


@dataclass(frozen=True)
class AchievementDefinition:
    """An achievement a plugin defines (GA-01): progress counts `counts` up to `goal`.

    `counts` names what is counted, from the facts (paid, unreturned purchases made as
    a member; rewarded referrals), never from a counter that could drift:

    - "purchase_paid": paid purchases with at least one ticket not returned;
    - "event_attended": distinct events the participant holds a paid, unreturned ticket to;
    - "category": distinct categories of those events;
    - "referral_rewarded": the participant's referrals that were rewarded (RF-02);
    - "custom": what `count` answers for the participant's `AchievementFacts`.

    `window_days` None counts all time, N counts only the last N days (by when the
    order was paid, or the referral rewarded). `reward_bonus` bonuses are credited once,
    on unlocking, as an ACHIEVEMENT entry like a gift (LB-14), valid `reward_valid_days`
    after activation (None: the program's validity, LB-04); 0 grants nothing.
    """

    id: str
    title: str
    goal: int
    counts: str
    reward_bonus: int
    description: str | None = None
    window_days: int | None = None
    reward_valid_days: int | None = None
    # counts="custom" only: a pure function of the facts (no I/O), answering a count >= 0.
    count: Callable[[AchievementFacts], int] | None = field(default=None, compare=False, repr=False)
    # Set by the gateway, never by a plugin: the plugin that defined it (PL-04).
    plugin: str | None = None


@dataclass(frozen=True)
class Notification:
    """Something that happened, told to plugins after it was committed (never before).

    Told at once, without an `id`: `kind` "order_paid", "order_refunded", "tier_set",
    "promo_codes_issued". Delivered from the outbox by a job, at least once, with a
    stable `id` (the same on every attempt, so a receiver drops duplicates by it):
    `kind` "referral_rewarded" (RF-11) or "campaign_message" (CA-01; `marketing`
    True, sent only to participants with marketing consent, LB-15). `participant_id`
    is the ticketing system's customer id; `payload` holds amounts, ids and message
    text, never personal data; `attempt` counts deliveries from 1.
    """

    kind: str
    program_id: str
    at: datetime
    participant_id: str | None = None
    order_id: str | None = None
    bonus: int = 0
    detail: str | None = None
    id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict, hash=False)
    marketing: bool = False
    attempt: int = 0


@dataclass(frozen=True)
class ReferralTerms:
    """A program's referral program (RF-01..RF-10), as its plugin configures it.

    `link_base` + the code is the referral link; the friend gets `friend_bonus` and the
    referrer `referrer_bonus` on a first purchase whose full value reaches
    `min_purchase`; past `monthly_threshold` rewarded referrals in a calendar month a
    referral waits for review; `fraud_limit` fraud rejections exclude the referrer; a
    friend not joined at payment gets the bonus on joining within `join_window`.
    """

    link_base: str
    friend_bonus: int
    referrer_bonus: int
    min_purchase: Decimal
    monthly_threshold: int
    fraud_limit: int
    join_window: timedelta


@dataclass(frozen=True)
class Segment:
    """An audience segment a plugin defines (CA-02), as a declarative filter.

    Every field given narrows the segment (AND); a field left None does not filter.
    The gateway turns it into one set-based query, so a segment of millions costs no
    more than a built-in filter. Only ACTIVE wallets of ACTIVE participants ever match.

    - ``tier``: wallets of this tier.
    - ``customer_ids``: only these participants (the ticketing system's customer ids).
    - ``bought_category`` / ``bought_since``: participants with a paid order holding a
      ticket to an event of this category / paid at or after this instant.
    - ``joined_since``: wallets opened at or after this instant.
    - ``marketing_consent``: participants whose marketing consent is on (True) or off (False).
    """

    tier: str | None = None
    customer_ids: tuple[str, ...] | None = None
    bought_category: str | None = None
    bought_since: datetime | None = None
    joined_since: datetime | None = None
    marketing_consent: bool | None = None
