"""«Live Brighter!» (Ticketon): bonuses by event category, at most 30 % of a purchase (LB-02, LB-08).

Refunds follow the core policy (LB-09..LB-12, LB-20), so this plugin has no refund hook.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from pydantic import BaseModel, Field

from loyalty.facts import Credit, Limit, OrderFacts, ParticipantFacts
from loyalty.money import percent_down
from plugins.hookspecs import hookimpl


class LiveBrighter:
    """Accrual by category rate on the money paid for tickets; a cap on spending."""

    class Settings(BaseModel):
        """`[plugins.live_brighter.settings]` in plugins.toml."""

        default_rate_percent: Decimal = Field(default=Decimal(3), ge=0, le=100)
        category_rates: dict[str, Decimal] = {}
        cap_percent: Decimal = Field(default=Decimal(30), ge=0, le=100)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rates = {category.lower(): rate for category, rate in settings.category_rates.items()}

    def rate(self, category: str) -> Decimal:
        """The accrual percent of a category (LB-02), the default where it has none."""
        return self.rates.get(category.lower(), self.settings.default_rate_percent)

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
