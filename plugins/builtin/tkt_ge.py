"""TKT.GE (GEL): seed 002, rules TK-01..TK-08.

What the core does for this program: promo codes (TK-01..TK-03: issued by marketing,
checked by the ticketing system, used once at payment), the age check at joining
(TK-07: ``checks_age`` in plugins.toml), marketing consent (TK-08), staff tiers
(setTier). This plugin makes the club rules:

- TK-05 Decision: the tier by spend in the last 365 days (``tier_thresholds``);
- TK-04: cinema tickets are returned only by club members (an ACTIVE wallet, opened
  before the ticket was paid), at least 3 hours before the session;
- TK-05: the club refund is 60/80/90 % of the ticket's price by tier;
- TK-06: a cancelled or postponed event refunds the ticket price without the fee.

Other customer refunds follow the core policy (LB-20).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, Field, model_validator

from loyalty.enums import ItemKind, RefundReason, WalletStatus
from loyalty.facts import ItemFacts, OrderFacts, ParticipantFacts, RefundFacts, RefundTerms
from loyalty.money import CENT
from plugins.hookspecs import hookimpl


def share_down(amount: Decimal, percent: Decimal) -> Decimal:
    """`percent` % of a money amount, rounded down to the tetri."""
    cents = Fraction(amount) * Fraction(percent)  # x 100 for cents, / 100 for percent
    return Decimal(cents.numerator // cents.denominator) * CENT


class TktGe:
    """The TKT Club rules, configured in ``[plugins.tkt_ge]``."""

    class Settings(BaseModel):
        """``[plugins.tkt_ge.settings]`` in plugins.toml."""

        # TK-05 Decision: the least spend (GEL, 365 days) for each tier.
        tier_thresholds: dict[str, Decimal] = {
            "Basic": Decimal(0),
            "Silver": Decimal(500),
            "Gold": Decimal(1500),
        }
        # TK-05: the share of a cinema ticket's price the club refund pays, by tier.
        refund_percent: dict[str, Decimal] = {"Basic": Decimal(60), "Silver": Decimal(80), "Gold": Decimal(90)}
        refund_categories: list[str] = ["cinema"]  # TK-04
        hours_before_start: int = Field(default=3, ge=0)  # TK-04

        @model_validator(mode="after")
        def _every_tier_refunds(self) -> TktGe.Settings:
            missing = set(self.tier_thresholds) - set(self.refund_percent)
            if missing:
                raise ValueError(f"refund_percent lacks the tiers {sorted(missing)}")
            if any(not 0 <= value <= 100 for value in self.refund_percent.values()):
                raise ValueError("refund_percent values must be between 0 and 100")
            return self

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lowest = min(settings.tier_thresholds, key=lambda tier: settings.tier_thresholds[tier])

    @hookimpl
    def tier_for(self, spend_365_days: Decimal) -> str | None:
        """TK-05 Decision: the highest tier whose threshold the spend reaches."""
        reached = [tier for tier, least in self.settings.tier_thresholds.items() if spend_365_days >= least]
        return max(reached, key=lambda tier: self.settings.tier_thresholds[tier], default=None)

    def _club_film(self, item: ItemFacts) -> bool:
        return item.kind is ItemKind.TICKET and item.event.category in self.settings.refund_categories

    @staticmethod
    def _bought_as_member(order: OrderFacts, participant: ParticipantFacts) -> bool:
        """TK-04: a member now (an ACTIVE wallet: not PENDING, not blocked) who was one when paying.

        "Tickets purchased without registration cannot be returned": the wallet must have
        been opened by the time the order was paid.
        """
        if participant.wallet_status is not WalletStatus.ACTIVE or participant.joined_at is None:
            return False
        return order.paid_at is not None and participant.joined_at <= order.paid_at

    @hookimpl
    def refund_terms(self, order: OrderFacts, refund: RefundFacts, participant: ParticipantFacts) -> RefundTerms | None:
        """TK-04..TK-06."""
        if refund.reason in (RefundReason.EVENT_CANCELLED, RefundReason.EVENT_POSTPONED):
            money = sum((item.paid_price for item in refund.items), Decimal("0.00"))
            return RefundTerms(money=money, revoke_accruals=True, rule="TK-06")
        films = [item for item in refund.items if self._club_film(item)]
        if not films:
            return None
        if not self._bought_as_member(order, participant):
            return RefundTerms(
                money=Decimal(0),
                revoke_accruals=False,
                rule="TK-04",
                refused_by="TK-04",
                message="cinema tickets are returned only by members of the TKT Club who bought them as members",
            )
        latest = timedelta(hours=self.settings.hours_before_start)
        if any(refund.requested_at > film.event.starts_at - latest for film in films):
            return RefundTerms(
                money=Decimal(0),
                revoke_accruals=False,
                rule="TK-04",
                refused_by="TK-04",
                message=f"cinema tickets are returned at least {self.settings.hours_before_start} hours before the session",
            )
        tier = participant.tier if participant.tier in self.settings.refund_percent else self.lowest
        percent = self.settings.refund_percent[tier]
        money = sum((share_down(item.paid_price, percent) for item in films), Decimal("0.00"))
        money += sum((item.paid_price for item in refund.items if not self._club_film(item)), Decimal("0.00"))
        return RefundTerms(money=money, revoke_accruals=True, rule="TK-05")
