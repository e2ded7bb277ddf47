"""Orders and buyers as the plain facts the program rules decide from."""

from __future__ import annotations

from datetime import datetime

from loyalty import events, tiers
from loyalty.enums import WalletStatus, standing
from loyalty.facts import EventFacts, ItemFacts, OrderFacts, ParticipantFacts
from loyalty.models import Order, Participant, Wallet
from loyalty.orders import store
from loyalty.orders.drafts import OrderDraft
from loyalty.programs import Program


async def order_facts(draft: OrderDraft, placed_at: datetime, shares: list[int] | None = None) -> OrderFacts:
    """The drafted order as plain data for the rules, with each item's share of the spend if given."""
    return with_shares(draft, placed_at, await events.facts_by_id(item.event_id for item in draft.items), shares)


def with_shares(
    draft: OrderDraft, placed_at: datetime, known: dict[str, EventFacts], shares: list[int] | None = None
) -> OrderFacts:
    """The drafted order as plain data, its events already read (`known`), with each item's share."""
    items = tuple(
        ItemFacts(
            id=item.id,
            event=known[item.event_id],
            kind=item.kind,
            nominal=item.nominal,
            service_fee=item.service_fee,
            discount=item.discount,
            bonus_share=shares[n] if shares else 0,
        )
        for n, item in enumerate(draft.items)
    )
    return OrderFacts(
        id=draft.id,
        program_id=draft.program_id,
        channel=draft.channel,
        items=items,
        placed_at=placed_at,
        bonus_to_spend=draft.bonus_to_spend,
        mode=draft.mode,
        promo_code=draft.promo_code,
        referral_code=draft.referral_code,
    )


def _standing(participant: Participant | None, wallet: Wallet | None) -> WalletStatus | None:
    if wallet is None:
        return None
    return standing(participant.status, wallet.status) if participant else wallet.status


def _participant_facts(
    customer_id: str, participant: Participant | None, wallet: Wallet | None, active: int, tier: str | None = None
) -> ParticipantFacts:
    return ParticipantFacts(
        id=customer_id,
        # MG-13: a global block or an erasure shows as a blocked wallet to every rule
        wallet_status=_standing(participant, wallet),
        tier=tier,
        birth_date=participant.birth_date if participant else None,
        guardian_consent=participant.guardian_consent if participant else False,
        active_balance=active,
        joined_at=wallet.joined_at if wallet else None,
    )


async def participant_facts(
    program: Program, customer_id: str, participant: Participant | None, wallet: Wallet | None, active: int
) -> ParticipantFacts:
    """The buyer as plain data for the rules, with the wallet's club tier now (TK-05)."""
    who = _participant_facts(customer_id, participant, wallet, active)
    tier = await tiers.tier_of(program, wallet, who)
    return _participant_facts(customer_id, participant, wallet, active, tier)


async def stored_facts(order: Order) -> OrderFacts:
    """The recorded order as plain data for the rules, bonus shares included."""
    return facts_of(order, await store.item_facts(order.id))


def facts_of(order: Order, items: tuple[ItemFacts, ...]) -> OrderFacts:
    """The recorded order as plain data, its items already read (`store.item_facts`)."""
    return OrderFacts(
        id=order.id,
        program_id=order.program_id,
        channel=order.channel,
        items=items,
        placed_at=order.created_at,
        bonus_to_spend=order.bonus_requested,
        mode=order.mode,
        promo_code=order.promo_code,
        referral_code=order.referral_code,
        paid_at=order.paid_at,
    )
