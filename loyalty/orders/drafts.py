"""Orders and carts as the ticketing system sends them, checked and digested."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from decimal import Decimal

from loyalty.enums import Channel, ItemKind, OrderMode
from loyalty.errors import BadInput
from loyalty.money import parse_money

MAX_ITEMS = 500


@dataclass(frozen=True)
class ItemDraft:
    """One item as OrderItemInput or CartItemInput carries it (cart items have no id)."""

    event_id: str
    kind: ItemKind
    nominal: Decimal
    service_fee: Decimal = Decimal("0.00")
    discount: Decimal = Decimal("0.00")
    id: str | None = None


@dataclass(frozen=True)
class OrderDraft:
    """An order as OrderInput carries it, or a cart to quote (`id` None)."""

    customer_id: str
    program_id: str
    channel: Channel
    items: tuple[ItemDraft, ...]
    id: str | None = None
    bonus_to_spend: int = 0
    mode: OrderMode | None = None
    promo_code: str | None = None
    referral_code: str | None = None
    fingerprint: str | None = None


def validate(draft: OrderDraft) -> OrderDraft:
    """The draft with its money parsed; BAD_INPUT for an empty, oversized or inconsistent one."""
    if not draft.items:
        raise BadInput("an order needs at least one item")
    if len(draft.items) > MAX_ITEMS:
        raise BadInput(f"an order has at most {MAX_ITEMS} items")
    if draft.bonus_to_spend < 0:
        raise BadInput("bonusToSpend is negative")
    if draft.id is not None and not draft.id.strip():
        raise BadInput("the order id is empty")
    seen: set[str] = set()
    items = []
    for item in draft.items:
        if item.id is not None:
            if item.id in seen:
                raise BadInput(f"item {item.id!r} appears twice")
            seen.add(item.id)
        try:
            nominal = parse_money(item.nominal, "nominal")
            fee = parse_money(item.service_fee, "serviceFee")
            discount = parse_money(item.discount, "discount")
        except ValueError as error:
            raise BadInput(f"item {item.id or item.event_id!r}: {error}") from None
        if discount > nominal:
            raise BadInput(f"item {item.id or item.event_id!r}: discount exceeds nominal")
        items.append(replace(item, nominal=nominal, service_fee=fee, discount=discount))
    return replace(draft, items=tuple(items))


# json.dumps(content, sort_keys=True), with one encoder for every call: recorded orders'
# digests depend on these exact bytes, so the format never changes.
_DIGESTED = json.JSONEncoder(sort_keys=True)


def content_digest(draft: OrderDraft) -> str:
    """A digest of what the draft says: the same order id with another digest is a CONFLICT."""
    content = {
        "customer": draft.customer_id,
        "program": draft.program_id,
        "channel": draft.channel.value,
        "items": [
            [i.id, i.event_id, i.kind.value, str(i.nominal), str(i.service_fee), str(i.discount)] for i in draft.items
        ],
        "spend": draft.bonus_to_spend,
        "mode": draft.mode.value if draft.mode else None,
        "promo": draft.promo_code,
        "referral": draft.referral_code,
        "fingerprint": draft.fingerprint,
    }
    return hashlib.sha256(_DIGESTED.encode(content).encode()).hexdigest()
