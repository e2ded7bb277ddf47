"""MGT+ (an organizer's own program on Intickets, RUB): seed 004, rules MG-01..MG-13.

What the core does for this program from plugins.toml alone: MG-06 (``expiry =
"rolling"``), MG-07 (``organizers``), MG-13 (``owner``: the organizer, role partner,
blocks and adjusts). This plugin makes the rest:

- MG-01: an order earns or spends, never both (``OrderInput.mode``; without a mode,
  an order that spends does not earn);
- MG-02: only the widget channel takes part;
- MG-03, MG-04, MG-05: when paid, 10 % of the tickets' nominal, no fees, no goods,
  active at once;
- MG-08: at most 30 % of the order's actual cost (after discounts, without fees);
- MG-09, MG-10, MG-11: a return keeps the accruals, does not give spent points back,
  and refunds nominal x (1 - points spent / actual cost);
- MG-12: no points (earned or spent) with a promo code or a discounted fare.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, Field

from loyalty.enums import Channel, OrderMode
from loyalty.facts import Credit, Limit, OrderFacts, RefundFacts, RefundTerms, Refusal
from loyalty.money import CENT, percent_down
from plugins.hookspecs import hookimpl


def actual_cost(order: OrderFacts) -> Decimal:
    """MG-08 (seed 1.8, 2.13): tickets and goods after discounts, service fees left out."""
    return sum((item.nominal - item.discount for item in order.items), Decimal("0.00"))


class MgtPlus:
    """The MGT+ rules as one plugin, configured in ``[plugins.mgt_plus]``."""

    class Settings(BaseModel):
        """``[plugins.mgt_plus.settings]`` in plugins.toml."""

        accrual_percent: Decimal = Field(default=Decimal(10), ge=0, le=100)  # MG-05
        cap_percent: Decimal = Field(default=Decimal(30), ge=0, le=100)  # MG-08
        channels: list[Channel] = [Channel.WIDGET]  # MG-02

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @hookimpl
    def order_refusals(self, order: OrderFacts) -> list[Refusal]:
        """MG-01, MG-02, MG-12: what this order may not do with points."""
        refusals: list[Refusal] = []
        if order.channel not in self.settings.channels:
            message = "MGT+ works only for orders through the organizer's widget"
            refusals += [Refusal("earn", "MG-02", message), Refusal("spend", "MG-02", message)]
        if order.promo_code or any(item.discount > 0 for item in order.items):
            message = "points cannot be combined with a promo code or a discounted fare"
            refusals += [Refusal("earn", "MG-12", message), Refusal("spend", "MG-12", message)]
        spends = order.mode is OrderMode.SPEND or (order.mode is None and order.bonus_to_spend > 0)
        if spends:
            refusals.append(Refusal("earn", "MG-01", "an order that spends points earns none"))
        elif order.mode is OrderMode.EARN:
            refusals.append(Refusal("spend", "MG-01", "an order that earns points spends none"))
        return refusals

    @hookimpl
    def accrual_credits(self, order: OrderFacts) -> list[Credit]:
        """MG-03..MG-05: accrual_percent of the tickets' nominal, one credit, active when paid."""
        nominal = sum((ticket.nominal for ticket in order.tickets), Decimal("0.00"))
        amount = percent_down(nominal, self.settings.accrual_percent)
        if amount <= 0:
            return []
        # placed_at is in the past when the order is paid, so the credit is active at payment (MG-03).
        return [Credit(amount=amount, rule="MG-05", activates_at=order.placed_at, description="MGT+ points")]

    @hookimpl
    def redemption_limit(self, order: OrderFacts) -> Limit:
        """MG-08: cap_percent of the order's actual cost."""
        return Limit(max_bonus=percent_down(actual_cost(order), self.settings.cap_percent), rule="MG-08")

    @hookimpl
    def refund_terms(self, order: OrderFacts, refund: RefundFacts) -> RefundTerms:
        """MG-09..MG-11: accruals stay, spent points stay spent, money by the MG-11 formula.

        refund = returned items' price x (1 - points spent / order's actual cost), rounded
        down to the kopeck. The price is nominal - discount, which is the nominal itself
        on any order paid with points (MG-12 forbids discounts there).
        """
        cost = actual_cost(order)
        returned = sum((item.nominal - item.discount for item in refund.items), Decimal("0.00"))
        share = Fraction(order.bonus_to_spend) / Fraction(cost) if cost > 0 else Fraction(0)
        cents = Fraction(returned) * (1 - min(share, Fraction(1))) * 100
        money = Decimal(cents.numerator // cents.denominator) * CENT
        return RefundTerms(money=money, revoke_accruals=False, rule="MG-11")
