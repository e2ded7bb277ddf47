"""Refunds of some items of a paid order (LB-09..LB-12, LB-20, or a program's own policy).

The core policy: the money paid for the returned items (nominal - discount - the
bonuses spent on them, no service fees) comes back; the first refund that returns a
ticket cancels every bonus the order accrued; what of those was already spent is
withheld from the money, and what the money cannot cover stays as debt. That debt is
withheld again from the money of every later refund of the same purchase until it is
paid (LB-10).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tortoise.transactions import in_transaction

from loyalty import achievements, clock, ledger, orders, participants, referrals
from loyalty.enums import EntryKind, ItemKind, OrderStatus, RefundReason
from loyalty.errors import BadInput, Conflict, NotFound, RuleViolation
from loyalty.facts import ItemFacts, Notification, RefundFacts, RefundTerms
from loyalty.models import Order, OrderItem, Refund
from loyalty.money import CENT
from loyalty.programs import Catalog

REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class RefundRequest:
    """A refund as RefundInput carries it."""

    order_id: str
    item_ids: tuple[str, ...]
    reason: RefundReason
    idempotency_key: str | None = None


def core_terms(items: tuple[ItemFacts, ...]) -> RefundTerms:
    """LB-20: the returned items' money paid (fees excluded); accruals revoked (LB-09)."""
    money = sum((item.paid_price for item in items), Decimal("0.00"))
    return RefundTerms(money=money, revoke_accruals=True, rule="LB-20")


async def _paid_for(order: Order, returned: tuple[ItemFacts, ...]) -> Decimal:
    """The most money a refund of `returned` may pay back, whatever a program's policy says.

    The returned items' price (nominal - discount + fee), and no more than the order's
    money (its total less the bonuses spent) minus what earlier refunds paid back:
    bonuses are spread over the items only as whole bonuses, so a policy such as MG-11
    may share them out by value instead.
    """
    price = sum((item.nominal - item.discount + item.service_fee for item in returned), Decimal("0.00"))
    earlier = await Refund.filter(order_id=order.id).values_list("money_refund", "bonus_withheld")
    paid_back = sum((money + withheld for money, withheld in earlier), Decimal("0.00"))
    return max(Decimal("0.00"), min(price, order.total - order.bonus_spent - paid_back))


