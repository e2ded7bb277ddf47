"""An example partner plugin for the loyalty gateway (PL-01).

Two rules for the events of one organizer (the partner's), on top of whatever the
program itself accrues:

- ``partner-double``: orders placed inside a promotion window earn the program's rate
  once more on the partner's events, so the bonuses double;
- ``partner-app-5``: orders placed in the mobile app earn 5 % more of the money paid
  for the partner's tickets;

and one achievement with a counter of its own (GA-01, ``counts="custom"``):

- ``acme-fan``: tickets to 3 different events of the partner's (returned ones do not
  count), 300 bonuses once.

Everything the rules need arrives as plain data (``loyalty.facts``); they return
``Credit`` and ``AchievementDefinition`` objects and never touch the database.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from loyalty.enums import Channel
from loyalty.facts import AchievementDefinition, AchievementFacts, Credit, OrderFacts
from loyalty.money import percent_down
from plugins.hookspecs import hookimpl

__all__ = ["PartnerRules"]


class PartnerRules:
    """Double bonuses in a window, +5 % in the app, on the partner's events."""

    class Settings(BaseModel):
        """``[plugins.partner_example.settings]`` in the gateway's plugins.toml."""

        organizer_id: str  # the partner's events are this organizer's
        window_start: datetime  # the promotion window, [start, end)
        window_end: datetime
        double_percent: Decimal = Field(default=Decimal(5), ge=0, le=100)  # the program's own rate
        app_percent: Decimal = Field(default=Decimal(5), ge=0, le=100)
        fan_goal: int = Field(default=3, ge=1)  # acme-fan: this many of our events
        fan_reward: int = Field(default=300, ge=0)

        @model_validator(mode="after")
        def _window(self) -> PartnerRules.Settings:
            if self.window_start.tzinfo is None or self.window_end.tzinfo is None:
                raise ValueError("window_start and window_end need a time zone offset")
            if self.window_end <= self.window_start:
                raise ValueError("window_end must be after window_start")
            return self

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def paid_by_event(self, order: OrderFacts) -> dict[str, Decimal]:
        """Money paid for the partner's tickets, per event (fees, goods and bonuses left out)."""
        paid: dict[str, Decimal] = defaultdict(Decimal)
        for ticket in order.tickets:
            if ticket.event.organizer_id == self.settings.organizer_id:
                paid[ticket.event.id] += ticket.paid_price
        return paid

    @hookimpl
    def accrual_credits(self, order: OrderFacts) -> list[Credit]:
        """One credit per rule and event; each activates at its event's start like the program's own."""
        credits = []
        in_window = self.settings.window_start <= order.placed_at < self.settings.window_end
        for event_id, paid in self.paid_by_event(order).items():
            if in_window and (amount := percent_down(paid, self.settings.double_percent)) > 0:
                credits.append(
                    Credit(
                        amount=amount,
                        rule="partner-double",
                        event_id=event_id,
                        description="double bonuses: partner promotion",
                    )
                )
            if order.channel is Channel.APP and (amount := percent_down(paid, self.settings.app_percent)) > 0:
                credits.append(
                    Credit(
                        amount=amount, rule="partner-app-5", event_id=event_id, description="+5 % for buying in the app"
                    )
                )
        return credits

    def our_events(self, facts: AchievementFacts) -> int:
        """acme-fan's counter: distinct events of ours the participant holds a ticket to."""
        return len(
            {
                ticket.event.id
                for purchase in facts.purchases
                for ticket in purchase.tickets
                if ticket.event.organizer_id == self.settings.organizer_id
            }
        )

    @hookimpl
    def achievements(self) -> list[AchievementDefinition]:
        """GA-01: an achievement of the partner's own, counted by `our_events`."""
        return [
            AchievementDefinition(
                id="acme-fan",
                title="Acme fan",
                description=f"Tickets to {self.settings.fan_goal} different Acme events",
                goal=self.settings.fan_goal,
                counts="custom",
                count=self.our_events,
                reward_bonus=self.settings.fan_reward,
            )
        ]
