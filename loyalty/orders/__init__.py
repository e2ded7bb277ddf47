"""Orders of the ticketing system and the bonuses they spend and earn.

`drafts` checks what the ticketing system sends, `policy` decides (purely) what an
order may spend and what paying it earns, `rule_facts` turns orders and buyers into
the facts the rules read, `persistence` quotes, records, pays and cancels. The
package re-exports their public names, so `orders.record_order(...)` reads as before.
"""

from __future__ import annotations

from loyalty.orders.drafts import MAX_ITEMS, ItemDraft, OrderDraft
from loyalty.orders.persistence import Quote, cancel_order, get_order, pay_order, quote, record_order
from loyalty.orders.policy import outside_organizers, planned_credits, spend_limit
from loyalty.orders.rule_facts import participant_facts, stored_facts

__all__ = [
    "MAX_ITEMS",
    "ItemDraft",
    "OrderDraft",
    "Quote",
    "cancel_order",
    "get_order",
    "outside_organizers",
    "participant_facts",
    "pay_order",
    "planned_credits",
    "quote",
    "record_order",
    "spend_limit",
    "stored_facts",
]