async def refund_items(catalog: Catalog, request: RefundRequest) -> Refund:
    """Refund items of a PAID or PARTIALLY_REFUNDED order, once per idempotency key."""
    if not request.item_ids:
        raise BadInput("a refund needs at least one item")
    if len(set(request.item_ids)) != len(request.item_ids):
        raise BadInput("an item appears twice in the refund")
    async with in_transaction():
        order = await Order.select_for_update().get_or_none(id=request.order_id)
        if order is None:
            raise NotFound(f"no order {request.order_id!r}")
        if request.idempotency_key:
            first = await Refund.get_or_none(order_id=order.id, idempotency_key=request.idempotency_key)
            if first is not None:
                return first
        if order.status not in REFUNDABLE:
            raise Conflict(f"an order in status {order.status.value} cannot be refunded")
        items = {item.item_id: item for item in await OrderItem.filter(order_id=order.id)}
        for item_id in request.item_ids:
            if item_id not in items:
                raise NotFound(f"order {order.id!r} has no item {item_id!r}")
            if items[item_id].refund_id is not None:
                raise Conflict(f"item {item_id!r} was already refunded")
        program = catalog.get(order.program_id)
        facts = await orders.stored_facts(order)
        returned = tuple(item for item in facts.items if item.id in request.item_ids)
        refund_facts = RefundFacts(
            items=returned,
            reason=request.reason,
            requested_at=clock.now(),
            earlier_refunds=await Refund.filter(order_id=order.id).count(),
        )
        buyer = await participants.find(order.customer_id)
        wallet = await participants.wallet_of(buyer, program.id) if buyer else None
        who = await orders.participant_facts(program, order.customer_id, buyer, wallet, 0)
        terms = program.rules.refund_terms(facts, refund_facts, who) or core_terms(returned)
        if terms.refused_by:
            raise RuleViolation(terms.refused_by, terms.message or "the program's refund policy refuses this")
        money = min(max(Decimal("0.00"), terms.money), await _paid_for(order, returned)).quantize(CENT)
        refund = await Refund.create(
            order_id=order.id,
            idempotency_key=request.idempotency_key or None,
            reason=request.reason,
            item_ids=list(request.item_ids),
            money_refund=money,
            rule=terms.rule,
            created_at=clock.now(),
        )
        has_ticket = any(item.kind is ItemKind.TICKET for item in returned)
        accruals = terms.revoke_accruals and has_ticket and not order.accruals_revoked
        # RF-09: returning a ticket of the qualifying purchase revokes both referral rewards, once.
        referral = await referrals.reversible(order.id) if has_ticket else None
        wallet_id = order.wallet_id
        if wallet_id is None and referral is not None:
            wallet_id = await referrals.friend_wallet_id(referral)  # the friend joined after paying
        if (accruals or referral is not None) and wallet_id is not None:
            wallet = await ledger.lock_wallet(wallet_id)
            revoked = spent = 0
            if accruals and order.wallet_id is not None:
                revocation = await ledger.revoke_order(
                    wallet,
                    order.id,
                    kinds=[EntryKind.ACCRUAL],
                    rule="LB-09",
                    rules_version=program.rules_version,
                    refund_id=refund.id,
                    description="bonuses of a returned purchase cancelled",
                )
                revoked, spent = revocation.revoked, revocation.spent
                order.accruals_revoked = True
            if referral is not None:
                friend = await referrals.revoke_friend(
                    wallet, referral, rule="RF-09", refund_id=refund.id, rules_version=program.rules_version
                )
                revoked, spent = revoked + friend.revoked, spent + friend.spent
            withheld, owed = await ledger.withhold(
                wallet,
                spent,
                money,
                order_id=order.id,
                refund_id=refund.id,
                rules_version=program.rules_version,
            )
            refund.bonus_revoked = revoked
            refund.bonus_withheld = withheld
            refund.bonus_debt = owed
            refund.money_refund = money - withheld
            await refund.save(update_fields=["bonus_revoked", "bonus_withheld", "bonus_debt", "money_refund"])
        elif order.accruals_revoked and order.wallet_id is not None:
            withheld = await _withhold_purchase_debt(order, refund, money, program.rules_version)
            if withheld:
                refund.bonus_withheld = withheld
                refund.money_refund = money - withheld
                await refund.save(update_fields=["bonus_withheld", "money_refund"])
        if referral is not None:
            await referrals.revoke_referrer(
                referral,
                rule="RF-09",
                detail="the qualifying purchase was returned",
                refund_id=refund.id,
                rules_version=program.rules_version,
                is_fraud=False,
            )
        if has_ticket and order.wallet_id is not None:
            # GA-03: the purchase's pending achievement rewards cancelled, apart from bonusRevoked.
            await achievements.returned(program, order.id, order.wallet_id, refund.id)
        await OrderItem.filter(order_id=order.id, item_id__in=list(request.item_ids)).update(refund_id=refund.id)
        all_back = all(item.refund_id is not None or item.item_id in request.item_ids for item in items.values())
        order.status = OrderStatus.REFUNDED if all_back else OrderStatus.PARTIALLY_REFUNDED
        await order.save(update_fields=["status", "accruals_revoked"])
    program.rules.notify(
        Notification(
            kind="order_refunded",
            program_id=program.id,
            at=refund.created_at,
            participant_id=order.customer_id,
            order_id=order.id,
            bonus=refund.bonus_revoked,
            detail=terms.rule,
        )
    )
    return refund


async def _withhold_purchase_debt(order: Order, refund: Refund, money: Decimal, rules_version: str) -> int:
    """LB-10: withhold from this refund's money what the purchase still owes.

    The purchase owes the debt its revoking refund left, less what later refunds of
    it already withheld; never more than the wallet still owes (credits may have paid
    part of it off meanwhile). Returns the bonuses withheld.
    """
    assert order.wallet_id is not None
    earlier = (
        await Refund.filter(order_id=order.id, id__lt=refund.id).order_by("id").values("bonus_debt", "bonus_withheld")
    )
    owed_by_purchase: int | None = None
    for row in earlier:
        if owed_by_purchase is None:
            # The refund that left the debt withheld its own spent bonuses: only later ones repay it.
            owed_by_purchase = row["bonus_debt"] or None
        else:
            owed_by_purchase -= row["bonus_withheld"]
    if not owed_by_purchase or owed_by_purchase <= 0:
        return 0
    wallet = await ledger.lock_wallet(order.wallet_id)
    return await ledger.repay_debt(
        wallet,
        min(owed_by_purchase, wallet.debt),
        money,
        order_id=order.id,
        refund_id=refund.id,
        rules_version=rules_version,
    )


async def refunds_of(order_ids: list[str]) -> dict[str, list[Refund]]:
    """Each order's refunds, oldest first (for dataloaders)."""
    found: dict[str, list[Refund]] = {order_id: [] for order_id in order_ids}
    for refund in await Refund.filter(order_id__in=order_ids).order_by("id"):
        found[refund.order_id].append(refund)
    return found
