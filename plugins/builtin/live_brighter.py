"""«Live Brighter!» (Ticketon): bonuses by event category, at most 30 % of a purchase (LB-02, LB-08),
and Ticketon's referral program (RF-01..RF-10), whose numbers are settings.

LB-02 Decision: the program earns and spends only on the operator's own channels, the
website and the app (``channels``, as MG-02's for MGT+). An order in another channel is
still recorded (RF-03 sees every order) but earns nothing and may not spend.

Refunds follow the core policy (LB-09..LB-12, LB-20), so this plugin has no refund hook.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, Field

from loyalty.enums import Channel
from loyalty.facts import Credit, Limit, OrderFacts, ParticipantFacts, ReferralTerms, Refusal
from loyalty.money import percent_down
from plugins.hookspecs import hookimpl


class ReferralSettings(BaseModel):
    """`[plugins.live_brighter.settings.referrals]`: the referral program (RF-01..RF-10)."""

    link_base: str = Field(min_length=1)
    friend_bonus: int = Field(default=500, gt=0)  # RF-02
    referrer_bonus: int = Field(default=200, gt=0)  # RF-02
    min_purchase: Decimal = Field(default=Decimal(3500), ge=0)  # RF-04
    monthly_threshold: int = Field(default=20, ge=0)  # RF-08
    fraud_limit: int = Field(default=3, gt=0)  # RF-10
    join_window_days: int = Field(default=30, gt=0)  # RF-02 Decision


class LiveBrighter:
    """Accrual by category rate on the money paid for tickets; a cap on spending."""

    class Settings(BaseModel):
        """`[plugins.live_brighter.settings]` in plugins.toml."""

        default_rate_percent: Decimal = Field(default=Decimal(3), ge=0, le=100)
        category_rates: dict[str, Decimal] = {}
        cap_percent: Decimal = Field(default=Decimal(30), ge=0, le=100)
        channels: list[Channel] = [Channel.WEBSITE, Channel.APP]  # LB-02 Decision
        # Absent: the programs of this plugin run no referral program.
        referrals: ReferralSettings | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rates = {category.lower(): rate for category, rate in settings.category_rates.items()}

    def rate(self, category: str) -> Decimal:
        """The accrual percent of a category (LB-02), the default where it has none."""
        return self.rates.get(category.lower(), self.settings.default_rate_percent)

    @hookimpl
    def order_refusals(self, order: OrderFacts) -> list[Refusal]:
        """LB-02 Decision: outside the operator's own channels the order neither earns nor spends."""
        if order.channel in self.settings.channels:
            return []
        message = "«Live Brighter!» works only on the operator's website and app"
        return [Refusal("earn", "LB-02", message), Refusal("spend", "LB-02", message)]

    @hookimpl
    def accrual_credits(self, order: OrderFacts, participant: ParticipantFacts) -> list[Credit]:
        """LB-02, LB-03: per event, the category's percent of the money paid for its tickets."""
        paid: dict[str, Decimal] = defaultdict(Decimal)
        categories: dict[str, str] = {}
        for ticket in order.tickets:
            paid[ticket.event.id] += ticket.paid_price
            categories[ticket.event.id] = ticket.event.category
        return [
            Credit(amount=amount, rule="LB-02", event_id=event_id, description="bonuses for tickets")
            for event_id, base in paid.items()
            if (amount := percent_down(base, self.rate(categories[event_id]))) > 0
        ]

    @hookimpl
    def redemption_limit(self, order: OrderFacts, participant: ParticipantFacts) -> Limit:
        """LB-08: at most cap_percent of the purchase's full value."""
        return Limit(max_bonus=percent_down(order.total, self.settings.cap_percent), rule="LB-08")

    @hookimpl
    def referral_terms(self) -> ReferralTerms | None:
        """RF-01..RF-10: the referral program as plugins.toml configures it, or None."""
        ref = self.settings.referrals
        if ref is None:
            return None
        return ReferralTerms(
            link_base=ref.link_base,
            friend_bonus=ref.friend_bonus,
            referrer_bonus=ref.referrer_bonus,
            min_purchase=ref.min_purchase,
            monthly_threshold=ref.monthly_threshold,
            fraud_limit=ref.fraud_limit,
            join_window=timedelta(days=ref.join_window_days),
        )
